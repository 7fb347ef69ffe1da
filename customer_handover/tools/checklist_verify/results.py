"""What a verification reports: its findings and their English texts, the result, the limits it applies."""

from dataclasses import asdict, dataclass, field

from ..checklist import ROLES
from ..signing import ChecklistError

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
    "text_twice": (
        "Part {part}: a string holds both plain text and formatted runs: readers differ on which they show; the "
        "file is refused."
    ),
    "signature_extra": "Signatures, row {row}: {key} is not a row of a signed checklist (extra signature or row).",
    "cell_twice": (
        "{sheet}, cell {cell} is stored twice, out of order or in another row: readers differ on which copy they "
        "show; the file is refused."
    ),
    "row_twice": (
        "{sheet}, row {row} is stored twice or out of order: readers differ on which copy they show; the file is "
        "refused."
    ),
    "row_clipped": (
        "{sheet}, cell {cell}: its text takes {lines} lines, more than a row shows ({shown}); the rest is signed "
        "but shows only in the cell itself, not on the sheet nor in print."
    ),
    "cell_cut": (
        "{sheet}, cell {cell}: its text is wider than its column and stops at the next cell; the rest is signed but "
        "shows only in the cell itself."
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
# Findings that tell the reader where to look, whatever the status: they change nothing in the answer.
NOTE_FINDINGS = {"row_clipped", "cell_cut"}
MAX_REPORTED = 20
MAX_REWRITTEN = 5


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
