"""Adding the receiving party's countersignature to a signed checklist; needs no Odoo and no xlsxwriter.

Only the signatures sheet's part of the zip is rewritten: every other part is copied as it was.
"""

import io
import re
import zipfile
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from openpyxl.utils import column_index_from_string, get_column_letter

from .checklist import DESTRUCTION_CERTIFICATE_FORMAT, SIGNATURE_WIDTHS, row_height, signature_rows
from .checklist_verify import CELL_REFERENCE, MAIN, sheet_parts, verify
from .signing import ChecklistError, utc_timestamp

# Text that reads as an OOXML escape (_xHHHH_) is stored with its underscore escaped, as xlsxwriter does.
_LITERAL_ESCAPE = re.compile(r"(_x[0-9A-Fa-f]{4}_)")
# The sheet's table, with the namespace prefix its writer chose (none, as a rule).
_SHEET_DATA = re.compile(r"<((?:[A-Za-z_][\w.-]*:)?)sheetData\b[^>]*?(?:/>|>.*?</\1sheetData>)", re.S)
_DIMENSION = re.compile(r"<((?:[A-Za-z_][\w.-]*:)?)dimension\b[^>]*/>")


def countersign(data, private_key, certificate, name, labels=None, signed_at=None, trusted=None, limits=None):
    """Return ``data`` countersigned by the receiving party, and the verification it was checked with.

    The workbook must verify (its first signer among ``trusted`` when given) and carry one signature. Without
    ``labels``, the countersignature takes the first signature's labels: the workbook stays in one language.
    """
    result = verify(data, trusted=trusted, limits=limits)
    if result.status not in ("valid", "unknown_key") or (trusted is not None and result.status != "valid"):
        details = "; ".join(finding.message for finding in result.findings)
        raise ChecklistError(f"only a checklist that verifies can be countersigned: {details}")
    if len(result.signers) != 1:
        raise ChecklistError("this checklist is already countersigned")
    if result.manifest.get("format") == DESTRUCTION_CERTIFICATE_FORMAT:
        raise ChecklistError("a destruction certificate has no receiving party: it is not countersigned")
    rows = result.signature_rows
    labels = labels or first_signature_labels(rows)
    block = signature_rows(labels, 2, "receiving", name, signed_at or utc_timestamp(), certificate, private_key, rows)
    return replace_signature_sheet(data, result.signature_sheet, [*rows, *block]), result


def first_signature_labels(rows):
    """{key: label} of the first signature's rows among the signatures sheet's ``rows``."""
    prefix = "signature.1."
    return {key[len(prefix):]: label for key, label, *_value in rows if key.startswith(prefix)}


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
            content = source.read(member)
            if member.filename == part:
                content = _sheet_xml(content, rows)
            target.writestr(member, content, compress_type=zipfile.ZIP_DEFLATED)
    return output.getvalue()


def _sheet_xml(original, rows):
    """The sheet ``original`` (XML bytes) with ``rows`` as its table: its layout, page setup and cell styles kept.

    Only the table and its dimension are replaced, as text: the rest stays byte for byte, prefixes included.
    """
    text = original.decode("utf-8")
    table = _SHEET_DATA.search(text)
    if table is None:
        raise ChecklistError("the signatures sheet has no table")
    prefix = table.group(1)
    header_styles, body_styles = _cell_styles(original)
    lines = []
    for number, row in enumerate(rows, start=1):
        styles = header_styles if number == 1 else body_styles
        cells = "".join(
            f'<{prefix}c r="{get_column_letter(column)}{number}"{styles.get(column, "")} t="inlineStr">'
            f'<{prefix}is><{prefix}t xml:space="preserve">{_cell_text(value)}</{prefix}t></{prefix}is></{prefix}c>'
            for column, value in enumerate(row, start=1)
            if value
        )
        height = row_height(row, SIGNATURE_WIDTHS)
        size = f' ht="{height}" customHeight="1"' if height else ""
        lines.append(f'<{prefix}row r="{number}"{size}>{cells}</{prefix}row>')
    text = f"{text[:table.start()]}<{prefix}sheetData>{''.join(lines)}</{prefix}sheetData>{text[table.end():]}"
    text = _DIMENSION.sub(rf'<\1dimension ref="A1:C{max(len(rows), 1)}"/>', text, count=1)
    return text.encode("utf-8")


def _cell_styles(original):
    """The style attribute of each column's cells in the header row and in the first row below it."""
    styles = ({}, {})
    for row in ElementTree.fromstring(original).iter(f"{MAIN}row"):
        number = int(row.get("r", "0"))
        if number in (1, 2):
            for cell in row.iter(f"{MAIN}c"):
                match = CELL_REFERENCE.match(cell.get("r", ""))
                if match and cell.get("s"):
                    styles[number - 1][column_index_from_string(match.group(1))] = f' s="{cell.get("s")}"'
    return styles


def _cell_text(value):
    """``value`` as the XML text of a cell, a literal "_xHHHH_" kept from reading as an escaped character."""
    return escape(_LITERAL_ESCAPE.sub(r"_x005F\1", value))
