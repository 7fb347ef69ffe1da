"""Checklist lines of 18.0.1.0: officer-only reasons leave what non-officers read.

The texts a line recorded (its snapshots, its exclusion reason) are facts, as signed: they stay as they are; the
line shows them coarsened to non-officers (customer.handover.line's ``retention_shown``, ``exclusion_reason_shown``).
"""

from odoo import SUPERUSER_ID, api
from odoo.addons.customer_handover.models.customer_handover_evidence_mixin import evidence_step
from odoo.tools import SQL

OFFICER_ONLY = ("legal_hold", "sensitive")


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
