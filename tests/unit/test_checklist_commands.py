"""The receiving party's console commands, run as a user runs them, without Odoo."""

import io
import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from customer_handover_tools import checklist as ck
from customer_handover_tools import transfer_package as tp
from customer_handover_tools.cli import countersign_main, keygen_main, verify_main

from .test_checklist import build, edited

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("signed")
    key = ck.generate_key("ec")
    certificate = ck.make_self_signed(key, "Company A")
    (folder / "company.pem").write_text(ck.certificate_pem(certificate))
    (folder / "checklist.xlsx").write_bytes(build((key, certificate)))
    return folder, ck.fingerprint(certificate)


def test_verify_without_a_pinned_key_exits_1_and_says_the_signer_is_unknown(signed, capsys):
    folder, fingerprint = signed
    assert verify_main([str(folder / "checklist.xlsx")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("SIGNED BY AN UNKNOWN KEY (not trusted)") and "The signer is NOT verified" in out
    assert fingerprint in out
    assert verify_main([str(folder / "checklist.xlsx"), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert (result["status"], result["valid"], result["trusted"]) == ("unknown_key", False, False)


def test_verify_with_the_right_cert_or_fingerprint_exits_0(signed, capsys):
    folder, fingerprint = signed
    assert verify_main([str(folder / "checklist.xlsx"), "--cert", str(folder / "company.pem")]) == 0
    assert verify_main([str(folder / "checklist.xlsx"), "--fingerprint", fingerprint.replace(":", "").lower()]) == 0
    assert "NOT verified" not in capsys.readouterr().out


def test_verify_with_a_wrong_cert_exits_1(signed, tmp_path, capsys):
    folder, _fingerprint = signed
    other = ck.make_self_signed(ck.generate_key("ec"), "Somebody else")
    (tmp_path / "other.pem").write_text(ck.certificate_pem(other))
    assert verify_main([str(folder / "checklist.xlsx"), "--cert", str(tmp_path / "other.pem"), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "unknown_key" and not result["valid"]
    assert result["findings"][0]["code"] == "untrusted"


def test_unreadable_inputs_exit_2_with_a_message(signed, tmp_path, capsys):
    folder, _fingerprint = signed
    (tmp_path / "notes.txt").write_text("not a certificate")
    assert verify_main([str(folder / "checklist.xlsx"), "--cert", str(tmp_path / "notes.txt")]) == 2
    assert "not a PEM or DER certificate" in capsys.readouterr().err
    assert verify_main([str(folder / "checklist.xlsx"), "--cert", str(tmp_path / "missing.pem")]) == 2
    assert verify_main([str(folder / "checklist.xlsx"), "--fingerprint", "12:34"]) == 2
    assert verify_main([str(tmp_path / "missing.xlsx")]) == 2
    assert "cannot read the checklist" in capsys.readouterr().err
    assert verify_main([str(tmp_path), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["status"] == "error"
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04broken")
    assert verify_main([str(tmp_path / "broken.xlsx"), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["status"] == "unreadable"


def test_tampered_file_exits_1_and_prints_what_changed(signed, tmp_path, capsys):
    folder, _fingerprint = signed
    change = lambda wb: wb["Checklist"].__setitem__("B3", "Han Meimei")  # noqa: E731
    tampered = edited((folder / "checklist.xlsx").read_bytes(), change)
    (tmp_path / "tampered.xlsx").write_bytes(tampered)
    assert verify_main([str(tmp_path / "tampered.xlsx")]) == 1
    assert "Checklist, row 3, cell B3: the value changed." in capsys.readouterr().out


def test_keygen_then_countersign_then_verify(signed, tmp_path, capsys):
    folder, fingerprint = signed
    key, cert = tmp_path / "receiver.key", tmp_path / "receiver.pem"
    assert keygen_main(["--name", "Receiver B", "--key-out", str(key), "--cert-out", str(cert)]) == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert keygen_main(["--name", "Receiver B", "--key-out", str(key), "--cert-out", str(cert)]) == 2
    output = tmp_path / "countersigned.xlsx"
    arguments = [str(folder / "checklist.xlsx"), "--key", str(key), "--cert", str(cert), "--name", "Receiver B"]
    assert countersign_main([*arguments, "--sender-fingerprint", fingerprint, "-o", str(output)]) == 0
    assert countersign_main([*arguments, "-o", str(output)]) == 2, "an existing output is never overwritten"
    capsys.readouterr()
    assert verify_main([str(output), "--fingerprint", fingerprint, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [signer["role"] for signer in result["signers"]] == ["transferring", "receiving"]


def test_countersign_refuses_a_wrong_sender(signed, tmp_path, capsys):
    folder, _fingerprint = signed
    key = ck.generate_key("ec")
    (tmp_path / "r.key").write_bytes(ck.private_key_pem(key))
    (tmp_path / "r.pem").write_text(ck.certificate_pem(ck.make_self_signed(key, "Receiver B")))
    arguments = [str(folder / "checklist.xlsx"), "--key", str(tmp_path / "r.key"), "--cert", str(tmp_path / "r.pem")]
    assert countersign_main([*arguments, "--name", "B", "--sender-fingerprint", "AB" * 32]) == 2
    assert "only a checklist that verifies" in capsys.readouterr().err
    assert not (folder / "checklist-countersigned.xlsx").exists()


def test_the_commands_install_and_run_in_a_fresh_virtualenv_without_odoo(signed, tmp_path):
    """pip install of the package gives working commands where Odoo is not installed."""
    folder, fingerprint = signed
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, str(ROOT)], check=True, env={**os.environ, "PIP_CONSTRAINT": ""})
    probe = subprocess.run([str(python), "-c", "import odoo.release"], capture_output=True, check=False)
    assert probe.returncode != 0, "the fresh virtualenv must not see an Odoo"
    command = environment / "bin" / "customer-handover-verify"
    run = subprocess.run([str(command), str(folder / "checklist.xlsx"), "--fingerprint", fingerprint],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("VALID")
    broken = subprocess.run([str(command), sys.executable], capture_output=True, text=True, check=False)
    assert broken.returncode == 2
    # The receiver opens a transfer package with no xlsxwriter and no Odoo: the writer's libraries stay out.
    text, recipient = tp.new_identity()
    (tmp_path / "identity.txt").write_text(text)
    key = ck.generate_key("ec")
    certificate = ck.make_self_signed(key, "Company A")
    with tp.PackageWriter(str(tmp_path / "p-package-1.age"), "HO/1", "Company A", 1, 1, "0" * 64,
                          recipient=recipient) as writer:
        writer.add_item({"line": 1, "name": "Paper files", "kind": "paper", "status": "verified", "remarks": ""})
        writer.close(key, certificate)
    run = subprocess.run([str(environment / "bin" / "customer-handover-open"), str(tmp_path / "p-package-1.age"),
                          "--identity", str(tmp_path / "identity.txt"), "--fingerprint", ck.fingerprint(certificate)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0 and run.stdout.startswith("VALID"), run.stdout + run.stderr
    assert (tmp_path / "p-package-1" / "data.json").is_file()


ROUND_TRIP = """
import io, sys
from customer_handover_tools import checklist as ck
from customer_handover_tools.checklist_countersign import countersign
from customer_handover_tools.checklist_verify import verify
from customer_handover_tools.checklist_xlsx import ChecklistWriter
for kind in ("ec", "rsa"):
    key = ck.generate_key(kind)
    certificate = ck.make_self_signed(key, "Company A")
    output = io.BytesIO()
    writer = ChecklistWriter(output, ["Cover", "Checklist", "Signatures"], {"header": ["Key", "Item", "Value"]})
    writer.write_cover(["Item", "Value"], [["Handover", "HO/1"]])
    writer.start_checklist(["No.", "Customer"], [8, 20])
    writer.write_row(["1", "=王芳"])
    rows = writer.manifest("HO/1", 1, "Company A", ck.utc_timestamp())
    rows += ck.signature_rows({}, 1, "transferring", "Company A", ck.utc_timestamp(), certificate, key, rows)
    writer.close(rows)
    signed, _ = countersign(output.getvalue(), key, certificate, "B", trusted={ck.fingerprint(certificate)})
    result = verify(signed, trusted={ck.fingerprint(certificate)})
    assert result.status == "valid" and len(result.signers) == 2, result
    from customer_handover_tools import transfer_package as tp
    text, recipient = tp.new_identity()
    package = io.BytesIO()
    with tp.PackageWriter(package, "HO/1", "Company A", 1, 1, "0" * 64, recipient=recipient) as writer:
        writer.add_item({"line": 1, "name": "Paper files", "kind": "paper", "status": "verified", "remarks": "=1"})
        writer.close(key, certificate)
    import pathlib, tempfile
    folder = pathlib.Path(tempfile.mkdtemp())
    (folder / "p.age").write_bytes(package.getvalue())
    opened = tp.open_package(folder / "p.age", identity=text, fingerprint=ck.fingerprint(certificate))
    assert opened.status == "valid", opened
print("ok")
"""


def test_export_sign_and_verify_with_the_current_library_releases(tmp_path):
    """The helpers work with today's cryptography, openpyxl and xlsxwriter as well as Odoo 18's pins."""
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = str(environment / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade",
                    str(ROOT), "xlsxwriter"], check=True, env={**os.environ, "PIP_CONSTRAINT": ""})
    versions = subprocess.run([python, "-c", "import cryptography, openpyxl, xlsxwriter; "
                               "print(cryptography.__version__, openpyxl.__version__, xlsxwriter.__version__)"],
                              capture_output=True, text=True, check=True).stdout.split()
    assert int(versions[0].split(".")[0]) > 3, f"expected a current cryptography, got {versions}"
    run = subprocess.run([python, "-c", ROUND_TRIP], capture_output=True, text=True, check=False)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr


MIXED_HEADER = ["序号", "客户 · Customer", "类别", "备注 Remarks"]
MIXED_ROWS = [
    ["1", "王芳 · 客户档案", "个人 · 现有客户 · Real estate", "已核对 checked on 2026-11-24"],
    ["2", "Li Lei · 李雷", "企业 · Trading company", "合同 No. HT-2026-0042"],
]


@pytest.mark.skipif(shutil.which("soffice") is None, reason="!!! LibreOffice (soffice) is not installed: "
                    "the round trip of a Chinese checklist is NOT tested (scripts/test installs it under CI)")
def test_a_chinese_checklist_resaved_by_libreoffice_is_resaved_and_a_real_change_names_its_cell(tmp_path, capsys):
    """LibreOffice stores cells mixing Chinese and Latin text as runs, one font per script: the joined
    text is what was signed, so the file is re-saved (ask for the original), never changed after signing."""
    key = ck.generate_key("ec")
    certificate = ck.make_self_signed(key, "Company A")
    source = tmp_path / "checklist.xlsx"
    source.write_bytes(build((key, certificate), rows=MIXED_ROWS, header=MIXED_HEADER))
    profile = f"-env:UserInstallation=file://{tmp_path}/profile"
    subprocess.run(["soffice", profile, "--headless", "--convert-to", "xlsx", "--outdir", str(tmp_path / "out"),
                    str(source)], check=True, capture_output=True, timeout=120)
    resaved = tmp_path / "out" / "checklist.xlsx"
    with zipfile.ZipFile(resaved) as archive:
        assert b"<rPr>" in archive.read("xl/sharedStrings.xml"), "LibreOffice no longer writes runs: test moot"
    fingerprint = ck.fingerprint(certificate)
    assert verify_main([str(resaved), "--fingerprint", fingerprint, "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "resaved", result["findings"]
    assert "changed" not in " ".join(finding["message"] for finding in result["findings"])

    changed = tmp_path / "changed.xlsx"
    changed.write_bytes(_replaced_in_strings(resaved.read_bytes(), "Real estate", "Real estatf"))
    assert verify_main([str(changed), "--fingerprint", fingerprint, "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "invalid"
    assert "Checklist, row 2, cell C2: the value changed." in [finding["message"] for finding in result["findings"]]


def _replaced_in_strings(data, old, new):
    """The workbook ``data`` with ``old`` replaced by ``new`` in its shared strings, every other part as it was."""
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "xl/sharedStrings.xml":
                assert old.encode() in content
                content = content.replace(old.encode(), new.encode())
            target.writestr(info, content)
    return output.getvalue()
