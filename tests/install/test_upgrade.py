"""A handover signed under the previous release still verifies and still matches its export after the upgrade.

Installs the addon as released (git archive of ``PREVIOUS``) in a scratch database, signs and exports a
handover there with Odoo's shell, upgrades to the working tree's addon, and checks the export again.
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


@pytest.fixture
def previous_release(tmp_path):
    """An addons path with the previous release of the addon in place of this repository's, and a scratch db."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", PREVIOUS, "customer_handover"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive, check=True)
    paths = [path for path in ADDONS_PATH.split(",") if Path(path).resolve() != ROOT]
    subprocess.run(["dropdb", "--if-exists", DB], check=True, capture_output=True)
    yield ",".join([*paths, str(tmp_path)])
    subprocess.run(["dropdb", "--if-exists", DB], check=True, capture_output=True)


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
