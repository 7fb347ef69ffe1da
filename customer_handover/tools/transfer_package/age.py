"""age encryption, through pyrage: the header read before pyrage sees a file, identities, decrypting."""

import hashlib
import os
import re
from dataclasses import dataclass

import pyrage

from ..signing import utc_timestamp
from .format import PackageError
from .problems import Refused

AGE_MAGIC = b"age-encryption.org/v1\n"
AGE_ARMOR = b"-----BEGIN AGE ENCRYPTED FILE-----"
# A header holds one stanza per recipient: a few hundred bytes each.
MAX_HEADER = 64 * 1024


@dataclass
class Header:
    kinds: list
    work_factor: int = 0

    @property
    def passphrase(self):
        return "scrypt" in self.kinds


def read_header(data):
    """The stanza kinds of an age header (and scrypt's log2 N), refusing what is not a binary age file."""
    if data.startswith(AGE_ARMOR):
        raise Refused("armored")
    if not data.startswith(AGE_MAGIC):
        raise Refused("not_age")
    end = data.find(b"\n--- ")
    if end < 0:
        raise Refused("bad_header", detail="no end of header in its first 64 KiB")
    kinds, work_factor = [], 0
    for line in data[len(AGE_MAGIC):end + 1].split(b"\n"):
        if not line.startswith(b"-> "):
            continue
        arguments = line[3:].split(b" ")
        kind = arguments[0].decode("ascii", "replace")
        kinds.append(kind)
        if kind == "scrypt":
            if len(arguments) != 3 or not re.fullmatch(rb"[1-9][0-9]?", arguments[2]):
                raise Refused("bad_header", detail="a scrypt stanza without its work factor")
            work_factor = int(arguments[2])
    if not kinds:
        raise Refused("bad_header", detail="no recipient stanza")
    if "scrypt" in kinds and len(kinds) != 1:
        raise Refused("bad_header", detail="a scrypt stanza must be the only one")
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


def new_identity():
    """A new age X25519 identity: (identity file text, recipient)."""
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    text = f"# created: {utc_timestamp()}\n# public key: {recipient}\n{identity}\n"
    return text, recipient


def as_identities(identity):
    """A list of age identities from an identity file's text, an identity, or a list of them."""
    if identity is None:
        return []
    if isinstance(identity, str):
        return load_identities(identity)
    return list(identity) if isinstance(identity, (list, tuple)) else [identity]


def decrypt_file(path, plain, identities, passphrase, limits):
    with open(path, "rb") as source:
        decrypt(source, plain, identities, passphrase, limits)


def decrypt(source, plain, identities, passphrase, limits):
    """Decrypt ``source`` into ``plain`` after checking its size and header; Refused when it cannot be."""
    size = source.seek(0, os.SEEK_END)
    if size > limits.max_bytes:
        raise Refused("too_large", size=size, limit=limits.max_bytes)
    source.seek(0)
    header = read_header(source.read(MAX_HEADER))
    source.seek(0)
    if header.passphrase:
        if passphrase is None:
            raise Refused("needs_passphrase")
        if header.work_factor > limits.max_work_factor:
            raise Refused("work_factor", log_n=header.work_factor, limit=limits.max_work_factor)
        try:
            # pyrage decrypts a passphrase file in memory only; its size was bounded above.
            plain.write(pyrage.passphrase.decrypt(source.read(), passphrase))
        except pyrage.DecryptError as error:
            raise Refused("decrypt_failed") from error
    else:
        if not identities:
            raise Refused("needs_identity")
        try:
            pyrage.decrypt_io(source, plain, identities)
        except (pyrage.DecryptError, OSError) as error:
            raise Refused("wrong_key" if "No matching keys" in str(error) else "decrypt_failed") from error
    plain.flush()
