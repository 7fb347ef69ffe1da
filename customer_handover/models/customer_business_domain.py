from odoo import api, fields, models

from ..tools.codes import slug


class CustomerBusinessDomain(models.Model):
    _name = "customer.business.domain"
    _description = "Customer Business Domain"
    _order = "name"

    name = fields.Char(required=True, translate=True)
    code = fields.Char(
        required=True, compute="_compute_code", store=True, readonly=False, precompute=True, copy=False,
        help="Stable across databases: transfer packages match domains on it, never on their translated name. "
        "Made from the name when the domain is created; renaming it keeps it.",
    )
    color = fields.Integer()
    active = fields.Boolean(default=True)

    _sql_constraints = [
        ("name_uniq", "unique (name)", "A business domain with this name already exists."),
        ("code_uniq", "unique (code)", "A business domain with this code already exists."),
    ]

    @api.depends("name")
    def _compute_code(self):
        for domain in self:
            domain.code = domain.code or slug(domain.name)
