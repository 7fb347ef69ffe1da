"""Restore what the migration to 18.0.1.1.0 rewrote in checklist lines, from their handover's latest signed export.

That migration replaced officer-only texts in ``snapshot_retention`` and ``exclusion_reason`` of every line,
signed ones included. A line's signed value is read back from the workbook of its handover's latest export,
once that workbook verifies against the export recorded here; where the line differs, the signed value is
written back and the restoration is logged (``evidence_restored``). Nothing else is changed.
"""

import base64
import io
import logging

from openpyxl import load_workbook

from odoo import SUPERUSER_ID, api
from odoo.addons.customer_handover.tools.checklist_columns import position
from odoo.addons.customer_handover.tools.checklist_verify import verify
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

RESTORED = ("snapshot_retention", "exclusion_reason")
# Cells that must match before a row is taken for its line: the row is that line, in the same place.
MATCHED = ("name", "snapshot_ref", "snapshot_contact")


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    exports = env["customer.handover.export"].search([("attachment_id", "!=", False)], order="handover_id, number desc")
    latest = {}
    for export in exports:
        latest.setdefault(export.handover_id.id, export)
    for export in latest.values():
        restore_from_export(env, export)


def restore_from_export(env, export):
    """Write back the signed values of ``export``'s lines where they differ; returns the ids of the lines restored."""
    data = base64.b64decode(export.attachment_id.with_context(bin_size=False).datas)
    result = verify(data, trusted={export.fingerprint})
    first = result.signers[0] if result.signers else None
    if result.status != "valid" or not first or first.signature != export.signature:
        _logger.warning("Export %s of handover %s does not verify: its lines are left as they are.",
                        export.number, export.handover_id.id)
        return []
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[1]
    rows = [[cell if cell is not None else "" for cell in row] for row in sheet.iter_rows(min_row=2, values_only=True)]
    env.cr.execute(SQL(
        "SELECT id, name, snapshot_ref, snapshot_contact, snapshot_retention, exclusion_reason "
        "FROM customer_handover_line WHERE handover_id = %s ORDER BY sequence, id", export.handover_id.id,
    ))
    lines = env.cr.dictfetchall()
    if len(rows) != len(lines):
        _logger.warning("Export %s of handover %s has %s rows for %s lines: its lines are left as they are.",
                        export.number, export.handover_id.id, len(rows), len(lines))
        return []
    entries = []
    for number, (row, line) in enumerate(zip(rows, lines, strict=True), start=1):
        if any(row[position(name)] != (line[name] or "") for name in MATCHED):
            continue
        changed = {name: row[position(name)] for name in RESTORED if row[position(name)] != (line[name] or "")}
        if not changed:
            continue
        for name, value in changed.items():
            env.cr.execute(SQL("UPDATE customer_handover_line SET %s = %s WHERE id = %s",
                               SQL.identifier(name), value or None, line["id"]))
        entries.append({
            "company_id": export.company_id.id,
            "event": "evidence_restored",
            "res_model": "customer.handover.line",
            "res_id": line["id"],
            "payload": {"export": export.id, "number": export.number, "row": number, "fields": sorted(changed)},
        })
    env["customer.handover.line"].invalidate_model(list(RESTORED))
    env["customer.handover.event"]._append(entries)
    return [entry["res_id"] for entry in entries]
