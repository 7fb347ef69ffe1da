import base64
from datetime import timezone

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL, format_date, split_every
from odoo.tools.image import image_data_uri

from ..tools import checklist as ck
from ..tools import transfer_package as tp
from .customer_handover_evidence_mixin import evidence_step, is_unlocked
from .customer_handover_export import BATCH, LINE_COLUMNS
from .customer_handover_line import PUBLIC_REASONS
from .customer_handover_package import CONTACT_FIELDS
from .res_partner import MOVE_FIELDS

MANAGER = "customer_handover.group_handover_manager"
OPEN_STATES = ("draft", "confirmed", "in_progress", "verified", "signed")
# States in which the checklist may still change; a signature freezes it whatever the state.
CHECKLIST_OPEN_STATES = ("draft", "confirmed", "in_progress")
# What each customer's eligibility was checked against when it was put on the checklist.
TERMS_FIELDS = ("receiver_id", "purpose_ids", "receiver_abroad", "receiver_country_id", "abroad_legal_basis")
SIGNATURE_FIELDS = (
    "transfer_signer", "transfer_signature", "transfer_signed_on",
    "receiver_signer", "receiver_signature", "receiver_signed_on",
)
# Customers moved inside the database per batch: a constant number of queries each.
MOVE_BATCH = 2000
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
    _inherit = ["mail.thread", "mail.activity.mixin", "customer.handover.evidence.mixin"]
    _order = "date_planned desc, id desc"
    _check_company_auto = True
    _evidence_fields = (
        "name", "state", "date_done", *SIGNATURE_FIELDS, "cancel_reason", "cancelled_by_id", "cancelled_on",
        "receiver_recipient",
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
    nda_term_months = fields.Integer(string="Agreement Term (months)")
    nda_document = fields.Binary(string="Signed Agreement", attachment=True, copy=False)
    nda_filename = fields.Char(copy=False)
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
        "customer.handover.line", "handover_id", string="Excluded Lines", domain=[("excluded", "=", True)]
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
    line_count = fields.Integer(compute="_compute_line_stats")
    pending_count = fields.Integer(compute="_compute_line_stats")
    verified_count = fields.Integer(compute="_compute_line_stats")
    excluded_count = fields.Integer(compute="_compute_line_stats")
    transfer_signer = fields.Char(string="Transferring Representative", copy=False, tracking=True)
    transfer_signature = fields.Image(copy=False, attachment=True, max_width=1024, max_height=1024)
    transfer_signed_on = fields.Datetime(copy=False, readonly=True)
    receiver_signer = fields.Char(string="Receiving Representative", copy=False, tracking=True)
    receiver_signature = fields.Image(copy=False, attachment=True, max_width=1024, max_height=1024)
    receiver_signed_on = fields.Datetime(copy=False, readonly=True)
    signature_status = fields.Char(
        string="Signatures", compute="_compute_signature_status", help="How many of the two parties have signed."
    )
    is_signed = fields.Boolean(
        compute="_compute_is_signed", help="A party has signed: the checklist is frozen, whatever happens next."
    )
    cancel_reason = fields.Text(string="Cancellation Reason", copy=False, readonly=True, tracking=True)
    cancelled_by_id = fields.Many2one("res.users", copy=False, readonly=True)
    cancelled_on = fields.Datetime(copy=False, readonly=True)

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
                [("handover_id", "in", self.ids)], ["handover_id", "state", "excluded"], ["__count"]
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
        for handover in self:
            # An undone run's lines keep its number negated: the next run takes the next number.
            runs = handover.line_ids.mapped("scope_run")
            handover.scope_run_count = max((abs(run) for run in runs), default=0)
            handover.can_undo_scope = (
                handover.state == "draft" and not handover.is_signed and handover.scope_run_count in runs
            )

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
            open_lines = handover.line_ids.filtered(lambda line: line.state != "verified" and not line.excluded)
            if open_lines:
                raise UserError(
                    self.env._(
                        "%(count)s checklist lines of %(handover)s are neither verified nor excluded with a reason; "
                        "verify them or exclude them first.",
                        count=len(open_lines),
                        handover=handover.name,
                    )
                )
        self._step("state", {"state": "verified"}, "handover_verified")

    def action_open_sign(self):
        self.ensure_one()
        self._check_state("verified")
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Sign the handover"),
            "res_model": "customer.handover.sign",
            "view_mode": "form",
            "target": "new",
            "context": {"default_handover_id": self.id},
        }

    def action_done(self):
        """Complete the handover: stamp the customers handed over and, inside this database, move them."""
        self._check_manager()
        self._check_state("signed")
        for handover in self:
            customers = handover.line_ids.filtered(
                lambda line: line.line_type == "customer" and line.state == "verified" and not line.excluded
            ).partner_id
            if handover.transfer_mode != "package":
                handover._move_customers(customers)
            else:
                handover._stamp_customers(customers)
                if handover.archive_customers:
                    customers.action_archive()
            handover._message_log(
                body=handover._company_env()._("%(count)s customers handed over to %(receiver)s.",
                                count=len(customers), receiver=handover.receiver_id.display_name)
            )
        self._step(("state", "date_done"), {"state": "done", "date_done": fields.Date.context_today(self)},
                   "handover_done")

    def action_select_customers(self):
        self.ensure_one()
        if self.state not in ("draft", "confirmed"):
            raise UserError(self.env._("Customers can only be added to a handover that has not started."))
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

        The export opens in a dialog: closing it reloads this form, which then counts the new export.
        """
        self.ensure_one()
        export = self.env["customer.handover.export"]._create_for(self)
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

    def _ensure_backup(self):
        """Keep a signed, encrypted backup of the scope before the customers move; return it."""
        self.ensure_one()
        # Serialise with the handover's other packages, so that two first packages keep one backup.
        self.env.cr.execute(SQL("SELECT id FROM customer_handover WHERE id = %s FOR UPDATE", self.id))
        backup = self.env["customer.handover.package"].search(
            [("handover_id", "=", self.id), ("kind", "=", "backup")], limit=1)
        return backup or self.env["customer.handover.package"]._create_for(self, "backup")

    def action_create_signing_key(self):
        self.ensure_one()
        return self.company_id.action_handover_create_signing_key()

    def action_verify_all_pending(self):
        """Verify every pending line of the checklist that can be verified, and say what was skipped."""
        self.ensure_one()
        self._check_state("in_progress")
        return self.line_ids.action_verify_pending()

    def action_undo_scope(self):
        """Take the last Select Customers run off the checklist before confirmation: its lines are excluded."""
        self.ensure_one()
        self._check_state("draft")
        self._check_checklist_open()
        run = self.scope_run_count
        lines = self.line_ids.filtered(lambda line: run and line.scope_run == run)
        if not lines or not self.can_undo_scope:
            raise UserError(self.env._("%(handover)s has no selection of customers to undo.", handover=self.name))
        if lines.filtered(lambda line: line.eligibility == "admitted"):
            raise UserError(
                self.env._("A data-protection officer admitted customers of the last selection: exclude the lines "
                           "one by one with a reason instead.")
            )
        kept = lines.filtered("excluded")
        with evidence_step(lines._name, "scope_run", "excluded", "exclusion_reason"):
            kept.write({"scope_run": -run})
            (lines - kept).write({"scope_run": -run, "excluded": True, "exclusion_reason": self._undone_reason()})
        self.env["customer.handover.event"]._append_for(
            lines, "scope_undone", {"handover": self.id, "run": run}, self.company_id
        )
        lines._log_to_chatter("scope_undone")
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    def _undone_reason(self):
        """The exclusion reason of an undone selection, in the company's language: every reader reads the line."""
        return self._company_env()._("Selection of customers undone before confirmation")

    def _company_env(self):
        """An environment in the transferring company's language, for texts stored for every reader alike.

        Chatter notes and stored reasons are read by the company's staff, whoever acted: they are not frozen in
        the actor's language (STYLE.md, habit 12).
        """
        self.ensure_one()
        return self.with_context(lang=self.company_id.partner_id.lang or "en_US").env

    def action_open_lines(self):
        """This handover's checklist lines, filtered as the smart button that opens them says."""
        self.ensure_one()
        line_filter = self.env.context.get("line_filter")
        context = {"default_handover_id": self.id, "search_default_handover_id": self.id}
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

    def _record_export(self):
        """The export the printed handover record points to: the current one, if any."""
        self.ensure_one()
        return self.export_ids.filtered(lambda export: export.state == "current")[:1]

    def _record_qr_code(self, export):
        """A QR code, as a data URI, that opens the export in Odoo, where it is downloaded and verified."""
        url = f"{self.get_base_url()}/odoo/customer.handover.export/{export.id}"
        png = self.env["ir.actions.report"].barcode("QR", url, width=300, height=300, humanreadable=0)
        return image_data_uri(base64.b64encode(png))

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

    def _step(self, field_names, values, event, payload=None):
        """Write a step's facts, which only a step may set, and log it."""
        field_names = (field_names,) if isinstance(field_names, str) else field_names
        with evidence_step(self._name, *field_names):
            self.write(values)
        self.env["customer.handover.event"]._append_for(self, event, payload)

    def _sign(self, side, signer, signature):
        """Record one party's signature; both parties signed moves the handover to signed."""
        self.ensure_one()
        self._check_state("verified")
        signer = (signer or "").strip()
        if not signer or not signature:
            raise UserError(self.env._("Enter the representative's name and draw the signature."))
        other = self.receiver_signer if side == "transfer" else self.transfer_signer
        if other and other.strip().casefold() == signer.casefold():
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
        values = {f"{side}_signer": signer, f"{side}_signature": signature, f"{side}_signed_on": fields.Datetime.now()}
        if self.transfer_signed_on or self.receiver_signed_on:
            values["state"] = "signed"
        self._step(tuple(values), values, "handover_signed", {"side": side})
        return True

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

    def _move_customers(self, customers):
        """Move ``customers`` and their contacts to the receiving company or team, all or nothing.

        What cannot move is refused before anything moves; then, batch by batch and with a constant number of
        queries each: followers, open activities, the partners (company, salesperson, retention policy and the
        evidence of the move), and the consents given to the transferring company.
        """
        self.ensure_one()
        user = self.receiver_user_id
        if not user:
            raise UserError(self.env._("Choose the receiving responsible user of %(handover)s: the customers move to "
                                       "them.", handover=self.name))
        self._check_receiver_user()
        company_mode = self.transfer_mode == "company"
        target = self._receiving_company() if company_mode else self.company_id
        Partner = self.env["res.partner"].with_context(active_test=False)
        ids = set()
        for batch in split_every(MOVE_BATCH, customers.ids):
            ids.update(Partner.search([("id", "child_of", list(batch))]).ids)
        partners = Partner.browse(sorted(ids))
        for batch in split_every(MOVE_BATCH, partners.ids):
            Partner.browse(batch).check_access("write")
        purposes, policies = self._move_mapping(partners, target) if company_mode else ({}, {})
        # Everything that could refuse the move has been checked: keep the backup before anything moves.
        self._ensure_backup()
        now = fields.Datetime.now()
        for batch in split_every(MOVE_BATCH, partners.ids):
            batch = customers.browse(batch)
            # Odoo syncs a partner's contacts one partner at a time on every write: read them for the batch at once.
            batch.fetch(["child_ids", "user_ids"])
            # Stamped before the move: once moved, the transferring company's users may no longer write them.
            self._stamp_customers(batch & customers)
            self._move_batch(batch, target if company_mode else None, purposes, policies, now)
        payload = {"handover": self.id, "mode": self.transfer_mode, "to_company": target.id, "to_user": user.id}
        events = self.env["customer.handover.event"]
        for company in (self.company_id | target):
            events._append_for(partners, "customer_moved", payload, company)
        self._message_log(
            body=self._company_env()._("%(count)s customers and contacts moved to %(company)s, %(user)s.",
                                       count=len(partners), company=target.sudo().display_name, user=user.display_name)
        )

    def _move_mapping(self, partners, target):
        """The receiving company's purposes and retention policies for the transferring company's own ones.

        A purpose or policy of another company maps to ``target``'s of the same code, else to a shared one of the
        same code (names are for people, and translated); when one has neither, nothing moves and the user is told
        what to create.
        """
        Consent = self.env["customer.consent"]
        purposes, policies = self.env["customer.consent.purpose"], self.env["customer.retention.policy"]
        for batch in split_every(MOVE_BATCH, partners.ids):
            purposes |= Consent._read_group(
                [("partner_id", "in", batch), ("company_id", "=", self.company_id.id)], [], ["purpose_id:recordset"]
            )[0][0]
            policies |= self.env["res.partner"].with_context(active_test=False)._read_group(
                [("id", "in", batch)], [], ["retention_policy_id:recordset"]
            )[0][0]
        cannot = partners._move_conflicts()
        if cannot:
            raise UserError(
                self.env._(
                    "Nothing was moved: %(contacts)s are users or companies of this database, whose company follows "
                    "the user's or the company's own. Cancel the handover and hand the customers over without them.",
                    contacts=", ".join(cannot[:20]),
                )
            )
        mapping, missing = [], []
        for records, label in ((purposes, self.env._("Consent purpose")), (policies, self.env._("Retention policy"))):
            foreign = records.filtered(lambda record: record.company_id and record.company_id != target)
            codes = {record.id: record.code for record in foreign}
            # sudo: the receiving company's purposes and policies, which the transferring manager may not read
            found = self.env[records._name].sudo().search(
                [("company_id", "in", [target.id, False]), ("code", "in", list(codes.values()))]
            )
            # a shared record first, so that the receiving company's own of the same code wins
            by_code = {record.code: record.id for record in found.sorted(lambda record: bool(record.company_id))}
            mapping.append({source: by_code[code] for source, code in codes.items() if code in by_code})
            missing += [f"{label} “{record.display_name}” ({record.code})" for record in foreign
                        if codes[record.id] not in by_code]
        if missing:
            raise UserError(
                self.env._(
                    "Nothing was moved: %(company)s lacks what these customers need. Create in %(company)s, or share "
                    "between companies, a record of the same code for each of: %(missing)s. Then complete the "
                    "handover again.",
                    company=target.sudo().display_name, missing="; ".join(missing),
                )
            )
        return mapping[0], mapping[1]

    def _move_batch(self, partners, company, purposes, policies, now):
        """Move one batch of partners; ``company`` is None when they stay in their company (a team handover)."""
        user = self.receiver_user_id
        ids = partners.ids
        cr = self.env.cr
        self.env.flush_all()
        # The former salesperson, and in a company move every internal user without access to the receiving
        # company, stop following; the receiving user follows.
        cr.execute(SQL(
            """DELETE FROM mail_followers f USING res_partner p
                WHERE f.res_model = 'res.partner' AND f.res_id = p.id AND p.id = ANY(%(ids)s)
                  AND f.partner_id != %(keep)s
                  AND (EXISTS (SELECT 1 FROM res_users u WHERE u.id = p.user_id AND u.partner_id = f.partner_id)
                       OR (%(company)s IS NOT NULL AND EXISTS (
                           SELECT 1 FROM res_users u WHERE u.partner_id = f.partner_id AND NOT u.share
                              AND NOT EXISTS (SELECT 1 FROM res_company_users_rel r
                                               WHERE r.user_id = u.id AND r.cid = %(company)s))))""",
            ids=ids, keep=user.partner_id.id, company=company.id if company else None,
        ))
        self.env["mail.followers"].invalidate_model()
        # sudo: the user's right to write these partners was checked above; followers are the system's to keep
        partners.sudo().message_subscribe(partner_ids=user.partner_id.ids)
        cr.execute(SQL(
            """UPDATE mail_activity SET user_id = %(user)s, user_tz = %(tz)s, write_uid = %(uid)s, write_date = %(now)s
                WHERE res_model = 'res.partner' AND res_id = ANY(%(ids)s) AND active
                  AND user_id IS DISTINCT FROM %(user)s""",
            user=user.id, tz=user.tz, uid=self.env.uid, now=now, ids=ids,
        ))
        self.env["mail.activity"].invalidate_model(["user_id", "user_tz", "write_uid", "write_date"])
        policy_case = SQL("retention_policy_id")
        if policies:
            policy_case = SQL("CASE %s ELSE retention_policy_id END", SQL(" ").join(
                SQL("WHEN retention_policy_id = %s THEN %s", source, mapped) for source, mapped in policies.items()
            ))
        # One statement for the batch: each row keeps its own former salesperson as evidence. Odoo's partner write
        # would write each customer's contacts one customer at a time.
        with evidence_step(partners._name, *MOVE_FIELDS, "retention_end_date", "retention_status"):
            cr.execute(SQL(
                """UPDATE res_partner
                      SET moved_from_company_id = %(from)s, moved_from_user_id = user_id,
                          company_id = COALESCE(%(company)s, company_id), user_id = %(user)s,
                          retention_policy_id = %(policy)s,
                          moved_on = %(now)s, moved_by_id = %(uid)s, write_uid = %(uid)s, write_date = %(now)s
                    WHERE id = ANY(%(ids)s)""",
                **{"from": self.company_id.id}, company=company.id if company else None, user=user.id,
                policy=policy_case, now=now, uid=self.env.uid, ids=ids,
            ))
            names = ["company_id", "user_id", "retention_policy_id", *MOVE_FIELDS, "write_uid", "write_date"]
            partners.invalidate_recordset(names)
            partners.modified(["company_id", "user_id", "retention_policy_id"])
            self.env.flush_all()
        if company:
            self._move_consents(partners, company, purposes)

    def _move_consents(self, partners, company, purposes):
        """Give the consents these partners gave the transferring company to ``company``, with its purposes."""
        consents = self.env["customer.consent"].search(
            [("partner_id", "in", partners.ids), ("company_id", "=", self.company_id.id)]
        )
        # The move is logged as one event per batch; tracking would write a message per consent.
        consents = consents.with_context(tracking_disable=True)
        with evidence_step(consents._name, "company_id"):
            for purpose_id in set(consents.purpose_id.ids):
                group = consents.filtered(lambda consent, purpose_id=purpose_id: consent.purpose_id.id == purpose_id)
                group.write({"company_id": company.id, "purpose_id": purposes.get(purpose_id, purpose_id)})
        self.env.flush_all()

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

    def _checklist_labels(self):
        """The workbook's texts in the user's language: sheet names, column titles and the signatures' labels."""
        return {
            "sheet_names": [self.env._("Cover"), self.env._("Checklist"), self.env._("Signatures")],
            "title": self.env._("Customer handover checklist"),
            "cover_header": [self.env._("Item"), self.env._("Value")],
            "header": [self.env._("Key"), self.env._("Item"), self.env._("Value")],
            "number": self.env._("No."),
            "format": self.env._("Format"),
            "canonical_version": self.env._("Canonical form version"),
            "handover": self.env._("Handover"),
            "export": self.env._("Export number"),
            "company": self.env._("Transferring company"),
            "exported_at": self.env._("Exported at (UTC)"),
            "sheets": self.env._("Sheets"),
            "cover.rows": self.env._("Cover rows"),
            "cover.columns": self.env._("Cover columns"),
            "cover.digest": self.env._("Cover digest (SHA-256)"),
            "checklist.rows": self.env._("Checklist rows"),
            "checklist.columns": self.env._("Checklist columns"),
            "checklist.digest": self.env._("Checklist digest (SHA-256)"),
            "role": self.env._("Signing party"),
            "name": self.env._("Signed by"),
            "signed_at": self.env._("Signed at (UTC)"),
            "algorithm": self.env._("Algorithm"),
            "fingerprint": self.env._("Certificate fingerprint (SHA-256)"),
            "certificate": self.env._("Certificate"),
            "value": self.env._("Signature"),
        }

    def _checklist_cover(self, number, line_count, now):
        """The cover sheet's (item, value) rows."""
        self.ensure_one()
        selection = _selection_labels(self, "reason", "state", "abroad_legal_basis")
        abroad = self.env._("No")
        if self.receiver_abroad:
            basis = selection["abroad_legal_basis"].get(self.abroad_legal_basis)
            abroad = " · ".join(filter(None, [self.env._("Yes"), self.receiver_country_id.name, basis]))
        signed = [
            (self.env._("Transferring representative"), self.transfer_signer, self.transfer_signed_on),
            (self.env._("Receiving representative"), self.receiver_signer, self.receiver_signed_on),
        ]
        return [
            [self.env._("Handover"), self.name],
            [self.env._("Export number"), str(number)],
            [self.env._("Transferring company"), " · ".join(filter(None, [self.company_id.name, self.company_id.vat]))],
            [self.env._("Receiving party"), self.receiver_contact],
            [self.env._("Responsible (transferring)"), self.user_id.name],
            [self.env._("Responsible (receiving)"), self.receiver_responsible_id.name],
            [self.env._("Reason"), " · ".join(filter(None, [selection["reason"].get(self.reason), self.reason_note]))],
            [self.env._("Status"), selection["state"].get(self.state)],
            [self.env._("Planned date"), format_date(self.env, self.date_planned)],
            [self.env._("Completed on"), format_date(self.env, self.date_done)],
            [self.env._("Receiver outside mainland China"), abroad],
            [self.env._("Confidentiality agreement"), self.nda_reference],
            [self.env._("Agreement signed on"), format_date(self.env, self.nda_date)],
            [self.env._("Agreement term (months)"), str(self.nda_term_months or "")],
            [self.env._("Receiver's purposes"), ", ".join(self.purpose_ids.mapped("name"))],
            [self.env._("Checklist lines"), str(line_count)],
            [self.env._("Verified"), str(self.verified_count)],
            [self.env._("Pending"), str(self.pending_count)],
            [self.env._("Excluded"), str(self.excluded_count)],
            *([label, f"{signer} · {self._local_time(moment)}" if signer else ""] for label, signer, moment in signed),
            [self.env._("Exported on"), self._local_time(now)],
            [self.env._("Exported by"), self.env.user.name],
        ]

    def _checklist_rows(self):
        """Yield the checklist sheet's rows, reading the lines in batches so memory stays flat."""
        self.ensure_one()
        lines = self.env["customer.handover.line"]
        labels = _selection_labels(lines, "line_type", "eligibility", "state")
        reasons = {code: self.env._(label) for code, label in PUBLIC_REASONS}
        yes = self.env._("Yes")
        names = [name for name, _width in LINE_COLUMNS]
        ids = lines.search([("handover_id", "=", self.id)], order="sequence, id").ids
        number = 0
        for batch_ids in split_every(BATCH, ids):
            batch = lines.browse(batch_ids)
            batch.fetch(names)
            users = {user.id: user.name for user in batch.verified_by_id}
            for line in batch:
                number += 1
                values = dict.fromkeys(names, "")
                values.update({name: line[name] or "" for name in names if name not in labels})
                values.update({name: labels[name].get(line[name], "") for name in labels})
                values["public_reasons"] = ", ".join(
                    reasons.get(code, code) for code in (line.public_reasons or "").split(",") if code
                )
                values["verified_by_id"] = users.get(line.verified_by_id.id, "")
                values["verified_on"] = self._local_time(line.verified_on)
                values["excluded"] = yes if line.excluded else ""
                yield [str(number), *(values[name] for name in names)]
            batch.invalidate_recordset()

    def _package_cover(self, kind):
        """The handover's cover data in a transfer package: codes and English source names, never labels."""
        self.ensure_one()

        def moment(value):
            return ck.utc_timestamp(value.replace(tzinfo=timezone.utc)) if value else ""

        return {
            "kind": kind,
            "reference": self.name,
            "company": self.company_id.name,
            "company_vat": self.company_id.vat or "",
            "receiver": self.receiver_id.name or "",
            "receiver_contact": self.receiver_contact or "",
            "reason": self.reason or "",
            "reason_note": self.reason_note or "",
            "purposes": self.purpose_ids.with_context(lang="en_US").mapped("name"),
            "date_planned": _day(self.date_planned),
            "transfer_signer": self.transfer_signer or "",
            "transfer_signed_on": moment(self.transfer_signed_on),
            "receiver_signer": self.receiver_signer or "",
            "receiver_signed_on": moment(self.receiver_signed_on),
            "agreement": self.nda_reference or "",
            "agreement_signed_on": _day(self.nda_date),
            "receiver_abroad": bool(self.receiver_abroad),
            "receiver_country": self.receiver_country_id.code or "",
            "abroad_legal_basis": self.abroad_legal_basis or "",
        }

    def _package_line_numbers(self):
        """(line id, its number on the signed checklist) for every line, in the checklist's order."""
        self.ensure_one()
        ids = self.env["customer.handover.line"].search([("handover_id", "=", self.id)], order="sequence, id").ids
        return list(enumerate(ids, start=1))

    def _package_customers(self, writer, numbered=None):
        """Yield (customer, partner id) for each verified customer line, in batches; evidence goes to ``writer``.

        Called by the package step after its manager check: officer-only data travels with the customers. Each
        batch is read with a constant number of queries, in SQL: the ORM's per-field reads would cost more than
        writing the package. ``numbered``: ``_package_line_numbers()``, when the caller has read it already.
        """
        self.ensure_one()
        self.env.flush_all()
        purposes = self.purpose_ids.with_context(lang="en_US")
        purpose_of = {purpose.id: (purpose.code, purpose.name) for purpose in purposes}
        for batch in split_every(BATCH, numbered or self._package_line_numbers()):
            numbers = {line_id: number for number, line_id in batch}
            lines = self.env.execute_query(SQL(
                """SELECT id, partner_id, snapshot_ref, snapshot_contact, snapshot_classification, snapshot_consent,
                          snapshot_retention
                     FROM customer_handover_line
                    WHERE id = ANY(%s) AND line_type = 'customer' AND state = 'verified' AND excluded IS NOT TRUE
                 ORDER BY sequence, id""",
                list(numbers),
            ))
            partner_ids = [line[1] for line in lines]
            partners = {row["id"]: row for row in self._package_partner_rows(SQL("p.id = ANY(%s)", partner_ids))}
            children = self._package_partner_rows(SQL("p.parent_id = ANY(%s) AND p.active", partner_ids))
            # SQL reads what the user may not: customers moved to another company since, or their contacts there.
            self._check_package_readable(partner_ids + [child["id"] for child in children])
            children_of, consents_of = {}, {}
            for child in children:
                children_of.setdefault(child["parent_id"], []).append({**_contact(child), "type": child["type"] or ""})
            domains = self._package_domains(partner_ids)
            consents = self.env.execute_query_dict(SQL(
                """SELECT id, partner_id, purpose_id, state, date_given, date_withdrawn, channel, lawful_basis,
                          evidence_filename
                     FROM customer_consent
                    WHERE partner_id = ANY(%s) AND purpose_id = ANY(%s) AND company_id = %s
                 ORDER BY id""",
                partner_ids, purposes.ids, self.company_id.id,
            ))
            evidence = self._package_evidence(consents, writer)
            for consent in consents:
                code, name = purpose_of[consent["purpose_id"]]
                consents_of.setdefault(consent["partner_id"], []).append({
                    "purpose": name,
                    "purpose_code": code,
                    "status": consent["state"],
                    "given_on": _day(consent["date_given"]),
                    "withdrawn_on": _day(consent["date_withdrawn"]),
                    "channel": consent["channel"] or "",
                    "lawful_basis": consent["lawful_basis"] or "",
                    "evidence": evidence.get(consent["id"], []),
                })
            for line_id, partner_id, *snapshot in lines:
                partner = partners[partner_id]
                yield {
                    "line": numbers[line_id],
                    "snapshot": dict(zip(("ref", "contact", "classification", "consent", "retention"),
                                         (value or "" for value in snapshot), strict=True)),
                    "contact": _contact(partner),
                    "children": children_of.get(partner_id, []),
                    "classification": {
                        "customer_type": partner["customer_type"] or "",
                        "stage": partner["relationship_stage"] or "",
                        "relationship_ended_on": _day(partner["relationship_end_date"]),
                        "domains": [name for _code, name in domains.get(partner_id, [])],
                        "domain_codes": [code for code, _name in domains.get(partner_id, [])],
                        "sensitivity": partner["data_sensitivity"] or "",
                    },
                    "consents": consents_of.get(partner_id, []),
                    "retention": {
                        "policy": partner["policy"] or "",
                        "policy_code": partner["policy_code"] or "",
                        "period": partner["period"] or 0,
                        "period_unit": partner["period_unit"] or "",
                        "period_start": partner["period_start"] or "",
                        "end_date": _day(partner["retention_end_date"]),
                        "legal_hold": bool(partner["legal_hold"]),
                        "legal_hold_reason": partner["legal_hold_reason"] or "",
                    },
                }, partner_id

    def _check_package_readable(self, partner_ids):
        """Refuse partners the user may not read: one count under the user's record rules, no row read."""
        readable = self.env["res.partner"].with_context(active_test=False).search_count([("id", "in", partner_ids)])
        if readable != len(set(partner_ids)):
            raise AccessError(
                self.env._("%(count)s customers or contacts of %(handover)s are no longer yours to read (moved to "
                           "another company since): they cannot leave in a package.",
                           count=len(set(partner_ids)) - readable, handover=self.name)
            )

    def _package_partner_rows(self, condition):
        """The packaged columns of the partners matching ``condition`` (an SQL on ``p``), as dicts, by id."""
        return self.env.execute_query_dict(SQL(
            """SELECT p.id, p.parent_id, p.type, p.ref, p.name, p.function, p.street, p.street2, p.zip, p.city,
                      p.email, p.phone, p.mobile, p.vat, p.lang, p.is_company, state.code AS state_code,
                      country.code AS country_code, p.customer_type, p.relationship_stage, p.relationship_end_date,
                      p.data_sensitivity, policy.name->>'en_US' AS policy, policy.code AS policy_code, policy.period,
                      policy.period_unit, policy.period_start, p.retention_end_date, p.legal_hold, p.legal_hold_reason
                 FROM res_partner p
            LEFT JOIN res_country_state state ON state.id = p.state_id
            LEFT JOIN res_country country ON country.id = p.country_id
            LEFT JOIN customer_retention_policy policy ON policy.id = p.retention_policy_id
                WHERE %s
             ORDER BY p.id""",
            condition,
        ))

    def _package_domains(self, partner_ids):
        """{partner id: [(business domain code, name in English)]} for ``partner_ids``."""
        field = self.env["res.partner"]._fields["business_domain_ids"]
        rows = self.env.execute_query(SQL(
            """SELECT rel.%s, domain.code, domain.name->>'en_US'
                 FROM %s rel JOIN customer_business_domain domain ON domain.id = rel.%s
                WHERE rel.%s = ANY(%s)
             ORDER BY domain.name->>'en_US'""",
            SQL.identifier(field.column1), SQL.identifier(field.relation), SQL.identifier(field.column2),
            SQL.identifier(field.column1), partner_ids,
        ))
        domains = {}
        for partner_id, code, name in rows:
            domains.setdefault(partner_id, []).append((code, name))
        return domains

    def _package_evidence(self, consents, writer):
        """Add the consents' evidence files to ``writer``; return {consent id: [member path]}."""
        names = {consent["id"]: consent["evidence_filename"] for consent in consents}
        # sudo: evidence files are officer-only; the package step checked the user as a manager of the handover.
        attachments = self.env["ir.attachment"].sudo().search([
            ("res_model", "=", "customer.consent"), ("res_field", "=", "evidence"), ("res_id", "in", list(names)),
        ])
        paths = {}
        for attachment in attachments:
            extension = tp.evidence_extension(names.get(attachment.res_id) or attachment.name, attachment.mimetype)
            paths.setdefault(attachment.res_id, []).append(writer.add_evidence(attachment.raw, extension))
        attachments.invalidate_recordset()
        return paths

    def _package_items(self, numbered):
        """Yield the verified manual items (paper files, devices, accounts) with their remarks."""
        self.ensure_one()
        numbers = {line_id: number for number, line_id in numbered}
        items = self.env["customer.handover.line"].search(
            [("handover_id", "=", self.id), ("line_type", "=", "item"), ("state", "=", "verified"),
             ("excluded", "=", False)], order="sequence, id",
        )
        for item in items:
            yield {"line": numbers[item.id], "name": item.name or "", "kind": "item", "status": item.state,
                   "remarks": item.remarks or ""}

    def _local_time(self, moment):
        """A UTC datetime as the user's local time, with its offset: a signed document states its time zone."""
        if not moment:
            return ""
        return fields.Datetime.context_timestamp(self, moment).strftime("%Y-%m-%d %H:%M:%S %z")


def _day(value):
    return value.isoformat() if value else ""


def _contact(row):
    """A partner's contact data in a transfer package, from its packaged columns: codes for state, country, kind."""
    return {
        **{name: row[name] or "" for name in CONTACT_FIELDS},
        "kind": "organisation" if row["is_company"] else "individual",
        "state": row["state_code"] or "",
        "country": row["country_code"] or "",
    }


def _selection_labels(records, *names):
    """Each selection field's labels by value, in the user's language."""
    return {name: dict(records._fields[name]._description_selection(records.env)) for name in names}
