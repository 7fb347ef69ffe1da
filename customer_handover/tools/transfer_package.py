"""The transfer package: a handover's customers, signed and encrypted for the receiver; no Odoo import.

Format ``customer-handover-transfer-package``, version 2 (docs/transfer-package.md); version 1 is read too:

* The plain content is a zip of ``data.json`` (the customers and manual items, for programs),
  ``customers.xlsx`` (the same for people), ``evidence/<sha256>.<ext>`` (consent evidence),
  ``manifest.json`` (what the package delivers, its counts, each other member's size and SHA-256) and
  ``signature.json`` (the company key's signature of the manifest's canonical bytes).
* That zip is encrypted with age (https://age-encryption.org/v1), through pyrage: to the receiver's
  X25519 recipient (``age1…``) or with a passphrase (scrypt). Nothing here is a cipher of its own.

The writer streams: customers go to temporary files one line each, so memory stays flat in their
number. The opener decrypts into an unnamed temporary file, refuses hostile structure before parsing
anything, checks every digest and the signature, and writes the contents only when every check passed.
"""

import contextlib
import hashlib
import json
import mimetypes
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyrage

from .canonical import canonical_json
from .checklist_verify import verify
from .signing import (
    ChecklistError,
    certificate_pem,
    check_signature,
    fingerprint,
    load_certificate,
    normalise_fingerprint,
    sign_bytes,
    utc_timestamp,
    validity,
)
from .strict_zip import (
    CHUNK,
    ZipProblem,
    check_names,
    check_weight,
    iter_content,
    read_entries,
    stated_count,
    unsafe_name,
)

FORMAT = "customer-handover-transfer-package"
DATA_FORMAT = "customer-handover-transfer-data"
SIGNATURE_FORMAT = "customer-handover-transfer-signature"
VERSION = 2
# Version 1 named purposes, retention policies and business domains only; version 2 gives their codes too.
READABLE_VERSIONS = (1, 2)
MANIFEST, SIGNATURE, DATA, WORKBOOK = "manifest.json", "signature.json", "data.json", "customers.xlsx"
EVIDENCE = "evidence/"
COUNT_KEYS = ("customers", "child_contacts", "consents", "evidence_files", "items")
MANIFEST_KEYS = (
    "format", "version", "handover", "company", "package", "created_at", "export", "checklist_sha256", "counts",
    "members",
)
SIGNATURE_KEYS = ("format", "version", "algorithm", "fingerprint", "certificate", "signature")
CUSTOMER_KEYS = ("line", "snapshot", "contact", "children", "classification", "consents", "retention")
ITEM_KEYS = ("line", "name", "kind", "status", "remarks")
# data.json's fixed layout: its keys sorted, one customer or item per line.
DATA_HEAD = b'{"customers":[\n'
DATA_MIDDLE = b'],"format":"' + DATA_FORMAT.encode() + b'","handover":'
DATA_ITEMS = b',"items":[\n'
DATA_TAIL_START = b'],"version":'
AGE_MAGIC = b"age-encryption.org/v1\n"
AGE_ARMOR = b"-----BEGIN AGE ENCRYPTED FILE-----"
# A header holds one stanza per recipient: a few hundred bytes each.
MAX_HEADER = 64 * 1024
_EVIDENCE_NAME = re.compile(r"evidence/[0-9a-f]{64}\.[a-z0-9]{1,10}")
_EXTENSION = re.compile(r"[a-z0-9]{1,10}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+")
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]|[-+0-9.eE]+')
# Fixed zip times: a package's time is its manifest's created_at.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

MESSAGES = {
    "too_large": "The package is {size} bytes; packages over {limit} bytes are refused (raise it with --max-size).",
    "not_age": "The file is not an age-encrypted transfer package.",
    "armored": "The file is ASCII-armored age; decode it first (age -d) or ask for the binary .age file.",
    "bad_header": "The age header cannot be read: {detail}",
    "work_factor": (
        "The passphrase's work factor is 2^{log_n}; more than 2^{limit} (about 1 GB and a few seconds) is "
        "refused."
    ),
    "needs_passphrase": "The package is encrypted with a passphrase: give --passphrase-file.",
    "needs_identity": "The package is encrypted to a key: give --identity.",
    "wrong_key": "The package cannot be decrypted with this identity: it was encrypted for another key.",
    "decrypt_failed": "The package cannot be decrypted: wrong passphrase or key, or the file is damaged or truncated.",
    "not_zip": "The decrypted content is not a zip: the file is not a transfer package.",
    "too_many_members": "The package has {count} members; more than {limit} are refused (raise it with --max-members).",
    "zip_bomb": "Member {member} unpacks to far more than its size; refused as a zip bomb (see --max-ratio).",
    "member_traversal": "Member {member} has a name that climbs out of the folder; the package is refused.",
    "member_absolute": "Member {member} has an absolute name; the package is refused.",
    "member_link": "Member {member} is a link or a folder, which a package never holds; the package is refused.",
    "member_duplicate": "Member {member} appears twice (names compared without case); the package is refused.",
    "member_name": "Member {member} has a name no package member has; the package is refused.",
    "zip_structure": "The package's zip can be read in more than one way ({detail}); the package is refused.",
    "not_package": "This is not a customer handover transfer package: {detail}",
    "newer_version": "The package uses format version {version}; this program reads version {known}: update it.",
    "json_too_large": "Member {member}: a JSON value is over {limit} bytes; refused (raise it with --max-json-bytes).",
    "json_too_deep": "Member {member}: JSON nested deeper than {limit} levels; refused (see --max-json-depth).",
    "json_number": "Member {member}: a number over {limit} characters; refused (see --max-number-length).",
    "json_invalid": "Member {member} is not the JSON a package holds: {detail}",
    "not_canonical": "Member {member} is not in canonical form: it was rewritten.",
    "certificate_mismatch": "The stated fingerprint is not that of the certificate in signature.json.",
    "signature_invalid": (
        "The signature in signature.json does not match manifest.json: the signature or the manifest was changed "
        "after signing."
    ),
    "signature_missing": "The package has no signature.json: its signature was removed, nothing vouches for it.",
    "signature_broken": "signature.json is not the package's signature ({detail}): it was changed after signing.",
    "manifest_changed": "manifest.json is not a signed manifest ({detail}): it was changed after signing.",
    "member_missing": "Member {member} is listed in the manifest but missing.",
    "member_added": "Member {member} is not listed in the manifest: it was added.",
    "member_changed": "Member {member} is not what the manifest says ({detail}): it was changed.",
    "counts_mismatch": "The manifest counts {signed} {count}; {member} holds {found}.",
    "evidence_missing": "Member {member}: a consent refers to {path}, which the package does not hold.",
    "not_pinned": (
        "Signed by the key {fingerprint}, which was not pinned: the signer is not verified. Compare it with the "
        "fingerprint the transferring company gave you and pass --fingerprint."
    ),
    "untrusted": "Signed by the key {fingerprint}, not by the key you pinned.",
    "checklist_mismatch": (
        "This package does not deliver this checklist: it delivers export {export} of handover {handover} "
        "(SHA-256 {expected}); the checklist you hold has the SHA-256 {found}."
    ),
    "superseded": (
        "This package delivers export {export} of handover {handover}, superseded by export {newer}: the "
        "checklist you hold."
    ),
    "out_exists": "{out} exists already: choose another --out (nothing is overwritten).",
}
UNREADABLE = {
    "too_large", "not_age", "armored", "bad_header", "work_factor", "needs_passphrase", "needs_identity",
    "wrong_key", "decrypt_failed", "not_zip", "too_many_members", "zip_bomb", "not_package", "newer_version",
    "json_too_large", "json_too_deep", "json_number", "out_exists",
}
TRUST = {"not_pinned", "untrusted"}
EXIT_CODES = {"valid": 0, "invalid": 1, "unknown_key": 1, "unreadable": 2}


class PackageError(ChecklistError):
    """A package that cannot be written as asked; the message says why, in English."""


@dataclass
class Limits:
    """What an untrusted package may weigh; every limit is checked before anything is written."""

    max_bytes: int = 2 * 1024 * 1024 * 1024
    max_unpacked: int = 8 * 1024 * 1024 * 1024
    max_members: int = 100_000
    max_ratio: int = 200
    # Members this small may compress well; they still count against max_unpacked.
    ratio_floor: int = 1024 * 1024
    # The manifest, the signature, and each customer, item or cover line of data.json.
    max_json_bytes: int = 64 * 1024 * 1024
    max_json_depth: int = 20
    max_number_chars: int = 20
    # scrypt's log2(N): 20 is 1 GiB of memory and a few seconds; age writes 18, rage about 19.
    max_work_factor: int = 20


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


class PackageWriter:
    """Builds a transfer package into ``output`` (a path, never overwritten, or a binary file).

    Give exactly one of ``recipient`` (an ``age1…`` X25519 recipient) and ``passphrase``. Add customers,
    items and evidence in any order, then ``close`` with the company's key and certificate. ``cover``
    is the handover's cover data (a JSON object), written into data.json and the workbook.
    """

    def __init__(self, output, handover, company, package, export, checklist_sha256, cover=None, recipient=None,
                 passphrase=None, created_at=None, limits=None):
        if (recipient is None) == (passphrase is None):
            raise PackageError("give either the receiver's age recipient or a passphrase")
        try:
            self._recipients = [pyrage.x25519.Recipient.from_str(recipient.strip())] if recipient else None
        except pyrage.RecipientError as error:
            raise PackageError(f"this is not an age X25519 recipient (age1…): {error}") from error
        if passphrase is not None and not passphrase:
            raise PackageError("the passphrase is empty")
        if not _SHA256.fullmatch(checklist_sha256 or ""):
            raise PackageError("the checklist's SHA-256 is 64 lowercase hexadecimal digits")
        if isinstance(output, (str, os.PathLike)) and os.path.exists(output):
            raise PackageError(f"{output} exists already: it is not overwritten")
        self.output = output
        self._passphrase = passphrase
        self.limits = limits or Limits()
        self.manifest = {
            "format": FORMAT,
            "version": VERSION,
            "handover": str(handover),
            "company": str(company),
            "package": int(package),
            "created_at": created_at or utc_timestamp(),
            "export": int(export),
            "checklist_sha256": checklist_sha256,
        }
        self.cover = dict(cover or {})
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        self._members = {}
        self._folder = tempfile.TemporaryDirectory(prefix="customer-handover-package-")
        self._plain = open(os.path.join(self._folder.name, "plain.zip"), "w+b")  # noqa: SIM115
        self._zip = zipfile.ZipFile(self._plain, "w", zipfile.ZIP_DEFLATED, allowZip64=False)
        self._customers = open(os.path.join(self._folder.name, "customers.jsonl"), "w+b")  # noqa: SIM115
        self._items = open(os.path.join(self._folder.name, "items.jsonl"), "w+b")  # noqa: SIM115
        self._workbook = _Workbook(os.path.join(self._folder.name, WORKBOOK), self.manifest, self.cover)
        self.closed = False
        self._created = False

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if kind is not None or not self.closed:
            self.abort()

    def add_evidence(self, data, extension):
        """Add an evidence file once; return its member path, for a consent's ``evidence`` list."""
        extension = (extension or "").lower().lstrip(".")
        if not _EXTENSION.fullmatch(extension):
            raise PackageError(f"an evidence file's extension is 1 to 10 letters or digits, not {extension!r}")
        digest = hashlib.sha256(data).hexdigest()
        path = f"{EVIDENCE}{digest}.{extension}"
        if path not in self._members:
            if len(self._members) + 4 >= self.limits.max_members:
                raise PackageError(f"a package holds at most {self.limits.max_members} members")
            self._zip.writestr(_info(path), data)
            self._members[path] = (len(data), digest)
            self.counts["evidence_files"] += 1
        return path

    def add_customer(self, customer):
        """Add one customer (a dict with CUSTOMER_KEYS; see docs/transfer-package.md)."""
        _check_keys(customer, CUSTOMER_KEYS, "customer")
        if not isinstance(customer["line"], int) or not isinstance(customer["contact"], dict):
            raise PackageError("a customer's line is its checklist line number and its contact a JSON object")
        for key in ("children", "consents"):
            if not isinstance(customer[key], list) or not all(isinstance(item, dict) for item in customer[key]):
                raise PackageError(f"a customer's {key} are a list of JSON objects")
        for consent in customer["consents"]:
            for path in consent.get("evidence") or ():
                if path not in self._members:
                    raise PackageError(f"evidence {path} was not added with add_evidence")
        self._customers.write(canonical_json(customer) + b"\n")
        self.counts["customers"] += 1
        self.counts["child_contacts"] += len(customer["children"])
        self.counts["consents"] += len(customer["consents"])
        self._workbook.customer(customer)

    def add_item(self, item):
        """Add one manual checklist item (paper files, a device, an account): a dict with ITEM_KEYS."""
        _check_keys(item, ITEM_KEYS, "item")
        if not isinstance(item["line"], int):
            raise PackageError("an item's line is its checklist line number")
        self._items.write(canonical_json(item) + b"\n")
        self.counts["items"] += 1
        self._workbook.item(item)

    def close(self, private_key, certificate):
        """Sign the manifest with the company's key, encrypt, write the output; return the manifest."""
        try:
            start, end = validity(certificate)
            moment = datetime.strptime(self.manifest["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            if not start <= moment <= end:
                raise PackageError(f"the certificate is valid from {utc_timestamp(start)} to {utc_timestamp(end)}")
            self._write_member(DATA, self._data_chunks())
            self._workbook.close()
            with open(self._workbook.path, "rb") as handle:
                self._write_member(WORKBOOK, iter(lambda: handle.read(CHUNK), b""))
            manifest = {
                **self.manifest,
                "counts": self.counts,
                "members": [
                    {"path": path, "size": size, "sha256": digest}
                    for path, (size, digest) in sorted(self._members.items())
                ],
            }
            payload = canonical_json(manifest)
            algorithm, signature = sign_bytes(private_key, payload)
            if not check_signature(payload, signature, certificate, algorithm):
                raise PackageError("the private key does not belong to the certificate")
            self._zip.writestr(_info(MANIFEST), payload)
            self._zip.writestr(_info(SIGNATURE), canonical_json({
                "format": SIGNATURE_FORMAT,
                "version": VERSION,
                "algorithm": algorithm,
                "fingerprint": fingerprint(certificate),
                "certificate": certificate_pem(certificate),
                "signature": signature,
            }))
            self._zip.close()
            self._encrypt()
        except (zipfile.LargeZipFile, OSError) as error:
            self.abort()
            raise PackageError(f"the package cannot be written: {error}") from error
        except BaseException:
            self.abort()
            raise
        self.closed = True
        self._cleanup()
        return manifest

    def abort(self):
        """Drop everything written so far, the output included when it is a path."""
        self._cleanup()
        if not self.closed and self._created:
            os.unlink(self.output)
            self._created = False

    def _cleanup(self):
        with contextlib.suppress(ValueError, OSError):
            self._zip.close()
        for handle in (self._customers, self._items, self._plain):
            handle.close()
        self._workbook.discard()
        self._folder.cleanup()

    def _data_chunks(self):
        yield DATA_HEAD
        yield from _lines(self._customers)
        yield DATA_MIDDLE + canonical_json(self.cover) + DATA_ITEMS
        yield from _lines(self._items)
        yield _data_tail(VERSION)

    def _write_member(self, path, chunks):
        digest, size = hashlib.sha256(), 0
        with self._zip.open(_info(path), "w") as member:
            for chunk in chunks:
                member.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        self._members[path] = (size, digest.hexdigest())

    def _encrypt(self):
        if isinstance(self.output, (str, os.PathLike)):
            descriptor = os.open(self.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._created = True
            with os.fdopen(descriptor, "wb") as handle:
                self._encrypt_into(handle)
        else:
            self._encrypt_into(self.output)

    def _encrypt_into(self, handle):
        self._plain.seek(0)
        if self._recipients:
            pyrage.encrypt_io(self._plain, handle, self._recipients)
            return
        # pyrage encrypts with a passphrase in memory only: such a package is held whole, once.
        encrypted = pyrage.passphrase.encrypt(self._plain.read(), self._passphrase)
        header = read_header(encrypted[:MAX_HEADER])
        if header.work_factor > self.limits.max_work_factor:
            raise PackageError(
                f"the passphrase's work factor 2^{header.work_factor} exceeds what a receiver accepts "
                f"(2^{self.limits.max_work_factor}); encrypt to the receiver's key instead"
            )
        handle.write(encrypted)


def _info(path):
    info = zipfile.ZipInfo(path, _ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | 0o600) << 16
    return info


def _check_keys(value, keys, what):
    if not isinstance(value, dict) or set(value) != set(keys):
        found = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise PackageError(f"a {what} has exactly the keys {', '.join(keys)}; this one has {found}")


def _lines(handle):
    """The JSON lines of ``handle``, each but the last followed by a comma, as data.json lays them out."""
    handle.flush()
    handle.seek(0)
    previous = None
    for line in handle:
        if previous is not None:
            yield previous[:-1] + b",\n"
        previous = line
    if previous is not None:
        yield previous


class _Workbook:
    """customers.xlsx, for people: a cover sheet, one row per customer, one per item; all text."""

    CUSTOMER_COLUMNS = (
        ("Line", "line"), ("Reference", "contact.ref"), ("Name", "contact.name"), ("Kind", "contact.kind"),
        ("Email", "contact.email"), ("Phone", "contact.phone"), ("Mobile", "contact.mobile"),
        ("Address", "contact.address"), ("VAT", "contact.vat"), ("Language", "contact.lang"),
        ("Child contacts", "children"), ("Customer type", "classification.customer_type"),
        ("Stage", "classification.stage"), ("Business domains", "classification.domains"),
        ("Sensitivity", "classification.sensitivity"), ("Consents", "consents"),
        ("Retention policy", "retention.policy"), ("Retention end", "retention.end_date"),
        ("Legal hold", "retention.legal_hold"), ("Checklist snapshot", "snapshot"),
    )
    ITEM_COLUMNS = (("Line", "line"), ("Item", "name"), ("Kind", "kind"), ("Status", "status"), ("Remarks", "remarks"))

    def __init__(self, path, manifest, cover):
        # Imported here: only the writer needs xlsxwriter, not the receiver's command.
        import xlsxwriter

        self.path = path
        self.book = xlsxwriter.Workbook(path, {
            "constant_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
            "strings_to_urls": False, "tmpdir": os.path.dirname(path),
        })
        bold = self.book.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1})
        self.wrap = self.book.add_format({"valign": "top", "text_wrap": True})
        sheet = self.book.add_worksheet("Handover")
        sheet.set_column(0, 0, 30)
        sheet.set_column(1, 1, 80)
        rows = [(key, manifest[key]) for key in ("handover", "company", "package", "export", "created_at")]
        rows.append(("checklist_sha256", manifest["checklist_sha256"]))
        rows.extend(sorted(cover.items()))
        self._row(sheet, 0, ("Item", "Value"), bold)
        for number, row in enumerate(rows, start=1):
            self._row(sheet, number, row, self.wrap)
        self.customers = self.book.add_worksheet("Customers")
        self.items = self.book.add_worksheet("Items")
        for sheet, columns in ((self.customers, self.CUSTOMER_COLUMNS), (self.items, self.ITEM_COLUMNS)):
            sheet.freeze_panes(1, 0)
            # The columns carry the cells' format: each cell is written without one, and an empty one not at all.
            sheet.set_column(0, len(columns) - 1, 24, self.wrap)
            self._row(sheet, 0, [title for title, _key in columns], bold)
        self.rows = {"customers": 0, "items": 0}

    def customer(self, customer):
        self._add("customers", self.customers, self.CUSTOMER_COLUMNS, customer)

    def item(self, item):
        self._add("items", self.items, self.ITEM_COLUMNS, item)

    def _add(self, name, sheet, columns, record):
        self.rows[name] += 1
        if self.rows[name] >= 1048576:
            raise PackageError("the workbook holds at most 1,048,575 customers")
        self._row(sheet, self.rows[name], [_value(record, key) for _title, key in columns])

    @staticmethod
    def _row(sheet, number, values, cell_format=None):
        for column, value in enumerate(values):
            if text := _text(value):
                sheet.write_string(number, column, text[:32767], cell_format)

    def close(self):
        self.book.close()

    def discard(self):
        if not self.book.fileclosed:
            self.book.fileclosed = True


ADDRESS_KEYS = ("street", "street2", "zip", "city", "state", "country")


def _value(record, key):
    if key == "contact.address":
        contact = record.get("contact") or {}
        return ", ".join(str(contact[name]) for name in ADDRESS_KEYS if contact.get(name))
    for part in key.split("."):
        record = record.get(part) if isinstance(record, dict) else None
    if key == "children":
        return [child.get("name") for child in record or ()]
    if key == "consents":
        return "\n".join(
            f"{consent.get('purpose', '')}: {consent.get('status', '')} {consent.get('given_on') or ''}".strip()
            for consent in record or ()
        )
    return record


def _text(value):
    if value is None or value is False:
        return ""
    if value is True:
        return "yes"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_text(item)}" for key, item in sorted(value.items()))
    return str(value)


# --------------------------------------------------------------------------------------------------
# The age header, read before pyrage sees the file
# --------------------------------------------------------------------------------------------------


@dataclass
class Header:
    kinds: list
    work_factor: int = 0

    @property
    def passphrase(self):
        return "scrypt" in self.kinds


class _Refused(Exception):
    def __init__(self, code, member="", **params):
        self.problem = Problem(code, member, params)
        super().__init__(self.problem.message)


def read_header(data):
    """The stanza kinds of an age header (and scrypt's log2 N), refusing what is not a binary age file."""
    if data.startswith(AGE_ARMOR):
        raise _Refused("armored")
    if not data.startswith(AGE_MAGIC):
        raise _Refused("not_age")
    end = data.find(b"\n--- ")
    if end < 0:
        raise _Refused("bad_header", detail="no end of header in its first 64 KiB")
    kinds, work_factor = [], 0
    for line in data[len(AGE_MAGIC):end + 1].split(b"\n"):
        if not line.startswith(b"-> "):
            continue
        arguments = line[3:].split(b" ")
        kind = arguments[0].decode("ascii", "replace")
        kinds.append(kind)
        if kind == "scrypt":
            if len(arguments) != 3 or not re.fullmatch(rb"[1-9][0-9]?", arguments[2]):
                raise _Refused("bad_header", detail="a scrypt stanza without its work factor")
            work_factor = int(arguments[2])
    if not kinds:
        raise _Refused("bad_header", detail="no recipient stanza")
    if "scrypt" in kinds and len(kinds) != 1:
        raise _Refused("bad_header", detail="a scrypt stanza must be the only one")
    return Header(kinds, work_factor)


def load_identities(text):
    """The age identities of an identity file's text (``AGE-SECRET-KEY-1…`` lines; ``#`` comments)."""
    identities = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            try:
                identities.append(pyrage.x25519.Identity.from_str(line))
            except pyrage.IdentityError as error:
                raise PackageError(f"this is not an age identity file: {error}") from error
    if not identities:
        raise PackageError("the identity file holds no AGE-SECRET-KEY-1… line")
    return identities


def recipient_fingerprint(recipient):
    """Check an age X25519 recipient; return it cleaned and the SHA-256 of its text, as ``AB:CD:…``.

    The receiver compares it with ``printf %s age1… | sha256sum`` of the key it gave.
    """
    recipient = (recipient or "").strip()
    try:
        pyrage.x25519.Recipient.from_str(recipient)
    except pyrage.RecipientError as error:
        raise PackageError(f"this is not an age X25519 recipient (age1…): {error}") from error
    digest = hashlib.sha256(recipient.encode("ascii")).hexdigest().upper()
    return recipient, ":".join(digest[index:index + 2] for index in range(0, 64, 2))


def evidence_extension(filename, mimetype=""):
    """An evidence file's extension in a package: from its file name, else from its type, else ``bin``."""
    extension = os.path.splitext(filename or "")[1].lower().lstrip(".")
    if not _EXTENSION.fullmatch(extension):
        extension = (mimetypes.guess_extension(mimetype or "") or ".bin").lower().lstrip(".")
    return extension if _EXTENSION.fullmatch(extension) else "bin"


def new_identity():
    """A new age X25519 identity: (identity file text, recipient)."""
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    text = f"# created: {utc_timestamp()}\n# public key: {recipient}\n{identity}\n"
    return text, recipient


# --------------------------------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------------------------------


@dataclass
class Problem:
    code: str
    member: str = ""
    params: dict = field(default_factory=dict)

    @property
    def message(self):
        return MESSAGES[self.code].format(member=self.member, **self.params)

    def to_dict(self):
        return {"code": self.code, "member": self.member, **self.params, "message": self.message}


@dataclass
class OpenResult:
    status: str
    version: int | None = None
    trusted: bool = False
    fingerprint: str = ""
    package: int | None = None
    handover: str = ""
    company: str = ""
    export: int | None = None
    created_at: str = ""
    checklist_sha256: str = ""
    counts: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)
    out: str = ""

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
            "version": self.version,
            "trusted": self.trusted,
            "fingerprint": self.fingerprint,
            "package": self.package,
            "handover": self.handover,
            "company": self.company,
            "export": self.export,
            "created_at": self.created_at,
            "checklist_sha256": self.checklist_sha256,
            "counts": self.counts,
            "problems": [problem.to_dict() for problem in self.problems],
            "out": self.out,
        }


def default_out(path):
    """The folder a package opens into by default: beside it, named after it."""
    stem = os.path.basename(os.fspath(path))
    stem = stem[:-4] if stem.endswith(".age") else stem + "-opened"
    return os.path.join(os.path.dirname(os.path.abspath(path)), stem)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def open_package(path, identity=None, passphrase=None, fingerprint=None, checklist=None, out=None, limits=None):
    """Decrypt and check the package at ``path``; write its contents to ``out`` only if every check passed.

    ``identity``: an age identity file's text, an identity, or a list of identities; ``passphrase``: text.
    ``fingerprint``: the signer's pinned SHA-256 fingerprint (or a set of them); without one a correctly
    signed package is ``unknown_key``. ``checklist``: the path of the signed checklist workbook the
    receiver holds. ``out``: a folder that must not exist (default: ``default_out(path)``).
    Returns an OpenResult; raises OSError when ``path`` cannot be read, PackageError for an identity that is
    not one.
    """
    limits = limits or Limits()
    out = os.fspath(out) if out else default_out(path)
    pinned = {normalise_fingerprint(item) for item in _as_set(fingerprint)}
    try:
        if os.path.lexists(out):
            raise _Refused("out_exists", out=out)
        identities = _identities(identity)
        with open(path, "rb") as source, tempfile.TemporaryFile() as plain:
            _decrypt(source, plain, identities, passphrase, limits)
            return _check_plain(plain, pinned, checklist, out, limits)
    except _Refused as refused:
        return OpenResult(_status([refused.problem]), problems=[refused.problem])


def open_plain(plain, fingerprint=None, checklist=None, out=None, limits=None):
    """Check a package already decrypted (``plain``: a binary file of its zip) as ``open_package`` does.

    For a receiver that decrypted the package earlier and checks it again before using it: the
    signature, every digest, the pin and the checklist, then the contents written to ``out`` (which
    must not exist) only if every check passed.
    """
    limits = limits or Limits()
    pinned = {normalise_fingerprint(item) for item in _as_set(fingerprint)}
    try:
        if os.path.lexists(out):
            raise _Refused("out_exists", out=out)
        return _check_plain(plain, pinned, checklist, os.fspath(out), limits)
    except _Refused as refused:
        return OpenResult(_status([refused.problem]), problems=[refused.problem])


def decrypt_package(path, plain, identity=None, passphrase=None, limits=None):
    """Decrypt the package at ``path`` into the binary file ``plain``; None, or the Problem that stopped it."""
    try:
        _decrypt_file(path, plain, _identities(identity), passphrase, limits or Limits())
    except _Refused as refused:
        return refused.problem
    return None


def iter_data(path):
    """``(kind, record)`` of an opened package's data.json, one line at a time: ``customer``, ``cover``, ``item``.

    Only for a data.json that the opener checked: its layout is then the one documented.
    """
    kind = "customer"
    with open(path, "rb") as handle:
        for line in handle:
            if line == DATA_HEAD or line.startswith(DATA_TAIL_START):
                continue
            if line.startswith(DATA_MIDDLE):
                yield "cover", json.loads(line[len(DATA_MIDDLE):-len(DATA_ITEMS)])
                kind = "item"
                continue
            body = line.rstrip(b"\n")
            yield kind, json.loads(body[:-1] if body.endswith(b",") else body)


def _decrypt_file(path, plain, identities, passphrase, limits):
    with open(path, "rb") as source:
        _decrypt(source, plain, identities, passphrase, limits)


def _check_plain(plain, pinned, checklist, out, limits):
    reader = _Reader(plain, limits)
    result = reader.check(pinned)
    if checklist is not None and result.checklist_sha256:
        found = sha256_file(checklist)
        if found != result.checklist_sha256:
            result.problems.append(_checklist_problem(checklist, found, result))
    result.status = _status(result.problems)
    if result.status == "valid":
        try:
            reader.extract(out)
        except FileExistsError as error:
            raise _Refused("out_exists", out=out) from error
        result.out = out
    return result


def _checklist_problem(checklist, found, result):
    """The package delivers another checklist: a later export of its handover supersedes it; else it is another."""
    held = verify(checklist)
    manifest = held.manifest if held.status in ("valid", "unknown_key", "resaved") else {}
    newer = str(manifest.get("export", ""))
    name = os.path.basename(os.fspath(checklist))
    params = {"export": result.export, "handover": result.handover}
    if manifest.get("handover") == result.handover and newer.isdigit() and int(newer) > result.export:
        return Problem("superseded", name, {**params, "newer": int(newer)})
    return Problem("checklist_mismatch", name, {**params, "expected": result.checklist_sha256, "found": found})


def _as_set(value):
    if not value:
        return set()
    return {value} if isinstance(value, str) else set(value)


def _identities(identity):
    if identity is None:
        return []
    if isinstance(identity, str):
        return load_identities(identity)
    return list(identity) if isinstance(identity, (list, tuple)) else [identity]


def _status(problems):
    codes = {problem.code for problem in problems}
    if codes & UNREADABLE:
        return "unreadable"
    if codes - TRUST:
        return "invalid"
    return "unknown_key" if codes else "valid"


def _decrypt(source, plain, identities, passphrase, limits):
    size = source.seek(0, os.SEEK_END)
    if size > limits.max_bytes:
        raise _Refused("too_large", size=size, limit=limits.max_bytes)
    source.seek(0)
    header = read_header(source.read(MAX_HEADER))
    source.seek(0)
    if header.passphrase:
        if passphrase is None:
            raise _Refused("needs_passphrase")
        if header.work_factor > limits.max_work_factor:
            raise _Refused("work_factor", log_n=header.work_factor, limit=limits.max_work_factor)
        try:
            # pyrage decrypts a passphrase file in memory only; its size was bounded above.
            plain.write(pyrage.passphrase.decrypt(source.read(), passphrase))
        except pyrage.DecryptError as error:
            raise _Refused("decrypt_failed") from error
    else:
        if not identities:
            raise _Refused("needs_identity")
        try:
            pyrage.decrypt_io(source, plain, identities)
        except (pyrage.DecryptError, OSError) as error:
            raise _Refused("wrong_key" if "No matching keys" in str(error) else "decrypt_failed") from error
    plain.flush()


class _Reader:
    """The decrypted zip: its members checked one way only, then their digests, JSON and signature."""

    def __init__(self, stream, limits):
        self.stream = stream
        self.limits = limits
        self.size = stream.seek(0, os.SEEK_END)
        self.entries = {}
        self._check_zip()

    def _check_zip(self):
        try:
            count = stated_count(self.stream, self.size)
        except ZipProblem as problem:
            raise _Refused("not_zip") from problem
        if count > self.limits.max_members:
            raise _Refused("too_many_members", count=count, limit=self.limits.max_members)
        try:
            infos = zipfile.ZipFile(self.stream).infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
            raise _Refused("not_zip") from error
        if len(infos) > self.limits.max_members:
            raise _Refused("too_many_members", count=len(infos), limit=self.limits.max_members)
        try:
            check_names(infos, unsafe_name, _is_member_name)
        except ZipProblem as problem:
            raise _Refused(_NAME_PROBLEMS[problem.code], problem.params["entry"]) from problem
        try:
            entries, _unusual = read_entries(self.stream, self.size)
        except ZipProblem as problem:
            if problem.code == "not_zip":
                raise _Refused("not_zip") from problem
            detail = ", ".join(f"{key} {value}" for key, value in problem.params.items())
            raise _Refused("zip_structure", problem.params.get("entry", ""),
                           detail=f"{problem.code}: {detail}") from problem
        try:
            check_weight(entries, self.limits)
        except ZipProblem as problem:
            raise _Refused("zip_bomb", problem.params["entry"]) from problem
        self.entries = {entry.name: entry for entry in entries}

    def _chunks(self, name):
        try:
            yield from iter_content(self.stream, self.entries[name])
        except ZipProblem as problem:
            raise _Refused("zip_structure", name, detail=problem.code) from problem

    def _json(self, name):
        if name not in self.entries:
            raise _Refused("not_package", name, detail=f"it has no {name}")
        if self.entries[name].info.file_size > self.limits.max_json_bytes:
            raise _Refused("json_too_large", name, limit=self.limits.max_json_bytes)
        data = b"".join(self._chunks(name))
        value = parse_json(data, name, self.limits)
        if not isinstance(value, dict):
            raise _Refused("not_package", name, detail=f"{name} is not a JSON object")
        return data, value

    def check(self, pinned):
        manifest_bytes, manifest = self._json(MANIFEST)
        if manifest.get("format") != FORMAT:
            raise _Refused("not_package", MANIFEST, detail="its manifest names another format")
        version = manifest.get("version")
        if type(version) is int and version > VERSION:
            raise _Refused("newer_version", MANIFEST, version=version, known=VERSION)
        if version not in READABLE_VERSIONS or type(version) is not int:
            raise _Refused("not_package", MANIFEST, detail=f"its version is {version!r}")
        result = OpenResult("valid", version=version)
        problems = result.problems
        self._check_signature(manifest_bytes, pinned, result)
        try:
            _manifest_shape(manifest)
        except _Refused as refused:
            if not {problem.code for problem in problems} - TRUST:
                # Its signature vouches for this manifest: its signer wrote it so, and it is no package of this version.
                raise
            problems.insert(0, Problem("manifest_changed", MANIFEST, {"detail": refused.problem.params["detail"]}))
            return result
        result.package, result.handover, result.company = manifest["package"], manifest["handover"], manifest["company"]
        result.export, result.created_at = manifest["export"], manifest["created_at"]
        result.checklist_sha256, result.counts = manifest["checklist_sha256"], manifest["counts"]
        if canonical_json(manifest) != manifest_bytes:
            problems.insert(0, Problem("not_canonical", MANIFEST))
        listed = {member["path"]: member for member in manifest["members"]}
        present = set(self.entries) - {MANIFEST, SIGNATURE}
        problems.extend(Problem("member_missing", name) for name in sorted(set(listed) - present))
        problems.extend(Problem("member_added", name) for name in sorted(present - set(listed)))
        found_counts = None
        for name in sorted(present & set(listed)):
            digest, size = hashlib.sha256(), 0
            chunks = self._chunks(name)
            if name == DATA:
                scanner = _DataScanner(self.limits, listed, _data_tail(version))
                chunks = scanner.feed(chunks)
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
            if (size, digest.hexdigest()) != (listed[name]["size"], listed[name]["sha256"]):
                problems.append(Problem("member_changed", name, {"detail": "its SHA-256 or size differs"}))
            elif name == DATA and scanner.problem:
                problems.append(scanner.problem)
            elif name == DATA:
                found_counts = scanner.counts
        if found_counts is not None:
            found_counts["evidence_files"] = sum(1 for name in listed if name.startswith(EVIDENCE))
            for key in COUNT_KEYS:
                if found_counts[key] != manifest["counts"][key]:
                    problems.append(Problem("counts_mismatch", DATA, {
                        "signed": manifest["counts"][key], "count": key.replace("_", " "),
                        "found": found_counts[key],
                    }))
            problems.extend(Problem("evidence_missing", DATA, {"path": path}) for path in scanner.missing)
        return result

    def _check_signature(self, manifest_bytes, pinned, result):
        """Add to ``result`` what is wrong with the signature of the manifest: a package that decrypted and names
        this format was signed, so a signature removed or unreadable is tampering, never an unreadable file."""
        if SIGNATURE not in self.entries:
            result.problems.append(Problem("signature_missing", SIGNATURE))
            return
        try:
            _data, signature = self._json(SIGNATURE)
        except _Refused as refused:
            result.problems.append(Problem("signature_broken", SIGNATURE, {"detail": refused.problem.message}))
            return
        version = signature.get("version")
        if set(signature) != set(SIGNATURE_KEYS) or signature["format"] != SIGNATURE_FORMAT or type(version) is not int:
            detail = f"its keys are {sorted(signature)}, its format {signature.get('format')!r}, version {version!r}"
            result.problems.append(Problem("signature_broken", SIGNATURE, {"detail": detail}))
            return
        if version > VERSION:
            raise _Refused("newer_version", SIGNATURE, version=version, known=VERSION)
        try:
            certificate = load_certificate(str(signature["certificate"]))
        except ChecklistError as error:
            result.problems.append(Problem("signature_broken", SIGNATURE, {"detail": str(error)}))
            return
        result.fingerprint = fingerprint(certificate)
        if signature["fingerprint"] != result.fingerprint:
            result.problems.append(Problem("certificate_mismatch", SIGNATURE))
        elif not check_signature(manifest_bytes, str(signature["signature"]), certificate, signature["algorithm"]):
            result.problems.append(Problem("signature_invalid", MANIFEST))
        elif not pinned:
            result.problems.append(Problem("not_pinned", SIGNATURE, {"fingerprint": result.fingerprint}))
        elif result.fingerprint not in pinned:
            result.problems.append(Problem("untrusted", SIGNATURE, {"fingerprint": result.fingerprint}))
        else:
            result.trusted = True

    def extract(self, out):
        """Write every member into the new folder ``out``; on any failure, remove what was written."""
        os.mkdir(out, 0o700)
        try:
            for name in self.entries:
                target = os.path.join(out, *name.split("/"))
                os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
                descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as handle:
                    for chunk in self._chunks(name):
                        handle.write(chunk)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)
            raise


def _data_tail(version):
    """data.json's last line, which states the format's version."""
    return DATA_TAIL_START + str(version).encode() + b"}\n"


# What the strict zip reader finds wrong with a member's name, as the opener names it.
_NAME_PROBLEMS = {
    "zip_absolute": "member_absolute", "zip_traversal": "member_traversal", "zip_link": "member_link",
    "zip_duplicate": "member_duplicate", "zip_name": "member_name",
}


def _is_member_name(name):
    return name in (MANIFEST, SIGNATURE, DATA, WORKBOOK) or bool(_EVIDENCE_NAME.fullmatch(name))


def _manifest_shape(manifest):
    """The manifest's keys and their types: anything else is not a package of this version."""
    def fail(detail):
        raise _Refused("not_package", MANIFEST, detail=detail)

    if set(manifest) != set(MANIFEST_KEYS):
        fail(f"its manifest has the keys {sorted(manifest)}")
    for key in ("package", "export"):
        if not isinstance(manifest[key], int):
            fail(f"its {key} is not a number")
    for key in ("handover", "company", "created_at", "checklist_sha256"):
        if not isinstance(manifest[key], str):
            fail(f"its {key} is not text")
    counts = manifest["counts"]
    if not isinstance(counts, dict) or set(counts) != set(COUNT_KEYS) or not all(
            isinstance(value, int) for value in counts.values()):
        fail("its counts are not the package's counts")
    members = manifest["members"]
    if not isinstance(members, list) or not all(
            isinstance(member, dict) and set(member) == {"path", "size", "sha256"}
            and isinstance(member["path"], str) and isinstance(member["size"], int)
            and isinstance(member["sha256"], str) for member in members):
        fail("its members are not a list of path, size and SHA-256")
    if len({member["path"] for member in members}) != len(members):
        fail("its members list a path twice")


def parse_json(data, member, limits):
    """Parse untrusted JSON after checking its size, depth and number lengths; refuse duplicate keys."""
    if len(data) > limits.max_json_bytes:
        raise _Refused("json_too_large", member, limit=limits.max_json_bytes)
    depth = 0
    for token in _JSON_TOKENS.finditer(data):
        first = token.group()[:1]
        if first in (b"[", b"{"):
            depth += 1
            if depth > limits.max_json_depth:
                raise _Refused("json_too_deep", member, limit=limits.max_json_depth)
        elif first in (b"]", b"}"):
            depth -= 1
        elif first != b'"' and len(token.group()) > limits.max_number_chars:
            raise _Refused("json_number", member, limit=limits.max_number_chars)
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise _Refused("json_invalid", member, detail=str(error)[:200]) from error


def _unique_keys(pairs):
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return value


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


class _DataScanner:
    """Reads data.json line by line as it streams: its fixed layout, each line's JSON, the counts."""

    def __init__(self, limits, listed, tail):
        self.limits = limits
        self.listed = listed
        self.tail = tail
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        self.missing = []
        self.problem = None
        self._state = "head"

    def feed(self, chunks):
        """Pass ``chunks`` through, parsing the lines they hold; the first problem stops the parsing only."""
        pending = b""
        for chunk in chunks:
            yield chunk
            if self.problem:
                continue
            pending += chunk
            lines = pending.split(b"\n")
            pending = lines.pop()
            try:
                if len(pending) > self.limits.max_json_bytes:
                    raise _Refused("json_too_large", DATA, limit=self.limits.max_json_bytes)
                for line in lines:
                    self._line(line + b"\n")
            except _Refused as refused:
                self.problem = refused.problem
        if not self.problem and (pending or self._state != "end"):
            self.problem = Problem("json_invalid", DATA, {"detail": "it ends before its layout does"})

    def _line(self, line):
        """One line of data.json; ``_state`` is ``head``, then ``<array>:<empty|more|last>``, then ``end``."""
        kind, _sep, position = self._state.partition(":")
        if self._state == "head" and line == DATA_HEAD:
            self._state = "customers:empty"
        elif kind == "customers" and position != "more" and line.startswith(DATA_MIDDLE) and line.endswith(DATA_ITEMS):
            cover = parse_json(line[len(DATA_MIDDLE):-len(DATA_ITEMS)], DATA, self.limits)
            if not isinstance(cover, dict):
                raise _Refused("json_invalid", DATA, detail="its handover cover is not a JSON object")
            self._state = "items:empty"
        elif kind == "items" and position != "more" and line == self.tail:
            self._state = "end"
        elif kind in ("customers", "items") and position != "last":
            self._record(line, kind)
        else:
            raise _Refused("json_invalid", DATA, detail=f"a line out of place in {kind or 'its end'}")

    def _record(self, line, kind):
        body = line[:-1]
        more = body.endswith(b",")
        record = parse_json(body[:-1] if more else body, DATA, self.limits)
        keys = CUSTOMER_KEYS if kind == "customers" else ITEM_KEYS
        if not isinstance(record, dict) or set(record) != set(keys):
            raise _Refused("json_invalid", DATA, detail=f"a line of {kind} does not have the keys {', '.join(keys)}")
        self.counts[kind] += 1
        if kind == "customers":
            children, consents = record["children"], record["consents"]
            if not isinstance(children, list) or not isinstance(consents, list):
                raise _Refused("json_invalid", DATA, detail="a customer's children or consents are not lists")
            self.counts["child_contacts"] += len(children)
            self.counts["consents"] += len(consents)
            for consent in consents:
                for path in (consent.get("evidence") or ()) if isinstance(consent, dict) else ():
                    if path not in self.listed and len(self.missing) < 20:
                        self.missing.append(path)
        self._state = f"{kind}:more" if more else f"{kind}:last"
