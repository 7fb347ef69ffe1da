"""The digest of a customer notice's text: what proves later which text a customer was told; no Odoo import.

A notice keeps the SHA-256, in lowercase hex, of the canonical JSON array ``[NOTICE_FORMAT, version, subject,
body]`` (``body``: the HTML the email or the letter carried, as rendered). The version is kept beside the digest,
so a notice digested today still verifies after a change of what the digest covers.
"""

import hashlib

from .canonical import canonical_json

NOTICE_FORMAT = "customer-handover-notice"
DIGEST_VERSION = 1


def text_digest(subject, body, version=DIGEST_VERSION):
    """The SHA-256 (hex) of a notice's ``subject`` and ``body`` under digest ``version``."""
    if version != 1:
        raise ValueError(f"unknown notice digest version {version}")
    return hashlib.sha256(canonical_json([NOTICE_FORMAT, version, subject or "", body or ""])).hexdigest()
