"""Hand-made changes to the wrapped checklist layout: none verifies valid while it shows other than what was signed."""

import io
import re

import pytest
from customer_handover_tools import checklist as ck
from customer_handover_tools.checklist_verify import verify
from customer_handover_tools.checklist_xlsx import ChecklistWriter
from openpyxl import load_workbook

from .test_checklist import SHEETS
from .test_checklist_hostile import (  # noqa: F401 (company, signed and trusted are fixtures)
    CHECKLIST,
    _unwrapped_layout,
    company,
    packed,
    signed,
    trusted,
    unpacked,
)

STYLES, WORKBOOK = "xl/styles.xml", "xl/workbook.xml"
WRAP_XF = (
    b'<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">'
    b'<alignment vertical="top" wrapText="1"/></xf>'
)
FOOTER = b"<headerFooter><oddFooter>&amp;L&amp;A&amp;R&amp;P / &amp;N</oddFooter></headerFooter>"


def replaced(part, old, new):
    def change(parts, _signed):
        assert old in parts[part], (part, old)
        return {**parts, part: parts[part].replace(old, new)}

    return change


def substituted(part, pattern, new):
    def change(parts, _signed):
        changed = re.sub(pattern, new, parts[part])
        assert changed != parts[part], (part, pattern)
        return {**parts, part: changed}

    return change


def saved_by_openpyxl(edit):
    def change(_parts, data):
        workbook = load_workbook(io.BytesIO(data))
        edit(workbook)
        output = io.BytesIO()
        workbook.save(output)
        return output.getvalue()

    return change


ATTACKS = {
    "wrap format without wrapping": replaced(STYLES, WRAP_XF, WRAP_XF.replace(b' wrapText="1"', b"")),
    "wrap format shrinking the text": replaced(
        STYLES, WRAP_XF, WRAP_XF.replace(b'wrapText="1"', b'wrapText="1" shrinkToFit="1"')
    ),
    "wrap format rotating the text": replaced(
        STYLES, WRAP_XF, WRAP_XF.replace(b'wrapText="1"', b'wrapText="1" textRotation="90"')
    ),
    "wrap format indenting the text away": replaced(
        STYLES, WRAP_XF, WRAP_XF.replace(b'wrapText="1"', b'wrapText="1" indent="40" horizontal="left"')
    ),
    "wrap format filling the cell": replaced(
        STYLES, WRAP_XF, WRAP_XF.replace(b'wrapText="1"', b'wrapText="1" horizontal="fill"')
    ),
    "wrap format aligned to the bottom": replaced(
        STYLES, WRAP_XF, WRAP_XF.replace(b'vertical="top"', b'vertical="bottom"')
    ),
    "wrap format hiding the formula bar": replaced(
        STYLES, WRAP_XF, WRAP_XF.replace(b"</xf>", b'<protection hidden="1"/></xf>')
    ),
    "default font of one point": replaced(STYLES, b'<font><sz val="11"/>', b'<font><sz val="1"/>'),
    "a row one point higher": substituted(CHECKLIST, rb'(<row r="2") ht="30"', rb'\1 ht="31"'),
    "a wrapped row one line high": substituted(CHECKLIST, rb'(<row r="2") ht="30"', rb'\1 ht="15"'),
    "a height on a one-line row": replaced(CHECKLIST, b'<row r="5">', b'<row r="5" ht="15" customHeight="1">'),
    "a header of body cells": substituted(CHECKLIST, rb'(<c r="[A-D]1") s="4"', rb'\1 s="3"'),
    "one column of the first layout": substituted(
        CHECKLIST, rb'(<col min="2" max="2" width="[0-9.]+") style="3"', rb'\1 style="2"'
    ),
    "rows three points high by default": replaced(CHECKLIST, b'defaultRowHeight="15"', b'defaultRowHeight="3"'),
    "printed five pages wide": replaced(CHECKLIST, b'fitToHeight="0"', b'fitToHeight="0" fitToWidth="5"'),
    "printed portrait": replaced(CHECKLIST, b'orientation="landscape"', b'orientation="portrait"'),
    "printed without fitting": replaced(CHECKLIST, b'<pageSetUpPr fitToPage="1"/>', b'<pageSetUpPr fitToPage="0"/>'),
    "print titles over every row": replaced(WORKBOOK, b"Checklist!$1:$1", b"Checklist!$1:$5"),
    "print area of two columns": replaced(WORKBOOK, b"Checklist!$A$1:$D$5", b"Checklist!$A$1:$B$5"),
    "print area on another sheet": replaced(WORKBOOK, b"Checklist!$A$1:$D$5", b"Cover!$A$1:$D$5"),
    "margins of five inches": replaced(CHECKLIST, b'<pageMargins left="0.4"', b'<pageMargins left="5"'),
    "a first-page footer": replaced(
        CHECKLIST, b"</oddFooter>", b"</oddFooter><firstFooter>&amp;CAll verified</firstFooter>"
    ),
    "the footer removed from one sheet": replaced(CHECKLIST, FOOTER, b""),
    "gridlines and headings printed": replaced(
        CHECKLIST, b"<pageMargins", b'<printOptions headings="1" gridLines="1"/><pageMargins'
    ),
    "a page break": replaced(
        CHECKLIST,
        b"</worksheet>",
        b'<rowBreaks count="1" manualBreakCount="1"><brk id="2" max="16383" man="1"/></rowBreaks></worksheet>',
    ),
    "column widened, rows not grown": substituted(
        CHECKLIST, rb'(<col min="3" max="3" width=")[0-9.]+', rb"\g<1>4.7109375"
    ),
    "openpyxl: a row lowered": saved_by_openpyxl(
        lambda workbook: setattr(workbook["Checklist"].row_dimensions[4], "height", 15)
    ),
    "openpyxl: a column widened": saved_by_openpyxl(
        lambda workbook: setattr(workbook["Checklist"].column_dimensions["B"], "width", 40)
    ),
    "openpyxl: printed portrait": saved_by_openpyxl(
        lambda workbook: setattr(workbook["Checklist"].page_setup, "orientation", "portrait")
    ),
    "openpyxl: a value changed": saved_by_openpyxl(lambda workbook: workbook["Checklist"].cell(3, 2, "Li Lie")),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_changed_layout_is_never_valid(signed, trusted, attack):  # noqa: F811
    data = ATTACKS[attack](unpacked(signed), signed)
    result = verify(data if isinstance(data, bytes) else packed(data), trusted=trusted)
    assert result.status in ("resaved", "invalid") and result.exit_code == 1, result.status


def build_wrapped(signer, widths, rows):
    output = io.BytesIO()
    labels = {"header": ["Key", "Item", "Value"]}
    writer = ChecklistWriter(output, SHEETS, labels)
    writer.write_cover(["Item", "Value"], [["Handover", "HO/2026/0001"]])
    writer.start_checklist(["No.", "Customer", "Remarks"], widths)
    for row in rows:
        writer.write_row(row)
    sheet_rows = writer.manifest("HO/2026/0001", 2, "Company A", "2026-11-24T08:00:00Z")
    key, certificate = signer
    sheet_rows += ck.signature_rows(
        labels, 1, "transferring", "Company A", ck.utc_timestamp(), certificate, key, sheet_rows
    )
    writer.close(sheet_rows)
    return output.getvalue()


REMARK = "Verified by phone on 2026-11-20; " * 4 + "BUT consent withdrawn on 2026-11-21: do not contact."


def test_a_column_narrowed_until_its_row_clips_the_text_names_the_cell(company, trusted):  # noqa: F811
    original = build_wrapped(company, [6, 20, 60], [["1", "Wang Fang", REMARK]])
    result = verify(original, trusted=trusted)
    assert (result.status, result.findings) == ("valid", [])

    # Narrowed from 60 characters to 4, every row as high as the writer would make it: the remark needs 46 lines,
    # the highest row shows 27, and the withdrawn consent at its end no longer shows on the sheet.
    parts = unpacked(original)
    sheet = (
        parts[CHECKLIST]
        .decode()
        .replace('<col min="3" max="3" width="60.7109375"', '<col min="3" max="3" width="4.7109375"')
    )
    widths = (6, 20, 4)
    header = ck.wrapped_row_height(["No.", "Customer", "Remarks"], widths)
    sheet = sheet.replace('<row r="1">', f'<row r="1" ht="{header}" customHeight="1">')
    sheet = re.sub(
        r'<row r="2" ht="[0-9.]+"',
        f'<row r="2" ht="{ck.wrapped_row_height(["1", "Wang Fang", REMARK], widths)}"',
        sheet,
    )
    result = verify(packed({**parts, CHECKLIST: sheet.encode()}), trusted=trusted)
    assert [finding.code for finding in result.findings] == ["row_clipped"]
    assert result.findings[0].message.startswith(
        "Checklist, cell C2: its text takes 46 lines, more than a row shows (27)"
    )


def test_a_row_the_writer_clips_names_its_cell_and_stays_valid(company, trusted):  # noqa: F811
    result = verify(build_wrapped(company, [6, 20, 60], [["1", "Wang Fang", "word " * 2000]]), trusted=trusted)
    assert result.status == "valid"
    assert [(finding.code, finding.params["cell"]) for finding in result.findings] == [("row_clipped", "C2")]


def test_notes_on_clipped_rows_never_crowd_out_a_change(company, trusted):  # noqa: F811
    rows = [[str(number), f"Customer {number}", "word " * 2000] for number in range(1, 31)]
    rows.append(["31", "Wang Fang", "consent given"])
    parts = unpacked(build_wrapped(company, [6, 20, 60], rows))
    parts[CHECKLIST] = parts[CHECKLIST].replace(b"consent given", b"consent taken")
    result = verify(packed(parts), trusted=trusted)
    assert result.status == "invalid"
    assert "cell_changed" in [finding.code for finding in result.findings]


def test_a_checklist_turned_back_into_the_first_layout_names_the_cells_it_cuts(signed, trusted):  # noqa: F811
    """The first layout verifies (checklists were signed so), but a value wider than its column stops at the next
    cell: turning a wrapped checklist back into it hides the end of long values, and the reader is told where."""
    result = verify(packed(_unwrapped_layout(unpacked(signed))), trusted=trusted)
    assert result.status == "valid"
    cut = [finding.params["cell"] for finding in result.findings if finding.code == "cell_cut"]
    # 8 characters a column: "138 0000 0001" is cut by "=SUM(A1:A9)" beside it, which the digest column cuts.
    assert cut[:2] == ["C2", "D2"], [finding.message for finding in result.findings]
    assert {finding.code for finding in result.findings} == {"cell_cut"}


@pytest.mark.parametrize("cell", ["A2", "B3", "D4"])
def test_a_value_deleted_as_excel_deletes_it_is_a_changed_cell_not_an_unreadable_file(signed, trusted, cell):  # noqa: F811
    """Excel keeps a deleted value's cell, with its format and no content: the value changed, the file reads."""
    parts = unpacked(signed)
    parts[CHECKLIST] = re.sub(
        rf'<c r="{cell}" s="3" t="inlineStr"><is><t>[^<]*</t></is></c>'.encode(),
        f'<c r="{cell}" s="3"/>'.encode(),
        parts[CHECKLIST],
    )
    for data in (
        packed(parts),
        saved_by_openpyxl(lambda workbook: setattr(workbook["Checklist"][cell], "value", None))(None, signed),
    ):
        result = verify(data, trusted=trusted)
        assert (result.status, result.exit_code) == ("invalid", 1), [finding.message for finding in result.findings]
        assert f"Checklist, row {cell[1:]}, cell {cell}: the value changed." in [f.message for f in result.findings]
