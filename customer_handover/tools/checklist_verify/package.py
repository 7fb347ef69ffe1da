"""The workbook's zip and its parts: read once each, scanned before parsing, compared with the canonical package."""

import os
import posixpath
import re
from xml.etree import ElementTree

from .. import checklist_package as pkg
from ..strict_zip import ZipProblem, check_weight, iter_content, read_entries
from .results import MAX_REPORTED, MAX_REWRITTEN, Finding, RefusedChecklist, UnreadableChecklist
from .sheet import RUN, SHARED, TEXT, Strings, string_text

_XML_ENCODING = re.compile(rb"(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\sencoding\s*=\s*[\"']([^\"']*)[\"']")
_FEED = 1 << 16


class Package:
    """The zip's parts, read once each, and what in them is not the canonical package."""

    def __init__(self, stream, limits):
        self.stream = stream
        self.limits = limits
        size = stream.seek(0, os.SEEK_END)
        if size > limits.max_bytes:
            raise UnreadableChecklist("too_large", size=size, limit=limits.max_bytes)
        try:
            entries, unusual = read_entries(stream, size)
        except ZipProblem as problem:
            if problem.code == "not_zip":
                raise UnreadableChecklist("not_zip") from problem
            raise RefusedChecklist(problem.code, **problem.params) from problem
        if len(entries) > limits.max_parts:
            raise UnreadableChecklist("too_many_parts", count=len(entries), limit=limits.max_parts)
        try:
            check_weight(entries, limits)
        except ZipProblem as problem:
            raise UnreadableChecklist("zip_bomb", part=problem.params["entry"]) from problem
        self.entries = {entry.name: entry for entry in entries}
        self.unread = set(self.entries)
        self.rewritten = []
        self.refusals = []
        for name, item in unusual:
            self.rewrite(name, item)
        self.sheets = []
        self.targets = set()
        self.defined_names = []
        self.style_roles = {}
        self.strings = None

    def rewrite(self, part, item):
        """Note what a re-saving program changed; the first few, once each."""
        if len(self.rewritten) < MAX_REWRITTEN and (part, item) not in self.rewritten:
            self.rewritten.append((part, item))

    def refuse(self, code, **params):
        finding = Finding(code, params)
        if len(self.refusals) < MAX_REPORTED and finding not in self.refusals:
            self.refusals.append(finding)

    @property
    def canonical(self):
        return not self.rewritten

    # ---------------------------------------------------------------------------------------- reading

    def chunks(self, name):
        """The bytes of XML part ``name``, refusing what is not UTF-8, declares entities or holds an endless run.

        Each chunk is checked before the parser sees it; a declaration cut by a chunk's end is found in the next.
        """
        self.unread.discard(name)
        scan = _Scan(name, self.limits.max_run)
        pending = b""
        for chunk in self._content(name):
            if scan.started:
                yield scan.check(chunk)
            elif len(pending := pending + chunk) >= 256:
                yield scan.start(pending)
        if not scan.started:
            yield scan.start(pending)

    def _content(self, name):
        try:
            yield from iter_content(self.stream, self.entries[name])
        except ZipProblem as problem:
            raise RefusedChecklist(problem.code, **problem.params) from problem

    def events(self, name, events=("end",)):
        """Parse part ``name`` as it streams: (event, element) pairs."""
        parser = ElementTree.XMLPullParser(events)
        for chunk in self.chunks(name):
            for start in range(0, len(chunk), _FEED):
                parser.feed(chunk[start:start + _FEED])
                yield from parser.read_events()
        parser.close()
        yield from parser.read_events()

    def data(self, name):
        """The bytes of a small part, refused when larger than any such part of a checklist."""
        if self.entries[name].info.file_size > pkg.MAX_SMALL_PART:
            raise RefusedChecklist("part_too_large", part=name)
        return b"".join(self.chunks(name) if _is_xml(name) else self._unread(name))

    def _unread(self, name):
        self.unread.discard(name)
        return self._content(name)

    def xml(self, name):
        return ElementTree.fromstring(self.data(name))

    def drain(self):
        """Read every part not read yet: its compressed data must be sound even if nothing uses it."""
        for name in sorted(self.unread):
            for _chunk in (self.chunks(name) if _is_xml(name) else self._unread(name)):
                pass

    # ---------------------------------------------------------------------------------------- checking

    def check(self):
        """Check the parts, content types, relationships, styles and workbook; find the sheets."""
        names = set(self.entries)
        if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
            raise UnreadableChecklist("not_checklist")
        for name in sorted(names):
            if name in pkg.CANONICAL_PARTS:
                continue
            if pkg.RESAVE_PARTS.fullmatch(name):
                self.rewrite(name, "the part")
            else:
                self.refuse("part_foreign", part=name)
        for name in pkg.CANONICAL_PARTS:
            if name not in names:
                self.rewrite(name, "the missing part")
        self._check_content_types()
        self.targets = set()
        for name in sorted(names):
            if name.endswith(".rels"):
                self._check_relationships(name)
            elif name.startswith("xl/drawings/") and len(self.xml(name)):
                self.refuse("part_foreign", part=name)
        for name in sorted(names - self.targets):
            # A part no relationship reaches is shown by no reader: only a forger puts one there.
            if not name.endswith(".rels") and name != "[Content_Types].xml":
                self.refuse("part_foreign", part=name)
        self._check_properties()
        if "xl/theme/theme1.xml" in names and not pkg.theme_is_canonical(self.data("xl/theme/theme1.xml")):
            self.rewrite("xl/theme/theme1.xml", "the theme")
        self._check_styles()
        self._check_workbook()
        if "xl/sharedStrings.xml" in names:
            self.strings = self._read_strings("xl/sharedStrings.xml")

    def _check_content_types(self):
        name = "[Content_Types].xml"
        root = self.xml(name)
        defaults, overrides = {}, {}
        for item in root:
            kind = item.get("ContentType", "")
            tag = pkg.local(item.tag)
            if tag == "Default":
                defaults[item.get("Extension", "").lower()] = kind
            elif tag == "Override":
                overrides[item.get("PartName", "")] = kind
            else:
                self.refuse("element_foreign", part=name, element=tag)
                continue
            if kind not in pkg.RESAVE_CONTENT_TYPES:
                self.refuse("content_type_foreign", part=item.get("PartName") or item.get("Extension"), kind=kind)
        expected = {f"/{part}": kind for part, kind in pkg.CANONICAL_PARTS.items() if kind}
        if defaults != pkg.CANONICAL_DEFAULTS or overrides != expected:
            self.rewrite(name, "the content types")

    def _check_relationships(self, name):
        root = self.xml(name)
        folder = posixpath.dirname(posixpath.dirname(name))
        seen = set()
        found = set()
        for item in root:
            identifier, kind, target = item.get("Id", ""), item.get("Type", ""), item.get("Target", "")
            if item.tag != f"{pkg.PACKAGE_REL}Relationship":
                self.refuse("element_foreign", part=name, element=pkg.local(item.tag))
                continue
            if identifier in seen:
                self.refuse("relationship_duplicate", part=name, id=identifier)
            seen.add(identifier)
            if item.get("TargetMode", "Internal") != "Internal" or "://" in target:
                self.refuse("external_link", part=name, id=identifier, target=target)
            elif kind not in pkg.RESAVE_RELATIONSHIPS:
                self.refuse("relationship_foreign", part=name, id=identifier, kind=kind)
            elif _resolve(folder, target) not in self.entries:
                self.rewrite(name, f"relationship {identifier}")
            else:
                self.targets.add(_resolve(folder, target))
            if set(item.attrib) - {"Id", "Type", "Target"}:
                self.rewrite(name, f"relationship {identifier}")
            found.add((kind, target))
        expected = {"_rels/.rels": pkg.PACKAGE_RELATIONSHIPS, "xl/_rels/workbook.xml.rels": pkg.WORKBOOK_RELATIONSHIPS}
        if found != expected.get(name):
            self.rewrite(name, "the relationships")

    def _check_properties(self):
        for name, allowed in (("docProps/core.xml", pkg.CORE_PROPERTIES), ("docProps/app.xml", pkg.APP_PROPERTIES)):
            if name in self.entries and any(pkg.local(item.tag) not in allowed for item in self.xml(name).iter()):
                self.rewrite(name, "the document properties")

    def _check_styles(self):
        name = "xl/styles.xml"
        if name not in self.entries:
            return
        root = self.xml(name)
        roles = pkg.style_roles(root)
        if roles is not None:
            self.style_roles = roles
            return
        self.rewrite(name, "the cell formats")
        formats = {item.get("numFmtId"): item.get("formatCode", "") for item in root.iter(f"{pkg.MAIN}numFmt")}
        used = {item.get("numFmtId", "0") for block in root.iter(f"{pkg.MAIN}cellXfs") for item in block}
        for identifier in sorted(used):
            if identifier in formats and not pkg.number_format_shows_text(formats[identifier]):
                self.refuse("number_format", part=name, format=formats[identifier])
            elif identifier not in formats and not (identifier.isdigit() and int(identifier) < 164):
                self.refuse("number_format", part=name, format=identifier)

    def _check_workbook(self):
        name = "xl/workbook.xml"
        root = self.xml(name)
        canonical = not root.attrib
        for item in root.iter():
            tag = pkg.local(item.tag)
            if item is root:
                continue
            if tag not in pkg.RESAVE_WORKBOOK:
                self.refuse("element_foreign", part=name, element=tag)
            elif tag == "definedName":
                defined = item.get("name", "")
                if defined not in pkg.RESAVE_DEFINED_NAMES or pkg.parse_defined_range(item.text)[0] is None:
                    self.refuse("element_foreign", part=name, element=f"definedName {defined}")
                self.defined_names.append((defined, item.get("localSheetId"), item.get("hidden"), item.text))
            elif tag == "workbookView" and item.get("visibility", "visible") != "visible":
                self.refuse("element_foreign", part=name, element="workbookView visibility")
            allowed = pkg.WORKBOOK_ELEMENTS.get(tag)
            has_text = bool((item.text or "").strip()) and tag != "definedName"
            if allowed is None or not set(item.attrib) <= allowed or has_text:
                canonical = False
        if not canonical:
            self.rewrite(name, "the workbook settings")
        self.sheets = self._sheet_parts(root)

    def _sheet_parts(self, root):
        """(name, state, part) of every sheet, in the workbook's order."""
        targets = {}
        if "xl/_rels/workbook.xml.rels" in self.entries:
            for item in self.xml("xl/_rels/workbook.xml.rels"):
                targets[item.get("Id")] = _resolve("xl", item.get("Target", ""))
        parts = []
        for sheet in root.iter(f"{pkg.MAIN}sheet"):
            part = targets.get(sheet.get(f"{pkg.OFFICE_REL}id"))
            if part in self.entries:
                parts.append((sheet.get("name", ""), sheet.get("state", "visible"), part))
        if [part for _name, _state, part in parts] != list(pkg.SHEET_PARTS):
            self.rewrite("xl/workbook.xml", "the sheets' parts")
        return parts

    def _read_strings(self, name):
        strings = Strings(self.limits.max_string_bytes, name)
        root = None
        for event, element in self.events(name, ("start", "end")):
            if root is None:
                root = element
            elif event == "end" and element.tag == SHARED:
                self.check_runs(name, element)
                strings.append(string_text(element))
                # Strings read are dropped from the tree, so memory is their packed text only.
                root.clear()
        return strings


    def check_runs(self, part, string):
        """A string stored as runs (rich text) is a re-save: its joined text is what the digests check, and
        formatting a run may carry (a white or tiny font) is not vouched for. Plain text beside runs is refused."""
        if string.find(RUN) is None:
            return
        if string.find(TEXT) is not None:
            self.refuse("text_twice", part=part)
        else:
            self.rewrite(part, "rich text")


class _Scan:
    """What is refused in an XML part before parsing it, checked chunk by chunk."""

    def __init__(self, part, max_run):
        self.part = part
        self.max_run = max_run
        self.started = False
        self.tail = b""
        self.run = 0

    def start(self, head):
        if not _declares_utf8(head):
            raise UnreadableChecklist("xml_encoding", part=self.part)
        self.started = True
        return self.check(head)

    def check(self, chunk):
        if b"\0" in chunk:
            raise UnreadableChecklist("xml_encoding", part=self.part)
        window = self.tail + chunk
        if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
            raise UnreadableChecklist("xml_entities", part=self.part)
        self.tail = window[-9:]
        # The parser holds a text or a tag whole: a run without "<" longer than a chunk is refused.
        first = chunk.find(b"<")
        if first < 0:
            self.run += len(chunk)
        else:
            self.run += first
            if self.run <= self.max_run:
                self.run = len(chunk) - chunk.rfind(b"<") - 1
        if self.run > self.max_run:
            raise RefusedChecklist("part_too_large", part=self.part)
        return chunk


def _declares_utf8(head):
    """False when the XML declaration at the start of ``head`` names another encoding than UTF-8."""
    match = _XML_ENCODING.match(head)
    return match is None or match.group(1).lower() in (b"utf-8", b"utf8")


def _is_xml(name):
    return name.endswith((".xml", ".rels", ".vml"))


def _resolve(folder, target):
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(folder, target))


def sheet_parts(archive):
    """(name, state, zip member) of every sheet of a zipfile ``archive``, in the workbook's order.

    For a workbook that verified: the countersignature rewrites the signatures sheet of a canonical package.
    """
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.iter(f"{pkg.PACKAGE_REL}Relationship")}
    parts = []
    for sheet in workbook.iter(f"{pkg.MAIN}sheet"):
        parts.append((sheet.get("name", ""), sheet.get("state", "visible"),
                      _resolve("xl", targets.get(sheet.get(f"{pkg.OFFICE_REL}id"), ""))))
    return parts
