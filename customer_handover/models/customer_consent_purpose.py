from odoo import fields, models


class CustomerConsentPurpose(models.Model):
    _name = "customer.consent.purpose"
    _description = "Consent Purpose"
    _order = "sequence, name, id"

    name = fields.Char(required=True, translate=True)
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
