"""The canonical form of a handover checklist, and signing it.

Canonical form, version 1
-------------------------
A checklist workbook has three sheets, in this order: the cover, the checklist and the signatures.
Every cell is text; an empty cell is the empty string.

* The cover and the checklist are tables: a header row, then data rows. The last column of every row,
  the header included, holds that row's *digest cell*; the other columns are its *values*.
* A row's canonical bytes are the UTF-8 JSON array ``[sheet, number, value, ...]`` written with no
  spaces and no ASCII escaping, where ``sheet`` is ``"cover"`` or ``"checklist"`` and ``number`` the
  row's 1-based number in its sheet. Before a value is written it is made text: line breaks become
  ``\\n``, characters XML cannot hold become U+FFFD, and text longer than a cell holds is cut.
* A row's digest is the SHA-256 of its canonical bytes. Its digest cell holds that digest in
  unpadded base64url, a dot, and two hex digits per value (the low byte of the value's CRC-32),
  which only serve to name the cell that changed.
* A sheet's digest is the SHA-256 of its rows' 32-byte digests, concatenated in order.
* The signatures sheet is a table of ``[key, label, value]`` rows under a header row. Its first rows
  are the manifest: format, canonical-form version, handover, export number, company, export time,
  sheet names, and the row count, column count and digest of the cover and the checklist. Then come
  the signatures, one block each, ending with the row ``signature.N.value``.
* Signature N signs the canonical bytes of every row above its ``signature.N.value`` row: the UTF-8
  JSON array of those ``[key, label, value]`` arrays, written like a row. The first signature thus
  binds the content, the handover, the export and the company; a countersignature also binds the
  signatures before it.
"""

import base64
import functools
import hashlib
import json
import math
import re
import unicodedata
import zlib
from datetime import datetime, timezone

from .canonical import canonical_json
from .signing import (
    ChecklistError,
    certificate_pem,
    fingerprint,
    key_algorithm,
    public_key_bytes,
    sign_bytes,
    utc_timestamp,
    validity,
)

# The keys' helpers, still reached as checklist.<name> by the models and the tests.
from .signing import generate_key as generate_key
from .signing import load_certificate as load_certificate
from .signing import load_private_key as load_private_key
from .signing import make_self_signed as make_self_signed
from .signing import normalise_fingerprint as normalise_fingerprint
from .signing import private_key_pem as private_key_pem

FORMAT = "customer-handover-checklist"
# Every format written with this canonical form: each value of the signatures sheet's ``format`` row.
EVENT_LOG_FORMAT = "customer-handover-event-log"
DESTRUCTION_CERTIFICATE_FORMAT = "customer-handover-destruction-certificate"
# The signed workbooks in this canonical form: handover checklists, exports of the event log, destruction
# certificates (destruction_certificate.py).
FORMATS = (FORMAT, EVENT_LOG_FORMAT, DESTRUCTION_CERTIFICATE_FORMAT)
DETACHED_FORMAT = "customer-handover-signature"
CANONICAL_VERSION = 1
COVER, CHECKLIST = "cover", "checklist"
MAX_CELL_CHARS = 32767
# Excel's row limit, less the header row.
MAX_ROWS = 1048575
ROLES = ("transferring", "receiving")
SIGNATURE_WIDTHS = (24, 30, 90)
# The cover's columns: the item, and its value, which wraps.
COVER_WIDTHS = (34, 60)
DIGEST_WIDTH = 18
# The narrowest and widest checklist column the writer makes, in characters: narrower hides what is signed.
CHECKLIST_WIDTHS = (4, 255)
# Points per line of the default 11-point font: readers do not grow a row for its line breaks on opening.
LINE_HEIGHT = 15
# The highest row Excel opens (409.5 points), in whole lines: a longer cell scrolls within its row.
MAX_ROW_HEIGHT = 405
SIGNER_KEYS = ("role", "name", "signed_at", "algorithm", "fingerprint", "certificate")
MANIFEST_KEYS = (
    "format",
    "canonical_version",
    "handover",
    "export",
    "company",
    "exported_at",
    "sheets",
    "cover.rows",
    "cover.columns",
    "cover.digest",
    "checklist.rows",
    "checklist.columns",
    "checklist.digest",
)
# English labels of the signatures sheet, used where the caller gives none (the offline commands).
LABELS = {
    "format": "Format",
    "canonical_version": "Canonical form version",
    "handover": "Handover",
    "export": "Export number",
    "company": "Transferring company",
    "exported_at": "Exported at (UTC)",
    "sheets": "Sheets",
    "cover.rows": "Cover rows",
    "cover.columns": "Cover columns",
    "cover.digest": "Cover digest (SHA-256)",
    "checklist.rows": "Checklist rows",
    "checklist.columns": "Checklist columns",
    "checklist.digest": "Checklist digest (SHA-256)",
    "role": "Signing party",
    "name": "Signed by",
    "signed_at": "Signed at (UTC)",
    "algorithm": "Algorithm",
    "fingerprint": "Certificate fingerprint (SHA-256)",
    "certificate": "Certificate",
    "value": "Signature",
}
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def canonical_text(value):
    """Return ``value`` as the text a checklist cell holds."""
    if value is None or value is False:
        return ""
    text = str(value)
    if not (text.isascii() and text.isprintable()):  # printable ASCII has no line break and nothing illegal
        text = _XML_ILLEGAL.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n"))
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    return text


def row_digest(sheet, number, values):
    """The raw SHA-256 digest of one row."""
    return hashlib.sha256(canonical_json([sheet, number, *values])).digest()


def cell_tags(values):
    """Two hex digits per value: enough to point at the cell that changed, never to trust it."""
    return "".join(f"{zlib.crc32(value.encode('utf-8')) & 0xFF:02x}" for value in values)


def digest_cell(digest, values):
    return f"{base64.urlsafe_b64encode(digest).rstrip(b'=').decode('ascii')}.{cell_tags(values)}"


def parse_digest_cell(text):
    """Split a digest cell into (digest bytes, tags); (None, None) when it is not one."""
    if not isinstance(text, str) or "." not in text:
        return None, None
    encoded, tags = text.split(".", 1)
    try:
        digest = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        return None, None
    if len(digest) != 32:
        return None, None
    return digest, tags


class SheetDigest:
    """Accumulates the rows of one table sheet into its digest."""

    def __init__(self, sheet, columns):
        self.sheet = sheet
        self.columns = columns
        self.rows = 0
        self._hash = hashlib.sha256()

    def add(self, values):
        """Canonicalise one row, add it to the sheet and return (values, digest cell)."""
        values = [canonical_text(value) for value in values]
        if len(values) != self.columns:
            raise ChecklistError(f"a {self.sheet} row has {len(values)} values instead of {self.columns}")
        self.rows += 1
        digest = row_digest(self.sheet, self.rows, values)
        self._hash.update(digest)
        return values, digest_cell(digest, values)

    def hexdigest(self):
        return self._hash.hexdigest()


def manifest_rows(labels, handover, export, company, exported_at, sheet_names, cover, checklist, format_=FORMAT):
    """The manifest rows of the signatures sheet; ``labels`` maps each key to its label."""
    values = {
        "format": format_,
        "canonical_version": str(CANONICAL_VERSION),
        "handover": handover,
        "export": str(export),
        "company": company,
        "exported_at": exported_at,
        "sheets": canonical_json(list(sheet_names)).decode("utf-8"),
    }
    for name, digest in ((COVER, cover), (CHECKLIST, checklist)):
        values.update({
            f"{name}.rows": str(digest.rows),
            f"{name}.columns": str(digest.columns),
            f"{name}.digest": digest.hexdigest(),
        })
    return [[key, _label(labels, key), canonical_text(values[key])] for key in MANIFEST_KEYS]


def _label(labels, key):
    return canonical_text(labels.get(key) or LABELS.get(key, key))


def row_height(values, widths):
    """The height a sheet row needs to show its wrapped values whole; None when one line is enough.

    ``widths``: each column's width in characters, None where the column does not wrap.
    """
    lines = max(
        (
            sum(max(1, math.ceil(len(line) / width)) for line in value.splitlines())
            for value, width in zip(values, widths, strict=True)
            if value and width
        ),
        default=1,
    )
    return LINE_HEIGHT * lines if lines > 1 else None


def wrapped_row_height(values, widths):
    """The height a checklist row needs to show its values wrapped in columns ``widths`` characters wide.

    Unlike ``row_height`` (the cover and signatures, laid out since the first release), it counts a wide
    (Chinese, Japanese, Korean) character as two and stops at the highest row Excel opens; None for one line.
    """
    lines = max(wrapped_lines(values, widths), default=1)
    return min(LINE_HEIGHT * lines, MAX_ROW_HEIGHT) if lines > 1 else None


def wrapped_lines(values, widths):
    """The lines each value takes wrapped in its column ``widths`` characters wide (a wide character counts two)."""
    return [
        sum(max(1, math.ceil(_display_width(line) / width)) for line in value.splitlines()) if value else 1
        for value, width in zip(values, widths, strict=True)
    ]


def _display_width(text):
    # Every ASCII character is narrow; others are looked up once each (a checklist repeats few of them).
    return len(text) if text.isascii() else sum(map(_char_width, text))


@functools.cache
def _char_width(char):
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


# --------------------------------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------------------------------


def signature_rows(labels, number, role, name, signed_at, certificate, private_key, rows_above):
    """The rows of signature ``number``: who signed, with which certificate, and the signature of ``rows_above``.

    ``rows_above`` are the signatures sheet's rows above the new block, header included.
    """
    if role not in ROLES:
        raise ChecklistError(f"unknown signing role {role!r}")
    if public_key_bytes(certificate.public_key()) != public_key_bytes(private_key.public_key()):
        raise ChecklistError("the private key does not belong to the certificate")
    start, end = validity(certificate)
    moment = datetime.strptime(signed_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    if not start <= moment <= end:
        raise ChecklistError(
            f"the certificate is valid from {utc_timestamp(start)} to {utc_timestamp(end)}, not at {signed_at}"
        )
    algorithm = key_algorithm(private_key)
    values = {
        "role": role,
        "name": name,
        "signed_at": signed_at,
        "algorithm": algorithm,
        "fingerprint": fingerprint(certificate),
        "certificate": certificate_pem(certificate),
    }
    block = [
        [f"signature.{number}.{key}", _label(labels, key), canonical_text(values[key])]
        for key in SIGNER_KEYS
    ]
    _used, signature = sign_bytes(private_key, canonical_json([*rows_above, *block]))
    value_row = [f"signature.{number}.value", _label(labels, "value"), signature]
    return [*block, value_row]


def detached_signature(signature_sheet_rows):
    """The detached signature file: the signed rows of the signatures sheet, as JSON."""
    document = {"format": DETACHED_FORMAT, "canonical_version": CANONICAL_VERSION, "rows": signature_sheet_rows}
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")
