from odoo import api, fields, models
from odoo.exceptions import AccessError

from ..tools import checklist as ck
from .customer_handover_evidence_mixin import CREATE, evidence_step
from .handover_access import OFFICER, has_group_in_company


class CustomerHandoverPinnedSenderKey(models.Model):
    _name = "customer.handover.trusted.signer"
    _description = "Pinned Sender Key"
    _order = "company_id, pinned_on desc, id desc"
    _inherit = ["customer.handover.evidence.mixin"]
    _evidence_create = True
    _evidence_fields = ("company_id", "name", "fingerprint", "pinned_by_id", "pinned_on")

    company_id = fields.Many2one("res.company", string="Receiving Company", required=True, readonly=True,
                                 index=True, ondelete="restrict")
    name = fields.Char(string="Sender", required=True, readonly=True)
    fingerprint = fields.Char(string="Key Fingerprint (SHA-256)", required=True, readonly=True)
    pinned_by_id = fields.Many2one("res.users", required=True, readonly=True, ondelete="restrict")
    pinned_on = fields.Datetime(required=True, readonly=True)

    _sql_constraints = [
        ("fingerprint_unique", "UNIQUE (company_id, fingerprint)", "A sender's key is pinned once per company."),
    ]

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        self._refuse_evidence([], "unlink")

    @api.model
    def _pin(self, company, sender, fingerprint):
        """Pin ``fingerprint`` as the key ``sender`` signs its packages with, for ``company``: an officer's step."""
        if not has_group_in_company(self.env, OFFICER, company):
            raise AccessError(self.env._("Only a data-protection officer of %(company)s can pin a sender's key.",
                                         company=company.name))
        fingerprint = ck.normalise_fingerprint(fingerprint)
        existing = self.search([("company_id", "=", company.id), ("fingerprint", "=", fingerprint)])
        if existing:
            return existing
        with evidence_step(self._name, CREATE, *self._evidence_fields):
            signer = self.create({
                "company_id": company.id,
                "name": sender,
                "fingerprint": fingerprint,
                "pinned_by_id": self.env.uid,
                "pinned_on": fields.Datetime.now(),
            })
        self.env["customer.handover.event"]._append_for(signer, "signer_pinned", {"fingerprint": fingerprint},
                                                        company=company)
        return signer

    @api.model
    def _pinned(self, company):
        """The fingerprints pinned for ``company``."""
        return set(self.search([("company_id", "=", company.id)]).mapped("fingerprint"))
