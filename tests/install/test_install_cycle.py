"""The addon installs without demo data, upgrades twice in a row and uninstalls cleanly, in a real Odoo 18.

Runs Odoo's own command line against a scratch database; needs ODOO_ADDONS_PATH (set by scripts/test).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ADDONS_PATH = os.environ.get("ODOO_ADDONS_PATH")
DB = "customer_handover_test_cycle"
SECURITY_XML = Path(__file__).resolve().parents[2] / "customer_handover" / "security" / "customer_handover_security.xml"

pytestmark = pytest.mark.skipif(not ADDONS_PATH, reason="ODOO_ADDONS_PATH is not set: run through scripts/test")


def _odoo(*args, subcommand="server", stdin=None):
    command = [sys.executable, "-m", "odoo", subcommand, f"--addons-path={ADDONS_PATH}", "-d", DB, "--no-http"]
    result = subprocess.run(
        [*command, "--log-level=warn", *args], input=stdin, capture_output=True, text=True, check=False
    )
    problems = [line for line in result.stderr.splitlines() if " ERROR " in line or " CRITICAL " in line]
    assert result.returncode == 0 and not problems, result.stderr[-4000:]
    return result.stdout


def _sql(query):
    return subprocess.run(["psql", "-At", "-d", DB, "-c", query], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def scratch_db():
    subprocess.run(["dropdb", "--if-exists", DB], check=True, capture_output=True)
    yield
    subprocess.run(["dropdb", "--if-exists", DB], check=True, capture_output=True)


def test_install_upgrade_twice_uninstall(scratch_db):
    _odoo("-i", "customer_handover", "--without-demo=all", "--stop-after-init")
    assert _sql("SELECT state FROM ir_module_module WHERE name = 'customer_handover'").strip() == "installed"
    assert _sql("SELECT count(*) FROM customer_consent_purpose").strip() == "4"
    assert _sql("SELECT count(*) FROM res_partner WHERE customer_type IS NULL").strip() == "0"

    for _ in range(2):
        _odoo("-u", "customer_handover", "--stop-after-init")
    assert _sql("SELECT count(*) FROM customer_consent_purpose").strip() == "4", "an upgrade duplicated data"
    rules = _sql("SELECT count(*) FROM ir_model_data WHERE module = 'customer_handover' AND model = 'ir.rule'")
    assert int(rules) == SECURITY_XML.read_text(encoding="utf-8").count('model="ir.rule"'), "an upgrade lost a rule"

    _odoo(
        subcommand="shell",
        stdin="env['ir.module.module'].search([('name', '=', 'customer_handover')]).button_immediate_uninstall()\n"
        "env.cr.commit()\n",
    )
    assert _sql("SELECT state FROM ir_module_module WHERE name = 'customer_handover'").strip() == "uninstalled"
    assert _sql("SELECT to_regclass('customer_consent')").strip() == ""
    survivors = _sql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'res_partner' "
        "AND column_name IN ('customer_type', 'retention_status', 'legal_hold')"
    )
    assert not survivors.strip(), f"res_partner columns survived the uninstall: {survivors}"
    indexes = _sql(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'res_partner' AND indexname LIKE 'customer_handover%'"
    )
    assert not indexes.strip(), f"indexes on res_partner survived the uninstall: {indexes}"
    assert _sql("SELECT count(*) FROM ir_model_data WHERE module = 'customer_handover'").strip() == "0"
