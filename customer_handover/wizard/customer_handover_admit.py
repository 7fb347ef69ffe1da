from odoo import fields, models


class CustomerHandoverAdmit(models.TransientModel):
    _name = "customer.handover.admit"
    _description = "Admit ineligible customers to a handover"

    line_ids = fields.Many2many("customer.handover.line", string="Customers", required=True)
    justification = fields.Text(required=True)

    def action_admit(self):
        self.ensure_one()
        self.line_ids._admit(self.justification)
        return {"type": "ir.actions.act_window_close"}
