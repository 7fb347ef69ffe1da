"""The signed checklist prints readably: landscape, one page wide, header repeated, digests out of the print area."""

import io

from customer_handover_tools import checklist as ck
from customer_handover_tools.checklist_verify import verify
from openpyxl import load_workbook

from .test_checklist import HEADER, ROWS, build, company  # noqa: F401  (company is a fixture)


def test_each_sheet_prints_landscape_fit_to_width_with_its_header_repeated_and_no_digest_column(company):  # noqa: F811
    data = build(company)
    workbook = load_workbook(io.BytesIO(data))
    for sheet in workbook.worksheets:
        setup = sheet.page_setup
        assert setup.orientation == "landscape" and sheet.sheet_properties.pageSetUpPr.fitToPage
        assert setup.fitToWidth in (None, 1) and setup.fitToHeight == 0, "one page wide (1 is the default)"
        assert sheet.print_title_rows == "$1:$1"
        assert "&P" in sheet.oddFooter.right.text
    checklist = workbook["Checklist"]
    last = chr(ord("A") + len(HEADER) - 1)
    # openpyxl releases spell the print area differently ("'Sheet'!$A$1:$D$5", ["$A$1:$D$5"]): compare the range.
    assert f"$A$1:${last}${len(ROWS) + 1}" in str(checklist.print_area), "the digest column is not printed"
    assert checklist.cell(1, len(HEADER) + 1).value, "the digest column is still in the workbook"
    assert "$A$1:$B$3" in str(workbook["Cover"].print_area)


def test_the_print_setup_does_not_break_verification(company):  # noqa: F811
    result = verify(build(company), trusted={ck.fingerprint(company[1])})
    assert (result.status, result.exit_code) == ("valid", 0), [finding.message for finding in result.findings]


def test_the_checklist_wraps_its_header_and_values_in_rows_as_high_as_they_need(company):  # noqa: F811
    header = ["No.", "Customer", "Contact data"]
    rows = [
        ["1", "王芳", "wang.fang@example.cn · +86 138 0000 0001 · 渝中区解放碑 8 号, 重庆"],
        ["2", "Li Lei", ""],
        ["3", "杭州新锦贸易有限公司上海分公司", "x"],
    ]
    data = build(company, rows=rows, header=header)
    checklist = load_workbook(io.BytesIO(data))["Checklist"]
    for row in range(1, len(rows) + 2):
        for column in range(1, len(header) + 1):
            cell, alignment = checklist.cell(row, column), checklist.cell(row, column).alignment
            assert cell.value is None or (alignment.wrap_text and alignment.vertical == "top"), cell.coordinate
    assert checklist.cell(1, 1).font.b, "the header stays bold"
    heights = [checklist.row_dimensions[row].height for row in range(1, len(rows) + 2)]
    # 8 characters a column: "Contact data" takes 2 lines; 57 characters, 9 of them wide, take 9 (66 / 8);
    # 15 wide characters take 4 (30 / 8), where counting characters would give 2.
    assert heights == [ck.LINE_HEIGHT * 2, ck.LINE_HEIGHT * 9, None, ck.LINE_HEIGHT * 4]
    assert verify(data, trusted={ck.fingerprint(company[1])}).status == "valid"


def test_a_row_is_never_higher_than_excel_opens(company):  # noqa: F811
    data = build(company, rows=[["1", "long remarks", "word " * 2000, ""]])
    checklist = load_workbook(io.BytesIO(data))["Checklist"]
    assert checklist.row_dimensions[2].height == ck.MAX_ROW_HEIGHT <= 409.5
    assert verify(data, trusted={ck.fingerprint(company[1])}).status == "valid"
