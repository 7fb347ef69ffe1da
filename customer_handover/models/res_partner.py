from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..tools.retention import retention_end_date, retention_status
from .customer_handover_evidence_mixin import evidence_step
from .res_company import RELATIONSHIP_STAGES, SENSITIVITY_LEVELS

DUE_SOON_PARAM = "customer_handover.retention_due_soon_days"
DEFAULT_DUE_SOON_DAYS = 30
RETENTION_STATUSES = [
    ("active", "Active"),
    ("due_soon", "Due soon"),
    ("expired", "Expired"),
]
CUSTOMER_TYPES = [("individual", "Individual"), ("organisation", "Organisation")]
# What a move inside the database records on each customer that moved (customer.handover, _move_customers).
MOVE_FIELDS = ("moved_from_company_id", "moved_from_user_id", "moved_on", "moved_by_id")
PROVENANCE_FIELDS = (
    "handover_incoming_id", "handover_sender", "handover_source_reference", "handover_source_package",
    "handover_received_on",
)
NEGATIVE_OPERATORS = {"not in": "in", "!=": "=", "not ilike": "ilike", "not like": "like"}
# Purposes have no hierarchy: child_of and parent_of mean nothing for them. Odoo turns any/not any into in/not in.
CONSENT_SEARCH_OPERATORS = ("=", "in", "like", "ilike", "=like", "=ilike", *NEGATIVE_OPERATORS)


class ResPartner(models.Model):
    _name = "res.partner"
    _inherit = ["res.partner", "customer.handover.evidence.mixin"]
    _evidence_fields = (
        "retention_end_date", "retention_status", "last_review_date", "last_reviewed_by_id", "handover_id",
        "handover_date", "handover_package_ids", *MOVE_FIELDS, *PROVENANCE_FIELDS,
    )

    customer_type = fields.Selection(
        CUSTOMER_TYPES,
        compute="_compute_customer_type",
        store=True,
        readonly=False,
        groups="customer_handover.group_handover_user",
    )
    relationship_stage = fields.Selection(
        RELATIONSHIP_STAGES,
        default=lambda self: self._company_default("handover_default_relationship_stage"),
        groups="customer_handover.group_handover_user",
        tracking=True,
    )
    relationship_end_date = fields.Date(
        compute="_compute_relationship_end_date",
        store=True,
        readonly=False,
        groups="customer_handover.group_handover_user",
        help="When the customer became a former customer; retention policies may count from it.",
    )
    business_domain_ids = fields.Many2many(
        "customer.business.domain",
        string="Business Domains",
        groups="customer_handover.group_handover_user",
    )
    data_sensitivity = fields.Selection(
        SENSITIVITY_LEVELS,
        default=lambda self: self._company_default("handover_default_sensitivity"),
        groups="customer_handover.group_data_protection_officer",
        tracking=True,
        help="Sensitive personal information in the sense of PIPL Art. 28 (biometrics, religion, "
        "health, finances, whereabouts, minors under 14) needs separate consent.",
    )
    consent_ids = fields.One2many(
        "customer.consent",
        "partner_id",
        string="Consents",
        groups="customer_handover.group_handover_user",
    )
    valid_consent_purpose_ids = fields.Many2many(
        "customer.consent.purpose",
        string="Valid Consent For",
        compute="_compute_valid_consent_purpose_ids",
        context={"active_test": False},  # archiving a purpose does not void the consents given for it
        search="_search_valid_consent_purpose_ids",
        groups="customer_handover.group_handover_user",
    )
    consent_summary = fields.Char(
        compute="_compute_consent_summary",
        groups="customer_handover.group_handover_user",
    )
    retention_policy_id = fields.Many2one(
        "customer.retention.policy",
        default=lambda self: self._company_default("handover_default_retention_policy_id"),
        check_company=True,
        groups="customer_handover.group_handover_user",
        tracking=True,
    )
    retention_end_date = fields.Date(
        compute="_compute_retention_end_date",
        store=True,
        groups="customer_handover.group_handover_user",
    )
    legal_hold = fields.Boolean(
        groups="customer_handover.group_data_protection_officer",
        tracking=True,
        help="Keeps the record beyond its retention end date, for litigation or an authority's request.",
    )
    legal_hold_reason = fields.Text(groups="customer_handover.group_data_protection_officer")
    retention_status = fields.Selection(
        RETENTION_STATUSES,
        compute="_compute_retention_status",
        store=True,
        groups="customer_handover.group_handover_user",
    )
    last_review_date = fields.Date(
        string="Last Reviewed On",
        readonly=True,
        copy=False,
        groups="customer_handover.group_handover_user",
        help="When the record was last checked for accuracy.",
    )
    last_reviewed_by_id = fields.Many2one(
        "res.users",
        readonly=True,
        copy=False,
        groups="customer_handover.group_handover_user",
    )

    handover_line_ids = fields.One2many(
        "customer.handover.line", "partner_id", groups="customer_handover.group_handover_user"
    )
    handover_id = fields.Many2one(
        "customer.handover",
        string="Handed Over In",
        readonly=True,
        copy=False,
        groups="customer_handover.group_handover_user",
    )
    data_request_ids = fields.One2many(
        "customer.data.request", "partner_id", string="Data Requests",
        groups="customer_handover.group_data_protection_officer",
    )
    handover_date = fields.Date(
        string="Handed Over On", readonly=True, copy=False, groups="customer_handover.group_handover_user"
    )
    handover_receiver_id = fields.Many2one(
        related="handover_id.receiver_id", string="Handed Over To", groups="customer_handover.group_handover_user"
    )
    handover_package_ids = fields.Many2many(
        "customer.handover.package", "customer_handover_package_partner_rel", "partner_id", "package_id",
        string="Transfer Packages", readonly=True, copy=False,
        groups="customer_handover.group_handover_manager",
        help="The transfer and backup packages that carried this customer's data out of the company.",
    )
    moved_from_company_id = fields.Many2one(
        "res.company",
        readonly=True,
        copy=False,
        groups="customer_handover.group_handover_user",
        help="The company that held this contact before a handover moved it inside this database.",
    )
    moved_from_user_id = fields.Many2one(
        "res.users",
        string="Moved From Salesperson",
        readonly=True,
        copy=False,
        groups="customer_handover.group_handover_user",
    )
    moved_on = fields.Datetime(readonly=True, copy=False, groups="customer_handover.group_handover_user")
    moved_by_id = fields.Many2one(
        "res.users", readonly=True, copy=False, groups="customer_handover.group_handover_user"
    )

    handover_incoming_id = fields.Many2one(
        "customer.handover.incoming",
        string="Received In",
        readonly=True,
        copy=False,
        groups="customer_handover.group_handover_user",
    )
    handover_sender = fields.Char(
        string="Received From", readonly=True, copy=False, groups="customer_handover.group_handover_user"
    )
    handover_source_reference = fields.Char(
        string="Sender's Handover", readonly=True, copy=False, groups="customer_handover.group_handover_user"
    )
    handover_source_package = fields.Integer(
        string="Package No. Received", readonly=True, copy=False, groups="customer_handover.group_handover_user"
    )
    handover_received_on = fields.Date(
        string="Received On", readonly=True, copy=False, groups="customer_handover.group_handover_user"
    )

    @api.constrains("legal_hold", "legal_hold_reason")
    def _check_legal_hold_reason(self):
        for partner in self:
            if partner.legal_hold and not (partner.legal_hold_reason or "").strip():
                raise ValidationError(
                    self.env._(
                        "The legal hold on %(customer)s needs a reason: enter the case, authority "
                        "or request that requires the record to be kept.",
                        customer=partner.display_name,
                    )
                )

    def _add_missing_default_values(self, values):
        """A new contact's classification, where its values decide it alone, goes into the INSERT.

        Odoo would compute these stored fields for each batch created and write them by an UPDATE that follows
        it, for every contact an import or a module creates. Each value here is what its compute gives from
        the values the contact is created with; a contact with a retention policy, or a former customer, is
        left to the computes (its dates count from a start they read).
        """
        result = super()._add_missing_default_values(values)
        result.setdefault("customer_type", "organisation" if result.get("is_company") else "individual")
        if result.get("relationship_stage") != "former":
            result.setdefault("relationship_end_date", False)
        if not result.get("retention_policy_id"):
            result.setdefault("retention_end_date", False)
            result.setdefault("retention_status", retention_status(False, None, 0))
        return result

    @api.depends("is_company")
    def _compute_customer_type(self):
        # one assignment per value, not per partner: an import computes thousands at once
        organisations = self.filtered("is_company")
        organisations.customer_type = "organisation"
        (self - organisations).customer_type = "individual"

    @api.depends("relationship_stage")
    def _compute_relationship_end_date(self):
        former = self.filtered(lambda partner: partner.relationship_stage == "former")
        (self - former).relationship_end_date = False
        former.filtered(lambda partner: not partner.relationship_end_date).relationship_end_date = fields.Date.today()

    @api.depends("consent_ids.state", "consent_ids.purpose_id")
    def _compute_valid_consent_purpose_ids(self):
        for partner in self:
            partner.valid_consent_purpose_ids = partner._granted_purposes()

    @api.depends("consent_ids.state", "consent_ids.purpose_id.name")
    @api.depends_context("lang")
    def _compute_consent_summary(self):
        # Saved contacts: their granted consents in one search, as reading each one's consents would (the user's
        # record rules apply alike), the purposes put in order once, and each summary assigned to all its contacts
        # at once. A checklist's snapshots read this a thousand contacts at a time.
        saved = self.filtered(lambda partner: isinstance(partner.id, int))
        consents = self.env["customer.consent"].search_fetch(
            [("partner_id", "in", saved.ids), ("state", "=", "granted")], ["partner_id", "purpose_id"]
        ) if saved else self.env["customer.consent"]
        granted = defaultdict(set)
        for consent in consents:
            granted[consent.partner_id.id].add(consent.purpose_id.id)
        ordered = consents.purpose_id.sorted(_purpose_order)
        rank = {purpose.id: (position, purpose.display_name) for position, purpose in enumerate(ordered)}
        by_summary = defaultdict(list)
        for partner in saved:
            names = (rank[id_][1] for id_ in sorted(granted[partner.id], key=lambda id_: rank[id_][0]))
            by_summary[", ".join(names)].append(partner.id)
        for summary, ids in by_summary.items():
            self.browse(ids).consent_summary = summary
        for partner in self - saved:
            purposes = partner._granted_purposes().sorted(_purpose_order)
            partner.consent_summary = ", ".join(purposes.mapped("display_name"))

    def _search_valid_consent_purpose_ids(self, operator, value):
        if operator not in CONSENT_SEARCH_OPERATORS:
            raise UserError(self.env._(
                "Valid Consent For cannot be searched with “%(operator)s”: use one of %(operators)s.",
                operator=operator, operators=", ".join(CONSENT_SEARCH_OPERATORS),
            ))
        granted = [("state", "=", "granted")]
        if value is False and operator in ("=", "!="):
            return [("consent_ids", "any" if operator == "!=" else "not any", granted)]
        if operator in NEGATIVE_OPERATORS:
            return [("consent_ids", "not any", [*granted, ("purpose_id", NEGATIVE_OPERATORS[operator], value)])]
        return [("consent_ids", "any", [*granted, ("purpose_id", operator, value)])]

    @api.depends(
        "retention_policy_id.period",
        "retention_policy_id.period_unit",
        "retention_policy_id.period_start",
        "relationship_end_date",
        "last_review_date",
        "consent_ids.date_withdrawn",
        "consent_ids.state",
    )
    def _compute_retention_end_date(self):
        kept = self.filtered(lambda partner: partner.retention_policy_id.period > 0)
        (self - kept).retention_end_date = False
        for partner in kept:
            policy = partner.retention_policy_id
            partner.retention_end_date = retention_end_date(
                partner._retention_start_date(policy.period_start), policy.period, policy.period_unit
            )

    @api.depends("retention_end_date")
    def _compute_retention_status(self):
        today = fields.Date.today()
        due_soon_days = self._retention_due_soon_days()
        by_status = defaultdict(list)
        for partner in self:
            by_status[retention_status(partner.retention_end_date, today, due_soon_days)].append(partner.id)
        for status, ids in by_status.items():
            self.browse(ids).retention_status = status

    def action_mark_reviewed(self):
        self._mark_reviewed(fields.Date.context_today(self))

    def _mark_reviewed(self, review_date):
        """Record that the user reviewed these customers for accuracy on ``review_date`` (today or before)."""
        review_date = fields.Date.to_date(review_date)
        if review_date > fields.Date.context_today(self):
            raise UserError(self.env._("A review cannot be recorded in the future (%(date)s).", date=review_date))
        self.check_access("write")
        with evidence_step(self._name, "last_review_date", "last_reviewed_by_id"):
            self.write({"last_review_date": review_date, "last_reviewed_by_id": self.env.uid})
        self.env["customer.handover.event"]._append_for(self, "customers_reviewed", {"date": str(review_date)})

    @api.model
    def _cron_update_retention_status(self, batch_size=1000):
        """Move the stored retention status on as days pass: one batch per call, the cron committing each.

        Only records whose stored status differs from today's are touched, so a daily run costs little once the
        statuses are current, and a run stopped half-way resumes where it stopped. While records are left, the
        job reports them and triggers itself again. Returns how many records this call updated.
        """
        stale = self.sudo().with_context(active_test=False)  # sudo: a system job over every company's records
        domain = self._retention_stale_domain()
        partners = stale.search(domain, order="id", limit=batch_size)
        if partners:
            with evidence_step(self._name, "retention_status"):
                partners._compute_retention_status()
            partners.flush_recordset(["retention_status"])
            partners.invalidate_recordset()
        remaining = stale.search_count(domain) if len(partners) == batch_size else 0
        self.env["ir.cron"]._notify_progress(done=len(partners), remaining=remaining)
        if remaining:
            # Odoo's cron runs a job 10 calls in a row, then reschedules it; the trigger wakes it at once.
            self.env.ref("customer_handover.ir_cron_update_retention_status")._trigger()
        return len(partners)

    @api.model
    def _retention_stale_domain(self):
        """Records whose stored retention status is not today's."""
        today = fields.Date.today()
        due_soon_limit = fields.Date.add(today, days=self._retention_due_soon_days())
        return [
            "|", "|",
            "&", ("retention_end_date", "<=", today), ("retention_status", "!=", "expired"),
            "&", "&", ("retention_end_date", ">", today), ("retention_end_date", "<=", due_soon_limit),
            ("retention_status", "!=", "due_soon"),
            "&", "|", ("retention_end_date", "=", False), ("retention_end_date", ">", due_soon_limit),
            ("retention_status", "!=", "active"),
        ]

    def _move_conflicts(self):
        """The names of these partners that cannot change company: users' and companies' own partners."""
        # sudo: only whether a contact is a user's or a company's own is asked, whatever the user may read
        users = self.env["res.users"].sudo().with_context(active_test=False).search([("partner_id", "in", self.ids)])
        companies = self.env["res.company"].sudo().search([("partner_id", "in", self.ids)])
        return (users.partner_id | companies.partner_id).sudo().mapped("display_name")

    def _granted_purposes(self):
        """The purposes this partner's granted consents cover, among the consents the user may see."""
        self.ensure_one()
        return self.consent_ids.filtered(lambda consent: consent.state == "granted").purpose_id

    def _retention_start_date(self, period_start):
        self.ensure_one()
        if period_start == "relationship_end":
            return self.relationship_end_date
        if period_start == "creation":
            return self.create_date and self.create_date.date()
        if period_start == "last_review":
            return self.last_review_date
        # the clock runs from the last withdrawal only once no consent is granted any more
        if any(consent.state == "granted" for consent in self.consent_ids):
            return None
        withdrawals = self.consent_ids.filtered(lambda consent: consent.state == "withdrawn").mapped("date_withdrawn")
        return max(withdrawals) if withdrawals else None

    @api.model
    def _company_default(self, field_name):
        # sudo: the company's defaults are officer-only to edit, but every contact created applies them
        return self.env.company.sudo()[field_name]

    @api.model
    def _retention_due_soon_days(self):
        # sudo: a non-secret setting that every user's retention status depends on
        value = self.env["ir.config_parameter"].sudo().get_param(DUE_SOON_PARAM, DEFAULT_DUE_SOON_DAYS)
        try:
            return max(int(value), 0)
        except ValueError:
            return DEFAULT_DUE_SOON_DAYS


def _purpose_order(purpose):
    """The order a consent summary lists its purposes in. A key sorts in memory; sorted() without one searches the
    database."""
    return purpose.sequence, purpose.name, purpose.id
