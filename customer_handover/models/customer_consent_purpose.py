from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import create_unique_index

from ..tools.codes import slug


class CustomerConsentPurpose(models.Model):
    _name = "customer.consent.purpose"
    _description = "Consent Purpose"
    _order = "sequence, name, id"

    name = fields.Char(required=True, translate=True)
    code = fields.Char(
        required=True, compute="_compute_code", store=True, readonly=False, precompute=True, copy=False,
        help="Stable across companies and databases: transfer packages and moves match purposes on it, never on "
        "their translated name. Made from the name when the purpose is created; renaming it keeps it.",
    )
    sequence = fields.Integer(default=10)
    description = fields.Text(
        translate=True, help="What the personal information is used for, as the customer was told."
    )
    company_id = fields.Many2one(
        "res.company",
        help="Leave empty to use this purpose in every company.",
    )
    active = fields.Boolean(default=True)
    consent_count = fields.Integer(compute="_compute_consent_count")

    @api.constrains("code", "company_id")
    def _check_code(self):
        for purpose in self:
            same = [("code", "=", purpose.code), ("company_id", "=", purpose.company_id.id), ("id", "!=", purpose.id)]
            if self.with_context(active_test=False).search_count(same, limit=1):
                raise ValidationError(self.env._(
                    "Another consent purpose of this company has the code “%(code)s”: give each its own code.",
                    code=purpose.code,
                ))

    @api.depends("name")
    def _compute_code(self):
        for purpose in self:
            purpose.code = purpose.code or slug(purpose.name)

    def _compute_consent_count(self):
        counts = dict(
            self.env["customer.consent"]._read_group(
                [("purpose_id", "in", self.ids), ("state", "=", "granted")],
                ["purpose_id"],
                ["__count"],
            )
        )
        for purpose in self:
            purpose.consent_count = counts.get(purpose, 0)

    def init(self):
        # One code per company, and one among the shared purposes (no company).
        create_unique_index(self.env.cr, "customer_consent_purpose_code_company_uniq", self._table,
                            ["code", "COALESCE(company_id, 0)"])
