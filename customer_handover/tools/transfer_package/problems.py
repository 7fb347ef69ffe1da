"""What opening a package reports: each problem and its English text, the result, and its status."""

from dataclasses import dataclass, field

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


class Refused(Exception):
    """A package refused where it was read: the Problem says why; opening stops there."""

    def __init__(self, code, member="", **params):
        self.problem = Problem(code, member, params)
        super().__init__(self.problem.message)


def open_status(problems):
    """unreadable, invalid, unknown_key (intact, but not signed by a pinned key) or valid."""
    codes = {problem.code for problem in problems}
    if codes & UNREADABLE:
        return "unreadable"
    if codes - TRUST:
        return "invalid"
    return "unknown_key" if codes else "valid"
