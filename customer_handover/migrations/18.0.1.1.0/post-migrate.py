"""Checklist lines of 18.0.1.0: officer-only reasons leave what non-officers read."""

from odoo import SUPERUSER_ID, api
from odoo.addons.customer_handover.models.customer_handover_evidence_mixin import evidence_step
from odoo.tools import SQL

OFFICER_ONLY = ("legal_hold", "sensitive")
# What 18.0.1.0 wrote, in English and Chinese, and what non-officers read instead.
REVEALING = {
    "Under legal hold": "Held back by the data-protection officer",
    "Sensitive data without separate consent for this transfer": "Held back by the data-protection officer",
    "On legal hold": "Held back by the data-protection officer",
    "法律保全中": "由数据保护官暂缓",
    "敏感个人信息未就本次移交取得单独同意": "由数据保护官暂缓",
}


def migrate(cr, version):
    # A legal hold no longer shows in the retention status, which every user reads.
    cr.execute(SQL("SELECT id FROM res_partner WHERE retention_status = 'on_hold'"))
    held = [row[0] for row in cr.fetchall()]
    if held:
        partners = api.Environment(cr, SUPERUSER_ID, {})["res.partner"].browse(held)
        with evidence_step(partners._name, "retention_status"):
            partners._compute_retention_status()
        partners.flush_recordset(["retention_status"])
    cr.execute(SQL(
        "SELECT DISTINCT ineligibility_reasons FROM customer_handover_line "
        "WHERE ineligibility_reasons IS NOT NULL AND public_reasons IS NULL"
    ))
    for (codes,) in cr.fetchall():
        shown = ["held_back" if code in OFFICER_ONLY else code for code in codes.split(",") if code]
        cr.execute(SQL(
            "UPDATE customer_handover_line SET public_reasons = %s WHERE ineligibility_reasons = %s",
            ",".join(dict.fromkeys(shown)), codes,
        ))
    for old, new in REVEALING.items():
        for column in ("exclusion_reason", "snapshot_retention"):
            cr.execute(SQL(
                "UPDATE customer_handover_line SET %s = replace(%s, %s, %s) WHERE strpos(%s, %s) > 0",
                SQL.identifier(column), SQL.identifier(column), old, new, SQL.identifier(column), old,
            ))
