from odoo import fields, models


class CustomerHandoverCancel(models.TransientModel):
    _name = "customer.handover.cancel"
    _description = "Cancel a customer handover"
    # A reason may name customers or people: kept for the step only (see docs/evidence.md, "Wizards").
    _transient_max_hours = 1.0

    handover_ids = fields.Many2many("customer.handover", required=True)
    # Required in the form; emptied once cancelled, so not a column constraint.
    reason = fields.Text()

    def action_cancel(self):
        self.ensure_one()
        self.handover_ids._cancel(self.reason)
        # The handovers hold the reason now: the wizard's copy goes.
        self.reason = False
        return {"type": "ir.actions.act_window_close"}
