"""Workbooks changed by hand, as an attacker would (zipfile and lxml): none verifies, each refusal names where.

Four classes: display tampering (what a reader shows differs while every cell's text is unchanged),
extra content, two readings of one file, and robustness. A LibreOffice test shows the display
refusals matter: what LibreOffice shows of those files is not what was signed.
"""

import copy
import io
import re
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from unittest import mock

import pytest
from customer_handover_tools import checklist as ck
from customer_handover_tools.checklist_countersign import countersign, replace_signature_sheet
from customer_handover_tools.checklist_verify import verify
from lxml import etree

from .test_checklist import ROWS, build

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS = {"m": MAIN}
CHECKLIST = "xl/worksheets/sheet2.xml"


@pytest.fixture(scope="module")
def company():
    key = ck.generate_key("ec")
    return key, ck.make_self_signed(key, "Company A")


@pytest.fixture(scope="module")
def signed(company):
    return build(company)


@pytest.fixture(scope="module")
def trusted(company):
    return {ck.fingerprint(company[1])}


def unpacked(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {item.filename: archive.read(item) for item in archive.infolist()}


def packed(parts, method=zipfile.ZIP_DEFLATED):
    """The parts zipped as the writer zips them: deflated, in the given order."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", method) as archive:
        for name, content in parts.items():
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), content, compress_type=method)
    return output.getvalue()


def with_xml(parts, name, change):
    """``parts`` with part ``name`` parsed by lxml, changed by ``change(root)`` and serialised back."""
    root = etree.fromstring(parts[name])
    change(root)
    return {**parts, name: etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)}


def append(tag, attributes=None, text=None, before=None):
    """A change adding ``<tag>`` to a sheet or workbook root, before the element ``before`` when given."""
    def change(root):
        element = etree.Element(f"{{{MAIN}}}{tag}", attributes or {})
        element.text = text
        anchor = root.find(f"m:{before}", NS) if before else None
        if anchor is not None:
            anchor.addprevious(element)
        else:
            root.append(element)
        return element

    return change


def set_attribute(path, name, value):
    def change(root):
        root.find(path, NS).set(name, value)

    return change


def column_attribute(number, name, value):
    """A change setting ``name`` on column ``number`` alone, splitting the <col> that covers it.

    xlsxwriter 3.0 writes one <col> per column, 3.1 and later one per run of equal columns.
    """
    def change(root):
        cols = root.find("m:cols", NS)
        col = next(col for col in cols if int(col.get("min")) <= number <= int(col.get("max")))
        position = list(cols).index(col)
        cols.remove(col)
        pieces = [(int(col.get("min")), number - 1), (number, number), (number + 1, int(col.get("max")))]
        for offset, (first, last) in enumerate(piece for piece in pieces if piece[0] <= piece[1]):
            piece = copy.deepcopy(col)
            piece.set("min", str(first))
            piece.set("max", str(last))
            if first == number:
                piece.set(name, value)
            cols.insert(position + offset, piece)

    return change


def styled(parts, cell_format):
    """A stylesheet whose checklist text format (index 4) is ``cell_format``: font, fill or number format."""
    def change(root):
        kind, element = cell_format(root)
        block = root.find(f"m:{kind}s", NS)
        if kind == "numFmt":
            block = root.find("m:numFmts", NS)
            if block is None:
                block = etree.Element(f"{{{MAIN}}}numFmts")
                root.insert(0, block)
            block.append(element)
            root.find("m:cellXfs", NS)[4].set("numFmtId", element.get("numFmtId"))
            return
        block.append(element)
        root.find("m:cellXfs", NS)[4].set(f"{kind}Id", str(len(block) - 1))

    return with_xml(parts, "xl/styles.xml", change)


def number_format(code):
    return lambda root: ("numFmt", etree.Element(f"{{{MAIN}}}numFmt", numFmtId="164", formatCode=code))


def white_font(_root):
    font = etree.fromstring(f'<font xmlns="{MAIN}"><sz val="11"/><color rgb="FFFFFFFF"/><name val="Calibri"/></font>')
    return "font", font


def codes(result):
    return [finding.code for finding in result.findings]


# ---------------------------------------------------------------------------------------------- round trips


def test_the_writer_and_the_countersignature_verify_as_valid(signed, company, trusted):
    result = verify(signed, trusted=trusted)
    assert (result.status, result.trusted, result.findings) == ("valid", True, [])
    receiver = ck.generate_key("rsa")
    countersigned, _checked = countersign(signed, receiver, ck.make_self_signed(receiver, "B"), "B", trusted=trusted)
    result = verify(countersigned, trusted=trusted)
    assert (result.status, result.countersigned, result.findings) == ("valid", True, [])
    assert verify(packed(unpacked(signed)), trusted=trusted).status == "valid", "the same parts zipped alike"


def test_xlsxwriter_3_1_and_later_merge_equal_columns_and_still_verify(signed, trusted):
    """xlsxwriter 3.1 writes equal adjacent columns as one <col min max>: the same layout, still canonical."""
    merged = CHECKLIST.encode()
    parts = unpacked(signed)
    sheet = parts[CHECKLIST].decode()
    columns = sheet[sheet.index("<cols>"):sheet.index("</cols>")]
    first, *_same, digest = columns.removeprefix("<cols>").split("/>")[:-1]
    parts[CHECKLIST] = sheet.replace(
        columns, "<cols>" + first.replace('max="1"', f'max="{len(ROWS[0])}"') + "/>" + digest + "/>"
    ).encode()
    assert merged and verify(packed(parts), trusted=trusted).status == "valid"


def _first_layout(parts):
    """The parts as the writer laid them out before its print setup: wider margins, no footer, no print areas."""
    for name in ("xl/worksheets/sheet1.xml", CHECKLIST, "xl/worksheets/sheet3.xml"):
        sheet = parts[name].decode()
        sheet = sheet.replace('<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6"',
                              '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75"')
        parts[name] = sheet.replace("<headerFooter><oddFooter>&amp;L&amp;A&amp;R&amp;P / &amp;N</oddFooter>"
                                    "</headerFooter>", "").encode()
    parts["xl/workbook.xml"] = re.sub(
        rb'<definedName name="_xlnm.Print_Area"[^>]*>[^<]*</definedName>', b"", parts["xl/workbook.xml"]
    )
    return parts


def test_each_page_layout_the_writer_has_written_verifies_as_valid(signed, trusted):
    parts = unpacked(signed)
    assert b"_xlnm.Print_Area" in parts["xl/workbook.xml"] and b"<headerFooter>" in parts[CHECKLIST]
    first = _first_layout(unpacked(signed))
    assert b"_xlnm.Print_Area" not in first["xl/workbook.xml"] and b"<headerFooter>" not in first[CHECKLIST]
    assert b"</definedNames>" in first["xl/workbook.xml"]
    assert verify(packed(first), trusted=trusted).status == "valid"


HEADING_XF = (b'<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" '
              b'applyBorder="1" applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf>')
TEXT_XF = (b'<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">'
           b'<alignment vertical="top"/></xf>')


def _unwrapped_layout(parts):
    """The checklist as the writer laid it out before it wrapped: values on one line (text), a plain header, no
    row heights. The writer's cell formats are default 0, header 1, digest 2, wrap 3, then heading, here text, 4."""
    assert parts["xl/styles.xml"].count(HEADING_XF) == 1
    parts["xl/styles.xml"] = parts["xl/styles.xml"].replace(HEADING_XF, TEXT_XF)
    sheet = parts[CHECKLIST]
    sheet = re.sub(rb'(<c r="[A-Z]+1") s="4"', rb'\1 s="1"', sheet)
    sheet = re.sub(rb'(<c r="[A-Z]+(?:[2-9]|[1-9][0-9]+)") s="3"', rb'\1 s="4"', sheet)
    sheet = sheet.replace(b'style="3"', b'style="4"')
    parts[CHECKLIST] = re.sub(rb'(<row r="[0-9]+") ht="[0-9.]+" customHeight="1"', rb"\1", sheet)
    return parts


def test_a_checklist_of_the_first_layout_still_verifies_and_a_mix_of_layouts_does_not(signed, trusted):
    parts = unpacked(signed)
    assert b'customHeight="1"' in parts[CHECKLIST] and b'style="3"' in parts[CHECKLIST], "the values wrap"
    first = _unwrapped_layout(unpacked(signed))
    assert b'customHeight="1"' not in first[CHECKLIST] and b's="3"' not in first[CHECKLIST]
    assert verify(packed(first), trusted=trusted).status == "valid"
    wrapped_without_heights = unpacked(signed)
    wrapped_without_heights[CHECKLIST] = re.sub(
        rb'(<row r="[0-9]+") ht="[0-9.]+" customHeight="1"', rb"\1", wrapped_without_heights[CHECKLIST])
    result = verify(packed(wrapped_without_heights), trusted=trusted)
    assert result.status == "resaved", "wrapped values whose rows are one line high hide what was signed"


@pytest.mark.parametrize("footer", ["&LConfidential &A&R&P / &N", "&CVerified by both parties"])
def test_a_footer_of_other_text_is_refused(signed, trusted, footer):
    parts = unpacked(signed)
    parts[CHECKLIST] = parts[CHECKLIST].replace(b"&amp;L&amp;A&amp;R&amp;P / &amp;N",
                                                footer.replace("&", "&amp;").encode())
    result = verify(packed(parts), trusted=trusted)
    assert result.status == "invalid"
    assert "headerFooter text is content a signed checklist never holds" in " ".join(
        finding.message for finding in result.findings)


def test_print_areas_that_leave_out_signed_rows_are_not_the_original(signed, trusted):
    parts = unpacked(signed)
    workbook = parts["xl/workbook.xml"].decode()
    area = workbook.split('<definedName name="_xlnm.Print_Area" localSheetId="1">')[1].split("</definedName>")[0]
    shorter = area.rsplit("$", 1)[0] + "$2"
    parts["xl/workbook.xml"] = workbook.replace(f">{area}<", f">{shorter}<").encode()
    assert verify(packed(parts), trusted=trusted).status == "resaved"


# ---------------------------------------------------------------------------------------------- display tampering

DISPLAY = {
    "hidden row": (
        lambda p: with_xml(p, CHECKLIST, set_attribute("m:sheetData/m:row[3]", "hidden", "1")),
        "row_hidden", "Checklist, row 3 is hidden or too low to show its text.",
    ),
    "zero-height row": (
        lambda p: with_xml(p, CHECKLIST, lambda r: (r.find("m:sheetData/m:row[2]", NS).set("ht", "0.5"),
                                                    r.find("m:sheetData/m:row[2]", NS).set("customHeight", "1"))),
        "row_hidden", "Checklist, row 2 is hidden or too low to show its text.",
    ),
    "zero-width column": (
        lambda p: with_xml(p, CHECKLIST, column_attribute(2, "width", "0.1")),
        "column_hidden", "Checklist, column B is hidden or too narrow to show its text.",
    ),
    "hidden column": (
        lambda p: with_xml(p, CHECKLIST, column_attribute(3, "hidden", "1")),
        "column_hidden", "Checklist, column C is hidden or too narrow to show its text.",
    ),
    "number format hiding text": (
        lambda p: styled(p, number_format(";;;")), "number_format",
        "Part xl/styles.xml: the number format ;;; can change or hide the text a cell shows.",
    ),
    "number format replacing text": (
        lambda p: styled(p, number_format(';;;"Verified"')), "number_format",
        'Part xl/styles.xml: the number format ;;;"Verified" can change or hide the text a cell shows.',
    ),
    "conditional format": (
        lambda p: with_xml(p, CHECKLIST, lambda r: append("conditionalFormatting", {"sqref": "A1:E5"},
                                                          before="pageMargins")(r).append(
            etree.Element(f"{{{MAIN}}}cfRule", type="expression", dxfId="0", priority="1"))),
        "element_foreign", "Part xl/worksheets/sheet2.xml: conditionalFormatting is content a signed checklist "
        "never holds; the file is refused.",
    ),
    "data validation": (
        lambda p: with_xml(p, CHECKLIST, lambda r: append("dataValidations", {"count": "1"}, before="pageMargins")(r)
                           .append(etree.Element(f"{{{MAIN}}}dataValidation", sqref="B2", promptTitle="Verified",
                                                 showInputMessage="1"))),
        "element_foreign", "Part xl/worksheets/sheet2.xml: dataValidations is content a signed checklist never "
        "holds; the file is refused.",
    ),
    "merged cells": (
        lambda p: with_xml(p, CHECKLIST, lambda r: append("mergeCells", {"count": "1"}, before="pageMargins")(r)
                           .append(etree.Element(f"{{{MAIN}}}mergeCell", ref="B2:C2"))),
        "element_foreign", "Part xl/worksheets/sheet2.xml: mergeCells is content a signed checklist never holds; "
        "the file is refused.",
    ),
    "printed header": (
        lambda p: with_xml(p, CHECKLIST, lambda r: append("headerFooter")(r).append(
            etree.fromstring(f'<oddHeader xmlns="{MAIN}">&amp;CVERIFIED BY THE RECEIVER</oddHeader>'))),
        "element_foreign", "Part xl/worksheets/sheet2.xml: headerFooter text is content a signed checklist never "
        "holds; the file is refused.",
    ),
    "filter criteria": (
        lambda p: with_xml(p, CHECKLIST, lambda r: r.find("m:autoFilter", NS).append(
            etree.fromstring(f'<filterColumn xmlns="{MAIN}" colId="1"><filters><filter val="Li Lei"/></filters>'
                             "</filterColumn>"))),
        "element_foreign", "Part xl/worksheets/sheet2.xml: autoFilter criteria is content a signed checklist never "
        "holds; the file is refused.",
    ),
    "comment": (
        lambda p: {**p, "xl/comments1.xml": f'<comments xmlns="{MAIN}"/>'.encode()},
        "part_foreign", "Part xl/comments1.xml is content a signed checklist never holds; the file is refused.",
    ),
    "drawing over the cells": (
        lambda p: {**p, "xl/drawings/drawing1.xml": (
            b'<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing">'
            b"<xdr:absoluteAnchor/></xdr:wsDr>")},
        "part_foreign", "Part xl/drawings/drawing1.xml is content a signed checklist never holds; the file is refused.",
    ),
}


@pytest.mark.parametrize("case", sorted(DISPLAY))
def test_display_tampering_is_refused_naming_where(signed, trusted, case):
    change, code, message = DISPLAY[case]
    result = verify(packed(change(unpacked(signed))), trusted=trusted)
    assert result.status == "invalid" and result.exit_code == 1, [f.message for f in result.findings]
    assert code in codes(result)
    assert message in [finding.message for finding in result.findings]


@pytest.mark.parametrize("change", [
    lambda p: styled(p, white_font),
    lambda p: with_xml(p, CHECKLIST, set_attribute("m:sheetData/m:row[2]/m:c[2]", "s", "1")),
    lambda p: with_xml(p, CHECKLIST, set_attribute("m:sheetViews/m:sheetView", "zoomScale", "10")),
    lambda p: with_xml(p, CHECKLIST, set_attribute("m:pageSetup", "scale", "10")),
    lambda p: with_xml(p, CHECKLIST, set_attribute("m:sheetData/m:row[2]", "ht", "60")),
], ids=["white font", "other cell format", "zoom", "print scale", "row height"])
def test_other_presentation_changes_are_never_valid(signed, trusted, change):
    """Fonts, fills, views and print settings the writer never writes: the file is not the signed original."""
    result = verify(packed(change(unpacked(signed))), trusted=trusted)
    assert result.status in ("resaved", "invalid") and result.exit_code == 1
    assert any(finding.code in ("rewritten", "element_foreign") for finding in result.findings)


def runs(*texts, plain=None):
    """A change storing cell B2 as runs of ``(text, run properties)``, after a plain ``<t>`` when ``plain``."""
    def change(root):
        inline = root.find("m:sheetData/m:row[2]/m:c[2]/m:is", NS)
        inline.clear()
        if plain is not None:
            etree.SubElement(inline, f"{{{MAIN}}}t").text = plain
        for text, properties in texts:
            run = etree.fromstring(f'<r xmlns="{MAIN}"><rPr>{properties}</rPr><t xml:space="preserve">{text}</t></r>')
            inline.append(run)

    return change


@pytest.mark.parametrize("properties", [
    '<rFont val="SimSun"/><sz val="11"/>', '<color rgb="FFFFFFFF"/>', '<sz val="1"/>', '<vertAlign val="superscript"/>',
], ids=["another font", "white", "vanishing size", "superscript"])
def test_runs_holding_the_signed_text_are_a_resave_whatever_their_formatting(signed, trusted, properties):
    """Runs (rich text) joining to the signed text: the content is intact, but a run's formatting may hide part
    of it, so the file is re-saved (ask for the original), never valid and never changed after signing."""
    change = runs(("王", '<rFont val="SimSun"/>'), ("芳", properties))
    result = verify(packed(with_xml(unpacked(signed), CHECKLIST, change)), trusted=trusted)
    assert (result.status, result.exit_code) == ("resaved", 1), codes(result)
    assert "rewritten" in codes(result)


def test_runs_joining_to_other_text_name_the_changed_cell(signed, trusted):
    change = runs(("王", '<rFont val="SimSun"/>'), ("五", '<rFont val="SimSun"/>'))
    result = verify(packed(with_xml(unpacked(signed), CHECKLIST, change)), trusted=trusted)
    assert result.status == "invalid"
    assert "Checklist, row 2, cell B2: the value changed." in [finding.message for finding in result.findings]


def test_plain_text_beside_runs_is_refused(signed, trusted):
    """A string holding both a <t> and runs: readers differ on which they show."""
    change = runs(("王五", "<b/>"), plain="王芳")
    result = verify(packed(with_xml(unpacked(signed), CHECKLIST, change)), trusted=trusted)
    assert result.status == "invalid" and "text_twice" in codes(result)


# ---------------------------------------------------------------------------------------------- extra content

_TYPES = "[Content_Types].xml"


def _content_type(parts, part, kind):
    return with_xml(parts, _TYPES, lambda root: root.append(etree.Element(
        "{http://schemas.openxmlformats.org/package/2006/content-types}Override", PartName=part, ContentType=kind)))


def _relationship(parts, rels, identifier, kind, target, mode=None):
    attributes = {"Id": identifier, "Type": f"http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
                                           f"{kind}", "Target": target}
    if mode:
        attributes["TargetMode"] = mode
    return with_xml(parts, rels, lambda root: root.append(etree.Element(
        "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship", attributes)))


EXTRA = {
    "defined name": (
        lambda p: with_xml(p, "xl/workbook.xml", lambda r: r.find("m:definedNames", NS).append(
            etree.fromstring(f'<definedName xmlns="{MAIN}" name="Total">Checklist!$A$1</definedName>'))),
        "Part xl/workbook.xml: definedName Total is content a signed checklist never holds; the file is refused.",
    ),
    "macros": (
        lambda p: _content_type({**p, "xl/vbaProject.bin": b"\xd0\xcf\x11\xe0"}, "/xl/vbaProject.bin",
                                "application/vnd.ms-office.vbaProject"),
        "Part xl/vbaProject.bin is content a signed checklist never holds; the file is refused.",
    ),
    "macro-enabled workbook": (
        lambda p: with_xml(p, _TYPES, lambda r: [item.set("ContentType", "application/vnd.ms-excel.sheet.macroEnabled"
                                                          ".main+xml") for item in r if "workbook" in
                                                 item.get("PartName", "")]),
        "Part /xl/workbook.xml has the content type application/vnd.ms-excel.sheet.macroEnabled.main+xml, which a "
        "checklist never holds.",
    ),
    "external link": (
        lambda p: _relationship(p, "xl/_rels/workbook.xml.rels", "rId9", "externalLinkPath",
                                "file:///C:/fake.xlsx", "External"),
        "Part xl/_rels/workbook.xml.rels: relationship rId9 points outside the file (file:///C:/fake.xlsx); the file "
        "is refused.",
    ),
    "connections": (
        lambda p: _relationship({**p, "xl/connections.xml": f'<connections xmlns="{MAIN}"/>'.encode()},
                                "xl/_rels/workbook.xml.rels", "rId9", "connections", "connections.xml"),
        "Part xl/connections.xml is content a signed checklist never holds; the file is refused.",
    ),
    "custom XML": (
        lambda p: {**p, "customXml/item1.xml": b"<claims><verified/></claims>"},
        "Part customXml/item1.xml is content a signed checklist never holds; the file is refused.",
    ),
    "unreferenced sheet": (
        lambda p: {**p, "xl/worksheets/sheet4.xml": p[CHECKLIST]},
        "Part xl/worksheets/sheet4.xml is content a signed checklist never holds; the file is refused.",
    ),
}


@pytest.mark.parametrize("case", sorted(EXTRA))
def test_extra_content_is_refused_naming_where(signed, trusted, case):
    change, message = EXTRA[case]
    result = verify(packed(change(unpacked(signed))), trusted=trusted)
    assert result.status == "invalid" and result.exit_code == 1
    assert message in [finding.message for finding in result.findings], [f.message for f in result.findings]


def test_an_extra_signature_is_refused(signed, company, trusted):
    result = verify(signed, trusted=trusted)
    receiver = ck.generate_key("ec")
    certificate = ck.make_self_signed(receiver, "B")
    rows = result.signature_rows
    rows = rows + ck.signature_rows({}, 2, "receiving", "B", ck.utc_timestamp(), certificate, receiver, rows)
    rows = rows + ck.signature_rows({}, 3, "receiving", "C", ck.utc_timestamp(), certificate, receiver, rows)
    forged = verify(replace_signature_sheet(signed, result.signature_sheet, rows), trusted=trusted)
    assert forged.status == "invalid"
    assert "Signatures, row 29: signature.3.role is not a row of a signed checklist (extra signature or row)." in [
        finding.message for finding in forged.findings
    ]


# ---------------------------------------------------------------------------------------------- two readings


def _local_headers(data):
    """(offset, name) of each local file header, in file order."""
    offsets, position = [], 0
    while (position := data.find(b"PK\x03\x04", position)) >= 0:
        length = struct.unpack_from("<H", data, position + 26)[0]
        offsets.append((position, data[position + 30:position + 30 + length].decode()))
        position += 4
    return offsets


def _duplicate(parts):
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
        with pytest.warns(UserWarning):
            archive.writestr(CHECKLIST, parts[CHECKLIST].replace(b"Li Lei", b"Han Meimei"))
    return output.getvalue()


def _case_variant(parts):
    return packed({**parts, "xl/worksheets/Sheet2.xml": parts[CHECKLIST]})


def _appended(parts):
    return packed(parts) + b"PK\x03\x04 trailing entry LibreOffice may read"


def _prepended(parts):
    data = packed(parts)
    prefix = b"MZ" + b"\0" * 62
    # zipfile accepts a prefix and shifts every offset; so do some readers, others do not.
    return prefix + data


def _orphan(parts):
    """A local entry between two others that the central directory does not list."""
    data = packed(parts)
    orphan = packed({CHECKLIST: parts[CHECKLIST].replace(b"Li Lei", b"Han Meimei")})
    entry = orphan[:orphan.index(b"PK\x01\x02")]
    position = _local_headers(data)[1][0]
    shifted = data[:position] + entry + data[position:]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
    directory = data.index(b"PK\x01\x02")
    central = bytearray(shifted[directory + len(entry):])
    offset = 0
    for _info in infos:
        start = central.index(b"PK\x01\x02", offset)
        header = struct.unpack_from("<I", central, start + 42)[0]
        if header >= position:
            struct.pack_into("<I", central, start + 42, header + len(entry))
        offset = start + 46
    end = central.rindex(b"PK\x05\x06")
    struct.pack_into("<I", central, end + 16, directory + len(entry))
    return shifted[:directory + len(entry)] + bytes(central)


def _method(parts):
    data = bytearray(packed(parts, zipfile.ZIP_BZIP2 if hasattr(zipfile, "ZIP_BZIP2") else zipfile.ZIP_STORED))
    return bytes(data)


def _encrypted_flag(parts):
    data = bytearray(packed(parts))
    for position in (data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")):
        flag = 6 if data[position:position + 4] == b"PK\x03\x04" else 8
        data[position + flag] |= 1
    return bytes(data)


def _local_name(parts):
    data = bytearray(packed(parts))
    position, name = _local_headers(bytes(data))[-1]
    data[position + 30:position + 30 + len(name)] = name.upper().encode()
    return bytes(data)


class _EndingEarly:
    """A deflate compressor whose stream ends, then carries bytes the zip still counts as the entry's."""

    def __init__(self):
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, -15)

    def compress(self, data):
        return self._deflate.compress(data)

    def flush(self):
        return self._deflate.flush() + b"hidden after the end of the stream"


def _trailing_stream(parts):
    """A deflate stream that ends before its stated compressed size: other bytes follow inside the entry."""
    compressors = {"xl/workbook.xml": _EndingEarly}
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            with mock.patch.object(zipfile, "_get_compressor",
                                   side_effect=lambda *_args, name=name: compressors.get(name, _deflate)()):
                archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), content,
                                 compress_type=zipfile.ZIP_DEFLATED)
    return output.getvalue()


def _deflate():
    return zlib.compressobj(6, zlib.DEFLATED, -15)


def _duplicate_relationship(parts):
    return packed(_relationship(parts, "xl/_rels/workbook.xml.rels", "rId2", "worksheet", "worksheets/sheet1.xml"))


def _stored_twice(what, changed_copy, sheet_data=b"<sheetData>"):
    """Row 3 of the checklist, or its cell B3, stored twice: one copy as signed, the other changed.

    ``sheet_data`` replaces the table's opening, to have the sheet read as any XML rather than as the writer's bytes.
    """
    def build_file(parts):
        sheet = parts[CHECKLIST]
        pattern = rb'<c r="B3"[^>]*><is><t>Li Lei</t></is></c>' if what == "cell" else rb'<row r="3"[^>]*>.*?</row>'
        signed = re.search(pattern, sheet).group()
        changed = signed.replace(b"Li Lei", b"Han Meimei")
        copies = changed + signed if changed_copy == "first" else signed + changed
        sheet = sheet.replace(signed, copies).replace(b"<sheetData>", sheet_data)
        return packed({**parts, CHECKLIST: sheet})

    return build_file


def _misplaced(change):
    def build_file(parts):
        row = re.search(rb'<row r="3"[^>]*>.*?</row>', parts[CHECKLIST]).group()
        return packed({**parts, CHECKLIST: parts[CHECKLIST].replace(row, change(row))})

    return build_file


def _swapped_cells(row):
    first, second = re.findall(rb'<c r="[BC]3".*?</c>', row)
    return row.replace(first + second, second + first)


STORED_TWICE = "stored twice, out of order or in another row: readers differ on which copy they show"
ROW_TWICE = "Checklist, row 3 is stored twice or out of order: readers differ on which copy they show"
READINGS = {
    "cell twice, first copy changed": (_stored_twice("cell", "first"), f"Checklist, cell B3 is {STORED_TWICE}"),
    "cell twice, second copy changed": (_stored_twice("cell", "second"), f"Checklist, cell B3 is {STORED_TWICE}"),
    "cell twice, read as any XML": (
        _stored_twice("cell", "first", b"<sheetData >"), f"Checklist, cell B3 is {STORED_TWICE}",
    ),
    "cell of another row": (_misplaced(lambda row: row.replace(b'<c r="B3"', b'<c r="B4"')),
                            f"Checklist, cell B4 is {STORED_TWICE}"),
    "cells out of order": (_misplaced(_swapped_cells), f"Checklist, cell B3 is {STORED_TWICE}"),
    "row twice, first copy changed": (_stored_twice("row", "first"), ROW_TWICE),
    "row twice, second copy changed": (_stored_twice("row", "second"), ROW_TWICE),
    "row twice, read as any XML": (_stored_twice("row", "first", b"<sheetData >"), ROW_TWICE),
    "duplicate entry": (_duplicate, "Zip entry xl/worksheets/sheet2.xml appears twice"),
    "case-variant entry": (_case_variant, "Zip entry xl/worksheets/Sheet2.xml appears twice"),
    "data after the archive": (_appended, "The file holds data outside the entries of its zip"),
    "data before the archive": (_prepended, "The file holds data outside the entries of its zip"),
    "orphan local entry": (_orphan, "The file holds data outside the entries of its zip"),
    "other compression": (_method, "is stored with method"),
    "encryption flag": (_encrypted_flag, "is stored with method 8 and flags 0x1"),
    "local name differs": (_local_name, "its local header and the central directory disagree"),
    "stream ends early": (_trailing_stream, "its compressed data does not end where the zip says"),
    "duplicate relationship id": (_duplicate_relationship, "relationship id rId2 is given twice"),
}


@pytest.mark.parametrize("case", sorted(READINGS))
def test_a_file_with_two_readings_is_refused(signed, trusted, case):
    build_file, message = READINGS[case]
    result = verify(build_file(unpacked(signed)), trusted=trusted)
    assert result.status == "invalid" and result.exit_code == 1, [f.message for f in result.findings]
    assert any(message in finding.message for finding in result.findings), [f.message for f in result.findings]


# ---------------------------------------------------------------------------------------------- robustness

BROKEN = {
    "malformed sheet": lambda p: {**p, CHECKLIST: p[CHECKLIST][:-40]},
    "bad cell reference": lambda p: {**p, CHECKLIST: p[CHECKLIST].replace(b'r="B2"', b'r="ZZZZ2"')},
    "huge row number": lambda p: {**p, CHECKLIST: p[CHECKLIST].replace(b'<row r="3"', b'<row r="99999999999"')},
    "missing workbook": lambda p: {k: v for k, v in p.items() if k != "xl/workbook.xml"},
    "garbage styles": lambda p: {**p, "xl/styles.xml": b"<styleSheet><fonts><font"},
    "deep nesting": lambda p: {**p, CHECKLIST: p[CHECKLIST].replace(
        b"<sheetData>", b"<sheetData>" + b"<row>" * 200 + b"</row>" * 200)},
    "shared string out of range": lambda p: {**p, CHECKLIST: p[CHECKLIST].replace(
        b'<c r="B2" s="3" t="inlineStr"><is><t>', b'<c r="B2" s="3" t="s"><v>7</v><is><t>')},
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_malformed_files_end_with_a_message_never_a_traceback(signed, trusted, case):
    result = verify(packed(BROKEN[case](unpacked(signed))), trusted=trusted)
    assert result.status != "valid" and result.exit_code in (1, 2)
    assert result.findings and all(finding.message for finding in result.findings)


MEMORY = """
import sys
sys.path.insert(0, {tests!r})
import conftest  # noqa: F401
from customer_handover_tools.checklist_verify import verify
result = verify({path!r})
# VmHWM is this program's own peak; ru_maxrss would count the test runner it was forked from.
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]
print(result.status, [finding.code for finding in result.findings][:3], int(peak) // 1024)
"""


def _shared_strings_bomb(signed, tmp_path):
    """A re-saved-looking workbook whose shared strings are millions of tiny strings, within the size limit."""
    parts = unpacked(signed)
    strings = b"".join(b"<si><t>%d</t></si>" % index for index in range(3_000_000))
    parts["xl/sharedStrings.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}">'.encode() + strings + b"</sst>"
    )
    parts = _relationship(parts, "xl/_rels/workbook.xml.rels", "rId9", "sharedStrings", "sharedStrings.xml")
    path = tmp_path / "strings.xlsx"
    path.write_bytes(packed(parts))
    return path


def test_memory_stays_flat_whatever_the_shared_strings_hold(signed, tmp_path):
    path = _shared_strings_bomb(signed, tmp_path)
    tests = str(tmp_path.parent)
    run = subprocess.run(
        [sys.executable, "-c", MEMORY.format(tests=str(__import__("pathlib").Path(__file__).parent), path=str(path))],
        capture_output=True, text=True, check=True, cwd=tests,
    )
    status, *_rest = run.stdout.split()
    peak = int(run.stdout.split()[-1])
    assert status in ("invalid", "resaved"), run.stdout
    assert peak < 100, f"peak memory {peak} MB: {run.stdout}"


# ---------------------------------------------------------------------------------------------- LibreOffice

SOFFICE = shutil.which("soffice")
# Cell contents as LibreOffice shows them (the 9th token: "save cell contents as shown").
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,2"


def _shown_rows(data, tmp_path, name):
    source = tmp_path / f"{name}.xlsx"
    source.write_bytes(data)
    profile = f"-env:UserInstallation=file://{tmp_path}/profile"
    subprocess.run([SOFFICE, profile, "--headless", "--convert-to", CSV_FILTER, "--outdir", str(tmp_path / name),
                    str(source)], check=True, capture_output=True, timeout=180)
    shown = tmp_path / name / f"{name}-Checklist.csv"
    return shown.read_text(encoding="utf-8").splitlines() if shown.exists() else []


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed: the display tampering proof is SKIPPED")
@pytest.mark.parametrize("case", [
    # LibreOffice shows the last copy of a cell stored twice; a reader showing the first is fooled the other way.
    "number format hiding text", "number format replacing text", "duplicate entry", "cell twice, second copy changed",
])
def test_libreoffice_shows_something_else_than_what_was_signed_in_each_refused_file(signed, trusted, tmp_path, case):
    """Each refusal matters: LibreOffice displays other text than the signed one (or the verifier refused first)."""
    honest = _shown_rows(signed, tmp_path, "honest")
    assert honest[2].startswith("2,Li Lei,"), honest[:3]
    changed = DISPLAY[case][0](unpacked(signed)) if case in DISPLAY else None
    data = packed(changed) if changed is not None else READINGS[case][0](unpacked(signed))
    assert verify(data, trusted=trusted).status == "invalid"
    shown = _shown_rows(data, tmp_path, "tampered")
    assert shown != honest, "LibreOffice shows the signed text: this refusal would not matter"
