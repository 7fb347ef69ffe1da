"""The checklist sheet's columns: the one declaration the export writes and the import reads back; no Odoo import."""

# (field of customer.handover.line, width) of the checklist sheet's columns, after the row number.
LINE_COLUMNS = [
    ("name", 30),
    ("line_type", 12),
    ("snapshot_ref", 14),
    ("snapshot_contact", 40),
    ("snapshot_classification", 30),
    ("snapshot_consent", 30),
    ("snapshot_retention", 24),
    ("eligibility", 14),
    ("public_reasons", 30),
    ("admission_justification", 30),
    ("state", 12),
    ("verified_by_id", 18),
    ("verified_on", 20),
    ("excluded", 10),
    ("exclusion_reason", 30),
    ("remarks", 30),
]
# A transfer package's customer snapshot: each key is the checklist's column ``snapshot_<key>``.
SNAPSHOT_KEYS = ("ref", "contact", "classification", "consent", "retention")


def position(name):
    """Where the column of field ``name`` stands in a row of the checklist sheet, whose row number is at 0."""
    return 1 + [field for field, _width in LINE_COLUMNS].index(name)
