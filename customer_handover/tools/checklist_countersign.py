"""Adding the receiving party's countersignature to a signed checklist; needs no Odoo and no xlsxwriter.

Only the signatures sheet's part of the zip is rewritten: every other part is copied as it was.
"""

import io
import re
import zipfile
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter

from .checklist import SIGNATURE_WIDTHS, ChecklistError, signature_rows, utc_timestamp
from .checklist_verify import sheet_parts, verify

# Text that reads as an OOXML escape (_xHHHH_) is stored with its underscore escaped, as xlsxwriter does.
_LITERAL_ESCAPE = re.compile(r"(_x[0-9A-Fa-f]{4}_)")


def countersign(data, private_key, certificate, name, labels=None, signed_at=None, trusted=None, limits=None):
    """Return ``data`` countersigned by the receiving party, and the verification it was checked with.

    The workbook must verify (its first signer among ``trusted`` when given) and carry one signature.
    """
    result = verify(data, trusted=trusted, limits=limits)
    if result.status not in ("valid", "unknown_key") or (trusted is not None and result.status != "valid"):
        details = "; ".join(finding.message for finding in result.findings)
        raise ChecklistError(f"only a checklist that verifies can be countersigned: {details}")
    if len(result.signers) != 1:
        raise ChecklistError("this checklist is already countersigned")
    rows = result.signature_rows
    block = signature_rows(
        labels or {}, 2, "receiving", name, signed_at or utc_timestamp(), certificate, private_key, rows
    )
    return replace_signature_sheet(data, result.signature_sheet, [*rows, *block]), result


def signature_sheet_part(data, sheet_name):
    """The zip member holding the sheet called ``sheet_name``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = sheet_parts(archive)
    for name, _state, part in parts:
        if name == sheet_name:
            return part
    raise ChecklistError(f"the workbook has no sheet {sheet_name!r}")


def replace_signature_sheet(data, sheet_name, rows):
    """Return the workbook ``data`` with the sheet ``sheet_name`` rewritten to hold ``rows`` as text."""
    part = signature_sheet_part(data, sheet_name)
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            content = _sheet_xml(rows) if member.filename == part else source.read(member)
            target.writestr(member, content, compress_type=zipfile.ZIP_DEFLATED)
    return output.getvalue()


def _cell_text(value):
    """``value`` as the XML text of a cell, a literal "_xHHHH_" kept from reading as an escaped character."""
    return escape(_LITERAL_ESCAPE.sub(r"_x005F\1", value))


def _sheet_xml(rows):
    lines = []
    for number, row in enumerate(rows, start=1):
        cells = "".join(
            f'<c r="{get_column_letter(column)}{number}" t="inlineStr"><is><t xml:space="preserve">'
            f"{_cell_text(value)}</t></is></c>"
            for column, value in enumerate(row, start=1)
            if value
        )
        lines.append(f'<row r="{number}">{cells}</row>')
    columns = "".join(
        f'<col min="{index}" max="{index}" width="{width}" customWidth="1"/>'
        for index, width in enumerate(SIGNATURE_WIDTHS, start=1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<dimension ref="A1:C{max(len(rows), 1)}"/>'
        '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
        'state="frozen"/></sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        f"<cols>{columns}</cols><sheetData>{''.join(lines)}</sheetData>"
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        "</worksheet>"
    ).encode()
