"""Opening a package: decrypt, check everything, and write its contents out only when every check passed."""

import os
import tempfile

from ..checklist_verify import verify
from ..digests import sha256_file
from ..signing import normalise_fingerprint
from .age import as_identities, decrypt, decrypt_file
from .format import Limits
from .problems import OpenResult, Problem, Refused, open_status
from .reader import Reader


def default_out(path):
    """The folder a package opens into by default: beside it, named after it."""
    stem = os.path.basename(os.fspath(path))
    stem = stem[:-4] if stem.endswith(".age") else stem + "-opened"
    return os.path.join(os.path.dirname(os.path.abspath(path)), stem)


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
            raise Refused("out_exists", out=out)
        identities = as_identities(identity)
        with open(path, "rb") as source, tempfile.TemporaryFile() as plain:
            decrypt(source, plain, identities, passphrase, limits)
            return _check_plain(plain, pinned, checklist, out, limits)
    except Refused as refused:
        return OpenResult(open_status([refused.problem]), problems=[refused.problem])


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
            raise Refused("out_exists", out=out)
        return _check_plain(plain, pinned, checklist, os.fspath(out), limits)
    except Refused as refused:
        return OpenResult(open_status([refused.problem]), problems=[refused.problem])


def peek_plain(plain, fingerprint=None, checklist=None, limits=None):
    """Read a decrypted package's manifest: its facts, its signature, the pin and the checklist it delivers.

    A peek, quick whatever the package's size: neither the members' digests nor data.json are read, and nothing is
    written. A package to be used is checked whole first (``check_plain``).
    """
    return _checked(plain, fingerprint, checklist, limits, digests=False)


def check_plain(plain, fingerprint=None, checklist=None, limits=None):
    """Check a decrypted package whole, as ``open_plain`` does, without writing its contents anywhere."""
    return _checked(plain, fingerprint, checklist, limits, digests=True)


def decrypt_package(path, plain, identity=None, passphrase=None, limits=None):
    """Decrypt the package at ``path`` into the binary file ``plain``; None, or the Problem that stopped it."""
    try:
        decrypt_file(path, plain, as_identities(identity), passphrase, limits or Limits())
    except Refused as refused:
        return refused.problem
    return None


def _checked(plain, fingerprint, checklist, limits, digests):
    pinned = {normalise_fingerprint(item) for item in _as_set(fingerprint)}
    try:
        return _check_plain(plain, pinned, checklist, None, limits or Limits(), digests)
    except Refused as refused:
        return OpenResult(open_status([refused.problem]), problems=[refused.problem])


def _check_plain(plain, pinned, checklist, out, limits, digests=True):
    """``out``: the folder the contents are written to when every check passed (None: nowhere)."""
    reader = Reader(plain, limits)
    result = reader.check(pinned, digests)
    if checklist is not None and result.checklist_sha256:
        found = sha256_file(checklist)
        if found != result.checklist_sha256:
            result.problems.append(_checklist_problem(checklist, found, result))
    result.status = open_status(result.problems)
    if result.status == "valid" and out:
        try:
            reader.extract(out)
        except FileExistsError as error:
            raise Refused("out_exists", out=out) from error
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
