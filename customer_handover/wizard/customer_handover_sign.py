from odoo import api, fields, models

SIDES = [("transfer", "Transferring party"), ("receiver", "Receiving party")]


class CustomerHandoverSign(models.TransientModel):
    _name = "customer.handover.sign"
    _description = "Sign a customer handover"
    # A drawn signature, kept for the step only (see docs/evidence.md, "Wizards").
    _transient_max_hours = 1.0

    handover_id = fields.Many2one("customer.handover", required=True, ondelete="cascade")
    remaining_sides = fields.Char(compute="_compute_remaining_sides", help="The sides still to sign, comma-separated.")
    side = fields.Selection(SIDES, required=True, compute="_compute_side", store=True, readonly=False, precompute=True)
    signer = fields.Char(
        string="Representative", required=True, compute="_compute_signer", store=True, readonly=False,
        precompute=True,
    )
    problem = fields.Char(compute="_compute_problem", help="What must be put right before the signature is drawn.")
    # Required in the form; emptied once signed, so not a column constraint.
    signature = fields.Image(max_width=1024, max_height=1024)

    @api.depends("handover_id.transfer_signed_on", "handover_id.receiver_signed_on")
    def _compute_remaining_sides(self):
        for wizard in self:
            handover = wizard.handover_id
            wizard.remaining_sides = ",".join(side for side, _label in SIDES if not handover[f"{side}_signed_on"])

    @api.depends("remaining_sides")
    def _compute_side(self):
        for wizard in self:
            remaining = (wizard.remaining_sides or "").split(",")
            if wizard.side not in remaining:
                wizard.side = remaining[0] or False

    @api.depends("side", "handover_id")
    def _compute_signer(self):
        for wizard in self:
            handover = wizard.handover_id
            person = handover.user_id.partner_id if wizard.side == "transfer" else handover.receiver_responsible_id
            wizard.signer = person.name or False

    @api.depends("side", "signer", "remaining_sides", "handover_id.state")
    def _compute_problem(self):
        for wizard in self:
            wizard.problem = wizard._problem()

    def _problem(self):
        handover = self.handover_id
        signer = (self.signer or "").strip()
        other = handover.receiver_signer if self.side == "transfer" else handover.transfer_signer
        if handover and handover.state != "verified":
            return self.env._("The handover is not waiting for signatures: finish the verification first.")
        if self.side and self.side not in (self.remaining_sides or "").split(","):
            return self.env._("This side has already signed.")
        if not signer:
            return self.env._("Enter the representative's name before drawing the signature.")
        if other and other.strip().casefold() == signer.casefold():
            return self.env._("%(signer)s already signed for the other party: each side signs with its own "
                              "representative.", signer=signer)
        return False

    def action_sign(self):
        self.ensure_one()
        self.handover_id._sign(self.side, self.signer, self.signature)
        # The handover holds the signature now: the wizard's copy goes.
        self.signature = False
        return {"type": "ir.actions.act_window_close"}
