"""Fresh exports verify with each library release Odoo 18 may run with: its pins and the newest releases.

Each set of releases gets its own virtualenv, made once and cached (``~/.cache/customer_handover-venvs``,
or under ``$XDG_CACHE_HOME``), keyed by the Python version and the releases. In each, the addon's own
Odoo-free writer exports a signed checklist, its countersignature and a signed event log; every
environment then verifies every environment's files. Without PyPI the test is skipped, saying why.
"""

import functools
import itertools
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "customer_handover" / "tools"
LIBRARIES = ("xlsxwriter", "cryptography", "openpyxl")
# Odoo 18's requirements.txt pins, the oldest releases the addon supports (setup.py); None: the newest on PyPI.
ENVIRONMENTS = {
    "odoo18-pins": {"xlsxwriter": "3.0.2", "cryptography": "3.4.8", "openpyxl": "3.0.9"},
    "newest": None,
}
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "customer_handover-venvs"
PIP_TIMEOUT = 600
# What pip prints when it cannot reach an index: the test is then skipped, never failed.
OFFLINE = (
    "NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution", "Name or service not known",
    "Network is unreachable", "Could not fetch URL", "No matching distribution found", "ProxyError", "ConnectTimeout",
    "ReadTimeout", "timed out",
)

SCRIPT = r'''
import importlib.util, io, json, sys
from pathlib import Path

tools = Path(sys.argv[1])
spec = importlib.util.spec_from_file_location(
    "customer_handover_tools", tools / "__init__.py", submodule_search_locations=[str(tools)])
package = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = package
spec.loader.exec_module(package)

from customer_handover_tools import checklist as ck
from customer_handover_tools import event_log as el
from customer_handover_tools.checklist_countersign import countersign
from customer_handover_tools.checklist_verify import verify
from customer_handover_tools.checklist_xlsx import ChecklistWriter

LABELS = {"header": ["Key", "Item", "Value"]}


def checklist(signer):
    output = io.BytesIO()
    writer = ChecklistWriter(output, ["Cover", "Checklist", "Signatures"], LABELS)
    writer.write_cover(["Item", "Value"], [["Handover", "HO/2026/0001"], ["Receiving party", "上海某某酒店用品"]])
    writer.start_checklist(["No.", "Customer", "Contact", "Remarks"], [8, 30, 20, 40])
    for row in (["1", "王芳", "138 0000 0001", "=SUM(A1:A9)"], ["2", "Li Lei", "+86 21 5555 0000", "-5"],
                ["3", "@home", "li@example.com", "line one\r\nline two " * 20], ["4", "_x00Af_", "", ""]):
        writer.write_row(row)
    rows = writer.manifest("HO/2026/0001", 2, "Company A", "2026-11-24T08:00:00Z")
    rows += ck.signature_rows({}, 1, "transferring", "Company A", ck.utc_timestamp(), signer[1], signer[0], rows)
    writer.close(rows)
    return output.getvalue()


def event_log(signer):
    entries, previous = [], el.GENESIS
    for sequence in range(1, 8):
        if sequence % 4 == 0:
            payload = el.seal(signer[0], ck.fingerprint(signer[1]), 1, sequence - 1, previous)
            event = el.SEAL_EVENT
        else:
            payload, event = {"records": [sequence], "state": "verified"}, "lines_checked"
        values = [str(sequence), "1", "2026-11-30 08:00:00", "2", event, "customer.handover.line", "",
                  el.payload_text(payload)]
        digest = el.entry_hash(previous, values)
        entries.append([*values, previous, digest])
        previous = digest
    output = io.BytesIO()
    writer = ChecklistWriter(output, ["Cover", "Event log", "Signatures"], LABELS)
    writer.write_cover(["Item", "Value"], [["Company", "Company A"], ["Entries", str(len(entries))]])
    # The payload column is as wide as Odoo makes it: a seal's signature fits its row.
    writer.start_checklist([*el.ENTRY_FIELDS, "previous_hash", "hash"], [10] * 7 + [60] + [10] * 2)
    for entry in entries:
        writer.write_row(entry)
    rows = writer.manifest("Event log", len(entries), "Company A", "2026-11-30T08:00:00Z", ck.EVENT_LOG_FORMAT)
    rows += ck.signature_rows({}, 1, "transferring", "Company A", ck.utc_timestamp(), signer[1], signer[0], rows)
    writer.close(rows)
    return output.getvalue()


command, folder = sys.argv[2], Path(sys.argv[3])
if command == "write":
    key = ck.generate_key("ec")
    signer = (key, ck.make_self_signed(key, "Company A"))
    trusted = {ck.fingerprint(signer[1])}
    receiver = ck.generate_key("rsa")
    signed = checklist(signer)
    countersigned, _checked = countersign(signed, receiver, ck.make_self_signed(receiver, "B"), "B", trusted=trusted)
    (folder / "checklist.xlsx").write_bytes(signed)
    (folder / "countersigned.xlsx").write_bytes(countersigned)
    (folder / "event-log.xlsx").write_bytes(event_log(signer))
    (folder / "fingerprint.txt").write_text(ck.fingerprint(signer[1]))
else:
    trusted = {(folder / "fingerprint.txt").read_text()}
    results = {}
    for path in sorted(folder.glob("*.xlsx")):
        result = verify(path.read_bytes(), trusted=trusted)
        results[path.name] = [result.status, len(result.signers), [finding.message for finding in result.findings]]
    print(json.dumps(results))
'''


def _skip_loudly(reason):
    warnings.warn(f"library version matrix SKIPPED: {reason}", stacklevel=2)
    pytest.skip(f"library version matrix SKIPPED: {reason}")


def _pip(python, *args):
    """Run pip; skip the test when it cannot reach PyPI, fail when it fails otherwise."""
    try:
        done = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args],
                              capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        _skip_loudly(f"pip took over {PIP_TIMEOUT} s: PyPI cannot be reached")
    if done.returncode:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        if any(marker in done.stderr for marker in OFFLINE):
            _skip_loudly(f"pip cannot reach PyPI: {tail}")
        pytest.fail(f"pip {' '.join(args)} failed: {done.stderr}")
    return done.stdout


@functools.cache
def _newest():
    """The newest release of each library, as pip resolves them now (a dry run: nothing is installed)."""
    report = json.loads(_pip(sys.executable, "install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-",
                             *LIBRARIES))
    found = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}
    return {name: found[name] for name in LIBRARIES}


def _python(releases):
    """The python of a virtualenv holding exactly ``releases``, made once and kept in the cache."""
    key = f"py{sys.version_info.major}.{sys.version_info.minor}-" + "-".join(
        f"{name}-{releases[name]}" for name in LIBRARIES)
    folder = CACHE / key
    python = folder / "bin" / "python"
    if python.exists():
        return python
    CACHE.mkdir(parents=True, exist_ok=True)
    building = CACHE / f"{key}.building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, capture_output=True, timeout=300)
    try:
        _pip(building / "bin" / "python", "install", "--quiet", "--no-input",
             *(f"{name}=={releases[name]}" for name in LIBRARIES))
        # Made under another name and renamed whole: a venv cut short never passes for a cached one.
        building.rename(folder)
    except OSError:
        if not python.exists():
            raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return python


@pytest.fixture(scope="module")
def pythons():
    """Each environment's python, made lazily: an environment whose venv cannot be made skips its own tests."""
    made = {}

    def python(name):
        if name not in made:
            made[name] = _python(ENVIRONMENTS[name] or _newest())
        return made[name]

    return python


@pytest.fixture(scope="module")
def written(pythons, tmp_path_factory):
    """The files each environment's writer exported, in a folder per environment."""
    folders = {}

    def folder(name):
        if name not in folders:
            target = tmp_path_factory.mktemp(name)
            subprocess.run([str(pythons(name)), "-c", SCRIPT, str(TOOLS), "write", str(target)], check=True,
                           timeout=300)
            folders[name] = target
        return folders[name]

    return folder


@pytest.mark.parametrize(("writer", "reader"), list(itertools.product(ENVIRONMENTS, repeat=2)))
def test_fresh_exports_verify_with_each_supported_release(pythons, written, writer, reader):
    folder = written(writer)
    done = subprocess.run([str(pythons(reader)), "-c", SCRIPT, str(TOOLS), "verify", str(folder)],
                          capture_output=True, text=True, check=True, timeout=300)
    results = json.loads(done.stdout)
    assert results == {
        "checklist.xlsx": ["valid", 1, []],
        "countersigned.xlsx": ["valid", 2, []],
        "event-log.xlsx": ["valid", 1, []],
    }


def test_the_environments_hold_the_releases_they_are_named_after(pythons):
    script = f"import importlib.metadata as m, json; print(json.dumps({{n: m.version(n) for n in {LIBRARIES!r}}}))"
    for name, releases in ENVIRONMENTS.items():
        found = json.loads(subprocess.run([str(pythons(name)), "-c", script], capture_output=True, text=True,
                                          check=True, timeout=60).stdout)
        assert found == (releases or _newest()), name


def test_setup_declares_the_oldest_release_tested_as_the_lowest_supported():
    setup = (TOOLS.parents[1] / "setup.py").read_text(encoding="utf-8")
    for name, release in ENVIRONMENTS["odoo18-pins"].items():
        assert f'"{name}>={release}' in setup, name
