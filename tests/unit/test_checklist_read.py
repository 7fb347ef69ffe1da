"""The import reads a signed checklist's lines back through the one column declaration the export writes with."""

import io

import pytest
from customer_handover_tools.checklist_columns import LINE_COLUMNS, SNAPSHOT_KEYS, position
from customer_handover_tools.checklist_read import _writer_rows, checklist_rows, snapshot_digest
from customer_handover_tools.checklist_verify.sheet import Irregular
from customer_handover_tools.checklist_xlsx import ChecklistWriter
from openpyxl import load_workbook

NAMES = [name for name, _width in LINE_COLUMNS]


def _row(number, **values):
    return [str(number), *(values.get(name, "") for name in NAMES)]


def _workbook(tmp_path, rows):
    output = io.BytesIO()
    writer = ChecklistWriter(output, ["Cover", "Checklist", "Signatures"], {"header": ["Key", "Item", "Value"]})
    writer.write_cover(["Item", "Value"], [["Handover", "HO/2026/0001"]])
    writer.start_checklist(["No.", *NAMES], [8, *(width for _name, width in LINE_COLUMNS)])
    for row in rows:
        writer.write_row(row)
    writer.close(writer.manifest("HO/2026/0001", 1, "Company A", "2026-11-24T08:00:00Z"))
    path = tmp_path / "checklist.xlsx"
    path.write_bytes(output.getvalue())
    return path


def test_positions_follow_the_declaration_after_the_row_number():
    assert position("name") == 1
    assert [position(f"snapshot_{key}") for key in SNAPSHOT_KEYS] == [3, 4, 5, 6, 7]
    assert position("excluded") == 14
    assert len(NAMES) == len(set(NAMES)) == 16


def test_the_snapshot_digest_is_that_of_the_five_values_as_text():
    assert snapshot_digest(["C-1", "王芳", None, "", "5 years"]) == snapshot_digest(["C-1", "王芳", "", "", "5 years"])
    assert snapshot_digest(["C-1", "", "", "", ""]) != snapshot_digest(["", "C-1", "", "", ""])
    assert snapshot_digest(["C-1", "王芳", "", "", "5 years"]) == (
        "3c0d4f49e99460b621881b240f62c1133d0484adbd86cda2f30fa157b33dc88d"
    )


def test_rows_give_name_snapshot_and_exclusion_by_line_number(tmp_path):
    snapshot = {f"snapshot_{key}": f"{key} of Wang" for key in SNAPSHOT_KEYS}
    path = _workbook(tmp_path, [
        _row(1, name="Wang Fang", line_type="Customer", remarks="not excluded", **snapshot),
        _row(2, name="Li Lei", excluded="Yes", exclusion_reason="refused"),
        _row(3),
    ])
    rows = checklist_rows(path)
    assert rows == {
        1: ("Wang Fang", snapshot_digest([snapshot[f"snapshot_{key}"] for key in SNAPSHOT_KEYS]), False),
        2: ("Li Lei", snapshot_digest([""] * 5), True),
        3: ("", snapshot_digest([""] * 5), False),
    }


def test_only_the_lines_kept_are_read(tmp_path):
    path = _workbook(tmp_path, [_row(1, name="Wang Fang"), _row(2, name="Li Lei", excluded="Yes"), _row(3)])
    assert checklist_rows(path, keep=lambda number: number != 1) == {
        2: ("Li Lei", snapshot_digest([""] * 5), True),
        3: ("", snapshot_digest([""] * 5), False),
    }


TRICKY = {"name": "A & B <Ltd> \"王芳\"", "snapshot_ref": "C-1\nsecond line", "snapshot_contact": "tab\there _x000D_",
          "snapshot_retention": "5 years", "excluded": "Yes"}


def _expected(number):
    values = TRICKY if number % 3 == 0 else {"name": f"Customer {number}"}
    return values["name"], snapshot_digest([values.get(f"snapshot_{key}", "") for key in SNAPSHOT_KEYS]), (
        number % 3 == 0)


def test_the_writers_bytes_are_read_straight_from_the_xml(tmp_path):
    path = _workbook(tmp_path, [_row(number, **(TRICKY if number % 3 == 0 else {"name": f"Customer {number}"}))
                                for number in range(1, 301)])
    assert len(list(_writer_rows(path))) == 301, "the writer's workbook is read the fast way, header included"
    # the text as the customer's record holds it: "_x000D_" is stored escaped, and read back unescaped
    assert checklist_rows(path) == {number: _expected(number) for number in range(1, 301)}


def test_a_workbook_saved_by_another_program_is_read_with_openpyxl_to_the_same_rows(tmp_path):
    path = _workbook(tmp_path, [_row(number, **(TRICKY if number % 3 == 0 else {"name": f"Customer {number}"}))
                                for number in range(1, 51)])
    resaved = tmp_path / "resaved.xlsx"
    load_workbook(path).save(resaved)
    with pytest.raises(Irregular):
        list(_writer_rows(resaved))
    assert checklist_rows(resaved) == checklist_rows(path) == {number: _expected(number) for number in range(1, 51)}
