from odoo import fields, models


class CustomerBusinessDomain(models.Model):
    _name = "customer.business.domain"
    _description = "Customer Business Domain"
    _order = "name"

    name = fields.Char(required=True, translate=True)
    color = fields.Integer()
    active = fields.Boolean(default=True)

    _sql_constraints = [
        ("name_uniq", "unique (name)", "A business domain with this name already exists."),
    ]
