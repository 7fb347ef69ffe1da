"""The destruction certificate without Odoo: written, signed, read back, verified offline, tampered, re-saved."""

import io
import shutil
import subprocess

import pytest
from customer_handover_tools import checklist as ck
from customer_handover_tools import destruction_certificate as dc
from customer_handover_tools.checklist_countersign import countersign
from customer_handover_tools.checklist_verify import verify
from customer_handover_tools.cli import verify_main
from openpyxl import load_workbook

from .test_checklist import edited, messages

IDENTITY_KEY = b"company identity key, 32 bytes.."
HEADER = {
    "company": "上海某某酒店用品有限公司",
    "request": "DR/2026/0007",
    "run": 1,
    "basis": "Retention expired",
    "requested_by": "Officer One",
    "approved_by": "Officer Two",
    "started": "2026-12-01T02:00:00Z",
    "ended": "2026-12-01T02:03:10Z",
    "customers": 2,
    "counts": {"res.partner": 3, "mail.message": 10, "customer.consent": 4},
}


def people():
    return [
        ("王芳", "Wang.Fang@Example.com ", "+86 138 0013 8000"),
        ("Li Lei", "li@example.com", ""),
    ]


def rows():
    result = []
    for name, email, phone in people():
        masked = dc.masked_identity(IDENTITY_KEY, name, email, phone, calling_code="86")
        result.append({
            "initials": masked.initials, "email_hash": masked.email_hash, "phone_hash": masked.phone_hash,
            "categories": ["Contact", "Consents", "Chatter"], "basis": "Retention expired",
            "counts": {"res.partner": 1 if name == "Li Lei" else 2, "mail.message": 5},
            "destroyed_on": "2026-12-01T02:01:00Z",
        })
    return result


@pytest.fixture(scope="module")
def company():
    key = ck.generate_key("ec")
    return key, ck.make_self_signed(key, "Company A")


@pytest.fixture(scope="module")
def certificate(company):
    output = io.BytesIO()
    # A generator: the writer reads the rows once, as Odoo streams them from the run.
    sheet_rows = dc.write_certificate(output, HEADER, iter(rows()), company[1], company[0])
    return output.getvalue(), sheet_rows


def test_the_certificate_verifies_offline_and_reads_back_what_was_written(company, certificate):
    data, sheet_rows = certificate
    result = verify(data, trusted={ck.fingerprint(company[1])})
    assert result.status == "valid", messages(result)
    assert result.manifest["format"] == "customer-handover-destruction-certificate"
    assert (result.manifest["handover"], result.manifest["export"]) == ("DR/2026/0007", "1")
    assert result.signature_rows == sheet_rows
    read = dc.read_certificate(io.BytesIO(data))
    assert read.cover["version"] == "1" and read.cover["request"] == "DR/2026/0007"
    assert (read.cover["requested_by"], read.cover["approved_by"]) == ("Officer One", "Officer Two")
    assert read.cover["counts"] == HEADER["counts"] and read.cover["customers"] == "2"
    assert [row["number"] for row in read.rows] == ["1", "2"]
    assert read.rows[0]["categories"] == ["Contact", "Consents", "Chatter"]
    assert read.rows[0]["counts"] == {"mail.message": 5, "res.partner": 2}
    assert [row["initials"] for row in read.rows] == ["王.", "L.L."]


def test_the_certificate_names_no_one_and_the_key_holder_can_still_answer(certificate):
    data, _rows = certificate
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    text = "\n".join(str(value) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True)
                     for value in row if value)
    workbook.close()
    for name, email, _phone in people():
        assert name not in text and email.strip().lower() not in text and "13800138000" not in text
    first = dc.read_certificate(io.BytesIO(data)).rows[0]
    masked = dc.MaskedIdentity(first["initials"], first["email_hash"], first["phone_hash"])
    # Another spelling of the same email or phone is the same person; another key or person is not.
    assert dc.identity_matches(IDENTITY_KEY, masked, email="wang.fang@example.com")
    assert dc.identity_matches(IDENTITY_KEY, masked, phone="138 0013 8000", calling_code="86")
    assert not dc.identity_matches(IDENTITY_KEY, masked, email="li@example.com")
    assert not dc.identity_matches(b"another company's key", masked, email="wang.fang@example.com")
    assert dc.masked_identity(IDENTITY_KEY, "Li Lei", "li@example.com").phone_hash == ""


def test_a_changed_cell_is_named(company, certificate):
    data, _rows = certificate

    def change(workbook):
        workbook.worksheets[1]["G3"] = "res.partner: 0"

    result = verify(edited(data, change), trusted={ck.fingerprint(company[1])})
    assert result.status == "invalid"
    assert "Destroyed customers, row 3, cell G3: the value changed." in messages(result), messages(result)


def test_a_changed_cover_is_named_and_breaks_the_signature(company, certificate):
    data, _rows = certificate

    def change(workbook):
        workbook.worksheets[0]["B7"] = "Officer One"  # approved by the one who requested

    result = verify(edited(data, change), trusted={ck.fingerprint(company[1])})
    assert result.status == "invalid"
    assert "Cover, row 7, cell B7: the value changed." in messages(result), messages(result)


def test_signed_by_another_key_is_not_trusted(certificate):
    data, _rows = certificate
    other = ck.make_self_signed(ck.generate_key("ec"), "Company A")
    result = verify(data, trusted={ck.fingerprint(other)})
    assert result.status == "unknown_key" and result.findings[0].code == "untrusted"


def test_the_command_says_what_the_certificate_is(company, certificate, tmp_path, capsys):
    data, _rows = certificate
    (tmp_path / "certificate.xlsx").write_bytes(data)
    fingerprint = ck.fingerprint(company[1])
    assert verify_main([str(tmp_path / "certificate.xlsx"), "--fingerprint", fingerprint]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID")
    assert "Destruction certificate of 上海某某酒店用品有限公司, request DR/2026/0007, run 1" in out


def test_a_certificate_is_not_countersigned(company, certificate):
    data, _rows = certificate
    receiver = ck.generate_key("ec")
    with pytest.raises(ck.ChecklistError, match="no receiving party"):
        countersign(data, receiver, ck.make_self_signed(receiver, "B"), "B")


def test_a_certificate_without_its_request_or_run_is_refused(company):
    with pytest.raises(ck.ChecklistError, match="request, run"):
        dc.write_certificate(io.BytesIO(), {**HEADER, "request": "", "run": 0}, [], company[1], company[0])


def test_a_masked_identity_needs_the_key():
    with pytest.raises(ck.ChecklistError, match="identity key"):
        dc.masked_identity(b"", "Li Lei", "li@example.com")
    assert dc.initials("  jean-luc  picard ") == "J.L.P."
    assert dc.initials("") == ""


def test_an_unknown_layout_version_is_refused_by_the_reader(company):
    output = io.BytesIO()
    dc.write_certificate(output, HEADER, rows(), company[1], company[0])

    def change(workbook):
        workbook.worksheets[0]["B2"] = "2"

    with pytest.raises(ck.ChecklistError, match="layout version '2'"):
        dc.read_certificate(io.BytesIO(edited(output.getvalue(), change)))


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_a_certificate_resaved_by_libreoffice_is_resaved_not_forged(company, certificate, tmp_path):
    data, _rows = certificate
    source = tmp_path / "certificate.xlsx"
    source.write_bytes(data)
    profile = f"-env:UserInstallation=file://{tmp_path}/profile"
    subprocess.run(["soffice", profile, "--headless", "--convert-to", "xlsx", "--outdir", str(tmp_path / "out"),
                    str(source)], check=True, capture_output=True, timeout=120)
    resaved = (tmp_path / "out" / "certificate.xlsx").read_bytes()
    result = verify(resaved, trusted={ck.fingerprint(company[1])})
    assert result.status == "resaved" and result.exit_code == 1, messages(result)
    assert [signer.valid for signer in result.signers] == [True] and result.trusted
    # What LibreOffice kept is still what was signed: the content reads back the same.
    assert dc.read_certificate(io.BytesIO(resaved)).rows == dc.read_certificate(io.BytesIO(data)).rows
