"""What a previous release recorded is still what it was after the upgrade.

Installs the addon as released (git archive of ``PREVIOUS``) in a scratch database, signs and exports a
handover there with Odoo's shell, upgrades to the working tree's addon, and checks the export again. Likewise
a destruction run under 18.0.1.2.1 (``CERTIFICATE_FIELD``), whose certificate lived in a binary field: after the
upgrade it is the same file, served by its request's download only, and still verifies.
Needs ODOO_ADDONS_PATH (Odoo's addons and this repository's root, as scripts/test sets it) and git.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ADDONS_PATH = os.environ.get("ODOO_ADDONS_PATH")
ROOT = Path(__file__).resolve().parents[2]
DB = os.environ.get("CUSTOMER_HANDOVER_TEST_DB_PREFIX", "customer_handover_test") + "_upgrade"
# The last commit of 18.0.1.1.0, the release before 18.0.1.2.0.
PREVIOUS = "34d5de32e1c906f453fc7127d02336b09e6d2180"
# The last commit of 18.0.1.2.1, whose destruction certificate was the binary field certificate_file.
CERTIFICATE_FIELD = "1b36f10f24e4dce3d5f4969135040957e1dd2f9f"

pytestmark = pytest.mark.skipif(not ADDONS_PATH, reason="ODOO_ADDONS_PATH is not set: run through scripts/test")

SIGN_AND_EXPORT = """
import base64
env = env(user=env.ref("base.user_admin").id)
company = env.company
company.partner_id.email = company.partner_id.email or "a@example.com"
company.action_handover_create_signing_key()
signature = base64.b64encode(base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="))
purpose = env.ref("customer_handover.consent_purpose_customer_service")
domain = env["customer.business.domain"].create({"name": "Upgrade test"})
partners = env["res.partner"].create([
    {"name": "Wang Fang", "email": "wang@example.cn", "business_domain_ids": [(6, 0, domain.ids)]},
    {"name": "Li Lei", "business_domain_ids": [(6, 0, domain.ids)]},
    {"name": "Chen Jie", "business_domain_ids": [(6, 0, domain.ids)], "legal_hold": True,
     "legal_hold_reason": "Court order"},
])
env["customer.consent"].create([{"partner_id": partner.id, "purpose_id": purpose.id, "date_given": "2026-01-01"}
                                for partner in partners[0] | partners[2]])
receiver = env["res.partner"].create({"name": "Receiver Ltd", "is_company": True, "email": "r@example.com"})
handover = env["customer.handover"].create({"receiver_id": receiver.id, "purpose_ids": [(6, 0, purpose.ids)]})
env["customer.handover.scope"].create(
    {"handover_id": handover.id, "business_domain_ids": [(6, 0, domain.ids)]}).action_confirm()
env["customer.handover.line"].create({"handover_id": handover.id, "name": "Purchase history", "line_type": "item"})
handover.write({"nda_reference": "NDA-1", "nda_date": "2026-11-01", "nda_document": signature,
                "nda_filename": "nda.pdf"})
handover.action_confirm()
handover.action_start()
handover.line_ids.filtered(lambda line: line.eligibility == "eligible" and not line.excluded).action_verify()
handover.action_mark_verified()
handover._sign("transfer", "Wang Manager", signature)
handover._sign("receiver", "Li Representative", signature)
export = env["customer.handover.export"]._create_for(handover)
env.cr.commit()
print("EXPORT", export.id)
"""

CHECK = """
import base64, io, json
from openpyxl import load_workbook
from odoo.addons.customer_handover.tools.checklist_verify import verify
env = env(user=env.ref("base.user_admin").id)
export = env["customer.handover.export"].browse(%(export)d)
data = base64.b64decode(export.attachment_id.sudo().with_context(bin_size=False).datas)
result = verify(data, trusted={export.fingerprint})
sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[1]
signed = [[cell if cell is not None else "" for cell in row] for row in sheet.iter_rows(min_row=2, values_only=True)]
checker, problem = env["customer.handover.event"]._check_chain(export.company_id)
log = env["customer.handover.event"].sudo().search([("company_id", "=", export.company_id.id)], order="id")
# The rows as the handover would export them now: the writer's home moved to the export model after 34d5de3.
rows = (export._checklist_export_rows(export.handover_id) if hasattr(export, "_checklist_export_rows")
        else export.handover_id._checklist_rows())
print("RESULT", json.dumps({
    "status": result.status,
    "same_signature": bool(result.signers) and result.signers[0].signature == export.signature,
    "signed": [row[:len(row) - 1] for row in signed],
    "now": list(rows),
    "chain": problem and problem.code,
    "entries": checker.count,
    "hashes": {str(entry.id): entry.hash for entry in log},
    "versions": sorted(set(log.mapped("hash_version"))) if "hash_version" in log._fields else [],
    "version": env["ir.module.module"].search([("name", "=", "customer_handover")]).latest_version,
}))
"""


def _odoo(addons_path, *args, subcommand="server", stdin=None):
    command = [sys.executable, "-m", "odoo", subcommand, f"--addons-path={addons_path}", "-d", DB, "--no-http"]
    result = subprocess.run(
        [*command, "--log-level=warn", *args], input=stdin, capture_output=True, text=True, check=False
    )
    problems = [line for line in result.stderr.splitlines() if " ERROR " in line or " CRITICAL " in line]
    assert result.returncode == 0 and not problems, result.stderr[-4000:]
    return result.stdout


# The checklist sheet's verification status and "Excluded" columns (after the row number).
STATUS, EXCLUDED = 11, 14


def _facts(rows):
    """The rows as facts: since 18.0.1.2.1 an excluded line's status reads "Excluded", where it read "Pending".

    The words differ, the facts (the line's state, and that it is excluded) do not.
    """
    return [[("Excluded" if index == STATUS and cell == "Pending" and row[EXCLUDED] == "Yes" else cell)
             for index, cell in enumerate(row)] for row in rows]


def _printed(output, tag):
    return next(line.split(" ", 1)[1] for line in output.splitlines() if line.startswith(tag + " "))


def _release(commit, tmp_path):
    """An addons path with the addon of ``commit`` in place of this repository's, and a scratch db."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "customer_handover"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive, check=True)
    paths = [path for path in ADDONS_PATH.split(",") if Path(path).resolve() != ROOT]
    subprocess.run(["dropdb", "--if-exists", DB], check=True, capture_output=True)
    yield ",".join([*paths, str(tmp_path)])
    subprocess.run(["dropdb", "--if-exists", DB], check=True, capture_output=True)


@pytest.fixture
def previous_release(tmp_path):
    yield from _release(PREVIOUS, tmp_path)


@pytest.fixture
def certificate_field_release(tmp_path):
    yield from _release(CERTIFICATE_FIELD, tmp_path)


def test_a_handover_signed_before_the_upgrade_still_verifies_and_matches(previous_release):
    _odoo(previous_release, "-i", "customer_handover", "--without-demo=all", "--stop-after-init")
    export = int(_printed(_odoo(previous_release, subcommand="shell", stdin=SIGN_AND_EXPORT), "EXPORT"))
    before = json.loads(_printed(_odoo(previous_release, subcommand="shell", stdin=CHECK % {"export": export}),
                                 "RESULT"))
    assert (before["status"], before["same_signature"], before["chain"]) == ("valid", True, None)
    assert before["signed"] == before["now"]

    _odoo(ADDONS_PATH, "-u", "customer_handover", "--stop-after-init")
    after = json.loads(_printed(_odoo(ADDONS_PATH, subcommand="shell", stdin=CHECK % {"export": export}), "RESULT"))
    assert after["version"] != before["version"], "the upgrade did not run"
    assert (after["status"], after["same_signature"], after["chain"]) == ("valid", True, None)
    assert _facts(after["signed"]) == _facts(after["now"]), "a line no longer matches its signed export"
    assert _facts(after["now"]) == _facts(before["now"])
    # The chain logged before hash versions: every entry version 1, its hash unchanged, and still checked whole.
    assert after["versions"] == [1]
    assert {key: after["hashes"][key] for key in before["hashes"]} == before["hashes"]
    assert after["entries"] >= before["entries"]


DESTROY = """
import hashlib, json
from odoo.addons.customer_handover.models.handover_access import OFFICER
company = env.company
company.partner_id.email = company.partner_id.email or "a@example.com"
officers = env["res.users"].create([{
    "name": f"Officer {number}", "login": f"ch_officer_{number}", "company_id": company.id,
    "company_ids": [(6, 0, company.ids)], "groups_id": [(6, 0, [env.ref("base.group_user").id, env.ref(OFFICER).id])],
} for number in (1, 2)])
company.with_user(officers[0]).action_handover_create_signing_key()
partner = env["res.partner"].create({"name": "Zhang Wei", "email": "zhang.wei@example.cn", "phone": "138 0013 8000"})
request = env["customer.destruction.request"].with_user(officers[0]).create(
    {"partner_ids": [(6, 0, partner.ids)], "basis": "retention_expired"})
request.action_request()
request.with_user(officers[1]).action_approve()
Job = env["customer.handover.job"]
for _call in range(50):
    if not Job.search_count([("state", "in", ("queued", "running"))]):
        break
    Job._cron_run()
env.cr.commit()
request.invalidate_recordset()
attachment = env["ir.attachment"].search([
    ("res_model", "=", request._name), ("res_field", "=", "certificate_file"), ("res_id", "=", request.id)])
log = env["customer.handover.event"].search([("company_id", "=", company.id)], order="id")
print("DONE", json.dumps({
    "request": request.id, "state": request.state, "officer": officers[0].id, "company": company.id,
    "attachments": attachment.ids, "evidence": attachment.handover_evidence, "checksum": attachment.checksum,
    "store_fname": attachment.store_fname, "mimetype": attachment.mimetype,
    "content_sha256": hashlib.sha256(attachment.raw).hexdigest(),
    "filename": request.certificate_filename, "certificate_sha256": request.certificate_sha256,
    "fingerprint": request.certificate_fingerprint,
    "hashes": {str(entry.id): entry.hash for entry in log},
}))
"""

CERTIFICATE_CHECK = """
import hashlib, json
from odoo.addons.customer_handover.tools.checklist_verify import verify
from odoo import SUPERUSER_ID
from odoo.exceptions import AccessError
request = env["customer.destruction.request"].browse(%(request)d)
officer = env["res.users"].browse(%(officer)d)
attachment = request.certificate_attachment_id
Event = env["customer.handover.event"]
checker, problem = Event.with_user(officer)._check_chain(request.company_id)
log = Event.search([("company_id", "=", request.company_id.id)], order="id")
found = {}
# Every user, inactive, portal and public ones included; not the system (__system__), which the steps read as.
for user in env["res.users"].with_context(active_test=False).search([("id", "!=", SUPERUSER_ID)]):
    try:
        ids = env["ir.attachment"].with_user(user).with_context(skip_res_field_check=True).search([
            "|", ("id", "=", attachment.id), "&", ("res_model", "=", request._name), ("res_id", "=", request.id),
        ]).ids
    except AccessError:
        ids = []
    if ids:
        found[user.login] = ids
last = Event.search([], order="id desc", limit=1).id
served = request.with_user(officer)._certificate_attachment()
data = served.raw
result = verify(data, trusted={request.certificate_fingerprint})
env.cr.execute("SELECT 1 FROM information_schema.columns WHERE table_name = 'customer_destruction_request' "
               "AND column_name = 'certificate_filename'")
print("RESULT", json.dumps({
    "version": env["ir.module.module"].search([("name", "=", "customer_handover")]).latest_version,
    "attachment": attachment.id, "served": served.id, "name": attachment.name, "res_field": attachment.res_field,
    "evidence": attachment.handover_evidence, "company": attachment.company_id.id, "checksum": attachment.checksum,
    "store_fname": attachment.store_fname, "mimetype": attachment.mimetype,
    "content_sha256": hashlib.sha256(data).hexdigest(), "certificate_sha256": request.certificate_sha256,
    "status": result.status, "findings": [finding.message for finding in result.findings], "found": found,
    "downloads": [(entry.event, entry.user_id.id, entry.res_model, entry.res_id, json.loads(entry.payload))
                  for entry in Event.search([("id", ">", last)], order="id")],
    "left_in_the_field": env["ir.attachment"].search_count([("res_field", "=", "certificate_file")]),
    "filename_column": bool(env.cr.fetchall()),
    "chain": problem and problem.code, "hashes": {str(entry.id): entry.hash for entry in log},
}))
"""


def test_a_destruction_certificate_of_18_0_1_2_1_is_the_same_file_served_by_its_request(certificate_field_release):
    _odoo(certificate_field_release, "-i", "customer_handover", "--without-demo=all", "--stop-after-init")
    before = json.loads(_printed(_odoo(certificate_field_release, subcommand="shell", stdin=DESTROY), "DONE"))
    assert before["state"] == "done"
    assert len(before["attachments"]) == 1 and before["evidence"] == "kept", "18.0.1.2.1 kept it in its field"
    assert before["content_sha256"] == before["certificate_sha256"]
    assert before["filename"].endswith("-certificate.xlsx")

    _odoo(ADDONS_PATH, "-u", "customer_handover", "--stop-after-init")
    after = json.loads(_printed(_odoo(ADDONS_PATH, subcommand="shell", stdin=CERTIFICATE_CHECK % before),
                                "RESULT"))
    assert after["version"] == "18.0.1.2.2"
    # The same file, byte for byte, now the request's certificate.
    assert after["attachment"] == after["served"] == before["attachments"][0]
    assert (after["checksum"], after["store_fname"], after["content_sha256"], after["certificate_sha256"]) == (
        before["checksum"], before["store_fname"], before["content_sha256"], before["certificate_sha256"])
    assert after["mimetype"] == before["mimetype"]
    # As the run keeps a certificate now: named as the request named it, the request's, served by its step only.
    assert (after["name"], after["res_field"], after["evidence"], after["company"]) == (
        before["filename"], False, "served", before["company"])
    assert not after["filename_column"], "Odoo dropped certificate_filename after the migration read it"
    assert after["left_in_the_field"] == 0
    assert after["found"] == {}, "a user's search found the certificate"
    assert after["downloads"] == [["destruction_certificate_downloaded", before["officer"],
                                   "customer.destruction.request", before["request"],
                                   {"attachment": before["attachments"][0]}]]
    assert after["status"] == "valid", after["findings"]
    # No entry of the event log changed: the migration logs nothing and rewrites nothing.
    assert after["chain"] is None
    assert {key: after["hashes"][key] for key in before["hashes"]} == before["hashes"]
