from odoo import fields, models


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
        self.request_ids._refuse(self.reason)
        self.reason = False
        return {"type": "ir.actions.act_window_close"}
