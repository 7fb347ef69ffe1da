"""The hash chain of a company's handover event log, and its seals; no Odoo import.

Entry *N* of a company's log is the list of texts ``ENTRY_FIELDS``; its hash is the SHA-256, in
lowercase hex, of the canonical JSON array ``[previous hash, *entry]``, the previous hash of entry 1
being ``GENESIS``. Changing an entry changes its hash; removing one breaks the link of the next.

A *seal* is an entry of event ``chain_sealed`` whose payload signs the head of the chain before it:
``[SEAL_CONTEXT, company, head sequence, head hash]`` in canonical JSON, signed with the company's
key, so that a chain rewritten from some entry on no longer matches the seals after it.

Each entry carries the *hash version* it was chained with (``HASHES``): version 1 is the hash above.
A later change to what an entry's hash covers adds a version; entries keep theirs, so older chains
still verify. An export written before versions existed holds version 1 entries only.
"""

import hashlib
import json
from dataclasses import dataclass

from openpyxl import load_workbook

from .canonical import canonical_json
from .checklist import canonical_text
from .signing import ChecklistError, check_signature, fingerprint, load_certificate, sign_bytes

GENESIS = "0" * 64
SEAL_EVENT = "chain_sealed"
SEAL_CONTEXT = "customer-handover-event-seal"
# The texts of an entry, in the order they are hashed and shown in an export of the log.
ENTRY_FIELDS = ("sequence", "company", "logged_at", "user", "event", "model", "record", "payload")


def payload_text(payload):
    """The canonical JSON text of an event's payload (sorted keys, no spaces, no ASCII escaping)."""
    return canonical_json(payload or {}).decode("utf-8")


def entry_hash(previous_hash, values):
    """The hash of an entry whose ``values`` follow ``ENTRY_FIELDS``, chained to ``previous_hash``."""
    return hashlib.sha256(canonical_json([previous_hash, *map(canonical_text, values)])).hexdigest()


# How each hash version hashes an entry chained to the previous hash; entries written today use HASH_VERSION.
HASHES = {1: entry_hash}
HASH_VERSION = 1


def seal_payload(company, head_sequence, head_hash):
    """The bytes a seal signs: which company's chain, up to which entry, ending with which hash."""
    return canonical_json([SEAL_CONTEXT, str(company), str(head_sequence), head_hash])


def seal(private_key, certificate_fingerprint, company, head_sequence, head_hash):
    """The payload of a seal entry over the head of ``company``'s chain."""
    algorithm, signature = sign_bytes(private_key, seal_payload(company, head_sequence, head_hash))
    return {
        "head": head_sequence,
        "head_hash": head_hash,
        "algorithm": algorithm,
        "fingerprint": certificate_fingerprint,
        "signature": signature,
    }


# English texts of the chain problems; Odoo shows its own translated ones, keyed alike.
PROBLEMS = {
    "missing": "entry {sequence} is missing (the next entry present is {expected}).",
    "order": "entry {sequence} is out of order or belongs to another company's log.",
    "link": "entry {sequence} does not follow the entry before it: an entry before it was changed, removed or "
    "inserted.",
    "changed": "entry {sequence} was changed after it was logged.",
    "seal": "entry {sequence} is a seal that does not match the chain before it, or its signature is not valid.",
    "columns": "entry {sequence} does not have the columns of an event log entry.",
    "version": "entry {sequence} has a hash version this verifier does not know: update it to check this entry.",
}


@dataclass(frozen=True)
class ChainProblem:
    """The first entry at which a chain fails, and how: a key of ``PROBLEMS``."""

    sequence: int
    code: str
    expected: str = ""

    @property
    def message(self):
        return PROBLEMS[self.code].format(sequence=self.sequence, expected=self.expected)


class ChainChecker:
    """Checks a company's entries fed in order, one at a time, in constant memory.

    ``certificates`` maps a fingerprint to a certificate: the seals made with one of them are
    checked; a seal made with another key is counted in ``unchecked_seals``.
    """

    def __init__(self, company=None, certificates=None):
        self.company = None if company is None else str(company)
        self.certificates = certificates or {}
        self.previous_sequence = 0
        self.previous_hash = GENESIS
        self.count = 0
        self.seals = 0
        self.unchecked_seals = 0
        self.problem = None

    def state(self):
        """What the checker knows so far, in JSON values: a check made in several transactions goes on from it."""
        problem = self.problem
        return {
            "company": self.company, "previous_sequence": self.previous_sequence, "previous_hash": self.previous_hash,
            "count": self.count, "seals": self.seals, "unchecked_seals": self.unchecked_seals,
            "problem": [problem.sequence, problem.code, problem.expected] if problem else None,
        }

    @classmethod
    def resume(cls, state, certificates=None):
        """A checker that goes on from ``state`` (``ChainChecker.state()``), checking seals with ``certificates``."""
        checker = cls(state["company"], certificates)
        checker.previous_sequence = int(state["previous_sequence"])
        checker.previous_hash = state["previous_hash"]
        checker.count, checker.seals = int(state["count"]), int(state["seals"])
        checker.unchecked_seals = int(state["unchecked_seals"])
        if state.get("problem"):
            sequence, code, expected = state["problem"]
            checker.problem = ChainProblem(int(sequence), code, expected)
        return checker

    def feed(self, values, previous_hash, stored_hash, version=1):
        """Check the next entry, hashed by ``version`` (``HASHES``); returns the first problem found so far, or None."""
        if self.problem:
            return self.problem
        entry = dict(zip(ENTRY_FIELDS, values, strict=True))
        if self.company is None:
            self.company = entry["company"]
        try:
            sequence = int(entry["sequence"])
        except ValueError:
            sequence = self.previous_sequence + 1
            return self._fail(sequence, "order", entry["sequence"])
        if sequence > self.previous_sequence + 1:
            return self._fail(self.previous_sequence + 1, "missing", str(sequence))
        if sequence <= self.previous_sequence or entry["company"] != self.company:
            return self._fail(sequence, "order")
        if previous_hash != self.previous_hash:
            return self._fail(sequence, "link")
        hashing = HASHES.get(_version(version))
        if hashing is None:
            return self._fail(sequence, "version")
        if hashing(previous_hash, values) != stored_hash:
            return self._fail(sequence, "changed")
        if entry["event"] == SEAL_EVENT and not self._seal_holds(entry):
            return self._fail(sequence, "seal")
        self.previous_sequence, self.previous_hash = sequence, stored_hash
        self.count += 1
        return None

    def _seal_holds(self, entry):
        try:
            payload = json.loads(entry["payload"])
            head, head_hash = int(payload["head"]), payload["head_hash"]
        except (ValueError, KeyError, TypeError):
            return False
        if head != self.previous_sequence or head_hash != self.previous_hash:
            return False
        self.seals += 1
        certificate = self.certificates.get(payload.get("fingerprint"))
        if certificate is None:
            self.unchecked_seals += 1
            return True
        return check_signature(
            seal_payload(self.company, head, head_hash), payload.get("signature", ""), certificate,
            payload.get("algorithm"),
        )

    def _fail(self, sequence, code, expected=""):
        self.problem = ChainProblem(sequence, code, expected)
        return self.problem


def check_log_workbook(stream, certificate_pem=""):
    """The first chain problem of an exported event log (its second sheet), or None; reads in flat memory.

    Columns: ``ENTRY_FIELDS``, the previous hash, the hash, the hash version (absent from exports written
    before versions: version 1), then the row digest. Seals signed with ``certificate_pem`` (the export's
    signer) are checked.
    """
    certificates = {}
    try:
        certificate = load_certificate(certificate_pem.encode("ascii"))
        certificates[fingerprint(certificate)] = certificate
    except (ChecklistError, ValueError, UnicodeEncodeError):
        certificates = {}  # no readable certificate: the seals are counted, not checked
    checker = ChainChecker(certificates=certificates)
    workbook = load_workbook(stream, read_only=True, data_only=False)
    try:
        sheet = workbook.worksheets[1]
        width = len(ENTRY_FIELDS) + 2
        versioned = sheet.max_column > width + 1
        for number, row in enumerate(sheet.iter_rows(min_row=2, values_only=True), start=1):
            texts = row[: width + versioned]
            cells = ["" if value is None else str(value) for value in texts]
            if len(cells) < width + versioned or not all(isinstance(value, str) or value is None for value in texts):
                return ChainProblem(number, "columns")
            version = cells[width] if versioned else "1"
            if checker.feed(cells[: len(ENTRY_FIELDS)], cells[width - 2], cells[width - 1], version):
                return checker.problem
    finally:
        workbook.close()
    return None


def _version(version):
    """A hash version as an integer, from the database or an export's text; None when it is not one."""
    try:
        return int(version)
    except (TypeError, ValueError):
        return None
