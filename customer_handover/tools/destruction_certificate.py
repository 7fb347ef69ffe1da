"""The destruction certificate: the signed workbook each run of destruction leaves; no Odoo import.

A certificate is a workbook in the canonical form of the signed checklist (``checklist.py``) with a format of
its own, ``customer-handover-destruction-certificate``: ``customer-handover-verify`` checks it offline as it
checks a checklist (valid, a changed cell named, re-saved, signed by another key). Its layout, version 1
(``CERTIFICATE_VERSION``, the cover's first row):

* **Cover**: ``Item | Value`` rows in the order of ``COVER_KEYS`` (the layout's version, the company, the
  request, its basis, who requested and who approved it, the run's start and end in UTC, the customers
  destroyed, and the records the run destroyed per model: ``model: count`` lines, by model).
* **Destroyed customers**: one row per customer, columns ``COLUMN_KEYS``: number, the masked identity
  (initials, keyed hashes of the normalised email and phone), the categories of data destroyed, the basis,
  the records destroyed per model (``model: count`` lines, by model) and when (UTC).
* **Signatures**: the manifest (``handover`` holds the request's reference, ``export`` the run's number) and
  the company's signature.

The masked identity answers "was this person destroyed?" without keeping the person: whoever holds the
company's identity key hashes the email or phone in question and looks for it (``identity_matches``); the
certificate alone names no one.
"""

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass

from openpyxl import load_workbook

from .canonical import canonical_json
from .checklist import DESTRUCTION_CERTIFICATE_FORMAT, signature_rows
from .checklist_xlsx import ChecklistWriter
from .phone import e164_digits
from .signing import ChecklistError, utc_timestamp

FORMAT = DESTRUCTION_CERTIFICATE_FORMAT
CERTIFICATE_VERSION = 1
COVER_KEYS = ("version", "company", "request", "basis", "requested_by", "approved_by", "started", "ended",
              "customers", "counts")
COLUMN_KEYS = ("number", "initials", "email_hash", "phone_hash", "categories", "basis", "counts", "destroyed_on")
COLUMN_WIDTHS = (6, 10, 34, 34, 40, 24, 36, 20)
# What a keyed hash covers besides the value: the kind of identifier, so an email never matches a phone.
IDENTITY_CONTEXT = "customer-handover-destroyed-identity"
# Hex digits kept of each HMAC-SHA256: 128 bits, beyond any guess, and short enough to read and compare.
HASH_DIGITS = 32
MAX_INITIALS = 4
# English labels, used where the caller gives none (the offline commands and the tests).
LABELS = {
    "title": "Destruction certificate",
    "sheet_names": ["Cover", "Destroyed customers", "Signatures"],
    "header": ["Key", "Item", "Value"],
    "handover": "Destruction request",
    "export": "Run number",
    "checklist.rows": "Destroyed customers rows",
    "checklist.columns": "Destroyed customers columns",
    "checklist.digest": "Destroyed customers digest (SHA-256)",
    "cover_header": ["Item", "Value"],
    "version": "Certificate layout version",
    "company": "Company",
    "request": "Destruction request",
    "basis": "Basis",
    "requested_by": "Requested by",
    "approved_by": "Approved by",
    "started": "Run started (UTC)",
    "ended": "Run ended (UTC)",
    "customers": "Customers destroyed",
    "number": "No.",
    "initials": "Initials",
    "email_hash": "Email (keyed hash)",
    "phone_hash": "Phone (keyed hash)",
    "categories": "Categories destroyed",
    "counts": "Records destroyed per model",
    "destroyed_on": "Destroyed on (UTC)",
}


@dataclass(frozen=True)
class MaskedIdentity:
    """What a certificate and a destruction record keep of a person: initials and keyed hashes ("" for none)."""

    initials: str
    email_hash: str
    phone_hash: str


def initials(name):
    """The initials of ``name``: each word's first letter, upper case, with a dot; a word in Chinese, Japanese or
    Korean script gives its first character (the family name of ``王芳``); at most ``MAX_INITIALS``."""
    letters = []
    for word in unicodedata.normalize("NFKC", name or "").replace("-", " ").split():
        first = next((char for char in word if char.isalnum()), "")
        if first:
            letters.append(f"{first.upper()}.")
    return "".join(letters[:MAX_INITIALS])


def normalise_email(email):
    """An email address as it is hashed: NFKC, no surrounding spaces, lower case."""
    return unicodedata.normalize("NFKC", email or "").strip().lower()


def identity_hash(key, kind, value):
    """The keyed hash of one identifier ``kind`` (``email`` or ``phone``) already normalised; "" for none."""
    if not value:
        return ""
    if not key:
        raise ChecklistError("a masked identity needs the company's identity key")
    digest = hmac.new(key, canonical_json([IDENTITY_CONTEXT, kind, value]), hashlib.sha256).hexdigest()
    return digest[:HASH_DIGITS]


def masked_identity(key, name, email="", phone="", calling_code=""):
    """The masked identity of a person: ``key`` is the company's identity key (bytes); ``phone`` is read as an
    E.164 number, a national one with the country's ``calling_code`` (``tools/phone.py``)."""
    return MaskedIdentity(
        initials=initials(name),
        email_hash=identity_hash(key, "email", normalise_email(email)),
        phone_hash=identity_hash(key, "phone", e164_digits(phone, calling_code)),
    )


def identity_matches(key, masked, email="", phone="", calling_code=""):
    """True when ``email`` or ``phone`` is the one ``masked`` (a MaskedIdentity) was made from."""
    found = masked_identity(key, "", email, phone, calling_code)
    return bool(
        (found.email_hash and hmac.compare_digest(found.email_hash, masked.email_hash))
        or (found.phone_hash and hmac.compare_digest(found.phone_hash, masked.phone_hash))
    )


def counts_text(counts):
    """Records destroyed per model as ``model: count`` lines, by model: the same counts, the same text."""
    return "\n".join(f"{model}: {int(count)}" for model, count in sorted((counts or {}).items()))


def write_certificate(output, header, rows, certificate, private_key, labels=None, signed_at=None):
    """Write the signed certificate of one run into ``output`` (a path or a binary file); returns the signatures
    sheet's rows (for the detached signature and the record of the certificate).

    ``header``: ``company``, ``request`` (its reference), ``run`` (the run's number), ``basis``, ``requested_by``,
    ``approved_by``, ``started``, ``ended`` (UTC texts), ``customers`` and ``counts`` ({model: records}).
    ``rows``: an iterable, read once, of one mapping per destroyed customer: ``initials``, ``email_hash``,
    ``phone_hash`` (a MaskedIdentity's fields), ``categories`` (texts), ``basis``, ``counts`` ({model: records})
    and ``destroyed_on`` (UTC text). ``labels``: texts by key, ``LABELS`` where the caller gives none.
    """
    labels = {**LABELS, **(labels or {})}
    signed_at = signed_at or utc_timestamp()
    missing = [key for key in ("company", "request", "run", "started", "ended") if not header.get(key)]
    if missing:
        raise ChecklistError(f"a destruction certificate needs its {', '.join(missing)}")
    writer = ChecklistWriter(output, labels["sheet_names"], labels)
    values = {**header, "version": str(CERTIFICATE_VERSION), "customers": str(header.get("customers", 0)),
              "counts": counts_text(header.get("counts"))}
    cover = [[labels[key], values.get(key) or ""] for key in COVER_KEYS]
    writer.write_cover(labels["cover_header"], cover)
    writer.start_checklist([labels[key] for key in COLUMN_KEYS], COLUMN_WIDTHS)
    for number, row in enumerate(rows, start=1):
        writer.write_row([
            str(number), row.get("initials"), row.get("email_hash"), row.get("phone_hash"),
            ", ".join(row.get("categories") or ()), row.get("basis"), counts_text(row.get("counts")),
            row.get("destroyed_on"),
        ])
    sheet_rows = writer.manifest(header["request"], header["run"], header["company"], signed_at, FORMAT)
    sheet_rows += signature_rows(labels, 1, "transferring", header["company"], signed_at, certificate,
                                 private_key, sheet_rows)
    writer.close(sheet_rows)
    return sheet_rows


@dataclass
class Certificate:
    """A certificate's content as read back: the cover's values by key, and one mapping per destroyed customer."""

    cover: dict
    rows: list


def read_certificate(stream):
    """The content of a certificate workbook (``stream``: a path or a binary file), by key, not by label.

    It does not verify: verify the file first (``checklist_verify.verify``), then read what it vouches for.
    """
    workbook = load_workbook(stream, read_only=True, data_only=False)
    try:
        sheets = workbook.worksheets
        if len(sheets) != 3:
            raise ChecklistError("a destruction certificate has three sheets")
        cover_rows = [_texts(row)[:2] for row in sheets[0].iter_rows(min_row=2, values_only=True)]
        if not cover_rows or cover_rows[0][1] != str(CERTIFICATE_VERSION):
            found = cover_rows[0][1] if cover_rows else ""
            raise ChecklistError(f"this certificate has layout version {found!r}; this reader knows "
                                 f"{CERTIFICATE_VERSION}")
        cover = {key: row[1] for key, row in zip(COVER_KEYS, cover_rows, strict=False)}
        cover["counts"] = _counts(cover.get("counts", ""))
        rows = []
        for row in sheets[1].iter_rows(min_row=2, values_only=True):
            texts = dict(zip(COLUMN_KEYS, _texts(row), strict=False))
            texts["categories"] = [text for text in texts["categories"].split(", ") if text]
            texts["counts"] = _counts(texts["counts"])
            rows.append(texts)
    finally:
        workbook.close()
    return Certificate(cover=cover, rows=rows)


def _texts(row):
    return ["" if value is None else str(value) for value in row]


def _counts(text):
    counts = {}
    for line in text.splitlines():
        model, _colon, count = line.rpartition(": ")
        counts[model] = int(count)
    return counts
