from odoo import api, fields, models

from ..models.handover_access import MANAGER

SIDES = [("transfer", "Transferring party"), ("receiver", "Receiving party")]
CHANNELS = [
    ("user", "I sign as myself"),
    ("link", "Send the representative a personal link"),
    ("in_person", "The representative signs here, in front of me"),
]


class CustomerHandoverSign(models.TransientModel):
    _name = "customer.handover.sign"
    _description = "Sign a customer handover"
    # A drawn signature, kept for the step only (see docs/evidence.md, "Wizards").
    _transient_max_hours = 1.0

    handover_id = fields.Many2one("customer.handover", required=True, ondelete="cascade")
    remaining_sides = fields.Char(compute="_compute_remaining_sides", help="The sides still to sign, comma-separated.")
    side = fields.Selection(SIDES, required=True, compute="_compute_side", store=True, readonly=False, precompute=True)
    channel = fields.Selection(
        CHANNELS,
        string="How",
        required=True,
        compute="_compute_channel",
        store=True,
        readonly=False,
        precompute=True,
        help="The transferring side signs as the logged-in user; the receiving party's representative signs from a "
        "personal link sent to their email, with a one-time code. In person is recorded as witnessed by you.",
    )
    user_is_receiver = fields.Boolean(compute="_compute_user_is_receiver")
    signer = fields.Char(
        string="Representative",
        compute="_compute_signer",
        store=True,
        readonly=False,
        precompute=True,
    )
    link_partner_id = fields.Many2one(
        "res.partner",
        string="Send the Link To",
        compute="_compute_link_partner",
        store=True,
        readonly=False,
        precompute=True,
        help="The representative's contact: the link and its one-time code go to its email.",
    )
    link_email = fields.Char(related="link_partner_id.email", string="Email")
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

    @api.depends("side")
    def _compute_channel(self):
        for wizard in self:
            # each party signs as itself: the receiving one from its link unless the user is its own user
            own = wizard.side == "transfer" or wizard.user_is_receiver
            wizard.channel = "user" if own else "link"

    @api.depends("handover_id.receiver_user_id")
    @api.depends_context("uid")
    def _compute_user_is_receiver(self):
        for wizard in self:
            wizard.user_is_receiver = wizard.handover_id.receiver_user_id == self.env.user

    @api.depends("side", "channel", "handover_id", "link_partner_id")
    def _compute_signer(self):
        for wizard in self:
            handover = wizard.handover_id
            if wizard.channel == "user":
                wizard.signer = self.env.user.name
                continue
            # The person the link goes to is the one who signs: a company contact names no one.
            if wizard.channel == "link" and wizard.link_partner_id and not wizard.link_partner_id.is_company:
                wizard.signer = wizard.link_partner_id.name
                continue
            person = handover.user_id.partner_id if wizard.side == "transfer" else handover.receiver_responsible_id
            wizard.signer = person.name or False

    @api.depends("side", "handover_id")
    def _compute_link_partner(self):
        for wizard in self:
            handover = wizard.handover_id
            if wizard.side == "transfer":
                wizard.link_partner_id = handover.user_id.partner_id
            else:
                responsible = handover.receiver_responsible_id
                wizard.link_partner_id = responsible if responsible.email else handover.receiver_id

    @api.depends("side", "channel", "signer", "link_partner_id", "remaining_sides", "handover_id.state")
    def _compute_problem(self):
        for wizard in self:
            wizard.problem = wizard._problem()

    def _problem(self):
        handover = self.handover_id
        signer = (self.signer or "").strip()
        other = "receiver" if self.side == "transfer" else "transfer"
        if handover and handover.state != "verified":
            return self.env._("The handover is not waiting for signatures: finish the verification first.")
        if self.side and self.side not in (self.remaining_sides or "").split(","):
            return self.env._("This side has already signed.")
        if self.channel == "link":
            if not self.env.user.has_group(MANAGER):
                return self.env._("Only handover managers can send a signing link: ask one to send it.")
            if not self.link_partner_id.email:
                return self.env._("Choose the contact to send the link to: it needs an email.")
            return False
        if self.channel == "user":
            if handover[f"{other}_signer_user_id"] == self.env.user:
                return self.env._(
                    "You already signed for the other party: send the representative a link, or choose "
                    "“in front of me” if they sign here."
                )
            if self.side == "receiver" and not self.user_is_receiver:
                return self.env._(
                    "You are not the receiving party: send its representative a link, or choose "
                    "“in front of me” if they sign here."
                )
        if not signer:
            return self.env._("Enter the representative's name before drawing the signature.")
        if handover[f"{other}_signer"] and handover[f"{other}_signer"].strip().casefold() == signer.casefold():
            return self.env._(
                "%(signer)s already signed for the other party: each side signs with its own representative.",
                signer=signer,
            )
        return False

    def action_sign(self):
        self.ensure_one()
        self.handover_id._sign(self.side, self.signer, self.signature, channel=self.channel)
        # The handover holds the signature now: the wizard's copy goes.
        self.signature = False
        return {"type": "ir.actions.act_window_close"}

    def action_send_link(self):
        self.ensure_one()
        link = self.handover_id._send_sign_link(self.side, self.link_partner_id, self.signer)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._(
                    "Signing link sent to %(email)s. It expires on %(date)s (UTC).",
                    email=link.email,
                    date=link.expires_on,
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
