"""Reading and verifying a signed checklist workbook: needs cryptography and openpyxl, never Odoo.

A workbook is valid only in the canonical package its writer produces (checklist_package): the
verifier reads the zip one way only (checklist_zip), rebuilds from the signed content how each
sheet must look (cell formats, row heights, columns, panes, print settings) and compares. The sheets
are read straight from their XML, streamed, in flat memory: a verifier must see what is stored
(formulas, types, hidden sheets), never a cached result, and must keep up with the export on
100,000 rows.
"""

import hashlib
import io
import json
import os
import posixpath
import re
from array import array
from dataclasses import asdict, dataclass, field
from xml.etree import ElementTree

from openpyxl.utils import column_index_from_string, get_column_letter

from . import checklist_package as pkg
from .canonical import canonical_json
from .checklist import (
    CANONICAL_VERSION,
    CHECKLIST,
    CHECKLIST_WIDTHS,
    COVER,
    COVER_WIDTHS,
    DETACHED_FORMAT,
    DIGEST_WIDTH,
    EVENT_LOG_FORMAT,
    FORMATS,
    MANIFEST_KEYS,
    ROLES,
    SIGNATURE_WIDTHS,
    SIGNER_KEYS,
    cell_tags,
    parse_digest_cell,
    row_digest,
    row_height,
)
from .event_log import check_log_workbook
from .signing import ChecklistError, check_signature, common_name, fingerprint, load_certificate
from .strict_zip import ZipProblem, check_weight, iter_content, read_entries

# English texts of every finding; Odoo shows its own translated ones, keyed alike.
MESSAGES = {
    "too_large": "The file is {size} bytes; files over {limit} bytes are refused.",
    "not_zip": "The file is not an Excel workbook (.xlsx), or it is truncated.",
    "too_many_parts": "The workbook has {count} parts; more than {limit} are refused.",
    "zip_bomb": "Part {part} unpacks to far more than its size; the file is refused as a zip bomb.",
    "xml_entities": "Part {part} declares XML entities or a document type; the file is refused.",
    "xml_encoding": "Part {part} is not UTF-8 XML; the file is refused.",
    "corrupt": "The workbook cannot be read: {detail}",
    "not_checklist": "This workbook is not a customer handover checklist.",
    "unsupported_version": "This checklist uses canonical form version {version}; this reader knows version {known}.",
    "manifest_missing": "The signatures sheet lacks its {key} row.",
    "not_signed": "The checklist is not signed.",
    "sheet_missing": "Sheet {sheet} is missing.",
    "sheet_extra": "Sheet {sheet} was added.",
    "sheet_hidden": "Sheet {sheet} is hidden.",
    "sheet_renamed": "Sheet {position} is named {sheet} instead of {expected}.",
    "formula": "{sheet}, cell {cell}: a formula replaced the value.",
    "not_text": "{sheet}, cell {cell}: the value is no longer text.",
    "unexpected_cell": "{sheet}, cell {cell}: a value was added outside the checklist.",
    "cell_changed": "{sheet}, row {row}, cell {cell}: the value changed.",
    "row_moved": "{sheet}, row {row}: a row was added, removed or moved here.",
    "digest_changed": "{sheet}, row {row}, cell {cell}: the row digest changed.",
    "rows_count": "{sheet}: {signed} rows were signed, {found} are present.",
    "digests_rewritten": "{sheet}: the content no longer matches its signed digest (the row digests were rewritten).",
    "unsigned_rows": "{sheet}, row {row}: rows were added after the last signature.",
    "certificate_mismatch": "Signature {number}: the stated fingerprint is not that of the certificate beside it.",
    "signature_invalid": "Signature {number} ({name}) does not match the signed content.",
    "detached_mismatch": "The signatures sheet differs from the detached signature file.",
    "untrusted": "Signature {number} was made with the key {fingerprint}, not with the expected one.",
    "log_entry": "Event log entry {sequence}: {problem}",
    "not_pinned": (
        "Signature {number} was made with the key {fingerprint}, which was not pinned: the signer is not "
        "verified. Compare it with the fingerprint the signer gave you, or pin it with --cert or --fingerprint."
    ),
    "rewritten": (
        "Part {part}: {item} is not as the signing program wrote it. The signed content may be intact, but "
        "this file is not the signed original: what it displays is not vouched for; ask for the original file."
    ),
    "zip_outside": "The file holds data outside the entries of its zip, at byte {offset}; the file is refused.",
    "zip_duplicate": "Zip entry {entry} appears twice (names compared without case); the file is refused.",
    "zip_name": "Zip entry {entry} has a name no workbook part has; the file is refused.",
    "zip_mismatch": "Zip entry {entry}: its local header and the central directory disagree; the file is refused.",
    "zip_method": "Zip entry {entry} is stored with method {method} and flags {flags}, which are refused.",
    "zip_stream": "Zip entry {entry}: its compressed data does not end where the zip says; the file is refused.",
    "part_foreign": "Part {part} is content a signed checklist never holds; the file is refused.",
    "part_too_large": "Part {part} is larger than such a part of a checklist can be; the file is refused.",
    "content_type_foreign": "Part {part} has the content type {kind}, which a checklist never holds.",
    "relationship_foreign": "Part {part}: relationship {id} ({kind}) points at content a checklist never holds.",
    "relationship_duplicate": "Part {part}: relationship id {id} is given twice; the file is refused.",
    "external_link": "Part {part}: relationship {id} points outside the file ({target}); the file is refused.",
    "element_foreign": "Part {part}: {element} is content a signed checklist never holds; the file is refused.",
    "row_hidden": "{sheet}, row {row} is hidden or too low to show its text.",
    "column_hidden": "{sheet}, column {column} is hidden or too narrow to show its text.",
    "number_format": "Part {part}: the number format {format} can change or hide the text a cell shows.",
    "rich_text": "Part {part}: text carries its own formatting (rich text), which a checklist never holds.",
    "signature_extra": "Signatures, row {row}: {key} is not a row of a signed checklist (extra signature or row).",
    "cell_twice": (
        "{sheet}, cell {cell} is stored twice, out of order or in another row: readers differ on which copy they "
        "show; the file is refused."
    ),
    "row_twice": (
        "{sheet}, row {row} is stored twice or out of order: readers differ on which copy they show; the file is "
        "refused."
    ),
    "strings_too_large": (
        "Part {part} holds more text than the verifier reads ({limit} bytes); the file is not the signed "
        "original and its content was not checked: ask for the original file."
    ),
}
EXIT_CODES = {
    "valid": 0, "invalid": 1, "not_signed": 1, "unknown_key": 1, "resaved": 1, "unreadable": 2, "not_checklist": 2,
}
# Findings that say what changed in the signed content itself.
CONTENT_FINDINGS = {
    "manifest_missing", "sheet_missing", "sheet_extra", "sheet_hidden", "sheet_renamed", "formula", "not_text",
    "unexpected_cell", "cell_changed", "row_moved", "digest_changed", "rows_count", "digests_rewritten",
    "unsigned_rows", "certificate_mismatch", "signature_invalid", "detached_mismatch", "signature_extra",
}
TRUST_FINDINGS = {"untrusted", "not_pinned"}
MAX_REPORTED = 20
MAX_REWRITTEN = 5
MAX_SIGNATURES = len(ROLES)
# Cells read per row: a checklist row has a few dozen; more are reported once, never kept.
MAX_CELLS = 256
# Elements of a sheet outside its table: the writer writes a dozen, a re-save a few hundred.
MAX_SETTINGS = 20000
_XML_ENCODING = re.compile(rb"(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\sencoding\s*=\s*[\"']([^\"']*)[\"']")
_FEED = 1 << 16


@dataclass
class Limits:
    """What an untrusted workbook may weigh; checked before any XML is parsed."""

    max_bytes: int = 100 * 1024 * 1024
    max_unpacked: int = 2 * 1024 * 1024 * 1024
    max_ratio: int = 200
    max_parts: int = 1000
    # Parts this small may compress well; they are still counted against max_unpacked.
    ratio_floor: int = 1024 * 1024
    # Text of a re-saved workbook's shared strings the verifier holds in memory.
    max_string_bytes: int = 32 * 1024 * 1024
    # Longest run of XML without a "<": a cell holds 32,767 characters, escaped at most 6 bytes each.
    max_run: int = 2 * 1024 * 1024


@dataclass
class Finding:
    code: str
    params: dict = field(default_factory=dict)

    @property
    def message(self):
        return MESSAGES[self.code].format(**self.params)


@dataclass
class Signer:
    number: int
    role: str
    name: str
    signed_at: str
    algorithm: str
    fingerprint: str
    subject: str = ""
    certificate: str = ""
    signature: str = ""
    valid: bool = False
    trusted: bool | None = None


@dataclass
class Result:
    status: str
    manifest: dict = field(default_factory=dict)
    signers: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    signature_sheet: str = ""
    signature_rows: list = field(default_factory=list, repr=False)
    trusted: bool = False

    @property
    def exit_code(self):
        return EXIT_CODES[self.status]

    @property
    def valid(self):
        return self.status == "valid"

    @property
    def countersigned(self):
        """Both parties signed, and both signatures hold."""
        return [signer.role for signer in self.signers] == list(ROLES) and all(s.valid for s in self.signers)

    def to_dict(self):
        return {
            "status": self.status,
            "valid": self.valid,
            "trusted": self.trusted,
            "manifest": self.manifest,
            "signers": [{k: v for k, v in asdict(signer).items() if k != "certificate"} for signer in self.signers],
            "findings": [{"code": item.code, **item.params, "message": item.message} for item in self.findings],
        }


class UnreadableChecklist(ChecklistError):
    def __init__(self, code, **params):
        self.finding = Finding(code, params)
        super().__init__(self.finding.message)


class RefusedChecklist(ChecklistError):
    """The file is refused as it stands (it can be read in more than one way): not the signed original."""

    def __init__(self, code, **params):
        self.finding = Finding(code, params)
        super().__init__(self.finding.message)


def read_source(path, limits=None):
    """The bytes of the file at ``path``, refusing a file too large before reading it."""
    limits = limits or Limits()
    size = os.path.getsize(path)
    if size > limits.max_bytes:
        raise UnreadableChecklist("too_large", size=size, limit=limits.max_bytes)
    with open(path, "rb") as handle:
        return handle.read()


def verify(source, trusted=None, detached=None, limits=None):
    """Verify a checklist workbook: ``source`` is its path, its bytes or a binary file.

    A path is read as the zip needs it, never whole, so memory stays flat in the size of the file; a
    path that cannot be opened raises OSError. Nothing is written anywhere.
    ``trusted``: fingerprints the first signer must have; without them a signature is never trusted and
    an intact checklist is reported as signed by an unknown key.
    ``detached``: the bytes of a detached signature file, checked against the workbook.
    """
    limits = limits or Limits()
    with _open(source, limits) as stream:
        try:
            package = _Package(stream, limits)
            result = _Verifier(package, trusted, detached).run()
            if result.manifest.get("format") == EVENT_LOG_FORMAT and result.status in ("valid", "unknown_key"):
                _check_log_chain(stream, result)
            return result
        except UnreadableChecklist as error:
            status = "not_checklist" if error.finding.code in ("not_checklist", "unsupported_version") else "unreadable"
            return Result(status, findings=[error.finding])
        except RefusedChecklist as error:
            return Result("invalid", findings=[error.finding])
        except Exception as error:  # pylint: disable=broad-except
            # Untrusted input: whatever a parser trips on, the file is unreadable, never a traceback.
            return Result("unreadable", findings=[Finding("corrupt", {"detail": str(error) or type(error).__name__})])


def _check_log_chain(stream, result):
    """An exported event log: its entries must form an unbroken chain, seals included."""
    stream.seek(0)
    problem = check_log_workbook(stream, result.signers[0].certificate)
    if problem:
        result.status = "invalid"
        result.findings.append(Finding("log_entry", {
            "sequence": problem.sequence, "problem": problem.message, "problem_code": problem.code,
            "expected": problem.expected,
        }))


def _open(source, limits):
    """A seekable binary file over ``source``, to be closed by the caller."""
    if isinstance(source, (str, os.PathLike)):
        return open(source, "rb")
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(source)
    return io.BytesIO(source.read(limits.max_bytes + 1))


# --------------------------------------------------------------------------------------------------
# The package: its zip, its parts, and how far it is the canonical one
# --------------------------------------------------------------------------------------------------


class _Package:
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
        strings = _Strings(self.limits.max_string_bytes, name)
        root = None
        for event, element in self.events(name, ("start", "end")):
            if root is None:
                root = element
            elif event == "end" and element.tag == _SHARED:
                if len(element) > 1 and element.find(f"{_RUN}/{pkg.MAIN}rPr") is not None:
                    self.refuse("rich_text", part=name)
                strings.append(_string(element))
                # Strings read are dropped from the tree, so memory is their packed text only.
                root.clear()
        return strings


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


class _Strings:
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


# --------------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------------


class _Verifier:
    def __init__(self, package, trusted, detached):
        self.package = package
        self.trusted = trusted
        self.detached = detached
        self.findings = []
        self.moved_sheets = set()

    def report(self, code, **params):
        finding = Finding(code, params)
        if len(self.findings) < MAX_REPORTED and finding not in self.findings:
            self.findings.append(finding)

    def run(self):
        package = self.package
        package.check()
        sheets = [_Sheet(package, name, state, part) for name, state, part in package.sheets]
        signature_sheet = next((sheet for sheet in sheets if self._is_signature_sheet(sheet)), None)
        if signature_sheet is None:
            raise UnreadableChecklist("not_checklist")
        rows = self._read_signature_rows(signature_sheet)
        values = {row[0]: row[2] for row in rows}
        version = values.get("canonical_version", "")
        if version != str(CANONICAL_VERSION):
            raise UnreadableChecklist("unsupported_version", version=version, known=CANONICAL_VERSION)
        if self.detached is not None:
            rows = self._apply_detached(rows)
            values = {row[0]: row[2] for row in rows}
        manifest = {key: values[key] for key in MANIFEST_KEYS if key in values}
        for key in MANIFEST_KEYS:
            if key not in values:
                self.report("manifest_missing", key=key)
        result = Result("invalid", manifest=manifest, signature_sheet=signature_sheet.title, signature_rows=rows)
        self._check_signature_rows(rows)
        result.signers = self._check_signatures(signature_sheet.title, rows)
        if not result.signers:
            package.drain()
            result.status = "not_signed"
            result.findings = [Finding("not_signed"), *self.findings]
            return result
        if len(manifest) == len(MANIFEST_KEYS):
            self._check_sheets(sheets, manifest)
            self._check_defined_names(manifest)
        package.drain()
        result.trusted = self._check_trust(result.signers)
        result.status = self._status(result)
        findings = [*self.findings, *package.refusals]
        if result.status == "invalid":
            findings = [finding for finding in findings if finding.code != "not_pinned"]
        elif result.status == "resaved":
            findings += [Finding("rewritten", {"part": part, "item": item}) for part, item in package.rewritten]
        result.findings = findings[:MAX_REPORTED + MAX_REWRITTEN]
        return result

    def _status(self, result):
        codes = {finding.code for finding in self.findings}
        if codes - TRUST_FINDINGS or self.package.refusals or not all(s.valid for s in result.signers):
            return "invalid"
        if not self.package.canonical:
            return "resaved"
        return "valid" if result.trusted else "unknown_key"

    @staticmethod
    def _is_signature_sheet(sheet):
        for number, _attributes, cells in sheet.iter_rows(layout=False):
            if number >= 2:
                values = {column: value for column, _kind, value, _style, _plain in cells}
                return number == 2 and values.get(0) == "format" and values.get(2) in FORMATS
        return False

    def _read(self, sheet, consume):
        """``consume(rows)`` over the sheet's rows: the writer's bytes are read fast, anything else as any XML."""
        if sheet.part in pkg.SHEET_PARTS and self.package.style_roles:
            try:
                return consume(sheet.iter_canonical_rows())
            except _Irregular:
                self.package.rewrite(sheet.part, "the table")
        return consume(sheet.iter_rows())

    def _read_signature_rows(self, sheet):
        def consume(stored):
            rows = []
            layout = _Layout(self, sheet, "signatures", 3)
            for number, attributes, cells in stored:
                values = self._texts(sheet.title, number, cells, 3)
                layout.row(number, attributes, cells, values)
                if any(values):
                    rows.append(values)
                if len(rows) > 200:
                    break
            layout.close()
            return rows

        return self._read(sheet, consume)

    def _check_signature_rows(self, rows):
        """The signatures sheet holds its header, the manifest and at most one signature per party, nothing else."""
        expected = list(MANIFEST_KEYS)
        for number in range(1, MAX_SIGNATURES + 1):
            expected += [f"signature.{number}.{key}" for key in (*SIGNER_KEYS, "value")]
        for index, row in enumerate(rows[1:], start=2):
            in_place = index - 2 < len(expected) and row[0] == expected[index - 2]
            if not in_place and (row[0] not in expected or row[0].startswith("signature.")):
                self.report("signature_extra", row=index, key=row[0])
                return

    def _apply_detached(self, rows):
        try:
            document = json.loads(self.detached.decode("utf-8"))
            signed = [[str(cell) for cell in row] for row in document["rows"]]
            if document.get("format") != DETACHED_FORMAT or any(len(row) != 3 for row in signed):
                raise ValueError(document.get("format"))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as error:
            raise UnreadableChecklist("corrupt", detail="the detached signature file is not one") from error
        if rows[: len(signed)] != signed:
            self.report("detached_mismatch")
            return signed
        return rows

    def _check_signatures(self, sheet_name, rows):
        signers = []
        last_value = -1
        for index, row in enumerate(rows):
            key = row[0]
            if not (key.startswith("signature.") and key.endswith(".value")):
                continue
            last_value = index
            number = key.split(".")[1]
            prefix = f"signature.{number}."
            block = {row[0][len(prefix):]: row[2] for row in rows[:index] if row[0].startswith(prefix)}
            signer = Signer(
                number=int(number) if number.isdigit() else 0,
                **{name: block.get(name, "") for name in SIGNER_KEYS if name != "certificate"},
                certificate=block.get("certificate", ""),
                signature=row[2],
            )
            try:
                certificate = load_certificate(signer.certificate)
            except ChecklistError:
                certificate = None
            if certificate is not None:
                signer.subject = common_name(certificate)
                if fingerprint(certificate) != signer.fingerprint:
                    self.report("certificate_mismatch", number=signer.number)
                else:
                    signer.valid = check_signature(canonical_json(rows[:index]), row[2], certificate, signer.algorithm)
            if not signer.valid:
                self.report("signature_invalid", number=signer.number, name=signer.name)
            signers.append(signer)
        if signers and last_value < len(rows) - 1:
            self.report("unsigned_rows", sheet=sheet_name, row=last_value + 2)
        return signers

    def _check_trust(self, signers):
        """True when the first signer's key is one of the pinned ones; without pins it is never trusted."""
        first = signers[0]
        if self.trusted is None:
            self.report("not_pinned", number=first.number, fingerprint=first.fingerprint)
            return False
        first.trusted = first.fingerprint in set(self.trusted)
        if not first.trusted:
            self.report("untrusted", number=first.number, fingerprint=first.fingerprint)
        return first.trusted

    def _check_sheets(self, sheets, manifest):
        try:
            names = json.loads(manifest["sheets"])
        except ValueError:
            names = []
        present = [sheet.title for sheet in sheets]
        for sheet in sheets:
            if sheet.title not in names:
                self.report("sheet_extra", sheet=sheet.title)
            elif sheet.state != "visible":
                self.report("sheet_hidden", sheet=sheet.title)
        for position, name in enumerate(names, start=1):
            if name not in present:
                self.report("sheet_missing", sheet=name)
            elif present.index(name) != position - 1 and len(present) == len(names):
                self.report("sheet_renamed", position=position, sheet=present[position - 1], expected=name)
        by_name = {sheet.title: sheet for sheet in sheets}
        for key, name in zip((COVER, CHECKLIST), names[:2], strict=False):
            if name in by_name:
                self._check_table(by_name[name], key, manifest)

    def _check_defined_names(self, manifest):
        """The writer names the checklist's filter range, each sheet's print titles and, since its second
        layout, the print areas of the cover and the checklist (every value, no digest); nothing else."""
        try:
            names = json.loads(manifest["sheets"])
            rows, columns = int(manifest["checklist.rows"]), int(manifest["checklist.columns"])
            cover_rows, cover_columns = int(manifest["cover.rows"]), int(manifest["cover.columns"])
        except (ValueError, TypeError):
            return
        last = get_column_letter(columns + 1)
        expected = {("_xlnm._FilterDatabase", "1", "1", names[1], f"$A$1:${last}${rows}")} if len(names) == 3 else set()
        expected |= {("_xlnm.Print_Titles", str(index), None, name, "$1:$1") for index, name in enumerate(names)}
        print_areas = {
            ("_xlnm.Print_Area", "0", None, names[0], f"$A$1:${get_column_letter(cover_columns)}${cover_rows}"),
            ("_xlnm.Print_Area", "1", None, names[1], f"$A$1:${get_column_letter(columns)}${rows}"),
        } if len(names) == 3 else set()
        found = {(name, sheet, hidden, *pkg.parse_defined_range(text))
                 for name, sheet, hidden, text in self.package.defined_names}
        if found not in (expected, expected | print_areas):
            self.package.rewrite("xl/workbook.xml", "the defined names")

    def _check_table(self, sheet, key, manifest):
        """Recompute every row's digest, name what changed, and compare the sheet with its signed digest."""
        columns = int(manifest[f"{key}.columns"])
        signed_rows = int(manifest[f"{key}.rows"])

        def consume(stored):
            layout = _Layout(self, sheet, key, columns, rows=signed_rows)
            sheet_hash = hashlib.sha256()
            rows = 0
            located = False
            for number, attributes, cells in stored:
                texts = self._texts(sheet.title, number, cells, columns + 1)
                layout.row(number, attributes, cells, texts[:-1])
                if not any(texts):
                    continue
                # Empty rows inside the table count as rows: someone emptied or inserted them.
                while rows < min(number - 1, signed_rows + 1):
                    rows += 1
                    located |= self._check_row(sheet.title, key, rows, [""] * (columns + 1), sheet_hash)
                rows += 1
                located |= self._check_row(sheet.title, key, rows, texts, sheet_hash)
            layout.close()
            if rows != signed_rows:
                self.report("rows_count", sheet=sheet.title, signed=signed_rows, found=rows)
            elif sheet_hash.hexdigest() != manifest[f"{key}.digest"] and not located:
                self.report("digests_rewritten", sheet=sheet.title)

        self._read(sheet, consume)

    def _check_row(self, title, key, number, texts, sheet_hash):
        """Add one row to its sheet's digest; report it and return True when it differs from its digest cell."""
        values, stored = texts[:-1], texts[-1]
        digest = row_digest(key, number, values)
        sheet_hash.update(digest)
        stored_digest, tags = parse_digest_cell(stored)
        if stored_digest == digest and tags == cell_tags(values):
            return False
        digest_coordinate = f"{get_column_letter(len(texts))}{number}"
        if stored_digest is None or len(tags) != 2 * len(values):
            if stored:
                self.report("digest_changed", sheet=title, row=number, cell=digest_coordinate)
            else:
                self._report_moved(title, number)
            return True
        changed = [index for index, tag in enumerate(_pairs(cell_tags(values))) if tag != tags[2 * index:2 * index + 2]]
        if stored_digest == digest:
            self.report("digest_changed", sheet=title, row=number, cell=digest_coordinate)
        elif changed:
            for index in changed:
                self.report("cell_changed", sheet=title, row=number, cell=f"{get_column_letter(index + 1)}{number}")
        else:
            self._report_moved(title, number)
        return True

    def _report_moved(self, title, number):
        """Rows shifted by one insertion or removal all look moved: name only the first of them."""
        if title not in self.moved_sheets:
            self.moved_sheets.add(title)
            self.report("row_moved", sheet=title, row=number)

    def _texts(self, title, number, cells, width):
        """The row's cells as text, reporting formulas, non-text values and values beyond ``width``."""
        texts = [""] * width
        for column, kind, value, _style, _plain in cells:
            coordinate = f"{get_column_letter(column + 1)}{number}" if column < 16384 else f"column {column + 1}"
            if kind == "formula":
                self.report("formula", sheet=title, cell=coordinate)
            elif kind != "text":
                self.report("not_text", sheet=title, cell=coordinate)
            if column >= width:
                self.report("unexpected_cell", sheet=title, cell=coordinate)
                continue
            texts[column] = value
        return texts


def _pairs(tags):
    return [tags[index:index + 2] for index in range(0, len(tags), 2)]


# --------------------------------------------------------------------------------------------------
# How each sheet must look: rebuilt from the signed content and compared
# --------------------------------------------------------------------------------------------------

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


class _Layout:
    """Compares a sheet, row by row, with how the writer lays out its signed content; reports what a re-save changed.

    ``kind``: cover, checklist or signatures; ``columns``: its value columns (a digest column follows in tables).
    """

    def __init__(self, verifier, sheet, kind, columns, rows=None):
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
        # The style attribute each column's cells carry: the writer's one cell format per role.
        index = {role: str(number) for number, role in sorted(self.roles.items(), reverse=True)}
        index["default"] = None
        self.header_styles = [index.get(role, "?") for role in self.header]
        self.body_styles = [index.get(role, "?") for role in self.body]

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
        if number != self.expected_row:
            self.rewrite(f"row {number}")
            return
        self.expected_row += 1
        height = row_height(values, self.widths) if self.widths else None
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

    def _role(self, style):
        """The role of a cell format index (a style attribute), None when it is not one of the writer's."""
        if style is None:
            return "default"
        return self.roles.get(int(style)) if style.isdigit() else None

    def close(self):
        """Check the sheet's settings, which the parser met around its table."""
        sheet = self.sheet
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
            widths = [(None, "text")] * self.columns + [(DIGEST_WIDTH, "digest")]
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


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0


MAIN = pkg.MAIN
_CELL, _ROW, _SHEET_DATA, _FORMULA, _VALUE, _INLINE, _TEXT, _RUN, _SHARED = (
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


def sheet_parts(archive):
    """(name, state, zip member) of every sheet of a zipfile ``archive``, in the workbook's order.

    For a workbook that verified: the countersignature rewrites the signatures sheet of a canonical package.
    """
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.iter(f"{pkg.PACKAGE_REL}Relationship")}
    parts = []
    for sheet in workbook.iter(f"{MAIN}sheet"):
        parts.append((sheet.get("name", ""), sheet.get("state", "visible"),
                      _resolve("xl", targets.get(sheet.get(f"{pkg.OFFICE_REL}id"), ""))))
    return parts


class _Sheet:
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
        """The rows of a sheet stored byte for byte as the writer stores them, read fast; _Irregular otherwise.

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
            raise _Irregular
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
                    raise _Irregular
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
                    raise _Irregular
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
            raise _Irregular
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
            raise _Irregular from error
        if not after:
            self.root_attributes = dict(root.attrib)
        elif self.settings:
            self.settings.append(ElementTree.Element(_SHEET_DATA))
        for element in root:
            if pkg.local(element.tag) not in pkg.RESAVE_SHEET:
                raise _Irregular
            self.settings.append(element)


class _Irregular(Exception):
    """A sheet not stored as the writer stores it: read it again as any XML."""


def _unescape_text(value):
    plain = value.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    if "&" in plain.replace("&amp;", ""):
        raise _Irregular
    return plain.replace("&amp;", "&")


def _plain(element):
    """True when the cell is an inline string as the writer stores it: ``<c r s t="inlineStr"><is><t>``."""
    if set(element.attrib) not in _PLAIN_CELL or element.get("t") != "inlineStr" or len(element) != 1:
        return False
    inline = element[0]
    return len(inline) == 1 and inline[0].tag == _TEXT and inline[0].attrib in _PLAIN_TEXT and bool(inline[0].text)


def _cell(element, strings):
    """The kind and text of one cell element; (None, None) for a cell without content."""
    cell_type = element.get("t", "n")
    formula = element.find(_FORMULA)
    if formula is not None:
        return "formula", f"={formula.text or ''}"
    if cell_type == "inlineStr":
        inline = element.find(_INLINE)
        return ("text", _string(inline)) if inline is not None else ("text", None)
    value = element.findtext(_VALUE)
    if value is None:
        return None, None
    if cell_type == "s":
        if strings is None or not value.isdigit() or int(value) >= len(strings.ends):
            raise UnreadableChecklist("corrupt", detail=f"a cell refers to a missing shared string {value[:20]}")
        return "text", strings[int(value)]
    return "other", value


def _string(element):
    """The text of a shared or inline string: its own text or its runs', phonetic hints left out."""
    text = element.findtext(_TEXT)
    if text is None:
        text = "".join(run.findtext(_TEXT) or "" for run in element.iter(_RUN))
    return _ESCAPED.sub(_unescaped, text) if "_x" in text else text


def _unescaped(match):
    return chr(int(match.group(1), 16))

