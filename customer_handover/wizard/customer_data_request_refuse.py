from odoo import fields, models
from odoo.exceptions import UserError


class CustomerDataRequestRefuse(models.TransientModel):
    _name = "customer.data.request.refuse"
    _description = "Refuse a customer's data request"
    # A reason may name the customer: kept for the step only (see docs/evidence.md, "Wizards").
    _transient_max_hours = 1.0

    request_ids = fields.Many2many("customer.data.request", required=True)
    # Required in the form; emptied once refused, so not a column constraint.
    reason = fields.Text()

    def action_refuse(self):
        self.ensure_one()
        # sudo: which requests the dialog names, read or not by the user; the dialog acts on the user's only
        named = self.sudo().request_ids
        if not named or len(self.env["customer.data.request"].search([("id", "in", named.ids)])) != len(named):
            raise UserError(self.env._(
                "These requests are not all of your companies' customers: nothing was refused. Choose the requests "
                "from the ones you see."))
        named.sudo(False)._refuse(self.reason)
        self.reason = False
        return {"type": "ir.actions.act_window_close"}
