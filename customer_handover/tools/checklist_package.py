"""What a signed checklist's package holds, as its writer and the countersignature produce it; no Odoo import.

Two lists of what is allowed, never a list of what is harmful:

* the *canonical package*: exactly the parts, relationships, content types, workbook settings, styles
  and sheet settings the writer (xlsxwriter 3.0 to 3.3, and the newest: tests/unit/test_library_versions.py)
  and the countersignature write. Only a workbook in this form can be valid: its presentation is
  rebuilt from the signed content and compared, so nothing it shows can differ from what was signed.
* a *re-save*: what Excel, LibreOffice or WPS change when they save the workbook again without
  adding content (shared strings, their own styles and settings, an empty drawing, custom
  properties). Such a file is told apart from a forged one, never reported valid.

Anything else (macros, external links, comments, defined names, hidden rows, number formats...) is
refused, naming the part and what was found in it.
"""

import hashlib
import re
from xml.etree import ElementTree

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
MAIN = f"{{{MAIN_NS}}}"
OFFICE_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
OFFICE_REL = f"{{{OFFICE_REL_NS}}}"
PACKAGE_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
CONTENT_TYPES_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
_TYPE = f"{OFFICE_REL_NS}/"
_OFFICE = "application/vnd.openxmlformats-officedocument."
_SHEET_TYPE = f"{_OFFICE}spreadsheetml.worksheet+xml"

SHEET_PARTS = ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/worksheets/sheet3.xml")
# Every part of the canonical package and its content type (None: given by its extension's default).
CANONICAL_PARTS = {
    "[Content_Types].xml": None,
    "_rels/.rels": None,
    "docProps/app.xml": f"{_OFFICE}extended-properties+xml",
    "docProps/core.xml": "application/vnd.openxmlformats-package.core-properties+xml",
    "xl/_rels/workbook.xml.rels": None,
    "xl/workbook.xml": f"{_OFFICE}spreadsheetml.sheet.main+xml",
    "xl/styles.xml": f"{_OFFICE}spreadsheetml.styles+xml",
    "xl/theme/theme1.xml": f"{_OFFICE}theme+xml",
    **dict.fromkeys(SHEET_PARTS, _SHEET_TYPE),
}
CANONICAL_DEFAULTS = {"rels": "application/vnd.openxmlformats-package.relationships+xml", "xml": "application/xml"}
PACKAGE_RELATIONSHIPS = {
    (f"{_TYPE}officeDocument", "xl/workbook.xml"),
    ("http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties", "docProps/core.xml"),
    (f"{_TYPE}extended-properties", "docProps/app.xml"),
}
WORKBOOK_RELATIONSHIPS = {
    *((f"{_TYPE}worksheet", part.removeprefix("xl/")) for part in SHEET_PARTS),
    (f"{_TYPE}theme", "theme/theme1.xml"),
    (f"{_TYPE}styles", "styles.xml"),
}
# SHA-256 of the theme xlsxwriter writes (the same from 3.0 to 3.3): a theme decides fonts and colours.
CANONICAL_THEMES = {"75104b2164c20dab2578383d827deac3a7eec077c3f7c99a4099a551fdebb134"}
# The workbook settings the writer produces, as (element, attribute names); values are checked where they matter.
WORKBOOK_ELEMENTS = {
    "fileVersion": {"appName", "lastEdited", "lowestEdited", "rupBuild"},
    "workbookPr": {"defaultThemeVersion"},
    "bookViews": set(),
    "workbookView": {"xWindow", "yWindow", "windowWidth", "windowHeight"},
    "sheets": set(),
    "sheet": {"name", "sheetId", f"{OFFICE_REL}id"},
    "definedNames": set(),
    "definedName": {"name", "localSheetId", "hidden"},
    "calcPr": {"calcId", "fullCalcOnLoad"},
}
CORE_PROPERTIES = {
    "coreProperties", "title", "subject", "creator", "keywords", "description", "lastModifiedBy", "created",
    "modified", "category", "contentStatus",
}
APP_PROPERTIES = {
    "Properties", "Application", "DocSecurity", "ScaleCrop", "HeadingPairs", "TitlesOfParts", "vector", "variant",
    "lpstr", "i4", "Manager", "Company", "LinksUpToDate", "SharedDoc", "HyperlinkBase", "HyperlinksChanged",
    "AppVersion",
}
# The writer's styles: the stylesheet it writes, whose cell formats (in any order) are the only ones a cell may use.
CANONICAL_STYLES = (
    f'<styleSheet xmlns="{MAIN_NS}"><fonts count="3">'
    '<font><sz val="11"/><color theme="1"/><name val="Calibri"/><family val="2"/><scheme val="minor"/></font>'
    '<font><b/><sz val="11"/><color theme="1"/><name val="Calibri"/><family val="2"/><scheme val="minor"/></font>'
    '<font><sz val="8"/><color rgb="FF808080"/><name val="Calibri"/><family val="2"/><scheme val="minor"/></font>'
    '</fonts><fills count="3"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFD9E1F2"/><bgColor indexed="64"/></patternFill></fill>'
    '</fills><borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
    '<border><left style="thin"><color auto="1"/></left><right style="thin"><color auto="1"/></right>'
    '<top style="thin"><color auto="1"/></top><bottom style="thin"><color auto="1"/></bottom><diagonal/></border>'
    '</borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="6"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1"/>'
    '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1" applyAlignment="1">'
    '<alignment vertical="top"/></xf>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">'
    '<alignment vertical="top" wrapText="1"/></xf>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1"><alignment vertical="top"/></xf>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1" '
    'applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9" '
    'defaultPivotStyle="PivotStyleLight16"/></styleSheet>'
)
# The cell format of each role, by its index in CANONICAL_STYLES. Since the second checklist layout, the
# checklist's header and values wrap (heading, wrap); workbooks of the first still use header and text.
STYLE_ROLES = {0: "default", 1: "header", 2: "digest", 3: "wrap", 4: "text", 5: "heading"}

# What a re-save may hold besides the canonical parts: part names, relationship types and content types.
RESAVE_PARTS = re.compile(
    r"\[Content_Types\]\.xml|_rels/\.rels|docProps/(?:app|core|custom)\.xml|xl/workbook\.xml"
    r"|xl/_rels/workbook\.xml\.rels|xl/styles\.xml|xl/sharedStrings\.xml|xl/theme/theme\d+\.xml"
    r"|xl/worksheets/sheet\d+\.xml|xl/worksheets/_rels/sheet\d+\.xml\.rels|xl/calcChain\.xml"
    r"|xl/printerSettings/printerSettings\d+\.bin|xl/drawings/drawing\d+\.xml"
)
RESAVE_RELATIONSHIPS = {
    f"{_TYPE}{name}" for name in (
        "officeDocument", "extended-properties", "custom-properties", "worksheet", "theme", "styles",
        "sharedStrings", "calcChain", "printerSettings", "drawing", "metadata/core-properties",
    )
} | {"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"}
RESAVE_CONTENT_TYPES = {
    *CANONICAL_DEFAULTS.values(), *(kind for kind in CANONICAL_PARTS.values() if kind),
    f"{_OFFICE}spreadsheetml.sharedStrings+xml", f"{_OFFICE}spreadsheetml.calcChain+xml",
    f"{_OFFICE}custom-properties+xml", f"{_OFFICE}drawing+xml", f"{_OFFICE}spreadsheetml.printerSettings",
    "image/png", "image/jpeg",
}
RESAVE_WORKBOOK = {
    "fileVersion", "workbookPr", "workbookProtection", "bookViews", "workbookView", "sheets", "sheet",
    "definedNames", "definedName", "calcPr", "fileRecoveryPr", "extLst", "ext", "extCalcPr", "AlternateContent",
    "Choice", "absPath", "revisionPtr",
}
# Names a re-saving program writes itself: print titles and areas, and the autofilter's range.
RESAVE_DEFINED_NAMES = {"_xlnm.Print_Titles", "_xlnm.Print_Area", "_xlnm._FilterDatabase"}
# A sheet's elements a re-save may hold, besides its table; anything else can change what a reader shows.
RESAVE_SHEET = {
    "sheetPr", "pageSetUpPr", "outlinePr", "tabColor", "dimension", "sheetViews", "sheetView", "pane", "selection",
    "sheetFormatPr", "cols", "col", "sheetCalcPr", "autoFilter", "printOptions", "pageMargins", "pageSetup",
    "headerFooter", "oddHeader", "oddFooter", "evenHeader", "evenFooter", "firstHeader", "firstFooter",
    "rowBreaks", "colBreaks", "brk", "drawing", "ignoredErrors", "ignoredError", "phoneticPr",
}
# Number formats that show text as it is stored; any other can hide or replace it.
TEXT_FORMATS = {"General", "@"}
BUILTIN_TEXT_FORMATS = {0, 49}
# Below these, a row or a column no longer shows its text.
MIN_ROW_HEIGHT = 6.0
MIN_COLUMN_WIDTH = 2.0
MAX_SMALL_PART = 2 * 1024 * 1024


def local(tag):
    """An element's name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def canonical(element, references=None):
    """A comparable form of ``element``: its name, attributes (sorted) and children, with ``references`` resolved.

    ``references`` maps an attribute (fontId, fillId, borderId) to the canonical forms it indexes.
    """
    attributes = []
    for name, value in sorted(element.attrib.items()):
        if name == "count":
            continue
        if references and name in references:
            table = references[name]
            index = int(value) if value.isdigit() else -1
            value = table[index] if 0 <= index < len(table) else "?"
        attributes.append(f"{local(name)}={value}")
    children = "".join(canonical(child, references) for child in element)
    return f"<{local(element.tag)} {' '.join(attributes)}>{(element.text or '').strip()}{children}</>"


def resolved_styles(root):
    """The canonical form of each cell format (cellXfs) of a stylesheet, its font, fill and border resolved."""
    def table(name):
        block = root.find(f"{MAIN}{name}")
        return [canonical(child) for child in block] if block is not None else []

    references = {"fontId": table("fonts"), "fillId": table("fills"), "borderId": table("borders")}
    block = root.find(f"{MAIN}cellXfs")
    return [canonical(xf, references) for xf in block] if block is not None else []


_CANONICAL_ROOT = ElementTree.fromstring(CANONICAL_STYLES)
# Each role's canonical cell format.
ROLE_STYLES = {form: STYLE_ROLES[index] for index, form in enumerate(resolved_styles(_CANONICAL_ROOT))}
# The parts of the stylesheet besides its cell formats, which must be the writer's as they are.
STYLE_SETTINGS = {
    local(child.tag): canonical(child) for child in _CANONICAL_ROOT
    if local(child.tag) in ("cellStyleXfs", "cellStyles", "dxfs", "tableStyles")
}


def style_roles(root):
    """Map each cell format index of the stylesheet ``root`` to its role; None when the stylesheet is not the writer's.

    The stylesheet must hold nothing but the writer's fonts, fills, borders and cell formats, in any order.
    """
    names = [local(child.tag) for child in root]
    if root.attrib or names != ["fonts", "fills", "borders", "cellStyleXfs", "cellXfs", "cellStyles", "dxfs",
                                "tableStyles"]:
        return None
    for name, form in STYLE_SETTINGS.items():
        if canonical(root.find(f"{MAIN}{name}")) != form:
            return None
    roles = {}
    for index, form in enumerate(resolved_styles(root)):
        if form not in ROLE_STYLES:
            return None
        roles[index] = ROLE_STYLES[form]
    return roles if roles.get(0) == "default" else None


def theme_is_canonical(data):
    return hashlib.sha256(data).hexdigest() in CANONICAL_THEMES


def excel_width(width):
    """The column width xlsxwriter stores for a width of ``width`` characters (Calibri 11: 7 pixels a digit)."""
    pixels = int(width * 7 + 0.5) + 5
    return int(pixels / 7 * 256) / 256


_DEFINED_NAME = re.compile(r"(?:'((?:[^']|'')+)'|([^'!]+))!(\$[A-Z]{1,3}\$[0-9]+:\$[A-Z]{1,3}\$[0-9]+|\$1:\$1)")


def parse_defined_range(text):
    """(sheet name, range) of a defined name's value such as ``'My sheet'!$1:$1``; (None, None) otherwise."""
    match = _DEFINED_NAME.fullmatch(text or "")
    if match is None:
        return None, None
    quoted, plain, reference = match.groups()
    return (quoted.replace("''", "'") if quoted is not None else plain), reference


def number_format_shows_text(code):
    return code in TEXT_FORMATS
