"""The signed checklist without Odoo: canonical form, signing, verification, tampering, untrusted files."""

import io
import json
import shutil
import subprocess
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
from customer_handover_tools import checklist as ck
from customer_handover_tools.checklist_countersign import countersign
from customer_handover_tools.checklist_verify import Limits, verify
from customer_handover_tools.checklist_xlsx import ChecklistWriter
from openpyxl import Workbook, load_workbook

SHEETS = ["Cover", "Checklist", "Signatures"]
HEADER = ["No.", "Customer", "Contact", "Remarks"]
ROWS = [
    ["1", "王芳", "138 0000 0001", "=SUM(A1:A9)"],
    ["2", "Li Lei", "+86 21 5555 0000", "-5"],
    ["3", "@home services", "li@example.com", "line one\r\nline two"],
    ["4", "", "", ""],
]


@pytest.fixture(scope="module")
def company():
    key = ck.generate_key("ec")
    return key, ck.make_self_signed(key, "Company A")


@pytest.fixture(scope="module")
def receiver():
    key = ck.generate_key("rsa")
    return key, ck.make_self_signed(key, "Receiver B")


def build(signer, rows=ROWS, header=HEADER, signed_at=None, labels=None):
    """A checklist workbook signed by ``signer`` (key, certificate); None leaves it unsigned."""
    output = io.BytesIO()
    labels = {"header": ["Key", "Item", "Value"], **(labels or {})}
    writer = ChecklistWriter(output, SHEETS, labels)
    cover = [["Handover", "HO/2026/0001"], ["Receiving party", "上海某某酒店用品有限公司"]]
    writer.write_cover(["Item", "Value"], cover)
    writer.start_checklist(header, [8] * len(header))
    for row in rows:
        writer.write_row(row)
    sheet_rows = writer.manifest("HO/2026/0001", 2, "Company A", "2026-11-24T08:00:00Z")
    if signer:
        key, certificate = signer
        stamp = signed_at or ck.utc_timestamp()
        sheet_rows += ck.signature_rows(labels, 1, "transferring", "Company A", stamp, certificate, key, sheet_rows)
    writer.close(sheet_rows)
    return output.getvalue()


def edited(data, change):
    """Open ``data`` in openpyxl, as a person editing the file would, apply ``change`` and save."""
    workbook = load_workbook(io.BytesIO(data))
    change(workbook)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def messages(result):
    return [finding.message for finding in result.findings]


# ---------------------------------------------------------------------------------------------- canonical form


def test_canonical_text_makes_every_value_text_a_cell_can_hold():
    assert ck.canonical_text(None) == ck.canonical_text(False) == ""
    assert ck.canonical_text(12) == "12"
    assert ck.canonical_text("a\r\nb\rc") == "a\nb\nc"
    assert ck.canonical_text("bell\x07") == "bell\ufffd"
    long = ck.canonical_text("x" * 40000)
    assert len(long) == ck.MAX_CELL_CHARS and long.endswith("…")


def test_row_digest_is_sha256_of_the_documented_json_and_depends_on_position():
    import hashlib

    expected = hashlib.sha256('["checklist",3,"王芳","a"]'.encode()).digest()
    assert ck.row_digest("checklist", 3, ["王芳", "a"]) == expected
    assert ck.row_digest("checklist", 4, ["王芳", "a"]) != expected
    assert ck.row_digest("cover", 3, ["王芳", "a"]) != expected


def test_digest_cell_round_trips_and_rejects_garbage():
    digest = ck.row_digest("cover", 1, ["a", "b"])
    cell = ck.digest_cell(digest, ["a", "b"])
    assert ck.parse_digest_cell(cell) == (digest, ck.cell_tags(["a", "b"]))
    assert ck.parse_digest_cell("not a digest") == (None, None)
    assert ck.parse_digest_cell("abc.00") == (None, None)


def test_the_workbook_holds_text_only_with_frozen_header_and_filter(company):
    data = build(company)
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == SHEETS
    sheet = workbook["Checklist"]
    assert sheet.freeze_panes == "B2"
    assert sheet.auto_filter.ref == "A1:E5"
    assert [cell.value for cell in sheet[1]][:4] == HEADER
    # Text that looks like a formula or a number stays text.
    assert sheet["D2"].value == "=SUM(A1:A9)" and sheet["D2"].data_type == "s"
    assert sheet["D3"].value == "-5" and sheet["D3"].data_type == "s"
    assert sheet["B2"].value == "王芳"
    assert sheet["D4"].value == "line one\nline two"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert workbook["Cover"]["B3"].value == "上海某某酒店用品有限公司"


# ---------------------------------------------------------------------------------------------- signing


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_a_signed_checklist_verifies_with_its_key(kind):
    key = ck.generate_key(kind)
    certificate = ck.make_self_signed(key, "Company A")
    result = verify(build((key, certificate)), trusted={ck.fingerprint(certificate)})
    assert result.status == "valid", messages(result)
    assert result.exit_code == 0
    (signer,) = result.signers
    assert signer.role == "transferring" and signer.valid and signer.trusted
    assert signer.algorithm == ("RSA-SHA256" if kind == "rsa" else "ECDSA-SHA256")
    assert result.manifest["handover"] == "HO/2026/0001" and result.manifest["export"] == "2"
    assert result.manifest["checklist.rows"] == str(len(ROWS) + 1)


def test_without_a_pinned_key_an_intact_checklist_is_signed_by_an_unknown_key(company):
    result = verify(build(company))
    assert result.status == "unknown_key" and result.exit_code == 1
    assert not result.trusted and result.signers[0].valid and result.signers[0].trusted is None
    assert [finding.code for finding in result.findings] == ["not_pinned"]
    assert result.to_dict()["valid"] is False and result.to_dict()["trusted"] is False


def test_another_key_is_reported_as_unknown(company, receiver):
    result = verify(build(company), trusted={ck.fingerprint(receiver[1])})
    assert result.status == "unknown_key" and result.exit_code == 1
    assert "not with the expected one" in messages(result)[0]


def test_signing_refuses_an_expired_certificate_or_a_foreign_key(company, receiver):
    key, _certificate = company
    old = ck.make_self_signed(key, "Company A", days=10, now=datetime.now(timezone.utc) - timedelta(days=30))
    with pytest.raises(ck.ChecklistError, match="valid from"):
        build((key, old))
    with pytest.raises(ck.ChecklistError, match="does not belong"):
        build((receiver[0], company[1]))


def test_an_unsigned_checklist_is_reported_as_not_signed():
    result = verify(build(None))
    assert result.status == "not_signed" and result.exit_code == 1


def test_fingerprints_are_normalised():
    text = "ab" * 32
    assert ck.normalise_fingerprint(text) == ":".join(["AB"] * 32)
    with pytest.raises(ck.ChecklistError):
        ck.normalise_fingerprint("AB:CD")


def test_the_detached_signature_checks_the_workbook(company):
    data = build(company)
    trusted = {ck.fingerprint(company[1])}
    result = verify(data, trusted=trusted)
    detached = ck.detached_signature(result.signature_rows)
    assert verify(data, detached=detached, trusted=trusted).status == "valid"
    tampered_rows = json.loads(detached)
    tampered_rows["rows"][3][2] = "HO/2026/0999"
    forged = verify(data, detached=json.dumps(tampered_rows).encode())
    assert forged.status == "invalid"
    assert "The signatures sheet differs from the detached signature file." in messages(forged)


# ---------------------------------------------------------------------------------------------- countersigning


def test_a_countersignature_binds_the_first_signature(company, receiver):
    data = build(company)
    trusted = {ck.fingerprint(company[1])}
    countersigned, _checked = countersign(data, receiver[0], receiver[1], "Receiver B", trusted=trusted)
    result = verify(countersigned, trusted={ck.fingerprint(company[1])})
    assert result.status == "valid", messages(result)
    assert [(signer.role, signer.valid) for signer in result.signers] == [("transferring", True), ("receiving", True)]
    # The countersigned workbook is still a workbook a real reader opens.
    assert load_workbook(io.BytesIO(countersigned))["Signatures"]["C2"].value == ck.FORMAT
    with pytest.raises(ck.ChecklistError, match="already countersigned"):
        countersign(countersigned, receiver[0], receiver[1], "Receiver B")


def test_a_countersignature_is_labelled_as_the_first_signature_is(company, receiver):
    labels = {"name": "签署人 / Signed by", "role": "签署方 / Signing party", "value": "签名 / Signature"}
    trusted = {ck.fingerprint(company[1])}
    data = build(company, labels=labels)
    countersigned, _checked = countersign(data, receiver[0], receiver[1], "接收方", trusted=trusted)
    result = verify(countersigned, trusted=trusted)
    assert result.status == "valid", messages(result)
    shown = {key: label for key, label, _value in result.signature_rows}
    for key in ("name", "role", "value"):
        assert shown[f"signature.2.{key}"] == shown[f"signature.1.{key}"] == labels[key]
    assert shown["signature.2.algorithm"] == ck.LABELS["algorithm"], "a label the first signature did not set"


def test_countersigning_refuses_a_tampered_checklist(company, receiver):
    data = edited(build(company), lambda wb: wb["Checklist"].__setitem__("B2", "Wang Fang"))
    with pytest.raises(ck.ChecklistError, match="only a checklist that verifies"):
        countersign(data, receiver[0], receiver[1], "Receiver B")


def test_the_signatures_sheet_keeps_its_layout_and_shows_every_line_once_countersigned(company, receiver):
    """Both workbooks print the signatures sheet alike: bold header, wrapped values, rows as tall as their lines."""
    data = build(company)
    countersigned, _checked = countersign(data, receiver[0], receiver[1], "Receiver B")
    for content, signatures in ((data, 1), (countersigned, 2)):
        sheet = load_workbook(io.BytesIO(content))["Signatures"]
        assert sheet["A1"].font.b and sheet.freeze_panes == "A2"
        assert sheet["C2"].alignment.wrap_text and sheet.column_dimensions["C"].width > 80
        assert sheet.page_setup.orientation == "landscape" and sheet.sheet_properties.pageSetUpPr.fitToPage
        keys = {cell.value: cell.row for cell in sheet["A"]}
        for number in range(1, signatures + 1):
            certificate = keys[f"signature.{number}.certificate"]
            lines = len(sheet.cell(certificate, 3).value.splitlines())
            assert lines > 5 and sheet.row_dimensions[certificate].height == 15 * lines
        # A base64 value longer than its 90-character column wraps onto a second line.
        long_value = next(row for row in keys.values() if len(str(sheet.cell(row, 3).value)) > 90)
        assert sheet.row_dimensions[long_value].height == 30
        assert sheet.row_dimensions[2].height is None


def test_text_that_reads_as_an_ooxml_escape_is_kept_literally(company, receiver):
    """A value holding "_x00Af_" (a row digest may, by chance) is stored escaped and read back as it was signed."""
    rows = [["1", "a_x00Af_b", "_x005F_", "_X0041_ _x41_ _xZZZZ_"]]
    data = build(company, rows=rows)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert b"a_x005F_x00Af_b" in archive.read("xl/worksheets/sheet2.xml")
    trusted = {ck.fingerprint(company[1])}
    result = verify(data, trusted=trusted)
    assert result.status == "valid", messages(result)
    countersigned, _checked = countersign(data, receiver[0], receiver[1], "B _x0042_ Co.")
    with zipfile.ZipFile(io.BytesIO(countersigned)) as archive:
        assert b"B _x005F_x0042_ Co." in archive.read("xl/worksheets/sheet3.xml")
    result = verify(countersigned, trusted=trusted)
    assert result.status == "valid", messages(result)
    assert result.signers[1].name == "B _x0042_ Co."


def test_a_changed_first_signature_breaks_the_countersignature(company, receiver):
    countersigned, _checked = countersign(build(company), receiver[0], receiver[1], "Receiver B")
    other = build(company)
    other_value = verify(other).signature_rows[-1][2]

    def swap(workbook):
        sheet = workbook["Signatures"]
        row = next(row for row in sheet.iter_rows() if row[0].value == "signature.1.value")
        row[2].value = other_value

    result = verify(edited(countersigned, swap))
    assert result.status == "invalid"
    assert "Signature 2 (Receiver B) does not match the signed content." in messages(result)


# ---------------------------------------------------------------------------------------------- tampering


def _set(sheet, cell, value):
    return lambda workbook: workbook[sheet].__setitem__(cell, value)


def _swap_rows(workbook):
    sheet = workbook["Checklist"]
    first, second = [[cell.value for cell in sheet[row]] for row in (2, 3)]
    for column, (a, b) in enumerate(zip(first, second, strict=True), start=1):
        sheet.cell(2, column).value, sheet.cell(3, column).value = b, a


def _hide(workbook):
    workbook["Cover"].sheet_state = "hidden"


TAMPERING = {
    "changed value": (_set("Checklist", "C3", "+86 21 0000 0000"), "Checklist, row 3, cell C3: the value changed."),
    "changed header": (_set("Checklist", "B1", "Client"), "Checklist, row 1, cell B1: the value changed."),
    "changed cover": (_set("Cover", "B2", "HO/2026/0002"), "Cover, row 2, cell B2: the value changed."),
    "added row": (
        lambda wb: wb["Checklist"].insert_rows(3), "Checklist, row 3: a row was added, removed or moved here."
    ),
    "removed row": (lambda wb: wb["Checklist"].delete_rows(3), "Checklist: 5 rows were signed, 4 are present."),
    "reordered rows": (_swap_rows, "Checklist, row 2: a row was added, removed or moved here."),
    "extra sheet": (lambda wb: wb.create_sheet("Notes"), "Sheet Notes was added."),
    "hidden sheet": (_hide, "Sheet Cover is hidden."),
    "formula": (_set("Checklist", "A2", "=1"), "Checklist, cell A2: a formula replaced the value."),
    "number": (_set("Checklist", "A2", 1), "Checklist, cell A2: the value is no longer text."),
    "value outside": (_set("Checklist", "H2", "note"), "Checklist, cell H2: a value was added outside the checklist."),
    "manifest": (
        _set("Signatures", "C4", "HO/2026/0009"), "Signature 1 (Company A) does not match the signed content."
    ),
    "appended signature row": (
        lambda wb: wb["Signatures"].append(["note", "Note", "trust me"]),
        "Signatures, row 22: rows were added after the last signature.",
    ),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_every_kind_of_tampering_fails_and_is_named(company, kind):
    change, expected = TAMPERING[kind]
    data = build(company)
    assert verify(edited(data, lambda wb: None)).status == "resaved", "saving unchanged keeps the content intact"
    result = verify(edited(data, change))
    assert result.status == "invalid" and result.exit_code == 1
    assert expected in messages(result), messages(result)


def test_rewritten_digests_still_fail(company):
    """Someone who recomputes a row's digest cell still breaks the signed sheet digest."""
    changed = ["2", "Li Lei", "+86 21 9999 9999", "-5"]
    digest = ck.digest_cell(ck.row_digest("checklist", 3, changed), changed)
    data = edited(build(company), lambda wb: (wb["Checklist"].__setitem__("C3", changed[2]),
                                              wb["Checklist"].__setitem__("E3", digest)))
    result = verify(data)
    assert result.status == "invalid"
    assert messages(result) == [
        "Checklist: the content no longer matches its signed digest (the row digests were rewritten)."
    ]


def test_a_cached_formula_result_does_not_pass_for_the_value(company):
    """A formula whose cached result equals the signed text still fails: the formula is what is stored."""
    data = build(company)
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        parts = {item.filename: source.read(item) for item in source.infolist()}
    sheet = parts["xl/worksheets/sheet2.xml"].decode()
    start = sheet.index('<c r="A2"')
    end = sheet.index("</c>", start) + 4
    parts["xl/worksheets/sheet2.xml"] = (
        sheet[:start] + '<c r="A2" t="str"><f>"1"</f><v>1</v></c>' + sheet[end:]
    ).encode()
    result = verify(_zip(parts))
    assert result.status == "invalid"
    assert "Checklist, cell A2: a formula replaced the value." in messages(result)


# ---------------------------------------------------------------------------------------------- untrusted files


def _zip(parts):
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return output.getvalue()


def test_a_file_too_large_is_refused_before_reading(company, tmp_path):
    path = tmp_path / "big.xlsx"
    path.write_bytes(build(company))
    result = verify(str(path), limits=Limits(max_bytes=1000))
    assert result.status == "unreadable" and result.exit_code == 2
    assert result.findings[0].code == "too_large"


def test_a_zip_bomb_is_refused():
    padding = b"<a>" + b" " * (50 * 1024 * 1024) + b"</a>"
    bomb = _zip({"[Content_Types].xml": "<a/>", "xl/worksheets/sheet1.xml": padding})
    result = verify(bomb)
    assert result.status == "unreadable" and result.findings[0].code == "zip_bomb"


def test_xml_entities_are_refused():
    laughs = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>'
    result = verify(_zip({"[Content_Types].xml": "<a/>", "xl/workbook.xml": laughs}))
    assert result.status == "unreadable" and result.findings[0].code == "xml_entities"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_xml_entities_in_another_encoding_are_refused_before_parsing(company, encoding):
    """In UTF-16 or UTF-32 a declaration's bytes are not the ASCII ones: the part is refused for its encoding."""
    with zipfile.ZipFile(io.BytesIO(build(company))) as source:
        parts = {item.filename: source.read(item) for item in source.infolist()}
    workbook = parts["xl/workbook.xml"].decode("utf-8").split("?>", 1)[1]
    declaration = f'<?xml version="1.0" encoding="{encoding.upper()}"?><!DOCTYPE x [<!ENTITY a "a">]>'
    parts["xl/workbook.xml"] = (declaration + workbook).encode(encoding)
    result = verify(_zip(parts))
    assert result.status == "unreadable" and result.findings[0].code == "xml_encoding"
    assert "xl/workbook.xml is not UTF-8 XML" in result.findings[0].message


def test_a_part_declaring_another_encoding_is_refused(company):
    with zipfile.ZipFile(io.BytesIO(build(company))) as source:
        parts = {item.filename: source.read(item) for item in source.infolist()}
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"', 1)
    assert b"ISO-8859-1" in parts["xl/workbook.xml"]
    result = verify(_zip(parts))
    assert result.status == "unreadable" and result.findings[0].code == "xml_encoding"


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"hello, I am a text file"])
def test_corrupt_or_truncated_files_are_unreadable(content):
    result = verify(content)
    assert result.status == "unreadable" and result.exit_code == 2


def test_a_truncated_checklist_is_unreadable(company):
    data = build(company)
    result = verify(data[: len(data) // 2])
    assert result.status == "unreadable"


def test_a_workbook_of_another_product_is_not_a_checklist():
    workbook = Workbook()
    workbook.active.append(["Invoice", "Amount"])
    workbook.active.append(["format", "x", "something else"])
    output = io.BytesIO()
    workbook.save(output)
    result = verify(output.getvalue())
    assert result.status == "not_checklist" and result.exit_code == 2


# ---------------------------------------------------------------------------------------------- LibreOffice


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_reads_the_signed_checklist_and_its_own_copy_is_told_apart(company, receiver, tmp_path):
    """LibreOffice Calc opens the workbook and keeps every value; the file it saves back is reported re-saved."""
    countersigned, _checked = countersign(build(company), receiver[0], receiver[1], "Receiver B")
    source = tmp_path / "checklist.xlsx"
    source.write_bytes(countersigned)
    profile = f"-env:UserInstallation=file://{tmp_path}/profile"
    for target in ("xlsx", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,2"):
        subprocess.run(["soffice", profile, "--headless", "--convert-to", target, "--outdir", str(tmp_path / "out"),
                        str(source)], check=True, capture_output=True, timeout=120)
    resaved = (tmp_path / "out" / "checklist.xlsx").read_bytes()
    result = verify(resaved, trusted={ck.fingerprint(company[1])})
    assert result.status == "resaved" and result.exit_code == 1, messages(result)
    assert [signer.valid for signer in result.signers] == [True, True] and result.trusted
    assert "this file is not the signed original" in messages(result)[0]
    lines = (tmp_path / "out" / "checklist-Checklist.csv").read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith('1,王芳,138 0000 0001,=SUM(A1:A9),'), lines[1]


def test_the_writer_keeps_nothing_of_the_rows_it_has_written(company):
    """Memory stays flat: xlsxwriter keeps every row's height unless told otherwise; the heights reach the file."""
    output = io.BytesIO()
    writer = ChecklistWriter(output, SHEETS, {"header": ["Key", "Item", "Value"]})
    writer.write_cover(["Item", "Value"], [["Handover", "HO/2026/0001"]])
    writer.start_checklist(HEADER, [8] * len(HEADER))
    rows = [[str(number), "王芳 " * (number % 7), "x" * (number % 30), ""] for number in range(1, 501)]
    for row in rows:
        writer.write_row(row)
    sheet = writer.sheets[1]
    kept = [len(getattr(sheet, table)) for table in ("set_rows", "row_info", "row_sizes") if hasattr(sheet, table)]
    assert kept and max(kept) <= 1, f"row heights kept for {kept} rows"
    sheet_rows = writer.manifest("HO/2026/0001", 1, "Company A", "2026-11-24T08:00:00Z")
    sheet_rows += ck.signature_rows({}, 1, "transferring", "Company A", ck.utc_timestamp(), company[1], company[0],
                                    sheet_rows)
    writer.close(sheet_rows)
    assert verify(output.getvalue()).status in ("valid", "unknown_key"), "the layout, heights included, verifies"
    checklist = load_workbook(io.BytesIO(output.getvalue()))["Checklist"]
    heights = [checklist.row_dimensions[number + 1].height for number in range(1, 501)]
    expected = [ck.wrapped_row_height(canonical, [8] * len(HEADER)) for canonical in
                ([ck.canonical_text(value) for value in row] for row in rows)]
    assert heights == expected and any(expected)
