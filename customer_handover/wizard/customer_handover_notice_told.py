from odoo import fields, models

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
        self.notice_ids._told_otherwise(self.how, self.note)
        return {"type": "ir.actions.act_window_close"}
