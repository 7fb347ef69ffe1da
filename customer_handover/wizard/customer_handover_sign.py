from odoo import fields, models


class CustomerHandoverSign(models.TransientModel):
    _name = "customer.handover.sign"
    _description = "Sign a customer handover"

    handover_id = fields.Many2one("customer.handover", required=True, ondelete="cascade")
    side = fields.Selection(
        [("transfer", "Transferring party"), ("receiver", "Receiving party")], required=True, default="transfer"
    )
    signer = fields.Char(string="Representative", required=True)
    signature = fields.Image(required=True, max_width=1024, max_height=1024)

    def action_sign(self):
        self.ensure_one()
        self.handover_id._sign(self.side, self.signer, self.signature)
        return {"type": "ir.actions.act_window_close"}
