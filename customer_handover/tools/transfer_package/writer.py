"""Writing a transfer package: its members streamed into a zip, the manifest signed, the whole encrypted."""

import contextlib
import hashlib
import mimetypes
import os
import re
import stat
import tempfile
import zipfile
from datetime import datetime, timezone

import pyrage

from ..canonical import canonical_json
from ..signing import certificate_pem, check_signature, fingerprint, sign_bytes, utc_timestamp, validity
from ..strict_zip import CHUNK
from .age import MAX_HEADER, read_header
from .format import (
    COUNT_KEYS,
    CUSTOMER_KEYS,
    DATA,
    DATA_HEAD,
    DATA_ITEMS,
    DATA_MIDDLE,
    EVIDENCE,
    FORMAT,
    ITEM_KEYS,
    MANIFEST,
    SIGNATURE,
    SIGNATURE_FORMAT,
    VERSION,
    WORKBOOK,
    Limits,
    PackageError,
    data_tail,
)
from .workbook import Workbook

_EXTENSION = re.compile(r"[a-z0-9]{1,10}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Fixed zip times: a package's time is its manifest's created_at.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


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
        self._workbook = Workbook(os.path.join(self._folder.name, WORKBOOK), self.manifest, self.cover)
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
        yield data_tail(VERSION)

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


def evidence_extension(filename, mimetype=""):
    """An evidence file's extension in a package: from its file name, else from its type, else ``bin``."""
    extension = os.path.splitext(filename or "")[1].lower().lstrip(".")
    if not _EXTENSION.fullmatch(extension):
        extension = (mimetypes.guess_extension(mimetype or "") or ".bin").lower().lstrip(".")
    return extension if _EXTENSION.fullmatch(extension) else "bin"
