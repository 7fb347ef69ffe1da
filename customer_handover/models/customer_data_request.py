from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from .customer_handover_evidence_mixin import CREATE, evidence_step
from .handover_access import OFFICER, USER, has_group_in_company

# PostgreSQL's unique_violation: the index on open requests refused a second one (psycopg2 is Odoo's, not ours).
UNIQUE_VIOLATION = "23505"

REQUEST_TYPES = [
    ("withdrawal", "Withdraw consent"),
    ("objection", "Object to the transfer"),
    ("copy", "Copy of the data"),
    ("deletion", "Deletion of the data"),
]
REQUEST_CHANNELS = [
    ("customer_page", "Customer page"),
    ("phone", "Phone"),
    ("letter", "Letter"),
    ("email", "Email"),
    ("in_person", "In person"),
]
OPEN_REQUEST_STATES = ("new", "in_progress")
# Days the officer has to answer (PIPL Art. 50 asks for a timely answer), unless the company says otherwise.
DUE_DAYS = 15
# What the request's receipt records; the effects, then each status step, record the rest.
RECEIPT_FIELDS = (
    "name", "request_type", "partner_id", "handover_id", "company_id", "purpose_id", "received_on", "channel",
    "due_date", "entered_by_id",
)
EFFECT_FIELDS = ("consent_ids", "excluded_line_id", "forward_needed", "copy_attachment_id")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATUS_FIELDS = ("state", "refuse_reason", "handled_by_id", "closed_on")
FORWARD_FIELDS = ("forwarded_on", "forwarded_by_id")


class CustomerDataRequest(models.Model):
    """A customer's request about their data (PIPL Art. 15, 44 to 47): withdraw consent, object, copy, delete.

    Received from the customer's page or entered by staff from a call or a letter (``_receive``), it takes effect
    at once where it can (a consent withdrawn, a line excluded, a copy made) and reaches the officers, who answer
    it by its status steps. Every field is a fact, set by its step only.
    """

    _name = "customer.data.request"
    _description = "Data Subject Request"
    _inherit = ["mail.thread", "mail.activity.mixin", "customer.handover.evidence.mixin"]
    _order = "received_on desc, id desc"
    _check_company_auto = True
    _evidence_create = True
    _evidence_fields = (*RECEIPT_FIELDS, *EFFECT_FIELDS, *STATUS_FIELDS, *FORWARD_FIELDS)
    _immutable_fields = ("company_id",)

    name = fields.Char(string="Reference", required=True, readonly=True, default="/")
    request_type = fields.Selection(REQUEST_TYPES, string="Request", required=True, readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", required=True, readonly=True, index=True,
                                 ondelete="restrict")
    handover_id = fields.Many2one("customer.handover", readonly=True, index="btree_not_null",
                                  ondelete="restrict")
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    purpose_id = fields.Many2one("customer.consent.purpose", readonly=True, ondelete="restrict",
                                 help="The purpose whose consent the customer withdraws.")
    received_on = fields.Datetime(required=True, readonly=True)
    channel = fields.Selection(REQUEST_CHANNELS, required=True, readonly=True)
    entered_by_id = fields.Many2one("res.users", readonly=True,
                                    help="Who entered a request received by phone, letter, email or in person.")
    due_date = fields.Date(required=True, readonly=True)
    state = fields.Selection(
        [("new", "New"), ("in_progress", "In progress"), ("done", "Done"), ("refused", "Refused")],
        required=True, default="new", readonly=True, tracking=True,
    )
    refuse_reason = fields.Text(string="Reason for Refusal", readonly=True)
    handled_by_id = fields.Many2one("res.users", readonly=True, tracking=True)
    closed_on = fields.Datetime(readonly=True)
    consent_ids = fields.Many2many("customer.consent", string="Consents Withdrawn", readonly=True)
    excluded_line_id = fields.Many2one("customer.handover.line", string="Line Excluded", readonly=True)
    forward_needed = fields.Boolean(
        readonly=True, help="The customer left in a transfer package: forward the request to the receiving party.")
    forwarded_on = fields.Datetime(string="Forwarded to the Receiver On", readonly=True, tracking=True)
    forwarded_by_id = fields.Many2one("res.users", readonly=True)
    # Evidence, served by its step only (``_copy_attachment``): the officer downloads it or mails it, logged.
    copy_attachment_id = fields.Many2one("ir.attachment", string="Copy of the Data", readonly=True)
    is_overdue = fields.Boolean(compute="_compute_is_overdue", search="_search_is_overdue")
    after_signing = fields.Boolean(
        compute="_compute_after_signing",
        help="An objection to a handover already signed: the customer stays on the signed checklist, and a new "
             "export is needed once the officer has decided.",
    )

    _sql_constraints = [
        ("withdrawal_has_purpose", "CHECK(request_type != 'withdrawal' OR purpose_id IS NOT NULL)",
         "A withdrawal names the purpose whose consent is withdrawn."),
    ]

    def init(self):
        # The customer's page takes one open request per customer, handover, kind and purpose: an answer submitted
        # twice, even at the same instant, records one request.
        self.env.cr.execute(SQL(
            """CREATE UNIQUE INDEX IF NOT EXISTS customer_data_request_page_once
                   ON customer_data_request (partner_id, handover_id, request_type, COALESCE(purpose_id, 0))
                WHERE channel = 'customer_page' AND state IN ('new', 'in_progress')"""
        ))

    @api.depends("due_date", "state")
    def _compute_is_overdue(self):
        today = fields.Date.context_today(self)
        for request in self:
            request.is_overdue = request.state in OPEN_REQUEST_STATES and request.due_date < today

    def _search_is_overdue(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(self.env._("Search overdue requests with “is set” or “is not set”."))
        today = fields.Date.context_today(self)
        if (operator == "=") == value:
            return [("state", "in", OPEN_REQUEST_STATES), ("due_date", "<", today)]
        return ["|", ("state", "not in", OPEN_REQUEST_STATES), ("due_date", ">=", today)]

    @api.depends("request_type", "received_on", "handover_id")
    def _compute_after_signing(self):
        for request in self:
            handover = request.handover_id
            request.after_signing = bool(request.request_type == "objection" and handover and handover.is_signed)

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        self._refuse_evidence([], "unlink")

    # ------------------------------------------------------------------------------ receiving a request

    @api.model
    def _receive(self, request_type, partner, handover, channel, purpose=None, received_on=None):
        """Record a request, apply its effect and tell the officers; returns it, or the open one already received.

        Called as the system by the customer's page after its token was checked, and by the staff's dialog after
        its access check. A request from the page that is already open (the same answer submitted twice) is not
        recorded again.
        """
        if channel == "customer_page":
            existing = self._open_from_page(request_type, partner, handover, purpose)
            if existing:
                return existing
        company = handover.company_id if handover else partner.company_id or self.env.company
        now = fields.Datetime.now()
        received_on = received_on or now
        values = {
            "name": self.env["ir.sequence"].sudo().next_by_code("customer.data.request") or "/",
            "request_type": request_type,
            "partner_id": partner.id,
            "handover_id": handover.id if handover else False,
            "company_id": company.id,
            "purpose_id": purpose.id if purpose else False,
            "received_on": received_on,
            "channel": channel,
            "due_date": fields.Date.to_date(received_on) + timedelta(days=company.sudo().handover_request_due_days),
            "entered_by_id": False if channel == "customer_page" else self.env.uid,
        }
        try:
            # sudo: requests are read by officers only; the page's token or the dialog's access check came first
            with self.env.cr.savepoint(), evidence_step(self._name, CREATE, *RECEIPT_FIELDS):
                request = self.sudo().create(values)
        except Exception as error:
            if getattr(error, "pgcode", None) != UNIQUE_VIOLATION:
                raise
            # the same answer, submitted at the same instant from another tab, was recorded first
            return self._open_from_page(request_type, partner, handover, purpose)
        self.env["customer.handover.event"]._append_for(
            request, "data_request_received",
            {"type": request_type, "channel": channel, "handover": handover.id if handover else None,
             "purpose": purpose.id if purpose else None},
        )
        request._apply()
        request._notify_officers()
        return request

    def _open_from_page(self, request_type, partner, handover, purpose):
        return self.sudo().search([
            ("channel", "=", "customer_page"), ("state", "in", OPEN_REQUEST_STATES),
            ("request_type", "=", request_type), ("partner_id", "=", partner.id),
            ("handover_id", "=", handover.id if handover else False),
            ("purpose_id", "=", purpose.id if purpose else False),
        ], limit=1)

    def _apply(self):
        """What the request does at once: withdraw the consent, exclude the line, prepare the copy."""
        self.ensure_one()
        if self.request_type == "withdrawal":
            self._apply_withdrawal()
        elif self.request_type == "objection":
            self._apply_objection()
        elif self.request_type == "copy":
            self._make_copy()

    def _apply_withdrawal(self):
        """Withdraw the consent where the customer's data now is; a package's receiver is told by the officer."""
        handover, purpose = self.handover_id, self.purpose_id
        company, purposes = self.company_id, purpose
        if handover and handover.state == "done" and handover.transfer_mode == "company":
            # the customer moved inside this database: the receiving company holds the consent, for its own purpose
            # of the same code (as the move mapped it)
            company = handover._receiving_company()
            purposes = self.env["customer.consent.purpose"].sudo().search(
                [("code", "=", purpose.code), ("company_id", "in", [company.id, False])]) if purpose.code else purpose
        consents = self.env["customer.consent"].sudo().search([
            ("partner_id", "=", self.partner_id.id), ("purpose_id", "in", purposes.ids),
            ("company_id", "=", company.id), ("state", "=", "granted"),
        ])
        consents._withdraw_by_request(self)
        forward = bool(handover and handover.transfer_mode == "package" and handover.state in ("signed", "done"))
        with evidence_step(self._name, "consent_ids", "forward_needed"):
            self.write({"consent_ids": [(6, 0, consents.ids)], "forward_needed": forward})

    def _apply_objection(self):
        """Before signing, the customer leaves the checklist with the reason; after it, the officer decides."""
        handover = self.handover_id
        if not handover or handover.is_signed or handover.state not in ("draft", "confirmed", "in_progress"):
            return
        line = self.env["customer.handover.line"].sudo().search([
            ("handover_id", "=", handover.id), ("partner_id", "=", self.partner_id.id),
            ("line_type", "=", "customer"), ("excluded", "=", False), ("scope_run", ">=", 0),
        ], limit=1)
        if not line:
            return
        env = handover.company_id._handover_lang_env()
        try:
            with self.env.cr.savepoint():
                line.exclusion_reason = env._("The customer objected to the transfer (request %(request)s).",
                                              request=self.name)
                line.action_exclude()
        except UserError:
            # a background step works on the checklist: the officer excludes the line once it is done
            return
        with evidence_step(self._name, "excluded_line_id"):
            self.excluded_line_id = line

    def _make_copy(self):
        """The workbook of what the addon holds about the customer, for the officer to check and send: evidence of
        what the customer was given, kept and served by its step only."""
        content = self.env["customer.data.request.copy"]._workbook(self)
        attachment = self.env["ir.attachment"]._keep_handover_evidence([{
            "name": f"{self.name.replace('/', '-')}.xlsx", "datas": content, "res_model": self._name,
            "res_id": self.id, "company_id": self.company_id.id, "mimetype": XLSX,
        }])
        with evidence_step(self._name, "copy_attachment_id"):
            self.sudo().write({"copy_attachment_id": attachment.id})

    def _notify_officers(self):
        """An activity for each officer of the company, and a note on the customer's chatter."""
        self.ensure_one()
        env = self.company_id._handover_lang_env()
        officers = self.env.ref(OFFICER).sudo().users.filtered(
            lambda user: self.company_id in user.company_ids and not user.share and user.active)
        summary = env._("Answer the data request %(request)s", request=self.name)
        for officer in officers:
            self.sudo().activity_schedule("mail.mail_activity_data_todo", date_deadline=self.due_date,
                                          summary=summary, user_id=officer.id)
        kind = dict(self.with_env(env)._fields["request_type"]._description_selection(env))[self.request_type]
        channel = dict(self.with_env(env)._fields["channel"]._description_selection(env))[self.channel]
        body = env._("Data request %(request)s received (%(channel)s): %(kind)s.", request=self.name,
                     channel=channel, kind=kind)
        if self.purpose_id:
            body = f"{body} {self.purpose_id.with_env(env).name}"
        self.partner_id.sudo()._message_log(body=body)

    # ------------------------------------------------------------------------------ the officer's steps

    def action_start(self):
        self._check_officer()
        self._check_status("new")
        self._status_step({"state": "in_progress", "handled_by_id": self.env.uid}, "data_request_started")

    def action_done(self):
        self._check_officer()
        self._check_status(*OPEN_REQUEST_STATES)
        if self.filtered(lambda request: request.forward_needed and not request.forwarded_on):
            raise UserError(self.env._("Forward the request to the receiving party and record it first."))
        values = {"state": "done", "handled_by_id": self.env.uid, "closed_on": fields.Datetime.now()}
        self._status_step(values, "data_request_done")

    def _refuse(self, reason):
        """Refuse with a reason, which the customer is told."""
        self._check_officer()
        self._check_status(*OPEN_REQUEST_STATES)
        if not (reason or "").strip():
            raise UserError(self.env._("Say why the request is refused: the customer is told."))
        values = {"state": "refused", "refuse_reason": reason.strip(), "handled_by_id": self.env.uid,
                  "closed_on": fields.Datetime.now()}
        self._status_step(values, "data_request_refused")

    def action_refuse(self):
        self._check_officer()
        self._check_status(*OPEN_REQUEST_STATES)
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Refuse the request"),
            "res_model": "customer.data.request.refuse",
            "view_mode": "form",
            "target": "new",
            "context": {"default_request_ids": self.ids},
        }

    def action_mark_forwarded(self):
        """The officer forwarded the request to the package's receiver."""
        self._check_officer()
        self._check_status(*OPEN_REQUEST_STATES)
        if self.filtered(lambda request: not request.forward_needed or request.forwarded_on):
            raise UserError(self.env._("Only a request that waits to be forwarded to the receiver can be marked "
                                       "forwarded."))
        values = {"forwarded_on": fields.Datetime.now(), "forwarded_by_id": self.env.uid}
        with evidence_step(self._name, *FORWARD_FIELDS):
            self.write(values)
        self.env["customer.handover.event"]._append_for(self, "data_request_forwarded")

    def action_download_copy(self):
        """Download the copy of the customer's data through its step, which logs each download."""
        self.ensure_one()
        self._check_copy()
        return {"type": "ir.actions.act_url", "url": f"/customer_handover/request/{self.id}/copy", "target": "self"}

    def _copy_attachment(self, use="download"):
        """The copy's evidence file, for an officer of the request's company; each read is logged."""
        self.ensure_one()
        attachment = self._check_copy()
        self.env["customer.handover.event"]._append_for(
            self, "data_request_copy_read", {"attachment": attachment.id, "for": use})
        # sudo: nobody reads the copy directly; the user was checked as an officer of the request's company
        return attachment.sudo()

    def _check_copy(self):
        self._check_officer()
        self.check_access("read")
        attachment = self.copy_attachment_id
        if self.request_type != "copy" or not attachment:
            raise UserError(self.env._("Only a request for a copy has a copy to send."))
        return attachment

    def action_send_copy(self):
        """Open the mail composer to the customer with the copy attached."""
        self.ensure_one()
        copy = self._copy_attachment("mail")
        # the mail's own attachment, which its author may remove: the evidence file stays as it was made
        attachment = self.env["ir.attachment"].create({
            "name": copy.name, "raw": copy.raw, "res_model": self._name, "res_id": self.id, "mimetype": XLSX,
        })
        return {
            "type": "ir.actions.act_window",
            "res_model": "mail.compose.message",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_model": self._name,
                "default_res_ids": self.ids,
                "default_partner_ids": self.partner_id.ids,
                "default_attachment_ids": attachment.ids,
                "default_composition_mode": "comment",
                "default_subject": self.env._("Your data (%(request)s)", request=self.name),
            },
        }

    def action_open_customer(self):
        self.ensure_one()
        return {"type": "ir.actions.act_window", "res_model": "res.partner", "res_id": self.partner_id.id,
                "view_mode": "form"}

    def _status_step(self, values, event):
        with evidence_step(self._name, *values):
            self.write(values)
        self.env["customer.handover.event"]._append_for(self, event, {"state": values["state"]})
        if values["state"] in ("done", "refused"):
            # sudo: the officer's step is checked; the other officers' to-dos for this request end with it
            self.sudo().activity_unlink(["mail.mail_activity_data_todo"])

    def _check_officer(self):
        for company in self.company_id:
            if not has_group_in_company(self.env, OFFICER, company):
                raise AccessError(self.env._("Only a data-protection officer of %(company)s answers its customers' "
                                             "requests.", company=company.name))

    def _check_status(self, *states):
        wrong = self.filtered(lambda request: request.state not in states)
        if wrong:
            raise UserError(self.env._("%(request)s is %(state)s: this step does not apply to it.",
                                       request=wrong[0].name,
                                       state=dict(self._fields["state"]._description_selection(self.env))[
                                           wrong[0].state]))

    @api.model
    def _check_may_enter(self, company):
        """Staff who take calls and letters (handover users and officers) enter requests; officers answer them."""
        if not has_group_in_company(self.env, USER, company):
            raise AccessError(self.env._("Only handover users and officers of %(company)s enter customers' "
                                         "requests.", company=company.name))
