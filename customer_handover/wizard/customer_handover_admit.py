from odoo import Command, fields, models


class CustomerHandoverAdmit(models.TransientModel):
    _name = "customer.handover.admit"
    _description = "Admit ineligible customers to a handover"
    # Ineligible customers and why they are admitted, kept for the step only (see docs/evidence.md, "Wizards").
    _transient_max_hours = 1.0

    line_ids = fields.Many2many("customer.handover.line", string="Customers", required=True)
    # Required in the form; emptied once admitted, so not a column constraint.
    justification = fields.Text()

    def action_admit(self):
        self.ensure_one()
        self.line_ids._admit(self.justification)
        # The lines hold the justification now: the wizard's copy goes.
        self.write({"line_ids": [Command.clear()], "justification": False})
        return {"type": "ir.actions.act_window_close"}
