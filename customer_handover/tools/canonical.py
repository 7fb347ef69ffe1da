"""Canonical JSON: the one way every signed or hashed format of the addon writes JSON; no Odoo import.

UTF-8 bytes of ``json.dumps`` with keys sorted (by code point), no spaces after ``,`` and ``:``, no
ASCII escaping (only ``"``, ``\\`` and control characters are escaped), numbers as Python writes them,
and no NaN or infinity (they are not JSON). The checklist's rows and signed payloads, the event log's
payloads, hashes and seals, and the transfer package's manifest, signature and data are all written
with it (docs/signed-checklist.md, "Canonical JSON").
"""

import json


def canonical_json(value):
    """The canonical UTF-8 JSON bytes of ``value``: what is signed, hashed and compared."""
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
