from odoo import fields, models


class CustomerHandoverCancel(models.TransientModel):
    _name = "customer.handover.cancel"
    _description = "Cancel a customer handover"

    handover_ids = fields.Many2many("customer.handover", required=True)
    reason = fields.Text(required=True)

    def action_cancel(self):
        self.ensure_one()
        self.handover_ids._cancel(self.reason)
        return {"type": "ir.actions.act_window_close"}
