"""Reading a sheet's rows straight from its XML, streamed: fast for the writer's bytes, strict for any other."""

import re
from array import array
from xml.etree import ElementTree

from openpyxl.utils import column_index_from_string, get_column_letter

from .. import checklist_package as pkg
from .results import RefusedChecklist, UnreadableChecklist

# Cells read per row: a checklist row has a few dozen; more are reported once, never kept.
MAX_CELLS = 256
# Elements of a sheet outside its table: the writer writes a dozen, a re-save a few hundred.
MAX_SETTINGS = 20000

MAIN = pkg.MAIN
_CELL, _ROW, _SHEET_DATA, _FORMULA, _VALUE, _INLINE, TEXT, RUN, SHARED = (
    f"{MAIN}{tag}" for tag in ("c", "row", "sheetData", "f", "v", "is", "t", "r", "si")
)
CELL_REFERENCE = re.compile(r"([A-Z]{1,3})([0-9]+)$")
# OOXML stores U+HHHH as _xHHHH_ in cell text, and a literal "_xHHHH_" as "_x005F_xHHHH_".
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
_PLAIN_CELL = ({"r", "t"}, {"r", "s", "t"})
# The writer's bytes: a sheet's opening, its rows of inline strings and their cells.
_HEAD = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{pkg.MAIN_NS}" '.encode()
_CELL_PATTERN = (
    rb'<c r="([A-Z]{1,3})([0-9]{1,7})"(?: s="([0-9]{1,5})")? t="inlineStr"><is><t(?: xml:space="preserve")?>'
    rb"([^<]*)</t></is></c>"
)
_ROW_BYTES = re.compile(
    rb'<row r="([0-9]{1,7})"(?: ht="([0-9]{1,4}(?:\.[0-9]{1,4})?)" customHeight="1")?>((?:' + _CELL_PATTERN
    + rb")*)</row>"
)
_CELL_BYTES = re.compile(_CELL_PATTERN)
_COLUMNS = {get_column_letter(index + 1).encode(): index for index in range(MAX_CELLS)}
MAX_HEAD = 1 << 20
MAX_ROW_BYTES = 4 << 20
MAX_DEPTH = 64
_PLAIN_TEXT = ({}, {pkg.XML_SPACE: "preserve"})


class Strings:
    """A re-saved workbook's shared strings, packed in one buffer: memory is their text, not a Python string each."""

    def __init__(self, limit, part):
        self.limit = limit
        self.part = part
        self.text = bytearray()
        self.ends = array("Q")

    def append(self, text):
        self.text += text.encode("utf-8")
        self.ends.append(len(self.text))
        if len(self.text) + 8 * len(self.ends) > self.limit:
            raise RefusedChecklist("strings_too_large", part=self.part, limit=self.limit)

    def __getitem__(self, index):
        start = self.ends[index - 1] if index else 0
        return self.text[start:self.ends[index]].decode("utf-8")


class Sheet:
    def __init__(self, package, title, state, part):
        self.package = package
        self.title = title
        self.state = state
        self.part = part
        self.settings = []
        self.root_attributes = {}

    def iter_rows(self, layout=True):
        """(row number, row attributes, [(column index, kind, text, style, plain)]) for each stored row.

        ``kind`` is text, formula or other; ``plain`` is True when the cell is stored as the writer stores
        it. The sheet's other elements are kept in ``settings``; any the writer or a re-save never writes
        is refused.
        """
        strings = self.package.strings
        number = 0
        cells = []
        column = -1
        depth = 0
        in_table = False
        table = None
        counted = 0
        self.settings = []
        row = None
        row_number = 0
        for event, element in self.package.events(self.part, ("start", "end")):
            if event == "start":
                depth += 1
                if depth > MAX_DEPTH:
                    raise RefusedChecklist("part_too_large", part=self.part)
                if depth == 3 and in_table:
                    row = element
                    row_number = int(element.get("r") or number + 1)
                elif depth == 2:
                    if element.tag == _SHEET_DATA:
                        in_table, table = True, element
                    elif pkg.local(element.tag) not in pkg.RESAVE_SHEET and layout:
                        self.package.refuse("element_foreign", part=self.part, element=pkg.local(element.tag))
                elif depth == 1:
                    self.root_attributes = dict(element.attrib)
                continue
            depth -= 1
            tag = element.tag
            if in_table:
                if tag == _CELL:
                    reference = element.get("r")
                    match = CELL_REFERENCE.match(reference) if reference else None
                    previous, column = column, column_index_from_string(match.group(1)) - 1 if match else column + 1
                    if column <= previous or (match and int(match.group(2)) != row_number):
                        self.refuse_cell(reference)
                    if (inline := element.find(_INLINE)) is not None:
                        self.package.check_runs(self.part, inline)
                    if len(cells) < MAX_CELLS:
                        cells.append((column, *_cell(element, strings), element.get("s"), _plain(element)))
                    elif len(cells) == MAX_CELLS:
                        cells.append((column, "other", "", None, False))
                    if depth == 3:
                        row.remove(element)
                elif tag == _ROW:
                    if row_number <= number:
                        self.refuse_row(row_number)
                    number = row_number
                    yield number, dict(element.attrib), cells
                    cells = []
                    column = -1
                    element.clear()
                    # Rows read are dropped from the tree, so memory stays flat in the number of rows.
                    table.clear()
                elif tag == _SHEET_DATA:
                    in_table = False
                    self.settings.append(element)
                continue
            counted += 1
            if counted > MAX_SETTINGS:
                raise RefusedChecklist("part_too_large", part=self.part)
            if depth == 1:
                self.settings.append(element)


    def iter_canonical_rows(self):
        """The rows of a sheet stored byte for byte as the writer stores them, read fast; Irregular otherwise.

        The table must be a run of rows of inline strings in the writer's exact form, the rest of the part
        plain XML; anything else is left to iter_rows, which reads any XML.
        """
        self.settings = []
        chunks = self.package.chunks(self.part)
        buffer = b""
        for chunk in chunks:
            buffer += chunk
            if (start := buffer.find(b"<sheetData>")) >= 0 or len(buffer) > MAX_HEAD:
                break
        if start < 0 or not buffer.startswith(_HEAD):
            raise Irregular
        opening = buffer[:buffer.index(b">", len(_HEAD)) + 1]
        self._keep_settings(buffer[:start] + b"</worksheet>")
        position = start + len(b"<sheetData>")
        letters = _COLUMNS
        previous_row = 0
        while True:
            match = _ROW_BYTES.match(buffer, position)
            if match is None:
                if buffer.startswith(b"</sheetData>", position):
                    break
                if len(buffer) - position > MAX_ROW_BYTES or not (chunk := next(chunks, b"")):
                    raise Irregular
                buffer = buffer[position:] + chunk
                position = 0
                continue
            position = match.end()
            number, height, content = match.group(1, 2, 3)
            if int(number) <= previous_row:
                self.refuse_row(int(number))
            previous_row = int(number)
            cells = []
            for column, cell_row, style, text in _CELL_BYTES.findall(content):
                if cell_row != number or column not in letters:
                    raise Irregular
                if cells and letters[column] <= cells[-1][0]:
                    self.refuse_cell((column + cell_row).decode())
                value = text.decode("utf-8")
                if "&" in value:
                    value = _unescape_text(value)
                if "_x" in value:
                    value = _ESCAPED.sub(_unescaped, value)
                cells.append((letters[column], "text", value, style.decode() if style else None, bool(value)))
            attributes = {"r": number.decode()}
            if height:
                attributes.update(ht=height.decode(), customHeight="1")
            yield int(number), attributes, cells
        rest = buffer[position + len(b"</sheetData>"):] + b"".join(chunks)
        if len(rest) > MAX_HEAD:
            raise Irregular
        self._keep_settings(opening + rest, after=True)

    def refuse_cell(self, reference):
        """A cell stored twice, out of order or in another row: readers differ on which copy they show."""
        self.package.refuse("cell_twice", sheet=self.title, cell=reference)

    def refuse_row(self, number):
        """A row stored twice or out of order: readers differ on which copy they show."""
        self.package.refuse("row_twice", sheet=self.title, row=number)

    def _keep_settings(self, text, after=False):
        try:
            root = ElementTree.fromstring(text)
        except ElementTree.ParseError as error:
            raise Irregular from error
        if not after:
            self.root_attributes = dict(root.attrib)
        elif self.settings:
            self.settings.append(ElementTree.Element(_SHEET_DATA))
        for element in root:
            if pkg.local(element.tag) not in pkg.RESAVE_SHEET:
                raise Irregular
            self.settings.append(element)


class Irregular(Exception):
    """A sheet not stored as the writer stores it: read it again as any XML."""


def _unescape_text(value):
    plain = value.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    if "&" in plain.replace("&amp;", ""):
        raise Irregular
    return plain.replace("&amp;", "&")


def _plain(element):
    """True when the cell is an inline string as the writer stores it: ``<c r s t="inlineStr"><is><t>``."""
    if set(element.attrib) not in _PLAIN_CELL or element.get("t") != "inlineStr" or len(element) != 1:
        return False
    inline = element[0]
    return len(inline) == 1 and inline[0].tag == TEXT and inline[0].attrib in _PLAIN_TEXT and bool(inline[0].text)


def _cell(element, strings):
    """The kind and text of one cell element; (None, None) for a cell without content."""
    cell_type = element.get("t", "n")
    formula = element.find(_FORMULA)
    if formula is not None:
        return "formula", f"={formula.text or ''}"
    if cell_type == "inlineStr":
        inline = element.find(_INLINE)
        return ("text", string_text(inline)) if inline is not None else ("text", None)
    value = element.findtext(_VALUE)
    if value is None:
        return None, None
    if cell_type == "s":
        if strings is None or not value.isdigit() or int(value) >= len(strings.ends):
            raise UnreadableChecklist("corrupt", detail=f"a cell refers to a missing shared string {value[:20]}")
        return "text", strings[int(value)]
    return "other", value


def string_text(element):
    """The text of a shared or inline string: its own text or its runs', phonetic hints left out."""
    text = element.findtext(TEXT)
    if text is None:
        text = "".join(run.findtext(TEXT) or "" for run in element.findall(RUN))
    return ooxml_text(text)


def ooxml_text(text):
    """A cell's text as stored, with OOXML's ``_xHHHH_`` escapes undone: the text Excel shows."""
    return _ESCAPED.sub(_unescaped, text) if "_x" in text else text


def _unescaped(match):
    return chr(int(match.group(1), 16))
