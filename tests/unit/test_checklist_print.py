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
