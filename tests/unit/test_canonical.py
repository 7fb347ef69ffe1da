"""One canonical JSON for every signed format: the checklist, the event log and the transfer package."""

import hashlib
import json
import math

import pytest
from customer_handover_tools import checklist as ck
from customer_handover_tools import event_log as el
from customer_handover_tools import transfer_package as tp
from customer_handover_tools.canonical import canonical_json

# What each format wrote before they shared one function, kept as the reference the shared one must match.
FORMER = {
    "checklist": lambda value: json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
    "event log": lambda value: json.dumps(
        value or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8"),
    "package": lambda value: json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8"),
}
VALUES = [
    ["checklist", 2, "王芳", "138 0000 0001", "line one\nline two", "\ufffd", "_x005F_x00Af_", ""],
    [["Key", "Item", "Value"], ["format", "Format", "customer-handover-checklist"]],
    {"b": [2, 1], "a": "王", "nested": {"z": None, "y": [True, False, {"é": "\u2028\t\"\\/"}]}},
    {"records": [1, 2, 3], "count": 0, "negative": -7, "big": 2**70},
    {"floats": [1.5, 0.1, -0.0, 1e100, 3.0, 1e-7], "emoji": "🙂", "control": "\x00\x1f\x7f"},
    ["customer-handover-event-seal", "3", "12", "ab" * 32],
    [],
    {"": "", "Ä": 1, "a": 2, "B": 3, "_": 4},
]
# Digests written by the former functions: the shared one must keep every signed format byte for byte.
PINNED = {
    "checklist row": "ea711666ee329e147d26f534b4ec150ac4175cd25c54f2b7c2463e9fa190a211",
    "event log entry": "1444a8757f12390f365d08001c883199b4b3207c2ab6de18dd624ec038b59434",
    "event log seal": "a1b27ce5ddd2e388bcd8348d078fc3acd024dd2d9b316c988dd96880bdd919fc",
    "package manifest": "553007077d6b4976f454894511e128c26daf2bf2767ee51511deca85fb6c8900",
}
MANIFEST = {
    "format": tp.FORMAT, "version": 1, "handover": "HO/2026/0001", "company": "上海某某", "package": 3,
    "created_at": "2026-11-24T08:00:00Z", "export": 2, "checklist_sha256": "0" * 64,
    "counts": {"customers": 2, "child_contacts": 0, "consents": 1, "evidence_files": 1, "items": 0},
    "members": [{"path": "data.json", "size": 10, "sha256": "1" * 64}],
}


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_shared_function_writes_what_each_format_wrote(value):
    for name, former in FORMER.items():
        if name == "checklist" and "{" in json.dumps(value):
            # The checklist only ever wrote lists of texts and numbers: it never sorted keys.
            continue
        if name == "event log" and not isinstance(value, dict):
            # The event log wrote its payloads, objects, with it (an empty one as {}).
            continue
        assert canonical_json(value) == former(value), name
    if isinstance(value, dict):
        assert el.payload_text(value) == FORMER["event log"](value).decode("utf-8")
    assert el.payload_text(None) == "{}"


def test_canonical_json_sorts_keys_and_writes_no_spaces_nor_ascii_escapes():
    assert canonical_json({"b": [2, 1], "a": "王", "c": {"y": 1, "x": None}}) == (
        '{"a":"王","b":[2,1],"c":{"x":null,"y":1}}'.encode()
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_numbers_json_cannot_hold_are_refused(value):
    with pytest.raises(ValueError):
        canonical_json({"count": value})


def test_every_signed_format_keeps_its_digests():
    texts = ["王芳", "138 0000 0001", "line one\nline two", "\ufffd", "_x005F_"]
    payload = el.payload_text({"b": [2, 1], "a": "王", "n": 1.5, "z": None, "t": True})
    entry = ["1", "3", "2026-11-24 08:00:00", "2", "export_signed", "customer.handover", "7", payload]
    found = {
        "checklist row": ck.row_digest("checklist", 2, texts).hex(),
        "event log entry": el.entry_hash("0" * 64, entry),
        "event log seal": hashlib.sha256(el.seal_payload(3, 12, "ab" * 32)).hexdigest(),
        "package manifest": hashlib.sha256(canonical_json(MANIFEST)).hexdigest(),
    }
    assert found == PINNED
