from odoo import fields, models
from odoo.exceptions import UserError

from ..models.customer_handover_notice import TOLD_HOW


class CustomerHandoverNoticeTold(models.TransientModel):
    """Record how customers the email and the letter did not reach were told: how, and a note."""

    _name = "customer.handover.notice.told"
    _description = "Customer Told Another Way"
    _transient_max_hours = 24

    notice_ids = fields.Many2many("customer.handover.notice", string="Notices", required=True)
    how = fields.Selection(TOLD_HOW, string="Told How", required=True, default="phone")
    note = fields.Text(required=True, help="When and by whom, and what the customer said.")

    def action_confirm(self):
        self.ensure_one()
        # sudo: which notices the dialog names, read or not by the user; the dialog acts on the user's only
        named = self.sudo().notice_ids
        if not named or len(self.env["customer.handover.notice"].search([("id", "in", named.ids)])) != len(named):
            raise UserError(self.env._(
                "These notices are not all of your companies' handovers: nobody was recorded as told. Choose the "
                "customers from the notices you see."))
        named.sudo(False)._told_otherwise(self.how, self.note)
        return {"type": "ir.actions.act_window_close"}
