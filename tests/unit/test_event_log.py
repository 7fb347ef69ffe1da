"""The event log's hash chain and its signed export, without Odoo."""

import io
import json

import pytest
from customer_handover_tools import checklist as ck
from customer_handover_tools import event_log as el
from customer_handover_tools.checklist_verify import verify
from customer_handover_tools.checklist_xlsx import ChecklistWriter
from openpyxl import load_workbook

COMPANY = 7


@pytest.fixture(scope="module")
def company():
    key = ck.generate_key("ec")
    return key, ck.make_self_signed(key, "Company A")


def chain(count, key=None, certificate=None, seal_every=0):
    """``count`` entries as (values, previous hash, hash), with a seal after every ``seal_every`` entries."""
    entries, previous = [], el.GENESIS
    for sequence in range(1, count + 1):
        if seal_every and sequence % (seal_every + 1) == 0:
            payload = el.seal(key, ck.fingerprint(certificate), COMPANY, sequence - 1, previous)
            event = el.SEAL_EVENT
        else:
            payload, event = {"records": [sequence * 10], "state": "verified"}, "lines_checked"
        values = [str(sequence), str(COMPANY), "2026-11-30 08:00:00", "2", event, "customer.handover.line",
                  "", el.payload_text(payload)]
        digest = el.entry_hash(previous, values)
        entries.append((values, previous, digest))
        previous = digest
    return entries


def first_problem(entries, certificates=None):
    checker = el.ChainChecker(COMPANY, certificates)
    for values, previous, digest in entries:
        if problem := checker.feed(values, previous, digest):
            return problem
    return None


def test_an_untouched_chain_holds_and_counts_its_seals(company):
    key, certificate = company
    checker = el.ChainChecker(COMPANY, {ck.fingerprint(certificate): certificate})
    for entry in chain(12, key, certificate, seal_every=3):
        assert checker.feed(*entry) is None
    assert (checker.count, checker.seals, checker.unchecked_seals) == (12, 3, 0)


@pytest.mark.parametrize("tampered", [False, True])
def test_a_check_resumed_from_its_state_in_json_finds_what_one_pass_finds(company, tampered):
    key, certificate = company
    certificates = {ck.fingerprint(certificate): certificate}
    entries = chain(12, key, certificate, seal_every=3)
    if tampered:
        values, previous, digest = entries[9]
        entries[9] = ([*values[:7], "{}"], previous, digest)
    state = el.ChainChecker(COMPANY).state()
    for start in range(0, len(entries), 5):  # batches of 5, each in a checker of its own
        checker = el.ChainChecker.resume(json.loads(json.dumps(state)), certificates)
        for entry in entries[start:start + 5]:
            checker.feed(*entry)
        state = checker.state()
    whole = el.ChainChecker(COMPANY, certificates)
    for entry in entries:
        whole.feed(*entry)
    assert state == whole.state()
    assert state["problem"] == ([10, "changed", ""] if tampered else None)
    assert (state["count"], state["seals"]) == ((9, 2) if tampered else (12, 3))


def test_the_payload_is_canonical_json():
    assert el.payload_text({"b": [2, 1], "a": "王"}) == '{"a":"王","b":[2,1]}'


@pytest.mark.parametrize(("tamper", "sequence", "code"), [
    ("change a value", 4, "changed"),
    ("change a value and its hash", 5, "link"),
    ("remove an entry", 4, "missing"),
    ("swap two entries", 4, "missing"),
    ("move an entry to another company", 4, "order"),
])
def test_each_kind_of_tampering_names_the_first_entry_it_breaks(tamper, sequence, code):
    entries = chain(8)
    values, previous, digest = entries[3]
    if tamper == "change a value":
        entries[3] = ([*values[:7], el.payload_text({"records": [1], "state": "verified"})], previous, digest)
    elif tamper == "change a value and its hash":
        changed = [*values[:7], "{}"]
        entries[3] = (changed, previous, el.entry_hash(previous, changed))
    elif tamper == "remove an entry":
        del entries[3]
    elif tamper == "swap two entries":
        entries[3], entries[4] = entries[4], entries[3]
    else:
        entries[3] = ([values[0], "8", *values[2:]], previous, digest)
    problem = first_problem(entries)
    assert (problem.sequence, problem.code) == (sequence, code)
    assert str(sequence) in problem.message


def test_a_chain_rewritten_from_an_entry_on_breaks_the_next_seal(company):
    key, certificate = company
    entries = chain(8, key, certificate, seal_every=3)  # seals at 4 and 8
    previous = el.GENESIS
    rewritten = []
    for index, (values, _previous, _digest) in enumerate(entries[:7]):
        if index == 1:
            values = [*values[:7], "{}"]
        digest = el.entry_hash(previous, values)
        rewritten.append((values, previous, digest))
        previous = digest
    problem = first_problem(rewritten, {ck.fingerprint(certificate): certificate})
    assert (problem.sequence, problem.code) == (4, "seal")


def test_a_seal_with_a_forged_signature_is_refused(company):
    _key, certificate = company
    other = ck.generate_key("ec")
    entries = chain(3)
    forged = el.seal(other, ck.fingerprint(certificate), COMPANY, 3, entries[-1][2])
    values = ["4", str(COMPANY), "2026-11-30 08:00:00", "1", el.SEAL_EVENT, "", "", el.payload_text(forged)]
    entries.append((values, entries[-1][2], el.entry_hash(entries[-1][2], values)))
    problem = first_problem(entries, {ck.fingerprint(certificate): certificate})
    assert (problem.sequence, problem.code) == (4, "seal")


def export(entries, signer, versions=None):
    """An exported log, as Odoo writes it: entries then previous hash, hash and, given ``versions``, each entry's
    hash version (exports written before versions have no such column), signed by ``signer``."""
    output = io.BytesIO()
    writer = ChecklistWriter(output, ["Cover", "Event log", "Signatures"], {"header": ["Key", "Item", "Value"]})
    writer.write_cover(["Item", "Value"], [["Company", "Company A"], ["Entries", str(len(entries))]])
    extra = ["hash_version"] if versions else []
    # The payload column is as wide as Odoo makes it: a seal's signature fits its row.
    widths = [10] * 7 + [60] + [10] * (2 + len(extra))
    writer.start_checklist([*el.ENTRY_FIELDS, "previous_hash", "hash", *extra], widths)
    for number, (values, previous, digest) in enumerate(entries):
        writer.write_row([*values, previous, digest, *([str(versions[number])] if versions else [])])
    rows = writer.manifest("Event log", len(entries), "Company A", "2026-11-30T08:00:00Z", ck.EVENT_LOG_FORMAT)
    key, certificate = signer
    rows += ck.signature_rows({}, 1, "transferring", "Company A", ck.utc_timestamp(), certificate, key, rows)
    writer.close(rows)
    return output.getvalue()


def test_an_exported_log_verifies_and_names_an_entry_changed_before_export(company):
    key, certificate = company
    entries = chain(9, key, certificate, seal_every=4)
    result = verify(export(entries, company), trusted={ck.fingerprint(certificate)})
    assert result.status == "valid", [finding.message for finding in result.findings]
    assert result.manifest["format"] == ck.EVENT_LOG_FORMAT

    values, previous, digest = entries[6]
    entries[6] = ([*values[:7], json.dumps({"records": [999]})], previous, digest)  # an UPDATE behind Odoo
    result = verify(export(entries, company), trusted={ck.fingerprint(certificate)})
    assert result.status == "invalid"
    assert [finding.code for finding in result.findings] == ["log_entry"]
    assert "entry 7 was changed" in result.findings[0].message


def test_an_exported_log_changed_after_signing_is_invalid(company):
    data = export(chain(5), company)
    workbook = load_workbook(io.BytesIO(data))
    workbook.worksheets[1]["H3"] = "{}"
    changed = io.BytesIO()
    workbook.save(changed)
    result = verify(changed.getvalue())
    assert result.status == "invalid"
    assert any(finding.code == "cell_changed" for finding in result.findings)


def test_the_verify_command_describes_a_log_and_exits_1_on_a_changed_entry(company, tmp_path, capsys):
    from customer_handover_tools.cli import verify_main

    key, certificate = company
    entries = chain(6, key, certificate, seal_every=2)
    path = tmp_path / "log.xlsx"
    path.write_bytes(export(entries, company))
    assert verify_main([str(path), "--fingerprint", ck.fingerprint(certificate)]) == 0
    assert "Event log of Company A, entries 1 to 6" in capsys.readouterr().out

    values, previous, digest = entries[4]
    entries[4] = ([*values[:3], "9", *values[4:]], previous, digest)
    path.write_bytes(export(entries, company))
    assert verify_main([str(path), "--fingerprint", ck.fingerprint(certificate)]) == 1
    assert "Event log entry 5: entry 5 was changed after it was logged." in capsys.readouterr().out


def test_each_entry_is_checked_by_its_hash_version_and_an_unknown_one_is_named():
    entries = chain(5)
    checker = el.ChainChecker(COMPANY)
    for entry in entries[:3]:
        assert checker.feed(*entry, el.HASH_VERSION) is None
    problem = checker.feed(*entries[3], 99)
    assert (problem.sequence, problem.code) == (4, "version")
    assert "hash version" in problem.message


def test_an_export_with_hash_versions_verifies_and_names_an_entry_of_an_unknown_version(company):
    key, certificate = company
    entries = chain(6, key, certificate, seal_every=2)
    result = verify(export(entries, company, versions=[1] * 6), trusted={ck.fingerprint(certificate)})
    assert result.status == "valid", [finding.message for finding in result.findings]

    result = verify(export(entries, company, versions=[1, 1, 1, 2, 1, 1]), trusted={ck.fingerprint(certificate)})
    assert result.status == "invalid"
    assert "entry 4 has a hash version this verifier does not know" in result.findings[-1].message
