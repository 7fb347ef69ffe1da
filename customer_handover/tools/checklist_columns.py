"""The checklist sheet's columns: the one declaration the export writes and the import reads back; no Odoo import."""

# (field of customer.handover.line, width) of the checklist sheet's columns, after the row number. The values
# wrap: the widths are kept narrow so that the sheet prints one A4 landscape page wide at a readable size.
LINE_COLUMNS = [
    ("name", 18),
    ("line_type", 9),
    ("snapshot_ref", 10),
    ("snapshot_contact", 22),
    ("snapshot_classification", 13),
    ("snapshot_consent", 14),
    ("snapshot_retention", 12),
    ("eligibility", 10),
    ("public_reasons", 14),
    ("admission_justification", 13),
    ("state", 10),
    ("verified_by_id", 12),
    ("verified_on", 11),
    ("excluded", 8),
    ("exclusion_reason", 15),
    ("remarks", 15),
]
# A transfer package's customer snapshot: each key is the checklist's column ``snapshot_<key>``.
SNAPSHOT_KEYS = ("ref", "contact", "classification", "consent", "retention")


def position(name):
    """Where the column of field ``name`` stands in a row of the checklist sheet, whose row number is at 0."""
    return 1 + [field for field, _width in LINE_COLUMNS].index(name)
