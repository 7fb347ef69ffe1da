"""Read a signed checklist workbook's lines back, as the import reconciles a package with them; no Odoo import.

The workbook is verified before it is read (checklist_verify): this only reads its checklist sheet.
"""

import hashlib

from openpyxl import load_workbook

from .canonical import canonical_json
from .checklist_columns import SNAPSHOT_KEYS, position

NAME_COLUMN = position("name")
SNAPSHOT_COLUMNS = tuple(position(f"snapshot_{key}") for key in SNAPSHOT_KEYS)
EXCLUDED_COLUMN = position("excluded")


def snapshot_digest(values):
    """What a customer's snapshot is compared on: the digest of its values in SNAPSHOT_KEYS order, empty as ""."""
    return hashlib.sha256(canonical_json([str(value or "") for value in values])).hexdigest()


def checklist_rows(path, keep=None):
    """{line number: (name, snapshot digest, excluded)} of the checklist sheet (the second) of the workbook.

    ``keep``: only the lines whose number it accepts; the sheet is streamed, so memory holds only those.
    """
    return {number: row for number, row in iter_checklist_rows(path) if keep is None or keep(number)}


def iter_checklist_rows(path):
    """``(line number, (name, snapshot digest, excluded))`` of the checklist sheet, one row at a time (streamed)."""
    book = load_workbook(path, read_only=True)
    try:
        for row in book.worksheets[1].iter_rows(min_row=2, values_only=True):
            if row and str(row[0] or "").isdigit():
                yield int(row[0]), (row[NAME_COLUMN] or "",
                                    snapshot_digest([row[column] for column in SNAPSHOT_COLUMNS]),
                                    bool(row[EXCLUDED_COLUMN]))
    finally:
        book.close()
