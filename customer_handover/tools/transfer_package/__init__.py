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

One file per job: ``format`` (names, versions, limits), ``writer``, ``workbook`` (customers.xlsx),
``age`` (the encryption), ``opener``, ``reader`` (the decrypted zip), ``json_limits``, ``problems``.
"""

from ..canonical import canonical_json
from .age import (
    AGE_ARMOR,
    AGE_MAGIC,
    MAX_HEADER,
    Header,
    load_identities,
    new_identity,
    read_header,
    recipient_fingerprint,
)
from .format import (
    COUNT_KEYS,
    CUSTOMER_KEYS,
    DATA,
    DATA_FORMAT,
    DATA_HEAD,
    DATA_ITEMS,
    DATA_MIDDLE,
    DATA_TAIL_START,
    EVIDENCE,
    FORMAT,
    ITEM_KEYS,
    MANIFEST,
    MANIFEST_KEYS,
    READABLE_VERSIONS,
    SIGNATURE,
    SIGNATURE_FORMAT,
    SIGNATURE_KEYS,
    VERSION,
    WORKBOOK,
    Limits,
    PackageError,
)
from .json_limits import parse_json
from .opener import check_plain, decrypt_package, default_out, open_package, open_plain, peek_plain, sha256_file
from .problems import EXIT_CODES, MESSAGES, TRUST, UNREADABLE, OpenResult, Problem
from .reader import iter_data
from .workbook import ADDRESS_KEYS
from .writer import PackageWriter, evidence_extension
