from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..tools import transfer_package as tp
from .customer_handover_evidence_mixin import evidence_step, is_unlocked
from .customer_handover_job import ACTIVE_STATES, running_job_id
from .customer_handover_line import ON_RECORD
from .customer_handover_notice import NOTICE_HANDOVER_FACTS
from .handover_access import MANAGER
from .handover_notes import log_note

OPEN_STATES = ("draft", "confirmed", "in_progress", "verified", "signed")
# States in which the checklist may still change; a signature freezes it whatever the state.
CHECKLIST_OPEN_STATES = ("draft", "confirmed", "in_progress")
# What each customer's eligibility was checked against when it was put on the checklist.
TERMS_FIELDS = ("receiver_id", "purpose_ids", "receiver_abroad", "receiver_country_id", "abroad_legal_basis")
SIDES = ("transfer", "receiver")
# How a side signed, its facts per side (``{side}_<name>``): set by _sign only.
SIGN_EVIDENCE = (
    "signer", "signature", "signed_on", "sign_channel", "signer_user_id", "witness_id", "sign_email", "sign_ip",
    "sign_request_id",
)
SIGNATURE_FIELDS = tuple(f"{side}_{name}" for side in SIDES for name in SIGN_EVIDENCE)
SIGN_CHANNELS = [
    ("user", "Signed by the logged-in user"),
    ("link", "Signed from a personal link"),
    ("in_person", "Signed in person, witnessed"),
]
TRANSFER_MODES = [
    ("package", "Transfer package"),
    ("company", "Move to a company of this database"),
    ("team", "Move to another team"),
]
# PIPL Art. 38 lists the ways personal information may lawfully leave mainland China.
ABROAD_BASES = [
    ("security_assessment", "CAC security assessment (Art. 38(1))"),
    ("certification", "Personal information protection certification (Art. 38(2))"),
    ("standard_contract", "Standard contract filed with the CAC (Art. 38(3))"),
    ("other", "Other condition set by laws or the CAC (Art. 38(4))"),
]


class CustomerHandover(models.Model):
    _name = "customer.handover"
    _description = "Customer Handover"
    _inherit = ["mail.thread", "mail.activity.mixin", "customer.handover.evidence.mixin",
                "customer.handover.job.progress.mixin"]
    _order = "date_planned desc, id desc"
    _check_company_auto = True
    _evidence_fields = (
        "name", "state", "date_done", *SIGNATURE_FIELDS, "cancel_reason", "cancelled_by_id", "cancelled_on",
        "receiver_recipient", *NOTICE_HANDOVER_FACTS,
    )
    _immutable_fields = ("company_id",)

    name = fields.Char(string="Reference", required=True, readonly=True, copy=False, default="/")
    company_id = fields.Many2one(
        "res.company",
        string="Transferring Company",
        required=True,
        default=lambda self: self.env.company,
        tracking=True,
    )
    state = fields.Selection(
        [
            ("draft", "Draft"),
            ("confirmed", "Confirmed"),
            ("in_progress", "In progress"),
            ("verified", "Verified"),
            ("signed", "Signed"),
            ("done", "Done"),
            ("cancel", "Cancelled"),
        ],
        required=True,
        default="draft",
        copy=False,
        tracking=True,
    )
    reason = fields.Selection(
        [
            ("company_sale", "Sale of the company"),
            ("shareholders", "Change of shareholders"),
            ("shop_transfer", "Transfer of a shop"),
            ("team_handover", "Internal team handover"),
            ("other", "Other"),
        ],
        required=True,
        default="company_sale",
        tracking=True,
    )
    reason_note = fields.Text(string="Reason Details")
    receiver_id = fields.Many2one(
        "res.partner",
        string="Receiving Party",
        required=True,
        tracking=True,
        check_company=True,
        help="The new handler of the customers' personal information: customers are told its name and contact.",
    )
    receiver_contact = fields.Char(
        compute="_compute_receiver_contact",
        help="Name and contact details of the receiving party, as PIPL Art. 22 requires customers be told.",
    )
    date_planned = fields.Date(string="Planned Date", required=True, default=fields.Date.context_today, tracking=True)
    date_done = fields.Date(string="Completed On", readonly=True, copy=False, tracking=True)
    user_id = fields.Many2one(
        "res.users",
        string="Responsible (transferring)",
        required=True,
        default=lambda self: self.env.user,
        tracking=True,
        domain="[('share', '=', False)]",
    )
    receiver_responsible_id = fields.Many2one(
        "res.partner", string="Responsible (receiving)", tracking=True, check_company=True
    )
    receiver_user_id = fields.Many2one(
        "res.users",
        string="Receiving Responsible User",
        tracking=True,
        domain="[('share', '=', False)]",
        help="When the customers move inside this database: the user who becomes their salesperson, follows them "
        "and takes over their open activities. For a company of this database, one of its users.",
    )
    transfer_mode = fields.Selection(
        TRANSFER_MODES,
        compute="_compute_transfer_mode",
        help="Transfer package: the customers are copied to a receiver outside this database. Move: the receiver is "
        "a company of this database, or the handover is an internal team handover, and completing the handover "
        "moves the customers to it instead of copying them.",
    )
    nda_reference = fields.Char(string="Agreement Reference", tracking=True)
    nda_date = fields.Date(string="Agreement Signed On", tracking=True)
    nda_term_months = fields.Integer(string="Agreement Term (months)", tracking=True)
    nda_document = fields.Binary(string="Signed Agreement", attachment=True, copy=False)
    # The binary itself cannot be tracked: its file name, set with each upload, tells the chatter.
    nda_filename = fields.Char(string="Signed Agreement File", copy=False, tracking=True)
    purpose_ids = fields.Many2many(
        "customer.consent.purpose",
        string="Receiver's Purposes",
        check_company=True,
        help="What the receiving party will use the customers' information for; "
        "each customer needs valid consent for every one of them.",
    )
    receiver_abroad = fields.Boolean(string="Receiver Outside Mainland China", tracking=True)
    receiver_country_id = fields.Many2one("res.country", string="Receiver's Country")
    abroad_legal_basis = fields.Selection(ABROAD_BASES, string="Legal Basis for Export", tracking=True)
    archive_customers = fields.Boolean(
        string="Archive Customers on Completion",
        help="Archive the handed-over customers in the transferring company once the handover is done.",
    )
    line_ids = fields.One2many("customer.handover.line", "handover_id", string="Checklist")
    # The form shows the lines still on the checklist apart from the excluded ones, which fold away.
    checklist_line_ids = fields.One2many(
        "customer.handover.line", "handover_id", string="On the Checklist", domain=[("excluded", "=", False)]
    )
    excluded_line_ids = fields.One2many(
        "customer.handover.line", "handover_id", string="Excluded Lines", domain=[("excluded", "=", True), ON_RECORD]
    )
    export_ids = fields.One2many("customer.handover.export", "handover_id", string="Signed Exports")
    export_count = fields.Integer(compute="_compute_export_count")
    package_ids = fields.One2many("customer.handover.package", "handover_id", string="Transfer Packages")
    package_count = fields.Integer(compute="_compute_package_count")
    receiver_recipient = fields.Char(
        string="Receiver's Package Key", copy=False, readonly=True,
        help="The age public key (age1…) the receiving party gave: transfer packages are encrypted to it.",
    )
    receiver_recipient_fingerprint = fields.Char(
        string="Receiver's Key Fingerprint (SHA-256)", compute="_compute_receiver_recipient_fingerprint",
        help="Read it to the receiving party: it must match the key they gave (printf %s age1… | sha256sum).",
    )
    scope_run_count = fields.Integer(
        compute="_compute_scope_run", help="How many times Select Customers added customers to the checklist."
    )
    can_undo_scope = fields.Boolean(compute="_compute_scope_run")
    signing_key_missing = fields.Boolean(compute="_compute_signing_key_missing")
    line_count = fields.Integer(string="Checklist Lines", compute="_compute_line_stats")
    pending_count = fields.Integer(string="Pending", compute="_compute_line_stats")
    verified_count = fields.Integer(string="Verified", compute="_compute_line_stats")
    excluded_count = fields.Integer(string="Excluded", compute="_compute_line_stats")
    transfer_signer = fields.Char(string="Transferring Representative", copy=False, tracking=True)
    transfer_signature = fields.Image(copy=False, attachment=True, max_width=1024, max_height=1024)
    transfer_signed_on = fields.Datetime(copy=False, readonly=True)
    receiver_signer = fields.Char(string="Receiving Representative", copy=False, tracking=True)
    receiver_signature = fields.Image(copy=False, attachment=True, max_width=1024, max_height=1024)
    receiver_signed_on = fields.Datetime(copy=False, readonly=True)
    transfer_sign_channel = fields.Selection(
        SIGN_CHANNELS, string="Transferring Party Signed", copy=False, readonly=True, tracking=True
    )
    transfer_signer_user_id = fields.Many2one(
        "res.users", string="Transferring Signer (User)", copy=False, readonly=True, tracking=True
    )
    transfer_witness_id = fields.Many2one(
        "res.users", string="Transferring Signature Witnessed By", copy=False, readonly=True, tracking=True
    )
    transfer_sign_email = fields.Char(string="Transferring Signing Link Sent To", copy=False, readonly=True)
    transfer_sign_ip = fields.Char(string="Transferring Signature IP Address", copy=False, readonly=True)
    transfer_sign_request_id = fields.Many2one(
        "customer.handover.sign.request", string="Transferring Signing Link", copy=False, readonly=True
    )
    transfer_sign_note = fields.Char(string="How the Transferring Party Signed", compute="_compute_sign_note")
    receiver_sign_channel = fields.Selection(
        SIGN_CHANNELS, string="Receiving Party Signed", copy=False, readonly=True, tracking=True
    )
    receiver_signer_user_id = fields.Many2one(
        "res.users", string="Receiving Signer (User)", copy=False, readonly=True, tracking=True
    )
    receiver_witness_id = fields.Many2one(
        "res.users", string="Receiving Signature Witnessed By", copy=False, readonly=True, tracking=True
    )
    receiver_sign_email = fields.Char(string="Receiving Signing Link Sent To", copy=False, readonly=True)
    receiver_sign_ip = fields.Char(string="Receiving Signature IP Address", copy=False, readonly=True)
    receiver_sign_request_id = fields.Many2one(
        "customer.handover.sign.request", string="Receiving Signing Link", copy=False, readonly=True
    )
    receiver_sign_note = fields.Char(string="How the Receiving Party Signed", compute="_compute_sign_note")
    sign_request_ids = fields.One2many("customer.handover.sign.request", "handover_id", string="Signing Links")
    signature_status = fields.Char(
        string="Signatures", compute="_compute_signature_status", help="How many of the two parties have signed."
    )
    is_signed = fields.Boolean(
        compute="_compute_is_signed", help="A party has signed: the checklist is frozen, whatever happens next."
    )
    cancel_reason = fields.Text(string="Cancellation Reason", copy=False, readonly=True, tracking=True)
    cancelled_by_id = fields.Many2one("res.users", copy=False, readonly=True)
    cancelled_on = fields.Datetime(copy=False, readonly=True)
    job_ids = fields.One2many("customer.handover.job", "handover_id", string="Background Steps")
    active_job_id = fields.Many2one(
        help="The step running in the background, or stopped on an error and waiting for its user.")

    _sql_constraints = [
        ("nda_term_positive", "CHECK (nda_term_months IS NULL OR nda_term_months >= 0)",
         "The confidentiality agreement's term cannot be negative."),
    ]

    @api.constrains("receiver_id")
    def _check_receiver_contact(self):
        for handover in self:
            receiver = handover.receiver_id
            if not (receiver.name or "").strip() or not (receiver.email or receiver.phone or receiver.mobile):
                raise ValidationError(
                    self.env._(
                        "Customers must be told who now holds their data: give the receiving party “%(receiver)s” "
                        "a name and an email or phone number.",
                        receiver=receiver.display_name or "",
                    )
                )

    @api.constrains("receiver_abroad", "receiver_country_id")
    def _check_receiver_country(self):
        for handover in self:
            if handover.receiver_abroad and not handover.receiver_country_id:
                raise ValidationError(self.env._("Say in which country the receiving party is."))

    @api.constrains("receiver_abroad", "abroad_legal_basis")
    def _check_abroad_legal_basis(self):
        for handover in self:
            if handover.receiver_abroad and not handover.abroad_legal_basis:
                raise ValidationError(
                    self.env._("The receiving party is outside mainland China: choose the legal basis for export "
                               "(PIPL Art. 38) under Parties, or every customer would be ineligible.")
                )

    @api.constrains("receiver_user_id", "receiver_id", "reason", "company_id")
    def _check_receiver_user(self):
        for handover in self:
            user = handover.receiver_user_id
            target = handover._receiving_company() if handover.transfer_mode == "company" else handover.company_id
            # sudo: which companies the user works for, whether or not the current user may read them
            if user and handover.transfer_mode != "package" and target not in user.sudo().company_ids:
                raise ValidationError(
                    self.env._(
                        "%(user)s is not a user of %(company)s: choose a user of the receiving company who takes "
                        "the customers over.",
                        user=user.display_name, company=target.sudo().display_name,
                    )
                )

    @api.constrains("archive_customers", "receiver_id", "reason")
    def _check_archive_not_moved(self):
        for handover in self:
            if handover.archive_customers and handover.transfer_mode != "package":
                raise ValidationError(
                    self.env._("Customers that move inside this database stay active with their new holder: "
                               "untick “Archive Customers on Completion”.")
                )

    @api.depends("reason", "receiver_id.commercial_partner_id", "company_id")
    def _compute_transfer_mode(self):
        for handover in self:
            company = handover._receiving_company()
            if handover.reason == "team_handover" or company == handover.company_id:
                handover.transfer_mode = "team"
            else:
                handover.transfer_mode = "company" if company else "package"

    @api.depends("receiver_id.name", "receiver_id.email", "receiver_id.phone", "receiver_id.contact_address")
    def _compute_receiver_contact(self):
        for handover in self:
            receiver = handover.receiver_id
            parts = [receiver.name, receiver.email, receiver.phone or receiver.mobile]
            handover.receiver_contact = " · ".join(part for part in parts if part)

    @api.depends("line_ids.state", "line_ids.excluded")
    def _compute_line_stats(self):
        stats = {
            (handover, state, excluded): count
            for handover, state, excluded, count in self.env["customer.handover.line"]._read_group(
                [("handover_id", "in", self.ids), ON_RECORD], ["handover_id", "state", "excluded"], ["__count"]
            )
        }
        for handover in self:
            counts = {key[1:]: value for key, value in stats.items() if key[0] == handover}
            handover.line_count = sum(counts.values())
            handover.excluded_count = sum(value for (_state, excluded), value in counts.items() if excluded)
            handover.verified_count = counts.get(("verified", False), 0)
            handover.pending_count = counts.get(("pending", False), 0)

    @api.depends("line_ids.scope_run", "state")
    def _compute_scope_run(self):
        # Read as two figures per handover, not line by line: a checklist may hold a million lines.
        extremes = {handover.id: (highest, lowest) for handover, highest, lowest in self.env[
            "customer.handover.line"]._read_group([("handover_id", "in", self.ids)], ["handover_id"],
                                                  ["scope_run:max", "scope_run:min"])}
        for handover in self:
            # An undone run's lines keep its number negated: the next run takes the next number.
            highest, lowest = extremes.get(handover.id, (0, 0))
            handover.scope_run_count = max(highest, -lowest, 0)
            # the last run is undoable while its number is still on lines, not negated
            handover.can_undo_scope = (
                handover.state == "draft" and not handover.is_signed and handover.id in extremes
                and highest == handover.scope_run_count
            )

    @api.depends("job_ids.state", "job_ids.done_count", "job_ids.error")
    @api.depends_context("lang")
    def _compute_active_job(self):
        return super()._compute_active_job()

    def _active_jobs(self):
        # sudo: which step runs on a handover the user reads is the user's business, the job's facts are not secret
        jobs = self.env["customer.handover.job"].sudo().search(
            [("handover_id", "in", self.ids), ("state", "in", ACTIVE_STATES)])
        return {job.handover_id.id: job for job in jobs}

    @api.depends("export_ids")
    def _compute_export_count(self):
        counts = dict(self.env["customer.handover.export"]._read_group(
            [("handover_id", "in", self.ids)], ["handover_id"], ["__count"]
        ))
        for handover in self:
            handover.export_count = counts.get(handover, 0)

    @api.depends("package_ids")
    def _compute_package_count(self):
        counts = dict(self.env["customer.handover.package"]._read_group(
            [("handover_id", "in", self.ids)], ["handover_id"], ["__count"]
        ))
        for handover in self:
            handover.package_count = counts.get(handover, 0)

    @api.depends("receiver_recipient")
    def _compute_receiver_recipient_fingerprint(self):
        for handover in self:
            handover.receiver_recipient_fingerprint = (
                handover.receiver_recipient and tp.recipient_fingerprint(handover.receiver_recipient)[1]
            )

    @api.depends("transfer_signed_on", "receiver_signed_on")
    def _compute_is_signed(self):
        for handover in self:
            handover.is_signed = bool(handover.transfer_signed_on or handover.receiver_signed_on)

    @api.depends("name")
    @api.depends_context("lang")
    def _compute_display_name(self):
        for handover in self:
            # A handover is numbered on its first save; until then it is not titled "/".
            handover.display_name = handover.name if handover.name not in (False, "/") else self.env._("New Handover")

    @api.depends("transfer_signed_on", "receiver_signed_on")
    @api.depends_context("lang")
    def _compute_signature_status(self):
        for handover in self:
            transfer, receiver = bool(handover.transfer_signed_on), bool(handover.receiver_signed_on)
            if transfer and receiver:
                handover.signature_status = self.env._("2 of 2 signed: both parties")
            elif transfer:
                handover.signature_status = self.env._("1 of 2 signed: the receiving party still signs")
            elif receiver:
                handover.signature_status = self.env._("1 of 2 signed: the transferring party still signs")
            else:
                handover.signature_status = self.env._("0 of 2 signed")

    @api.depends(*SIGNATURE_FIELDS)
    @api.depends_context("lang")
    def _compute_sign_note(self):
        for handover in self:
            for side in SIDES:
                handover[f"{side}_sign_note"] = handover._sign_note(side)

    @api.depends("company_id")
    def _compute_signing_key_missing(self):
        for handover in self:
            # sudo: only whether the company can sign is read; the key itself is an officer's setting.
            handover.signing_key_missing = not handover.company_id.sudo().handover_certificate_id.is_valid

    @api.model_create_multi
    def create(self, vals_list):
        handovers = super().create(vals_list)
        with evidence_step(self._name, "name"):
            for handover in handovers.filtered(lambda handover: handover.name == "/"):
                sequence = self.env["ir.sequence"].with_company(handover.company_id)
                handover.name = sequence.next_by_code("customer.handover") or "/"
        self.env["customer.handover.event"]._append_for(handovers, "handover_created")
        return handovers

    def write(self, vals):
        steps = {name for name in vals if is_unlocked(self._name, name)}
        frozen = sorted(set(vals) - steps - {name for name in vals if name.startswith(("message_", "activity_"))})
        if frozen and any(handover.is_signed for handover in self):
            self._log_refused_attempt(frozen, "write")
            raise UserError(
                self.env._("A signed handover is frozen: %(fields)s can no longer be changed.",
                           fields=self._field_labels(frozen))
            )
        terms = [name for name in vals if name in TERMS_FIELDS]
        if terms and self._terms_checked():
            self._log_refused_attempt(terms, "write")
            raise UserError(
                self.env._(
                    "The checklist of %(handover)s was checked against %(fields)s: they cannot change once the "
                    "handover is confirmed or customers are on its checklist. Cancel it and start a new handover.",
                    handover=self[0].name, fields=self._field_labels(terms),
                )
            )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_only_unstarted(self):
        self._check_manager()
        self._check_idle()
        kept = self.filtered(lambda handover: handover.state not in ("draft", "cancel") or handover.is_signed
                             or handover.export_ids)
        if kept:
            raise UserError(
                self.env._("%(handover)s is evidence of a handover that went ahead: cancel it, it cannot be deleted.",
                           handover=kept[0].name)
            )
        self.env["customer.handover.event"]._append_for(self, "handover_deleted")

    def action_confirm(self):
        self._check_manager()
        self._check_state("draft")
        self._step("state", {"state": "confirmed"}, "handover_confirmed")

    def action_start(self):
        self._check_manager()
        self._check_state("confirmed")
        for handover in self:
            if not (handover.nda_reference and handover.nda_date and handover.nda_document):
                raise UserError(
                    self.env._(
                        "%(handover)s cannot start before the confidentiality agreement is recorded: enter its "
                        "reference, the date it was signed and attach the signed document.",
                        handover=handover.name,
                    )
                )
            if not handover.line_ids:
                raise UserError(
                    self.env._("%(handover)s has an empty checklist: add customers with Select Customers first.",
                               handover=handover.name)
                )
        self._step("state", {"state": "in_progress"}, "handover_started")
        # The agreement the handover started under is evidence from now on: never replaced, changed or deleted.
        self.env["ir.attachment"]._mark_handover_evidence(self, "nda_document")

    def action_cancel(self):
        """Open the cancellation dialog, which asks why."""
        self._check_manager()
        self._check_idle()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Cancel the handover"),
            "res_model": "customer.handover.cancel",
            "view_mode": "form",
            "target": "new",
            "context": {"default_handover_ids": self.ids},
        }

    def _cancel(self, reason):
        """Cancel with a reason; a signed handover stays signed and frozen, with its cancellation recorded."""
        self._check_manager()
        if self.filtered(lambda handover: handover.state == "done"):
            raise UserError(self.env._("A completed handover cannot be cancelled."))
        self._check_state(*OPEN_STATES)
        if not (reason or "").strip():
            raise UserError(self.env._("Say why the handover is cancelled."))
        values = {"state": "cancel", "cancel_reason": reason.strip(), "cancelled_by_id": self.env.uid,
                  "cancelled_on": fields.Datetime.now()}
        self._step(tuple(values), values, "handover_cancelled")

    def action_draft(self):
        self._check_manager()
        self._check_state("cancel")
        signed = self.filtered("is_signed")
        if signed:
            raise UserError(
                self.env._("%(handover)s was signed before it was cancelled: it stays cancelled. Start a new "
                           "handover instead.", handover=signed[0].name)
            )
        values = {"state": "draft", "cancel_reason": False, "cancelled_by_id": False, "cancelled_on": False}
        self._step(tuple(values), values, "handover_redrafted")

    def action_mark_verified(self):
        self._check_state("in_progress")
        for handover in self:
            # counted in the database: loading every line would grow the request with the checklist
            open_count = self.env["customer.handover.line"].search_count(
                [("handover_id", "=", handover.id), ("state", "!=", "verified"), ("excluded", "=", False)])
            if open_count:
                raise UserError(
                    self.env._(
                        "%(count)s checklist lines of %(handover)s are neither verified nor excluded with a reason; "
                        "verify them or exclude them first.",
                        count=open_count,
                        handover=handover.name,
                    )
                )
        self._step("state", {"state": "verified"}, "checklist_all_verified")

    def action_open_sign(self):
        self.ensure_one()
        self._check_state("verified")
        self._check_idle()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Sign the handover"),
            "res_model": "customer.handover.sign",
            "view_mode": "form",
            "target": "new",
            "context": {"default_handover_id": self.id},
        }

    def action_done(self):
        """Complete the handover: stamp the customers handed over and, inside this database, move them.

        A move of more customers than the background threshold is checked batch by batch in the background, then
        made in one last step; the handover is done once it is made.
        """
        self._check_manager()
        self._check_state("signed")
        self._check_idle()
        Job = self.env["customer.handover.job"]
        started = Job
        for handover in self:
            customers = handover._handed_over_customers()
            if handover.transfer_mode != "package" and len(customers) > Job._threshold():
                started |= handover._start_move()
            else:
                handover._complete(customers)
        return started[:1]._started_action() if started else True

    def _handed_over_customers(self):
        """The customers this handover hands over: its verified customer lines not excluded."""
        self.ensure_one()
        return self.line_ids.filtered(
            lambda line: line.line_type == "customer" and line.state == "verified" and not line.excluded
        ).partner_id

    def _complete(self, customers):
        """Hand ``customers`` over (inside this database: move them) and mark the handover done."""
        self.ensure_one()
        if self.transfer_mode != "package":
            self._move_customers(customers)
        else:
            self._stamp_customers(customers)
            if self.archive_customers:
                customers.action_archive()
        log_note(self, "mt_handed_over", f"{self.receiver_id.display_name} ({len(customers)})")
        self._step(("state", "date_done"), {"state": "done", "date_done": fields.Date.context_today(self)},
                   "handover_done")

    def action_select_customers(self):
        self.ensure_one()
        if self.state not in ("draft", "confirmed"):
            raise UserError(self.env._("Customers can only be added to a handover that has not started."))
        self._check_idle()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Select customers"),
            "res_model": "customer.handover.scope",
            "view_mode": "form",
            "target": "new",
            "context": {"default_handover_id": self.id},
        }

    def action_export_checklist(self):
        """Seal the checklist with the company's key and show the export, ready to download.

        The export opens in a dialog: closing it reloads this form, which then counts the new export. A checklist
        longer than the background threshold is exported in the background; the user is told when it is ready.
        """
        self.ensure_one()
        Export = self.env["customer.handover.export"]
        if Export._line_count(self) > self.env["customer.handover.job"]._threshold():
            return Export._start_for(self)._started_action()
        export = Export._create_for(self)
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Signed checklist sealed"),
            "res_model": export._name,
            "res_id": export.id,
            "view_mode": "form",
            "target": "new",
        }

    def action_open_package_wizard(self):
        """Open the dialog that makes a transfer package for the receiving party."""
        self.ensure_one()
        self.env["customer.handover.package"]._check_manager()
        self._check_state("signed", "done")
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Export a transfer package"),
            "res_model": "customer.handover.pack",
            "view_mode": "form",
            "target": "new",
            "context": {"default_handover_id": self.id},
        }

    def action_open_packages(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Transfer packages"),
            "res_model": "customer.handover.package",
            "view_mode": "list,form",
            "domain": [("handover_id", "=", self.id)],
            "context": {"default_handover_id": self.id},
        }

    def _set_receiver_recipient(self, recipient):
        """Record the receiver's package key (a step: the handover may be signed and frozen by then)."""
        self.ensure_one()
        self.env["customer.handover.package"]._check_manager()
        try:
            recipient, found = tp.recipient_fingerprint(recipient)
        except tp.PackageError as error:
            raise UserError(self.env._("The receiver's key is not an age public key (age1…): %(reason)s",
                                       reason=error)) from error
        if recipient != self.receiver_recipient:
            self._step("receiver_recipient", {"receiver_recipient": recipient}, "receiver_key_recorded",
                       {"fingerprint": found})
        return recipient

    def action_create_signing_key(self):
        self.ensure_one()
        return self.company_id.action_handover_create_signing_key()

    def action_verify_all_pending(self):
        """Verify every pending line of the checklist that can be verified, and say what was skipped.

        More lines than the background threshold are verified by a background step, batch by batch.
        """
        self.ensure_one()
        self._check_state("in_progress")
        Line = self.env["customer.handover.line"]
        Job = self.env["customer.handover.job"]
        domain = [("handover_id", "=", self.id), ("to_verify", "=", True)]
        threshold = Job._threshold()
        if Line.search_count(domain, limit=threshold + 1) <= threshold:
            return self.line_ids.action_verify_pending()
        self.check_access("write")
        Line.check_access("write")
        query = Line._search(domain, order="id")
        return Job._start(self, "verify", query.select("customer_handover_line.id"))._started_action()

    def action_job_continue(self):
        """Let the step that stopped on an error go on without the record it stopped on."""
        self.ensure_one()
        return self.active_job_id.with_env(self.env).action_continue()

    def action_job_cancel(self):
        """Cancel the step running in the background, undoing what it did."""
        self.ensure_one()
        return self.active_job_id.with_env(self.env).action_cancel()

    def action_undo_scope(self):
        """Take the last Select Customers run off the checklist before confirmation: its lines are excluded."""
        self.ensure_one()
        self._check_state("draft")
        self._check_checklist_open()
        self._check_idle()
        run = self.scope_run_count
        lines = self.line_ids.filtered(lambda line: run and line.scope_run == run)
        if not lines or not self.can_undo_scope:
            raise UserError(self.env._("%(handover)s has no selection of customers to undo.", handover=self.name))
        if lines.filtered(lambda line: line.eligibility == "admitted"):
            raise UserError(
                self.env._("A data-protection officer admitted customers of the last selection: exclude the lines "
                           "one by one with a reason instead.")
            )
        self._undo_lines(lines, run)
        lines._log_to_chatter("scope_undone")
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    def _undo_lines(self, lines, run):
        """Take ``lines`` of selection ``run`` off the record: excluded as undone, their run negated, and logged."""
        kept = lines.filtered("excluded")
        with evidence_step(lines._name, "scope_run", "excluded", "exclusion_reason"):
            kept.write({"scope_run": -run})
            (lines - kept).write({"scope_run": -run, "excluded": True, "exclusion_reason": self._undone_reason()})
        self.env["customer.handover.event"]._append_for(
            lines, "scope_undone", {"handover": self.id, "run": run}, self.company_id
        )

    def _undone_reason(self, env=None):
        """The exclusion reason of an undone selection: stored in the company's language, shown in ``env``'s."""
        env = env or self.company_id._handover_lang_env()
        return env._("Selection of customers undone before confirmation")

    def action_open_lines(self):
        """This handover's checklist lines, filtered as the smart button that opens them says."""
        self.ensure_one()
        line_filter = self.env.context.get("line_filter")
        # The list's Mark as Verified button reads the state: it shows only where lines can be verified.
        context = {"default_handover_id": self.id, "search_default_handover_id": self.id, "handover_state": self.state}
        if line_filter in ("to_verify", "verified", "excluded"):
            context[f"search_default_filter_{line_filter}"] = 1
        action = self.env["ir.actions.act_window"]._for_xml_id("customer_handover.customer_handover_line_action")
        action.update({"domain": [("handover_id", "=", self.id)], "context": context,
                       "name": self.env._("Checklist of %(handover)s", handover=self.name)})
        return action

    def action_open_exports(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Signed exports"),
            "res_model": "customer.handover.export",
            "view_mode": "list,form",
            "domain": [("handover_id", "=", self.id)],
            "context": {"default_handover_id": self.id},
        }

    def _current_export(self):
        """The current export of the checklist, if any: the one the printed record and new packages point to."""
        self.ensure_one()
        return self.export_ids.filtered(lambda export: export.state == "current")[:1]

    def _check_checklist_open(self):
        frozen = self.filtered(lambda handover: handover.is_signed)
        if frozen:
            raise UserError(
                self.env._("The checklist of %(handover)s is signed and frozen: it can no longer be changed.",
                           handover=frozen[0].name)
            )
        closed = self.filtered(lambda handover: handover.state not in CHECKLIST_OPEN_STATES)
        if closed:
            raise UserError(
                self.env._("The checklist of %(handover)s can no longer be changed: it is %(state)s.",
                           handover=closed[0].name,
                           state=dict(self._fields["state"]._description_selection(self.env))[closed[0].state])
            )

    def _terms_checked(self):
        """Whether customers were checked against these handovers' terms: confirmed, or customers on a checklist."""
        if any(handover.state != "draft" for handover in self):
            return True
        return bool(self.env["customer.handover.line"].search_count(
            [("handover_id", "in", self.ids), ("line_type", "=", "customer")], limit=1
        ))

    def _field_labels(self, names):
        return ", ".join(f"“{self._fields[name]._description_string(self.env)}”" for name in names
                         if name in self._fields)

    def _check_idle(self):
        """Refuse a step on these handovers while a background step of theirs runs or waits for its user."""
        # sudo: whether a step runs on a handover is the business of every user who acts on it
        job = self.env["customer.handover.job"].sudo().search(
            [("handover_id", "in", self.ids), ("state", "in", ACTIVE_STATES), ("id", "!=", running_job_id())],
            limit=1)
        if not job:
            return
        if job.state == "failed":
            raise UserError(self.env._(
                "%(handover)s is waiting: %(step)s stopped on an error. Continue it without that record, or cancel "
                "it, on the handover first.", handover=job.handover_id.name, step=job._kind_label()))
        raise UserError(self.env._(
            "%(handover)s is busy: %(step)s runs in the background (%(done)s of %(total)s). Wait until it ends, or "
            "cancel it on the handover.", handover=job.handover_id.name, step=job._kind_label(),
            done=job.done_count + job.skipped_count, total=job.total))

    def _step(self, field_names, values, event, payload=None):
        """Write a step's facts, which only a step may set, and log it."""
        self._check_idle()
        field_names = (field_names,) if isinstance(field_names, str) else field_names
        with evidence_step(self._name, *field_names):
            self.write(values)
        self.env["customer.handover.event"]._append_for(self, event, payload)

    def _sign(self, side, signer, signature, *, channel, link=None, ip_address=None):
        """Record one party's signature and how it was given; both parties signed moves the handover to signed.

        ``channel``: ``user`` (the logged-in user signs as themself), ``in_person`` (a representative signs in
        front of the logged-in user, who witnesses) or ``link`` (through ``link``, a personal signing link).
        """
        self.ensure_one()
        self._check_state("verified")
        user = self.env.user
        if channel == "user":
            self._check_signs_as_self(side)
            signer = user.name
        signer = (signer or "").strip()
        if not signer or not signature:
            raise UserError(self.env._("Enter the representative's name and draw the signature."))
        other = "receiver" if side == "transfer" else "transfer"
        if self[f"{other}_signer"] and self[f"{other}_signer"].strip().casefold() == signer.casefold():
            raise UserError(
                self.env._("%(signer)s already signed for the other party: each side signs with its own "
                           "representative.", signer=signer)
            )
        if self[f"{side}_signed_on"]:
            raise UserError(self.env._("This side has already signed."))
        if self.transfer_mode != "package" and not self.receiver_user_id:
            raise UserError(
                self.env._("The customers of %(handover)s move inside this database: choose the receiving responsible "
                           "user under Parties before signing; a signed handover can no longer be changed.",
                           handover=self.name)
            )
        values = {f"{side}_signer": signer, f"{side}_signature": signature, f"{side}_signed_on": fields.Datetime.now(),
                  f"{side}_sign_channel": channel, f"{side}_sign_ip": ip_address or False}
        if channel == "user":
            values[f"{side}_signer_user_id"] = user.id
        elif channel == "in_person":
            values[f"{side}_witness_id"] = user.id
        elif channel == "link" and link and link.handover_id == self and link.side == side:
            values.update({f"{side}_sign_email": link.email, f"{side}_sign_request_id": link.id})
        else:
            raise UserError(self.env._("Choose how the representative signs: as yourself, in person or from a link."))
        if self.transfer_signed_on or self.receiver_signed_on:
            values["state"] = "signed"
        payload = {"side": side, "channel": channel, **({"link": link.id} if link else {})}
        self._step(tuple(values), values, "handover_signed", payload)
        return True

    def _check_signs_as_self(self, side):
        """The logged-in user signs one side as themself: never both, and the receiving side only as its user."""
        user = self.env.user
        other = "receiver" if side == "transfer" else "transfer"
        if self[f"{other}_signer_user_id"] == user:
            raise UserError(
                self.env._("You already signed for the other party: the same person cannot sign for both sides. "
                           "Send the representative a signing link, or choose “In person” if they sign in front "
                           "of you; you are then recorded as the witness.")
            )
        if side == "receiver" and user != self.receiver_user_id:
            raise UserError(
                self.env._("You are not the receiving party: its representative signs from a personal link, or in "
                           "person in front of you, recorded as witnessed by you.")
            )

    def _sign_note(self, side):
        """How ``side`` signed, in the reader's language: empty before it signs (and for older signatures)."""
        channel, user = self[f"{side}_sign_channel"], self[f"{side}_signer_user_id"]
        witness, email, address = self[f"{side}_witness_id"], self[f"{side}_sign_email"], self[f"{side}_sign_ip"]
        if channel == "user":
            return self.env._("Signed in Odoo by %(user)s, logged in", user=user.name)
        if channel == "in_person":
            return self.env._("Signed in person, witnessed by %(user)s", user=witness.name)
        if channel == "link":
            return self.env._("Signed from a personal link sent to %(email)s, from the address %(ip)s",
                              email=email, ip=address or "?")
        return ""

    def _send_sign_link(self, side, partner, signer_name=None):
        """Send ``partner`` a personal link to sign ``side``: a manager's step, the handover waiting for signatures."""
        self.ensure_one()
        if not self.env.user.has_group(MANAGER):
            raise AccessError(self.env._("Only handover managers can send a signing link."))
        self.check_access("write")
        self._check_state("verified")
        if self[f"{side}_signed_on"]:
            raise UserError(self.env._("This side has already signed."))
        email = partner.email_normalized
        if not email:
            raise UserError(
                self.env._("%(contact)s has no valid email: the link and its code are sent there. Add one to the "
                           "contact, or choose another.", contact=partner.display_name or "")
            )
        other = "receiver" if side == "transfer" else "transfer"
        signer_user = self[f"{other}_signer_user_id"]
        if signer_user and email in (signer_user.email_normalized, (signer_user.login or "").lower()):
            raise UserError(
                self.env._("%(email)s belongs to %(user)s, who signed for the other party: the same person cannot "
                           "sign for both sides.", email=email, user=signer_user.name)
            )
        link = self.env["customer.handover.sign.request"]._send(self, side, partner, signer_name or partner.name)
        env = self.company_id._handover_lang_env()
        party = env._("receiving party") if side == "receiver" else env._("transferring party")
        self._message_log(body=env._("Signing link for the %(party)s sent to %(email)s; it expires on %(date)s (UTC).",
                                     party=party, email=email, date=link.expires_on))
        return link

    def _stamp_customers(self, customers):
        """Record on each customer that this handover handed it over, and when."""
        with evidence_step("res.partner", "handover_id", "handover_date"):
            customers.write({"handover_id": self.id, "handover_date": fields.Date.context_today(self)})

    def _receiving_company(self):
        """The company of this database the receiving party belongs to, if any."""
        self.ensure_one()
        commercial = self.receiver_id.commercial_partner_id
        if not commercial:
            return self.env["res.company"]
        # sudo: whether the receiver is a company of this database, which the user may not be allowed to open
        return self.env["res.company"].sudo().search([("partner_id", "=", commercial.id)], limit=1)

    def _check_manager(self):
        if not self.env.user.has_group(MANAGER):
            raise AccessError(self.env._("Only handover managers can confirm, start, cancel or complete a handover."))

    def _check_state(self, *states):
        wrong = self.filtered(lambda handover: handover.state not in states)
        if wrong:
            labels = dict(self._fields["state"]._description_selection(self.env))
            raise UserError(
                self.env._(
                    "%(handover)s is %(state)s; this step needs it to be %(expected)s.",
                    handover=wrong[0].name,
                    state=labels[wrong[0].state],
                    expected=self.env._(" or ").join(labels[state] for state in states),
                )
            )

