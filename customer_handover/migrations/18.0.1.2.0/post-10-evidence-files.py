"""Evidence files of 18.0.1.1 become evidence: never changed or deleted, and the served ones read through their step.

Only where a file is kept and who may reach it change: no file's content, name or digest, and no fact of the
procedure. The exports' files leave the handover (its chatter and every reader of the handover) for their export.
"""

from odoo.tools import SQL

# The files each step kept, found by the records that hold them.
SERVED = {
    "customer_handover_export": ("attachment_id", "signature_attachment_id", "countersigned_attachment_id"),
    "customer_handover_incoming": ("checklist_attachment_id", "countersigned_attachment_id"),
    "customer_handover_package": ("attachment_id",),
}
STARTED = ("in_progress", "verified", "signed", "done")


def migrate(cr, version):
    for table, columns in SERVED.items():
        for column in columns:
            # An export's files move from the handover to the export; a package's file leaves the field it hid behind.
            cr.execute(SQL(
                "UPDATE ir_attachment SET res_model = %s, res_id = record.id, res_field = NULL, "
                "company_id = record.company_id, handover_evidence = 'served' "
                "FROM %s record WHERE ir_attachment.id = record.%s",
                table.replace("_", "."), SQL.identifier(table), SQL.identifier(column),
            ))
    # Exports of the event log: each is named by the log_exported entry that recorded it.
    cr.execute(SQL(
        "UPDATE ir_attachment SET handover_evidence = 'served' FROM customer_handover_event entry "
        "WHERE entry.event = 'log_exported' AND entry.res_model = 'ir.attachment' AND ir_attachment.id = entry.res_id"
    ))
    cr.execute(SQL(
        "SELECT id FROM ir_attachment WHERE handover_evidence = 'served'"
    ))
    served_ids = [row[0] for row in cr.fetchall()]
    if served_ids:
        # The chatter messages that announced an export keep their text; the file is downloaded from the export.
        cr.execute(SQL("DELETE FROM message_attachment_rel WHERE attachment_id = ANY(%s)", served_ids))
    # Consent evidence is evidence from its creation.
    cr.execute(SQL(
        "UPDATE ir_attachment SET handover_evidence = 'kept' "
        "WHERE res_model = 'customer.consent' AND res_field = 'evidence' AND handover_evidence IS NULL"
    ))
    # The agreement of a handover that started, cancelled ones included, is evidence from its start.
    cr.execute(SQL(
        """UPDATE ir_attachment SET handover_evidence = 'kept'
            WHERE res_model = 'customer.handover' AND res_field = 'nda_document' AND handover_evidence IS NULL
              AND res_id IN (
                  SELECT handover.id FROM customer_handover handover
                   WHERE handover.state IN %s
                      OR EXISTS (
                          SELECT 1 FROM customer_handover_event entry
                           WHERE entry.event = 'handover_started' AND entry.res_model = 'customer.handover'
                             AND (entry.res_id = handover.id
                                  OR (NULLIF(entry.payload, '')::jsonb -> 'records') @> to_jsonb(handover.id))))""",
        STARTED,
    ))
