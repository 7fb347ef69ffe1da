import secrets
import uuid
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import consteq, email_normalize, plaintext2html
from odoo.tools.misc import hmac

from .customer_handover_evidence_mixin import CREATE, evidence_step

SIDES = [("transfer", "Transferring party"), ("receiver", "Receiving party")]
# A link lives this many days unless the system parameter customer_handover.sign_link_days says otherwise.
LINK_DAYS = 7
CODE_MINUTES = 10
# Wrong codes allowed per code, codes sent per link, and seconds between two codes: a link gives at most
# MAX_CODES * MAX_ATTEMPTS guesses of a million codes.
MAX_ATTEMPTS = 5
MAX_CODES = 5
RESEND_SECONDS = 60
# How long a browser that entered the right code may sign, in minutes.
SIGN_MINUTES = 30
CODE_SCOPE = "customer_handover.sign_code"
REQUEST_FIELDS = (
    "handover_id",
    "side",
    "partner_id",
    "email",
    "signer_name",
    "requested_by_id",
    "requested_on",
    "expires_on",
    "access_token",
)
CODE_FIELDS = ("code_hash", "code_expires_on", "code_attempts", "code_count", "code_sent_on")
CLOSE_FIELDS = ("state", "verified_on", "closed_on", "signed_ip")


class CustomerHandoverSignRequest(models.Model):
    """A personal link that lets one party's representative sign a handover, after a code sent to their email.

    The token is the portal's access token; the one-time code is kept as an HMAC with the database secret.
    Every fact is set by its step (``_send``, ``_send_code``, ``_check_code``, ``_close``).
    """

    _name = "customer.handover.sign.request"
    _description = "Handover Signing Link"
    _inherit = ["portal.mixin", "customer.handover.evidence.mixin"]
    _order = "id desc"
    _check_company_auto = True
    _evidence_create = True
    _evidence_fields = (*REQUEST_FIELDS, *CODE_FIELDS, *CLOSE_FIELDS)
    _immutable_fields = ("company_id",)

    handover_id = fields.Many2one("customer.handover", required=True, readonly=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(related="handover_id.company_id", store=True, index=True)
    side = fields.Selection(SIDES, required=True, readonly=True)
    partner_id = fields.Many2one("res.partner", string="Sent To", readonly=True)
    email = fields.Char(required=True, readonly=True)
    signer_name = fields.Char(string="Representative", readonly=True)
    requested_by_id = fields.Many2one("res.users", string="Sent By", required=True, readonly=True)
    requested_on = fields.Datetime(string="Sent On", required=True, readonly=True)
    expires_on = fields.Datetime(required=True, readonly=True)
    state = fields.Selection(
        [("pending", "Waiting for the signature"), ("signed", "Signed"), ("cancelled", "Replaced or withdrawn")],
        required=True,
        default="pending",
        readonly=True,
    )
    # Only the steps read the token and the code: whoever reads the link's record does not sign with it.
    access_token = fields.Char(groups="base.group_system")
    code_hash = fields.Char(groups="base.group_system", readonly=True)
    code_expires_on = fields.Datetime(readonly=True)
    code_attempts = fields.Integer(string="Wrong Codes", readonly=True, help="Wrong codes entered for the last code.")
    code_count = fields.Integer(string="Codes Sent", readonly=True)
    code_sent_on = fields.Datetime(readonly=True)
    verified_on = fields.Datetime(string="Code Entered On", readonly=True)
    closed_on = fields.Datetime(readonly=True)
    signed_ip = fields.Char(string="Signed From (IP Address)", readonly=True)
    is_expired = fields.Boolean(compute="_compute_is_expired")

    @api.depends("expires_on")
    def _compute_is_expired(self):
        now = fields.Datetime.now()
        for link in self:
            link.is_expired = bool(link.expires_on and link.expires_on < now)

    def _compute_access_url(self):
        for link in self:
            link.access_url = f"/customer_handover/sign/{link.id}"

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        self._refuse_evidence([], "unlink")

    @api.model
    def _send(self, handover, side, partner, signer_name):
        """Create the link for ``side`` of ``handover`` and mail it to ``partner``; earlier links of the side end.

        The handover's step (``_send_sign_link``) checked the user, the state and the address.
        """
        now = fields.Datetime.now()
        days = int(self.env["ir.config_parameter"].sudo().get_param("customer_handover.sign_link_days", LINK_DAYS))
        earlier = self.sudo().search(
            [("handover_id", "=", handover.id), ("side", "=", side), ("state", "=", "pending")]
        )
        earlier._close("cancelled")
        values = {
            "handover_id": handover.id,
            "side": side,
            "partner_id": partner.id,
            "email": partner.email,
            "signer_name": signer_name,
            "requested_by_id": self.env.uid,
            "requested_on": now,
            "expires_on": now + timedelta(days=max(days, 1)),
            "access_token": str(uuid.uuid4()),
        }
        # sudo: the token is read by the steps only; the handover's step checked the user
        with evidence_step(self._name, CREATE, *REQUEST_FIELDS):
            link = self.sudo().create(values)
        link._send_mail("customer_handover.mail_template_sign_link")
        self.env["customer.handover.event"]._append_for(
            link, "sign_link_sent", {"handover": handover.id, "side": side, "replaced": earlier.ids}
        )
        return link.with_env(self.env)

    # ------------------------------------------------------------------------------ the public steps
    # The controller finds the link as the system and calls these after _check_token: the caller is anonymous.

    def _check_token(self, token):
        """Whether ``token`` is this link's token (compared in constant time)."""
        self.ensure_one()
        return bool(token and self.access_token and consteq(self.access_token, str(token)))

    def _is_usable(self):
        """Whether the link can still lead to a signature: waiting, not expired, its side still to sign."""
        self.ensure_one()
        handover = self.handover_id
        return (
            self.state == "pending"
            and not self.is_expired
            and handover.state == "verified"
            and not handover[f"{self.side}_signed_on"]
        )

    def _send_code(self):
        """Send a new one-time code to the link's email; False when too many were sent or the last is too recent."""
        self.ensure_one()
        now = fields.Datetime.now()
        if self.code_count >= MAX_CODES or (
            self.code_sent_on and now < self.code_sent_on + timedelta(seconds=RESEND_SECONDS)
        ):
            return False
        code = f"{secrets.randbelow(10**6):06d}"
        values = {
            "code_hash": self._code_hash(code),
            "code_expires_on": now + timedelta(minutes=CODE_MINUTES),
            "code_attempts": 0,
            "code_count": self.code_count + 1,
            "code_sent_on": now,
        }
        with evidence_step(self._name, *CODE_FIELDS):
            self.write(values)
        self._send_mail("customer_handover.mail_template_sign_code", sign_code=code)
        self.env["customer.handover.event"]._append_for(
            self, "sign_code_sent", {"handover": self.handover_id.id, "count": values["code_count"]}
        )
        return True

    def _check_code(self, code):
        """Whether ``code`` is the last code sent, unused, in time and within its attempts; a wrong one is counted."""
        self.ensure_one()
        now = fields.Datetime.now()
        usable = (
            self.code_hash
            and self.code_expires_on
            and now <= self.code_expires_on
            and self.code_attempts < MAX_ATTEMPTS
        )
        code = "".join(str(code or "").split())
        if usable and code.isdigit() and consteq(self._code_hash(code), self.code_hash):
            # one time: the code is spent
            with evidence_step(self._name, "code_hash", "verified_on"):
                self.write({"code_hash": False, "verified_on": now})
            self.env["customer.handover.event"]._append_for(
                self, "sign_code_accepted", {"handover": self.handover_id.id}
            )
            return True
        attempts = self.code_attempts + 1
        with evidence_step(self._name, "code_attempts", "code_hash"):
            # the last allowed attempt spends the code: a new one must be asked for
            self.write({"code_attempts": attempts, **({"code_hash": False} if attempts >= MAX_ATTEMPTS else {})})
        self.env["customer.handover.event"]._append_for(
            self, "sign_code_refused", {"handover": self.handover_id.id, "attempts": attempts}
        )
        return False

    def _sign(self, signer, signature, ip_address):
        """The representative signs through this link: the handover records the signature and how it was given."""
        self.ensure_one()
        handover = self.handover_id
        handover._sign(self.side, signer, signature, channel="link", link=self, ip_address=ip_address)
        self._close("signed", ip_address)
        env = handover.company_id._handover_lang_env()
        party = env._("receiving party") if self.side == "receiver" else env._("transferring party")
        signed_by = handover[f"{self.side}_signer"]
        handover._message_log(
            body=env._(
                "%(signer)s signed for the %(party)s from the personal link sent to %(email)s.",
                signer=signed_by,
                party=party,
                email=self.email,
            ),
            author_id=self.partner_id.id or None,
        )

    def _close(self, state, ip_address=False):
        now = fields.Datetime.now()
        with evidence_step(self._name, "state", "closed_on", "signed_ip"):
            self.write({"state": state, "closed_on": now, **({"signed_ip": ip_address} if ip_address else {})})
        if state == "cancelled":
            self.env["customer.handover.event"]._append_for(self, "sign_link_cancelled")

    def _send_mail(self, template_xmlid, **context):
        """Mail the link's recipient; the message kept with the link says what was sent, never the token or code.

        Whoever reads the link reads its messages: the body, with the link or the code, is the mail's only.
        """
        # sudo: the template renders the token, which only the steps read
        template = self.env.ref(template_xmlid).sudo().with_context(**context)
        mail = self.env["mail.mail"].sudo().browse(template.send_mail(self.id, force_send=False))
        mail.body = plaintext2html(mail.subject or "")

    def _portal_ensure_token(self):
        """The token signs for a party: only the steps, as the system, read it.

        The portal hands a record's token to whoever reads the record (``get_portal_url``) or shares it (the
        share wizard): not this one's.
        """
        if not self.env.su:
            raise AccessError(self.env._("A signing link's token is used by its steps only."))
        return super()._portal_ensure_token()

    def _code_hash(self, code):
        # sudo: the database secret keys the HMAC; only the hash is kept, bound to this link
        return hmac(self.env(su=True), CODE_SCOPE, f"{self.id}:{code}")

    def _masked_email(self):
        """The email with most of its name hidden, to tell the reader where the code goes without giving it away."""
        email = email_normalize(self.email) or self.email or ""
        name, _sep, domain = email.partition("@")
        return f"{name[:2]}{'*' * max(len(name) - 2, 3)}@{domain}"
