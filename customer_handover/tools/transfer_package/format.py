"""The package's format: its names, versions, members and data.json's fixed layout; what a package may weigh."""

import re
from dataclasses import dataclass

from ..signing import ChecklistError

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
_EVIDENCE_NAME = re.compile(r"evidence/[0-9a-f]{64}\.[a-z0-9]{1,10}")


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


def data_tail(version):
    """data.json's last line, which states the format's version."""
    return DATA_TAIL_START + str(version).encode() + b"}\n"


def is_member_name(name):
    """True for a name a package's member may have: its four files, or an evidence file by its digest."""
    return name in (MANIFEST, SIGNATURE, DATA, WORKBOOK) or bool(_EVIDENCE_NAME.fullmatch(name))
