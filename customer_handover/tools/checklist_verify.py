"""Reading and verifying a signed checklist workbook: needs cryptography and openpyxl, never Odoo.

The sheets are read straight from their XML, streamed: a verifier must see what is stored (formulas,
types, hidden sheets), never a cached result, and must keep up with the export on 100,000 rows.
"""

import hashlib
import io
import json
import os
import posixpath
import re
import zipfile
from dataclasses import asdict, dataclass, field
from xml.etree import ElementTree

from openpyxl.utils import column_index_from_string, get_column_letter

from .checklist import (
    CANONICAL_VERSION,
    CHECKLIST,
    COVER,
    DETACHED_FORMAT,
    FORMAT,
    MANIFEST_KEYS,
    SIGNER_KEYS,
    ChecklistError,
    canonical_bytes,
    cell_tags,
    check_signature,
    common_name,
    fingerprint,
    load_certificate,
    parse_digest_cell,
    row_digest,
)
from .event_log import EVENT_LOG_FORMAT, check_log_workbook

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
}
EXIT_CODES = {"valid": 0, "invalid": 1, "not_signed": 1, "unknown_key": 1, "unreadable": 2, "not_checklist": 2}
MAX_REPORTED = 20
_XML_ENCODING = re.compile(rb"(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\sencoding\s*=\s*[\"']([^\"']*)[\"']")


# The signed workbooks in this canonical form: handover checklists and exports of the event log.
KNOWN_FORMATS = (FORMAT, EVENT_LOG_FORMAT)


@dataclass
class Limits:
    """What an untrusted workbook may weigh; checked before any XML is parsed."""

    max_bytes: int = 100 * 1024 * 1024
    max_unpacked: int = 2 * 1024 * 1024 * 1024
    max_ratio: int = 200
    max_parts: int = 1000
    # Parts this small may compress well; they are still counted against max_unpacked.
    ratio_floor: int = 1024 * 1024


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

    @property
    def exit_code(self):
        return EXIT_CODES[self.status]

    @property
    def valid(self):
        return self.status == "valid"

    def to_dict(self):
        return {
            "status": self.status,
            "valid": self.valid,
            "manifest": self.manifest,
            "signers": [{k: v for k, v in asdict(signer).items() if k != "certificate"} for signer in self.signers],
            "findings": [{"code": item.code, **item.params, "message": item.message} for item in self.findings],
        }


class UnreadableChecklist(ChecklistError):
    def __init__(self, code, **params):
        self.finding = Finding(code, params)
        super().__init__(self.finding.message)


def check_untrusted(stream, limits=None):
    """Refuse, before parsing, a file too large, a zip bomb or XML with entity declarations.

    ``stream`` is a seekable binary file; the zip it holds is returned, open.
    """
    limits = limits or Limits()
    size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    if size > limits.max_bytes:
        raise UnreadableChecklist("too_large", size=size, limit=limits.max_bytes)
    try:
        archive = zipfile.ZipFile(stream)
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as error:
        raise UnreadableChecklist("not_zip") from error
    if len(members) > limits.max_parts:
        raise UnreadableChecklist("too_many_parts", count=len(members), limit=limits.max_parts)
    total = 0
    for member in members:
        total += member.file_size
        ratio_exceeded = member.file_size > max(limits.ratio_floor, member.compress_size * limits.max_ratio)
        if ratio_exceeded or total > limits.max_unpacked:
            raise UnreadableChecklist("zip_bomb", part=member.filename)
    for member in members:
        if member.filename.endswith((".xml", ".rels", ".vml")):
            _scan_part(archive, member)
    return archive


def _scan_part(archive, member):
    """Stream one part, refusing a DOCTYPE or ENTITY declaration anywhere in it.

    The scan reads bytes, so the part must be UTF-8: in UTF-16 or UTF-32, which the XML parser would
    accept, a declaration has NUL bytes between its letters and would pass unseen.
    """
    tail = b""
    try:
        with archive.open(member) as stream:
            chunk = stream.read(1 << 20)
            if not _declares_utf8(chunk):
                raise UnreadableChecklist("xml_encoding", part=member.filename)
            while chunk:
                if b"\0" in chunk:
                    raise UnreadableChecklist("xml_encoding", part=member.filename)
                window = tail + chunk
                if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                    raise UnreadableChecklist("xml_entities", part=member.filename)
                tail = window[-9:]
                chunk = stream.read(1 << 20)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise UnreadableChecklist("corrupt", detail=str(error) or type(error).__name__) from error


def _declares_utf8(head):
    """False when the XML declaration at the start of ``head`` names another encoding than UTF-8."""
    match = _XML_ENCODING.match(head)
    return match is None or match.group(1).lower() in (b"utf-8", b"utf8")


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
    path that cannot be opened raises OSError.
    ``trusted``: fingerprints the first signer must have (None: integrity only, the signer not checked).
    ``detached``: the bytes of a detached signature file, checked against the workbook.
    """
    limits = limits or Limits()
    try:
        with _open(source, limits) as stream:
            check_untrusted(stream, limits).close()
            result = _Verifier(stream, trusted, detached).run()
            if result.manifest.get("format") == EVENT_LOG_FORMAT and result.status in ("valid", "unknown_key"):
                stream.seek(0)
                problem = check_log_workbook(stream, result.signers[0].certificate)
                if problem:
                    result.status = "invalid"
                    result.findings.append(Finding("log_entry", {
                        "sequence": problem.sequence, "problem": problem.message, "problem_code": problem.code,
                        "expected": problem.expected,
                    }))
            return result
    except UnreadableChecklist as error:
        status = "not_checklist" if error.finding.code in ("not_checklist", "unsupported_version") else "unreadable"
        return Result(status, findings=[error.finding])


def _open(source, limits):
    """A seekable binary file over ``source``, to be closed by the caller."""
    if isinstance(source, (str, os.PathLike)):
        return open(source, "rb")
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(source)
    return io.BytesIO(source.read(limits.max_bytes + 1))


class _Verifier:
    def __init__(self, stream, trusted, detached):
        self.stream = stream
        self.trusted = trusted
        self.detached = detached
        self.findings = []
        self.moved_sheets = set()

    def report(self, code, **params):
        if len(self.findings) < MAX_REPORTED:
            self.findings.append(Finding(code, params))

    def run(self):
        try:
            with zipfile.ZipFile(self.stream) as archive:
                return self._run(_Workbook(archive))
        except UnreadableChecklist:
            raise
        except (KeyError, ValueError, TypeError, IndexError, ElementTree.ParseError, zipfile.BadZipFile,
                EOFError) as error:
            raise UnreadableChecklist("corrupt", detail=str(error) or type(error).__name__) from error

    def _run(self, workbook):
        sheets = workbook.sheets
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
        result.signers = self._check_signatures(signature_sheet.title, rows)
        if not result.signers:
            result.status = "not_signed"
            result.findings = [Finding("not_signed"), *self.findings]
            return result
        if len(manifest) == len(MANIFEST_KEYS):
            self._check_sheets(sheets, manifest)
        self._check_trust(result.signers)
        result.findings = self.findings
        if any(item.code != "untrusted" for item in self.findings) or not all(s.valid for s in result.signers):
            result.status = "invalid"
        elif self.findings:
            result.status = "unknown_key"
        else:
            result.status = "valid"
        return result

    @staticmethod
    def _is_signature_sheet(sheet):
        for number, cells in sheet.iter_rows():
            if number >= 2:
                values = {column: value for column, _kind, value in cells}
                return number == 2 and values.get(0) == "format" and values.get(2) in KNOWN_FORMATS
        return False

    def _read_signature_rows(self, sheet):
        rows = []
        for number, cells in sheet.iter_rows():
            values = self._texts(sheet.title, number, cells, 3)
            if any(values):
                rows.append(values)
            if len(rows) > 200:
                break
        return rows

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
                    signer.valid = check_signature(canonical_bytes(rows[:index]), row[2], certificate, signer.algorithm)
            if not signer.valid:
                self.report("signature_invalid", number=signer.number, name=signer.name)
            signers.append(signer)
        if signers and last_value < len(rows) - 1:
            self.report("unsigned_rows", sheet=sheet_name, row=last_value + 2)
        return signers

    def _check_trust(self, signers):
        if self.trusted is None:
            return
        trusted = set(self.trusted)
        first = signers[0]
        first.trusted = first.fingerprint in trusted
        if not first.trusted:
            self.report("untrusted", number=first.number, fingerprint=first.fingerprint)

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

    def _check_table(self, sheet, key, manifest):
        """Recompute every row's digest, name what changed, and compare the sheet with its signed digest."""
        columns = int(manifest[f"{key}.columns"])
        signed_rows = int(manifest[f"{key}.rows"])
        sheet_hash = hashlib.sha256()
        rows = 0
        located = False
        for number, cells in sheet.iter_rows():
            texts = self._texts(sheet.title, number, cells, columns + 1)
            if not any(texts):
                continue
            # Empty rows inside the table count as rows: someone emptied or inserted them.
            while rows < number - 1:
                rows += 1
                located |= self._check_row(sheet.title, key, rows, [""] * (columns + 1), sheet_hash)
            rows += 1
            located |= self._check_row(sheet.title, key, rows, texts, sheet_hash)
        if rows != signed_rows:
            self.report("rows_count", sheet=sheet.title, signed=signed_rows, found=rows)
        elif sheet_hash.hexdigest() != manifest[f"{key}.digest"] and not located:
            self.report("digests_rewritten", sheet=sheet.title)

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
        for column, kind, value in cells:
            coordinate = f"{get_column_letter(column + 1)}{number}"
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


MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
OFFICE_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PACKAGE_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CELL, _ROW, _SHEET_DATA, _FORMULA, _VALUE, _INLINE, _TEXT, _RUN = (
    f"{MAIN}{tag}" for tag in ("c", "row", "sheetData", "f", "v", "is", "t", "r")
)
CELL_REFERENCE = re.compile(r"([A-Z]{1,3})([0-9]+)$")
# OOXML stores U+HHHH as _xHHHH_ in cell text, and a literal "_xHHHH_" as "_x005F_xHHHH_".
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")


def sheet_parts(archive):
    """(name, state, zip member) of every sheet, in the workbook's order."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.iter(f"{PACKAGE_REL}Relationship")}
    parts = []
    for sheet in workbook.iter(f"{MAIN}sheet"):
        target = targets.get(sheet.get(f"{OFFICE_REL}id"), "")
        part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
        parts.append((sheet.get("name", ""), sheet.get("state", "visible"), part))
    return parts


class _Workbook:
    def __init__(self, archive):
        names = set(archive.namelist())
        strings = []
        if "xl/sharedStrings.xml" in names:
            for _event, element in ElementTree.iterparse(archive.open("xl/sharedStrings.xml")):
                if element.tag == f"{MAIN}si":
                    strings.append(_string(element))
                    element.clear()
        self.sheets = [
            _Sheet(archive, name, state, part, strings)
            for name, state, part in sheet_parts(archive)
            if part in names
        ]


class _Sheet:
    def __init__(self, archive, title, state, part, strings):
        self.archive = archive
        self.title = title
        self.state = state
        self.part = part
        self.strings = strings

    def iter_rows(self):
        """(row number, [(column index, kind, text)]) for each stored row; kind is text, formula or other."""
        strings = self.strings
        number = 0
        cells = []
        column = -1
        sheet_data = None
        with self.archive.open(self.part) as stream:
            for event, element in ElementTree.iterparse(stream, events=("start", "end")):
                tag = element.tag
                if event == "start":
                    if tag == _SHEET_DATA:
                        sheet_data = element
                elif tag == _CELL:
                    reference = element.get("r")
                    if reference:
                        match = CELL_REFERENCE.match(reference)
                        column = column_index_from_string(match.group(1)) - 1
                    else:
                        column += 1
                    kind, value = _cell(element, strings)
                    if value is not None:
                        cells.append((column, kind, value))
                    element.clear()
                elif tag == _ROW:
                    number = int(element.get("r") or number + 1)
                    yield number, cells
                    cells = []
                    column = -1
                    element.clear()
                    # Rows read are dropped from the tree, so memory stays flat in the number of rows.
                    if sheet_data is not None:
                        sheet_data.clear()


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
