"""Verifying a checklist workbook: the one entry point, for the models and the offline command."""

import io
import os

from ..checklist import EVENT_LOG_FORMAT
from ..event_log import check_log_workbook
from .package import Package
from .results import Finding, Limits, RefusedChecklist, Result, UnreadableChecklist
from .verifier import Verifier


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
            package = Package(stream, limits)
            result = Verifier(package, trusted, detached).run()
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
