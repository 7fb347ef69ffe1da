"""Read a signed checklist workbook's lines back, as the import reconciles a package with them; no Odoo import.

The workbook is verified before it is read (checklist_verify): this only reads its checklist sheet.
"""

import hashlib
import os
import zipfile
from xml.etree import ElementTree

from openpyxl import load_workbook

from .canonical import canonical_json
from .checklist_columns import SNAPSHOT_KEYS, position
from .checklist_verify.package import Package, sheet_parts
from .checklist_verify.results import Limits, RefusedChecklist, UnreadableChecklist
from .checklist_verify.sheet import Irregular, Sheet, ooxml_text

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
    """``(line number, (name, snapshot digest, excluded))`` of the checklist sheet, one row at a time (streamed).

    A workbook stored as the writer stores it (every checklist a package delivers, whose digest its signature
    covers) is read straight from its XML, as the verifier reads it: a million rows in seconds, not minutes. Any
    other is read with openpyxl, from where the fast reading stopped.
    """
    last = 0
    rows = _writer_rows(path)
    while True:
        try:
            number, values = next(rows)
        except StopIteration:
            return
        except Irregular:
            break
        last = number
        if number > 1 and str(values.get(0) or "").isdigit():
            yield _line([values.get(column) for column in range(max(values, default=-1) + 1)])
    # opened as a file: openpyxl refuses a path without a workbook's extension, as the attachment store names files
    with open(path, "rb") as handle:
        book = load_workbook(handle, read_only=True)
        try:
            for number, row in enumerate(book.worksheets[1].iter_rows(min_row=2, values_only=True), start=2):
                if number > last and row and str(row[0] or "").isdigit():
                    # openpyxl leaves OOXML's _xHHHH_ escapes in the text it reads; the verifier undoes them
                    yield _line([ooxml_text(value) if isinstance(value, str) else value for value in row])
        finally:
            book.close()


def _line(row):
    def value(column):
        return row[column] if column < len(row) else None

    return int(row[0]), (value(NAME_COLUMN) or "", snapshot_digest([value(column) for column in SNAPSHOT_COLUMNS]),
                         bool(value(EXCLUDED_COLUMN)))


def _writer_rows(path):
    """(row number, {column index: text}) of the checklist sheet in the writer's exact form; Irregular otherwise."""
    with open(path, "rb") as handle:
        try:
            with zipfile.ZipFile(handle) as archive:
                parts = sheet_parts(archive)
            # a checklist read here was verified first: its size is the one limit that does not apply
            package = Package(handle, Limits(max_bytes=max(Limits.max_bytes, os.fstat(handle.fileno()).st_size)))
        except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, UnreadableChecklist, RefusedChecklist) as error:
            raise Irregular from error
        if len(parts) < 2:
            raise Irregular
        title, state, part = parts[1]
        sheet = Sheet(package, title, state, part)
        for number, _attributes, cells in sheet.iter_canonical_rows():
            if package.refusals:
                raise Irregular
            yield number, {column: text for column, _kind, text, _style, _plain in cells}
