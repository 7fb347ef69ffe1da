"""Chatter notes that each reader reads in their own language.

A message body is stored once, in one language. The addon's notes therefore carry no prose: their words are a
message subtype's description and the labels of tracking values, which the chatter shows in the reader's language,
and their body holds only names and numbers, which read the same in every language.
"""

from odoo import Command

from .customer_handover_evidence_mixin import evidence_step

# How many names a note lists before it counts the rest.
NOTE_NAMES = 10


def names_text(records, field="name"):
    """The first NOTE_NAMES names of ``records``, then how many more: "A, B, C … (+12)"."""
    names = ", ".join(records[:NOTE_NAMES].mapped(field))
    more = len(records) - NOTE_NAMES
    return f"{names} … (+{more})" if more > 0 else names


def log_note(record, subtype, body="", changes=()):
    """Log on ``record``'s chatter the note of subtype ``subtype`` (an xml id of this addon).

    ``changes``: (tracked record, field name, old value, new value) tuples, shown as tracking values with the
    field's label in the reader's language.
    """
    trackings = record.env["mail.tracking.value"]
    values = []
    for tracked, name, old, new in changes:
        col_info = tracked.fields_get([name], attributes=["type", "selection", "currency_field"])[name]
        values.append(Command.create(trackings._create_tracking_values(old, new, name, col_info, tracked)))
    message = record._message_log(body=body, tracking_value_ids=values or False)
    # _message_log files every note under "Note": the note's own subtype says what happened; no one else sets it.
    with evidence_step("mail.message", "subtype_id"):
        message.subtype_id = record.env["ir.model.data"]._xmlid_to_res_id(f"customer_handover.{subtype}")
    return message
