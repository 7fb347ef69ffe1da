"""How each sheet must look, rebuilt from the signed content and compared row by row: what a re-save changed."""

import re
from xml.etree import ElementTree

from openpyxl.utils import get_column_letter

from .. import checklist_package as pkg
from ..checklist import (
    CHECKLIST,
    CHECKLIST_WIDTHS,
    COVER,
    COVER_WIDTHS,
    DIGEST_WIDTH,
    LINE_HEIGHT,
    MAX_ROW_HEIGHT,
    SIGNATURE_WIDTHS,
    row_height,
    wrapped_lines,
    wrapped_row_height,
)

_SHEET_VIEWS = {
    COVER: '<sheetView tabSelected="1" workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
           'state="frozen"/><selection pane="bottomLeft"/></sheetView>',
    CHECKLIST: '<sheetView workbookViewId="0"><pane xSplit="1" ySplit="1" topLeftCell="B2" activePane="bottomRight" '
               'state="frozen"/><selection pane="topRight" activeCell="B1" sqref="B1"/><selection pane="bottomLeft" '
               'activeCell="A2" sqref="A2"/><selection pane="bottomRight"/></sheetView>',
    "signatures": '<sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
                  'state="frozen"/><selection pane="bottomLeft"/></sheetView>',
}
_COMMON_SETTINGS = {
    "sheetPr": '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>',
    "sheetFormatPr": '<sheetFormatPr defaultRowHeight="15"/>',
    "pageSetup": '<pageSetup paperSize="9" fitToHeight="0" orientation="landscape"/>',
}
_ORDER = ["sheetPr", "dimension", "sheetViews", "sheetFormatPr", "cols", "sheetData", "pageMargins", "pageSetup"]
# The page layouts the writer has written: the first, then one with narrower margins and a footer that
# names the sheet and numbers the pages (its print areas are checked with the defined names).
_FOOTER_TEXT = "&L&A&R&P / &N"
_WRITER_FOOTER = "<headerFooter><oddFooter>&amp;L&amp;A&amp;R&amp;P / &amp;N</oddFooter></headerFooter>"
_LAYOUTS = {
    None: '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>',
    "headerFooter": '<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6" header="0.3" footer="0.3"/>',
}
_DIMENSION = re.compile(r"A1(?::[A-Z]{1,3}[0-9]{1,7})?")


def _form(text):
    return pkg.canonical(ElementTree.fromstring(f'<x xmlns="{pkg.MAIN_NS}">{text}</x>')[0])


_SETTING_FORMS = {name: _form(text) for name, text in _COMMON_SETTINGS.items()}
_FOOTER_FORM = _form(_WRITER_FOOTER)
_MARGIN_FORMS = {footer: _form(text) for footer, text in _LAYOUTS.items()}
_VIEW_FORMS = {key: _form(f"<sheetViews>{text}</sheetViews>") for key, text in _SHEET_VIEWS.items()}


class Layout:
    """Compares a sheet, row by row, with how the writer lays out its signed content; reports what a re-save changed.

    ``kind``: cover, checklist or signatures; ``columns``: its value columns (a digest column follows in tables).
    """

    def __init__(self, verifier, sheet, kind, columns, rows=None):
        self.verifier = verifier
        self.package = verifier.package
        self.sheet = sheet
        self.kind = kind
        self.columns = columns
        self.rows = rows
        self.canonical = sheet.part in pkg.SHEET_PARTS
        self.expected_row = 1
        self.roles = self.package.style_roles
        digest = () if kind == "signatures" else ("digest",)
        self.header = ("header",) * columns + digest
        body = {COVER: ("default", "wrap"), CHECKLIST: ("text",) * columns}.get(kind, ("wrap",) * columns)
        self.body = body + digest
        self.widths = {COVER: (None, COVER_WIDTHS[1]), "signatures": SIGNATURE_WIDTHS}.get(kind)
        self.height = row_height
        # The checklist's layout is told by its columns, met before its rows (see _choose_checklist_layout).
        self.chosen = kind != CHECKLIST
        self.cut_widths = None
        self._set_styles()

    def _set_styles(self):
        """The style attribute each column's cells carry: the writer's one cell format per role."""
        index = {role: str(number) for number, role in sorted(self.roles.items(), reverse=True)}
        index["default"] = None
        self.header_styles = [index.get(role, "?") for role in self.header]
        self.body_styles = [index.get(role, "?") for role in self.body]

    def _choose_checklist_layout(self):
        """The first checklist layout keeps each value on one line; the second, chosen when every value column
        wraps, wraps the header and the values and makes each row as high as its wrapped values need."""
        self.chosen = True
        cols = next((element for element in self.sheet.settings if pkg.local(element.tag) == "cols"), None)
        widths, roles = {}, set()
        for col in cols if cols is not None else ():
            first, last = col.get("min", ""), col.get("max", "")
            if first.isdigit() and last.isdigit():
                # xlsxwriter 3.1 and later store neighbouring columns of one width and format as one range.
                for column in range(int(first), min(int(last), self.columns) + 1):
                    widths[column] = _characters(col.get("width"))
                    roles.add(self._role(col.get("style")))
        if not all(widths.get(column) for column in range(1, self.columns + 1)):
            return
        if roles != {"wrap"}:
            # The first layout: each value on one line, cut at its column's edge where the next cell holds text.
            self.cut_widths = tuple(widths[column] for column in range(1, self.columns + 1))
            return
        self.header = ("heading",) * self.columns + ("digest",)
        self.body = ("wrap",) * self.columns + ("digest",)
        self.widths = tuple(widths[column] for column in range(1, self.columns + 1))
        self.height = wrapped_row_height
        self._set_styles()

    def rewrite(self, item):
        if self.canonical:
            self.canonical = False
            self.package.rewrite(self.sheet.part, item)

    def row(self, number, attributes, cells, values):
        too_low = "ht" in attributes and _number(attributes["ht"]) < pkg.MIN_ROW_HEIGHT
        if attributes.get("hidden") in ("1", "true") or too_low:
            self.package.refuse("row_hidden", sheet=self.sheet.title, row=number)
        if not self.canonical:
            return
        if not self.chosen:
            self._choose_checklist_layout()
        if number != self.expected_row:
            self.rewrite(f"row {number}")
            return
        self.expected_row += 1
        height = self.height(values, self.widths) if self.widths else None
        if height == MAX_ROW_HEIGHT and self.height is wrapped_row_height:
            self._note_clipped(number, values)
        elif self.cut_widths and number > 1:
            self._note_cut(number, values)
        expected = {"r": str(number)} if height is None else {"r": str(number), "ht": attributes.get("ht"),
                                                              "customHeight": "1"}
        if attributes != expected or (height is not None and _number(attributes.get("ht")) != height):
            self.rewrite(f"row {number}")
            return
        styles = self.header_styles if number == 1 else self.body_styles
        for column, _kind, _value, style, plain in cells:
            if not plain or column >= len(styles) or style != styles[column]:
                self.rewrite(f"cell {get_column_letter(column + 1) if column < 16384 else column + 1}{number}")
                return

    def _note_clipped(self, number, values):
        """Name the cell whose text the highest row cannot show whole: valid or not, the reader reads it there."""
        lines = wrapped_lines(values, self.widths)
        longest = max(range(len(lines)), key=lines.__getitem__)
        self.verifier.report("row_clipped", sheet=self.sheet.title, cell=f"{get_column_letter(longest + 1)}{number}",
                             lines=lines[longest], shown=MAX_ROW_HEIGHT // LINE_HEIGHT)

    def _note_cut(self, number, values):
        """Name the cells of a one-line row whose text is wider than their column and stops at the next cell's."""
        lines = wrapped_lines(values, self.cut_widths)
        for column, count in enumerate(lines):
            if count > 1 and (column + 1 == len(values) or values[column + 1]):
                cell = f"{get_column_letter(column + 1)}{number}"
                self.verifier.report("cell_cut", sheet=self.sheet.title, cell=cell)

    def _role(self, style):
        """The role of a cell format index (a style attribute), None when it is not one of the writer's."""
        if style is None:
            return "default"
        return self.roles.get(int(style)) if style.isdigit() else None

    def close(self):
        """Check the sheet's settings, which the parser met around its table."""
        sheet = self.sheet
        if not self.chosen:
            self._choose_checklist_layout()
        for element in sheet.settings:
            tag = pkg.local(element.tag)
            if tag == "cols":
                self._check_columns(element)
            elif tag == "sheetFormatPr" and (element.get("zeroHeight") in ("1", "true")
                                             or _number(element.get("defaultRowHeight", "15")) < pkg.MIN_ROW_HEIGHT):
                self.package.refuse("row_hidden", sheet=sheet.title, row="*")
            elif tag == "autoFilter" and len(element):
                self.package.refuse("element_foreign", part=sheet.part, element="autoFilter criteria")
            elif tag == "headerFooter" and any((item.text or "").strip() not in ("", _FOOTER_TEXT)
                                               for item in element):
                # Only the writer's own footer (sheet name, page numbers) may print; a re-save may repeat it.
                self.package.refuse("element_foreign", part=sheet.part, element="headerFooter text")
        if not self.canonical:
            return
        order = [pkg.local(element.tag) for element in sheet.settings]
        expected = list(_ORDER)
        if self.kind == CHECKLIST:
            expected.insert(6, "autoFilter")
        footer = "headerFooter" if order[-1:] == ["headerFooter"] else None
        if footer:
            expected.append(footer)
        if order != expected or sheet.root_attributes:
            self.rewrite("the sheet settings")
            return
        for element in sheet.settings:
            if not self._setting_is_canonical(element, footer):
                self.rewrite(pkg.local(element.tag))

    def _setting_is_canonical(self, element, footer):
        tag = pkg.local(element.tag)
        if tag == "pageMargins":
            return pkg.canonical(element) == _MARGIN_FORMS[footer]
        if tag == "headerFooter":
            return pkg.canonical(element) == _FOOTER_FORM
        if tag in _SETTING_FORMS:
            return pkg.canonical(element) == _SETTING_FORMS[tag]
        if tag == "sheetViews":
            return pkg.canonical(element) == _VIEW_FORMS[self.kind]
        if tag == "dimension":
            return set(element.attrib) == {"ref"} and bool(_DIMENSION.fullmatch(element.get("ref")))
        if tag == "autoFilter":
            return element.attrib == {"ref": f"A1:{get_column_letter(self.columns + 1)}{self.rows}"}
        return True

    def _check_columns(self, cols):
        """Every column as the writer sets it: its width, its cell format; none hidden or too narrow to read."""
        found = {}
        for col in cols:
            try:
                first, last = int(col.get("min", "0")), int(col.get("max", "0"))
                width = _number(col.get("width", "9"))
            except ValueError:
                first, last, width = 0, -1, 0
            hidden = col.get("hidden") in ("1", "true") or width < pkg.MIN_COLUMN_WIDTH
            for column in range(max(first, 1), min(last, 16384) + 1):
                if hidden:
                    self.package.refuse("column_hidden", sheet=self.sheet.title, column=get_column_letter(column))
                    break
                if column <= self.columns + 1:
                    found[column] = (width, col.get("style"), set(col.attrib) - {"style"})
            if last > max(self.columns + 1, 3):
                self.rewrite("cols")
        if self.canonical:
            self._compare_columns(found)

    def _compare_columns(self, found):
        if self.kind == COVER:
            widths = [(COVER_WIDTHS[0], "default"), (COVER_WIDTHS[1], "wrap"), (DIGEST_WIDTH, "digest")]
        elif self.kind == "signatures":
            widths = [(width, "wrap") for width in SIGNATURE_WIDTHS]
        else:
            widths = [(None, self.body[0])] * self.columns + [(DIGEST_WIDTH, "digest")]
        lowest, highest = (pkg.excel_width(width) for width in CHECKLIST_WIDTHS)
        for column, (width, role) in enumerate(widths, start=1):
            stored, style, attributes = found.get(column, (None, None, set()))
            if width is None:
                fits = stored is not None and lowest <= stored <= highest
            else:
                fits = stored == pkg.excel_width(width)
            if not fits or self._role(style) != role or attributes != {"min", "max", "width", "customWidth"}:
                self.rewrite(f"column {get_column_letter(column)}")
                return


def _characters(width):
    """The whole number of characters the writer set for a column stored ``width`` wide; None for any other width."""
    stored = _number(width)
    characters = round(stored - pkg.excel_width(0))
    lowest, highest = CHECKLIST_WIDTHS
    return characters if lowest <= characters <= highest and pkg.excel_width(characters) == stored else None


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0
