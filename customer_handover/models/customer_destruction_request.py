from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from .customer_handover_evidence_mixin import CREATE, evidence_step
from .customer_handover_job import ACTIVE_STATES, running_job_id
from .handover_access import OFFICER, has_group_in_company

BASES = [
    ("retention_expired", "Retention expired"),
    ("subject_request", "The data subject's request"),
    ("handed_over", "Handed over to another company"),
    ("other", "Other"),
]
ORIGINS = [
    ("officer", "An officer"),
    ("retention", "The daily retention job"),
    ("data_request", "A customer's deletion request"),
    ("handover", "A completed handover"),
]
HOLDS = [
    ("legal_hold", "On legal hold"),
    ("open_handover", "In an open handover"),
    ("legal_duty", "Under a running legal retention duty"),
    ("user_account", "Has a user account"),
]
# A handover in these states may still carry the customer somewhere: the customer is held until it ends.
OPEN_HANDOVER_STATES = ("draft", "confirmed", "in_progress", "verified", "signed")
REQUEST_FACTS = (
    "name", "company_id", "origin", "state", "requested_by_id", "requested_on", "approved_by_id",
    "approved_on", "refused_by_id", "refused_on", "run_started_on", "run_ended_on", "certificate_attachment_id",
    "certificate_sha256", "certificate_fingerprint", "data_request_id", "handover_id",
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class CustomerDestructionRequest(models.Model):
    """A proposal to destroy a set of customers, approved by a second officer, then run in the background.

    Four eyes: the officer who requests never approves. Customers on legal hold, in an open handover, under a
    running legal retention duty or with a user account are held back, with the reason, and left as they are.
    """

    _name = "customer.destruction.request"
    _description = "Destruction Request"
    _inherit = ["customer.handover.evidence.mixin"]
    _order = "id desc"
    _evidence_fields = REQUEST_FACTS

    name = fields.Char(string="Reference", required=True, readonly=True, default="/", copy=False)
    company_id = fields.Many2one("res.company", required=True, readonly=True, default=lambda self: self.env.company)
    basis = fields.Selection(BASES, required=True, readonly=True, default="other")
    note = fields.Text(help="Why these customers are destroyed: required for the basis Other.")
    origin = fields.Selection(ORIGINS, required=True, readonly=True, default="officer",
                              help="Who proposed the destruction.")
    partner_ids = fields.Many2many("res.partner", "customer_destruction_request_partner_rel", "request_id",
                                   "partner_id", string="Customers", context={"active_test": False})
    not_before = fields.Date(string="Run From", help="The run waits for this day once approved (a grace period).")
    state = fields.Selection(
        [("draft", "Draft"), ("requested", "Requested"), ("approved", "Approved"), ("refused", "Refused"),
         ("running", "Running"), ("done", "Done")],
        required=True, default="draft", readonly=True,
    )
    requested_by_id = fields.Many2one("res.users", readonly=True)
    requested_on = fields.Datetime(readonly=True)
    approved_by_id = fields.Many2one("res.users", readonly=True)
    approved_on = fields.Datetime(readonly=True)
    refused_by_id = fields.Many2one("res.users", readonly=True)
    refused_on = fields.Datetime(readonly=True)
    can_approve = fields.Boolean(compute="_compute_can_approve",
                                 help="Whether you may approve it: it is requested, and not by you (four eyes).")
    run_started_on = fields.Datetime(readonly=True)
    run_ended_on = fields.Datetime(readonly=True)
    data_request_id = fields.Many2one("customer.data.request", string="Deletion Request", readonly=True)
    handover_id = fields.Many2one("customer.handover", string="Completed Handover", readonly=True)
    hold_ids = fields.One2many("customer.destruction.hold", "request_id", string="Held Back", readonly=True)
    record_ids = fields.One2many("customer.destruction.record", "request_id", string="Destruction Records")
    job_ids = fields.One2many("customer.handover.job", "destruction_request_id", string="Runs")
    customer_count = fields.Integer(compute="_compute_counts")
    hold_count = fields.Integer(compute="_compute_counts")
    record_count = fields.Integer(compute="_compute_counts")
    restricted_count = fields.Integer(compute="_compute_counts",
                                      help="Customers another document keeps: restricted instead of destroyed.")
    progress_text = fields.Char(compute="_compute_counts")
    run_error = fields.Text(compute="_compute_counts", help="Why the run stopped, naming the customer.")
    # Evidence, served by its step only (``_certificate_attachment``): officers of the company download it, logged.
    certificate_attachment_id = fields.Many2one("ir.attachment", string="Certificate", readonly=True)
    certificate_sha256 = fields.Char(string="Certificate SHA-256", readonly=True)
    certificate_fingerprint = fields.Char(string="Signed With", readonly=True)

    @api.depends("state", "requested_by_id")
    @api.depends_context("uid")
    def _compute_can_approve(self):
        # Only what the form offers: action_approve refuses the requester whatever the form shows.
        for request in self:
            request.can_approve = request.state == "requested" and request.requested_by_id != self.env.user

    @api.depends("partner_ids", "hold_ids", "record_ids", "job_ids.done_count")
    def _compute_counts(self):
        for request in self:
            request.customer_count = len(request.partner_ids)
            request.hold_count = len(request.hold_ids)
            request.record_count = len(request.record_ids)
            request.restricted_count = len(request.partner_ids.filtered(
                lambda partner: partner.handover_destruction_state == "restricted"))
            job = request.job_ids[:1]
            request.progress_text = job.progress_text or ""
            request.run_error = job.error if job.state == "failed" else False

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:  # the system's proposals are created as the superuser
            self._check_officer_of(self.env.company)
        sequence = self.env["ir.sequence"]
        with evidence_step(self._name, "name"):
            for vals in vals_list:
                if vals.get("name", "/") == "/":
                    vals["name"] = sequence.next_by_code("customer.destruction.request") or "/"
            return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and set(vals) - set(REQUEST_FACTS):
            for request in self:
                if request.state != "draft":
                    raise UserError(self.env._("%(request)s is no longer a draft: its customers and note stay as "
                                               "requested.", request=request.name))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_draft_only(self):
        if self.filtered(lambda request: request.state != "draft"):
            raise UserError(self.env._("A destruction request that was requested is kept: refuse it instead."))

    # ------------------------------------------------------------------------------------------ steps

    def action_request(self):
        """Ask for the destruction: the customers held back are listed with their reason."""
        self._check_officer()
        self._check_state("draft")
        for request in self:
            if not request.partner_ids:
                raise UserError(self.env._("Choose the customers to destroy in %(request)s.", request=request.name))
            if request.basis == "other" and not (request.note or "").strip():
                raise UserError(self.env._("Say in the note why %(request)s destroys these customers: its basis is "
                                           "Other.", request=request.name))
            request._check_not_destroyed()
            request._update_holds()
        self._step({"state": "requested", "requested_by_id": self.env.uid, "requested_on": fields.Datetime.now()},
                   "destruction_requested")

    def action_approve(self):
        """Approve as a second officer (never the one who requested); the run starts, or waits for its day."""
        self._check_officer()
        self._check_state("requested")
        for request in self:
            if request.requested_by_id == self.env.user:
                # refused, and logged once the refusal has rolled back
                request._log_refused_attempt(["approved_by_id"], "approve_own_request")
                raise UserError(self.env._(
                    "You requested %(request)s: another data-protection officer must approve it (four eyes).",
                    request=request.name))
            request._check_not_destroyed()
            request._update_holds()
        self._step({"state": "approved", "approved_by_id": self.env.uid, "approved_on": fields.Datetime.now()},
                   "destruction_approved")
        due = self.filtered(lambda request: not request.not_before or request.not_before <= fields.Date.today())
        for request in due:
            request._run()
        return True

    def action_refuse(self):
        self._check_officer()
        self._check_state("requested")
        self._step({"state": "refused", "refused_by_id": self.env.uid, "refused_on": fields.Datetime.now()},
                   "destruction_refused")

    def action_retry_run(self):
        """Run again the customer that stopped the run, once its cause is fixed."""
        self._check_officer()
        return self.job_ids.filtered(lambda job: job.state == "failed").action_retry()

    def action_continue_run(self):
        """Go on without the customer that stopped the run: it stays as it is, and is named in the log."""
        self._check_officer()
        return self.job_ids.filtered(lambda job: job.state == "failed").action_continue()

    def action_download_certificate(self):
        """Download the signed certificate through its step, which checks the officer and logs each download."""
        self.ensure_one()
        self._check_certificate()
        return {"type": "ir.actions.act_url", "url": f"/customer_handover/destruction/{self.id}/certificate",
                "target": "self"}

    def action_open_records(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Destruction Records"),
            "res_model": "customer.destruction.record",
            "view_mode": "list,form",
            "domain": [("request_id", "=", self.id)],
        }

    # ------------------------------------------------------------------------------------------ the run

    def _run(self):
        """Start the background run over the customers not held back (an approved request, by its approver)."""
        self.ensure_one()
        held = self.hold_ids.partner_id.ids
        query = SQL(
            "SELECT r.partner_id FROM customer_destruction_request_partner_rel r JOIN res_partner p ON "
            "p.id = r.partner_id WHERE r.request_id = %s AND NOT r.partner_id = ANY(%s) AND "
            "p.handover_destruction_state IS DISTINCT FROM 'destroyed' ORDER BY r.partner_id",
            self.id, held,
        )
        self._step({"state": "running", "run_started_on": fields.Datetime.now()}, None)
        return self.env["customer.handover.job"]._start(self, "destroy", query)

    def _job_destroyed(self, job):
        """The run's end: the signed certificate of what it destroyed, and the request done."""
        self.ensure_one()
        ended = fields.Datetime.now()
        records = self.env["customer.destruction.record"]
        count, counts = records._run_totals(self.id)
        # the certificate says the basis as its reader reads it, in the company's language, as its other texts
        bases = dict(self._fields["basis"]._description_selection(self.company_id._handover_lang_env()))
        certificate = self.company_id.with_env(job.env)._handover_destruction_certificate(
            {"request": self.name, "basis": bases[self.basis], "requested_by": self.requested_by_id.name,
             "approved_by": self.approved_by_id.name, "started": self.run_started_on, "ended": ended,
             "customers": count, "counts": counts, "run": str(job.id)},
            records._certificate_rows(self.id, bases),
        )
        # the certificate is evidence: never changed, renamed or deleted, and read through its step only
        attachment = self.env["ir.attachment"]._keep_handover_evidence([{
            "name": f"{self.name.replace('/', '-')}-certificate.xlsx", "raw": certificate["data"],
            "res_model": self._name, "res_id": self.id, "company_id": self.company_id.id, "mimetype": XLSX,
        }])
        self._step({
            "state": "done", "run_ended_on": ended, "certificate_attachment_id": attachment.id,
            "certificate_sha256": certificate["digest"], "certificate_fingerprint": certificate["fingerprint"],
        }, "destruction_done", {"records": count, "digest": certificate["digest"],
                                "fingerprint": certificate["fingerprint"]})

    def _certificate_attachment(self):
        """The run's certificate, for an officer of the request's company; each download is logged."""
        self.ensure_one()
        attachment = self._check_certificate()
        self.env["customer.handover.event"]._append_for(
            self, "destruction_certificate_downloaded", {"attachment": attachment.id})
        # sudo: nobody reads the certificate directly; the user was checked as an officer of the request's company
        return attachment.sudo()

    def _check_idle(self):
        """Refuse a second run of this request while one is active (the job's lock asks)."""
        # sudo: whether a run is active is read for the officer who starts one
        job = self.env["customer.handover.job"].sudo().search(
            [("destruction_request_id", "in", self.ids), ("state", "in", ACTIVE_STATES),
             ("id", "!=", running_job_id())], limit=1)
        if job:
            raise UserError(self.env._("%(request)s is already running in the background.",
                                       request=job.destruction_request_id.name))

    # ------------------------------------------------------------------------------------------ helpers

    def _update_holds(self):
        """List again which customers of this request are held back, and why (one query per reason)."""
        self.ensure_one()
        self.env.flush_all()
        ids = self.partner_ids.ids
        today = fields.Date.context_today(self)
        holds = {}
        checks = (
            ("legal_hold", SQL("SELECT id FROM res_partner WHERE id = ANY(%s) AND legal_hold", ids)),
            ("open_handover", SQL(
                "SELECT DISTINCT l.partner_id FROM customer_handover_line l JOIN customer_handover h ON "
                "h.id = l.handover_id WHERE l.partner_id = ANY(%s) AND h.state IN %s", ids, OPEN_HANDOVER_STATES)),
            ("legal_duty", SQL(
                "SELECT p.id FROM res_partner p JOIN customer_retention_policy r ON r.id = p.retention_policy_id "
                "WHERE p.id = ANY(%s) AND r.legal_duty AND (p.retention_end_date IS NULL OR "
                "p.retention_end_date > %s)", ids, today)),
            ("user_account", SQL("SELECT DISTINCT partner_id FROM res_users WHERE partner_id = ANY(%s)", ids)),
        )
        for reason, query in checks:
            for (partner_id,) in self.env.execute_query(query):
                holds.setdefault(partner_id, reason)
        hold_model = self.env["customer.destruction.hold"].sudo()  # sudo: the holds are the request's own facts
        with evidence_step(hold_model._name, CREATE):
            self.hold_ids.sudo().unlink()
            hold_model.create([{"request_id": self.id, "partner_id": partner_id, "reason": reason}
                               for partner_id, reason in holds.items()])
        if len(holds) == len(ids):
            raise UserError(self.env._(
                "Every customer of %(request)s is held back (%(reasons)s): nothing would be destroyed.",
                request=self.name, reasons=", ".join(sorted({self._hold_label(reason) for reason in holds.values()}))))

    def _hold_label(self, reason):
        return dict(self.env["customer.destruction.hold"]._fields["reason"]._description_selection(self.env))[reason]

    def _check_not_destroyed(self):
        """Refuse customers destroyed already (one query, whatever their number)."""
        self.flush_recordset(["partner_ids"])
        count, first = self.env.execute_query(SQL(
            "SELECT count(*), min(p.id) FROM customer_destruction_request_partner_rel r JOIN res_partner p ON "
            "p.id = r.partner_id WHERE r.request_id = %s AND p.handover_destruction_state = 'destroyed'", self.id))[0]
        if count:
            raise UserError(self.env._(
                "%(count)s customers of %(request)s are already destroyed (for example %(partner)s): take them out "
                "of the request.", count=count, request=self.name,
                partner=self.env["res.partner"].browse(first).with_context(active_test=False).display_name))

    def _check_certificate(self):
        self.check_access("read")
        self._check_officer()
        attachment = self.certificate_attachment_id
        if not attachment:
            raise UserError(self.env._("%(request)s has no certificate yet: its run signs one when it ends.",
                                       request=self.name))
        return attachment

    def _check_officer(self):
        for company in self.company_id or self.env.company:
            self._check_officer_of(company)

    def _check_officer_of(self, company):
        if not has_group_in_company(self.env, OFFICER, company):
            raise AccessError(self.env._("Only a data-protection officer of %(company)s can request, approve or "
                                         "run the destruction of its customers.", company=company.name))

    def _check_state(self, *states):
        for request in self:
            if request.state not in states:
                raise UserError(self.env._("%(request)s is %(state)s: this step is not possible now.",
                                           request=request.name, state=dict(
                                               self._fields["state"]._description_selection(self.env))[request.state]))

    def _step(self, values, event, payload=None):
        """Write the step's facts (the request's own methods only) and log ``event``."""
        # sudo: the facts are written by the step, after its officer check
        with evidence_step(self._name, *values):
            self.sudo().write(values)
        if event:
            self.env["customer.handover.event"]._append_for(self, event, {"state": self[:1].state, **(payload or {})})


class CustomerDestructionHold(models.Model):
    """A customer of a destruction request held back, and why: written by the request's steps only."""

    _name = "customer.destruction.hold"
    _description = "Customer Held Back from a Destruction"
    _inherit = ["customer.handover.evidence.mixin"]
    _evidence_create = True

    request_id = fields.Many2one("customer.destruction.request", required=True, readonly=True, ondelete="cascade",
                                 index=True)
    partner_id = fields.Many2one("res.partner", string="Customer", required=True, readonly=True,
                                 context={"active_test": False})
    reason = fields.Selection(HOLDS, required=True, readonly=True)
