from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL
from odoo.tools.translate import LazyTranslate

from .customer_handover_evidence_mixin import evidence_step, is_unlocked
from .handover_access import OFFICER
from .handover_notes import NOTE_NAMES, log_note, names_text

_lt = LazyTranslate(__name__)

INELIGIBILITY_REASONS = [
    ("no_consent", _lt("No valid consent for the receiver's purposes")),
    ("expired", _lt("Retention expired: to be destroyed, not handed over")),
    ("legal_hold", _lt("Under legal hold")),
    ("sensitive", _lt("Sensitive data without separate consent for this transfer")),
    ("abroad", _lt("Receiver abroad without a recorded legal basis")),
    ("other_handover", _lt("Already in another open handover")),
]
# Reasons that reveal officer-only facts (a legal hold, sensitive data) are shown to others as one.
HELD_BACK = "held_back"
# What 18.0.1.0 wrote into snapshots and exclusion reasons for a legal hold or sensitive data, and what
# non-officers read instead: the stored text is a fact, as signed, and is never rewritten.
REVEALING = {
    "Under legal hold": "Held back by the data-protection officer",
    "Sensitive data without separate consent for this transfer": "Held back by the data-protection officer",
    "On legal hold": "Held back by the data-protection officer",
    "法律保全中": "由数据保护官暂缓",
    "敏感个人信息未就本次移交取得单独同意": "由数据保护官暂缓",
}
OFFICER_ONLY_REASONS = ("legal_hold", "sensitive")
PUBLIC_REASONS = [
    *((code, label) for code, label in INELIGIBILITY_REASONS if code not in OFFICER_ONLY_REASONS),
    (HELD_BACK, _lt("Held back by the data-protection officer")),
]
VERIFICATION_FIELDS = ("state", "verified_by_id", "verified_on")


# Lines of an undone selection keep its run negated: they are off the record, neither on the checklist nor
# excluded from it, nor in the signed workbook.
ON_RECORD = ("scope_run", ">=", 0)
# A customer line's name once its record is destroyed: a neutral placeholder, the same in every language.
DESTROYED_NAME = "—"


# The stored computed columns _insert_lines fills itself.
INSERT_COMPUTED = {"company_id", "salesperson_id", "to_verify"}


def _to_verify(state, excluded, eligibility):
    """Whether a line still needs work before the checklist is verified: pending, on the checklist."""
    return state == "pending" and not excluded and eligibility != "ineligible"


def public_reasons(codes):
    """The reason codes a non-officer may see: officer-only reasons become one, ``held_back``."""
    public = [HELD_BACK if code in OFFICER_ONLY_REASONS else code for code in codes]
    return list(dict.fromkeys(public))


class CustomerHandoverLine(models.Model):
    _name = "customer.handover.line"
    _description = "Customer Handover Checklist Line"
    _inherit = ["customer.handover.evidence.mixin"]
    _order = "handover_id, sequence, id"
    _check_company_auto = True
    _evidence_fields = (
        "line_type", "partner_id", "snapshot_ref", "snapshot_contact", "snapshot_classification",
        "snapshot_consent", "snapshot_retention", "eligibility", "ineligibility_reasons", "public_reasons",
        "admission_justification", "admitted_by_id", *VERIFICATION_FIELDS, "excluded", "scope_run", "to_verify",
    )
    _immutable_fields = ("handover_id", "company_id")

    handover_id = fields.Many2one("customer.handover", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="handover_id.company_id", store=True, index=True)
    sequence = fields.Integer(default=10)
    line_type = fields.Selection(
        [("customer", "Customer"), ("item", "Other item")], required=True, default="item", readonly=True
    )
    partner_id = fields.Many2one(
        "res.partner", string="Customer", index="btree_not_null", readonly=True, check_company=True
    )
    name = fields.Char(string="Item", required=True)
    # What the parties agreed on at selection time: later edits to the customer do not change it.
    snapshot_ref = fields.Char(string="Reference", readonly=True)
    snapshot_contact = fields.Char(string="Contact Data", readonly=True)
    snapshot_classification = fields.Char(string="Classification", readonly=True)
    snapshot_consent = fields.Char(string="Consent", readonly=True)
    snapshot_retention = fields.Char(string="Retention", readonly=True)
    eligibility = fields.Selection(
        [("eligible", "Eligible"), ("ineligible", "Ineligible"), ("admitted", "Admitted by exception")],
        required=True,
        default="eligible",
        readonly=True,
    )
    ineligibility_reasons = fields.Char(
        string="Ineligibility Reasons (officer)",
        readonly=True,
        groups="customer_handover.group_data_protection_officer",
    )
    public_reasons = fields.Char(
        string="Ineligibility Reasons", readonly=True,
        help="Why the customer is ineligible; reasons only officers may know show as held back by the officer.",
    )
    admission_justification = fields.Text(readonly=True)
    admitted_by_id = fields.Many2one("res.users", readonly=True)
    state = fields.Selection(
        [("pending", "Pending"), ("verified", "Verified"), ("missing", "Missing"), ("rejected", "Rejected")],
        string="Verification",
        required=True,
        default="pending",
        readonly=True,
    )
    verified_by_id = fields.Many2one("res.users", readonly=True)
    verified_on = fields.Datetime(readonly=True)
    excluded = fields.Boolean(readonly=True)
    exclusion_reason = fields.Text()
    remarks = fields.Text()
    scope_run = fields.Integer(
        readonly=True, copy=False, help="Which run of Select Customers added the line (0: added by hand)."
    )
    to_verify = fields.Boolean(
        compute="_compute_to_verify", store=True,
        help="Pending and on the checklist: what still needs work before the checklist is verified.",
    )
    handover_state = fields.Selection(related="handover_id.state", string="Handover Status")
    public_reasons_text = fields.Char(
        string="Why Ineligible", compute="_compute_public_reasons_text",
        help="The ineligibility reasons in the reader's language.",
    )
    retention_shown = fields.Char(
        string="Retention as Shown", compute="_compute_shown",
        help="The retention snapshot; to non-officers, without what only officers may know.",
    )
    exclusion_reason_shown = fields.Text(
        string="Exclusion Reason as Shown", compute="_compute_shown",
        help="The exclusion reason; to non-officers, without what only officers may know.",
    )
    salesperson_id = fields.Many2one(related="partner_id.user_id", string="Salesperson", store=True)
    business_domain_ids = fields.Many2many(related="partner_id.business_domain_ids", string="Business Domains")

    def init(self):
        # The checklist's order as _id_batches walks it, a batch starting after the last line of the one before:
        # with this index each batch reads its own lines, not every line of the handover.
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS customer_handover_line_checklist_order ON customer_handover_line "
            "(handover_id, (sequence IS NULL), (COALESCE(sequence, 0)), id)"
        ))

    @api.constrains("excluded", "exclusion_reason")
    def _check_exclusion_reason(self):
        for line in self:
            if line.excluded and not (line.exclusion_reason or "").strip():
                raise ValidationError(
                    self.env._("Say why “%(line)s” is excluded from the handover.", line=line.name)
                )

    def _check_company(self, fnames=None):
        """Customers are checked against the handover's company in one query per company, not line by line."""
        every = fnames is None or bool({"company_id", "company_ids"} & set(fnames))
        if every or "partner_id" in fnames:
            for company in self.company_id:
                partners = self.filtered(lambda line, company=company: line.company_id == company).partner_id
                # sudo: only which of these customers belong to another company is read
                if partners and self.env["res.partner"].sudo().search_count(
                        [("id", "in", partners.ids), ("company_id", "not in", [False, company.id])], limit=1):
                    raise UserError(self.env._("A checklist of %(company)s holds only customers of %(company)s.",
                                               company=company.name))
        others = [name for name, field in self._fields.items()
                  if field.relational and field.check_company and name != "partner_id"
                  and (every or name in fnames)]
        return super()._check_company(others) if others else None

    @api.depends("state", "excluded", "eligibility")
    def _compute_to_verify(self):
        # Two assignments over the batch: assigning line by line costs more than the rest of a verification.
        todo = self.filtered(lambda line: _to_verify(line.state, line.excluded, line.eligibility))
        todo.to_verify = True
        (self - todo).to_verify = False

    @api.depends("public_reasons")
    @api.depends_context("lang")
    def _compute_public_reasons_text(self):
        labels = {code: self.env._(label) for code, label in PUBLIC_REASONS}
        for line in self:
            codes = (line.public_reasons or "").split(",")
            line.public_reasons_text = "; ".join(labels.get(code, code) for code in codes if code)

    @api.depends("snapshot_retention", "exclusion_reason", "excluded", "eligibility", "public_reasons", "scope_run")
    @api.depends_context("uid", "lang")
    def _compute_shown(self):
        officer = self.env.user.has_group(OFFICER)
        for line in self:
            line.retention_shown = line.snapshot_retention if officer else _coarsened(line.snapshot_retention)
            if line.excluded and line.eligibility == "ineligible" and line.public_reasons:
                # Select Customers wrote these reasons as the exclusion reason, in the company's language: the
                # reader reads the same reasons in their own, as beside it under Why Ineligible.
                line.exclusion_reason_shown = line.public_reasons_text
            elif line.scope_run < 0 and line.exclusion_reason == line.handover_id._undone_reason():
                # Undo Last Selection wrote its one reason in the company's language.
                line.exclusion_reason_shown = line.handover_id._undone_reason(self.env)
            else:
                line.exclusion_reason_shown = line.exclusion_reason if officer else _coarsened(line.exclusion_reason)

    @api.model_create_multi
    def create(self, vals_list):
        handover_ids = {vals.get("handover_id") for vals in vals_list}
        self._check_open(self.env["customer.handover"].browse(handover_ids), "create",
                         sorted(set().union(*vals_list)))
        lines = super().create(vals_list)
        if not is_unlocked(self._name, "partner_id"):
            self.env["customer.handover.event"]._append_for(lines, "item_added")
            lines._log_to_chatter("item_added")
        return lines

    @api.model
    def _insert_lines(self, vals_list):
        """Create the lines of a step's batch (Select Customers: a thousand customers) in one INSERT; returns them.

        ``create()`` costs a checklist of a million customers minutes: for each line it asks the defaults, caches
        every field, adds the line to its customer's lines in the cache and computes the related columns after the
        insert. Here ``create()``'s checks run once for the batch, as the user: the step's evidence unlocked and
        this addon's restricted fields (the evidence mixin), the checklist open, the right to create lines and
        their record rules, the customers' company, the constraints. The columns ``create()`` computes are filled
        by the insert as their computes fill them: the company and salesperson from the handover and the
        customer, ``to_verify`` by ``_to_verify`` (tests/with_odoo/test_scope.py compares both ways).
        """
        if not vals_list:
            return self.browse()
        self._check_create_values(vals_list)
        self._check_open(self.env["customer.handover"].browse({vals["handover_id"] for vals in vals_list}),
                         "create", sorted(set().union(*vals_list)))
        self.check_access("create")
        columns = sorted(name for name, field in self._fields.items() if field.store and field.column_type
                         and not field.compute and name not in (*models.LOG_ACCESS_COLUMNS, "id"))
        defaults = self._add_missing_default_values({})
        # the related columns, as their computes read them (as the system): the handover's company, the customer's
        # salesperson
        self.env.cr.execute(SQL(
            "SELECT id, company_id FROM customer_handover WHERE id = ANY(%s)",
            list({vals["handover_id"] for vals in vals_list})))
        companies = dict(self.env.cr.fetchall())
        self.env.cr.execute(SQL(
            "SELECT id, user_id FROM res_partner WHERE id = ANY(%s)",
            [vals["partner_id"] for vals in vals_list if vals.get("partner_id")]))
        salespeople = dict(self.env.cr.fetchall())
        now, uid = self.env.cr.now(), self.env.uid
        rows = []
        for vals in vals_list:
            values = {**defaults, **vals}
            rows.append(SQL("(%s)", SQL(", ").join([
                *(self._fields[name].convert_to_column_insert(values.get(name), self, values) for name in columns),
                companies[values["handover_id"]], salespeople.get(values.get("partner_id")),
                _to_verify(values.get("state"), values.get("excluded"), values.get("eligibility")),
                uid, now, uid, now,
            ])))
        self.env.cr.execute(SQL(
            "INSERT INTO customer_handover_line (%s) VALUES %s RETURNING id",
            SQL(", ").join(map(SQL.identifier, (*columns, "company_id", "salesperson_id", "to_verify",
                                                 "create_uid", "create_date", "write_uid", "write_date"))),
            SQL(", ").join(rows),
        ))
        lines = self.browse([row[0] for row in self.env.cr.fetchall()])
        # what reads these lines through their handover or customer (cached lists, stored counts) learns of them
        for name in columns:
            for inverse in self.pool.field_inverses[self._fields[name]]:
                self.env[inverse.model_name].invalidate_model([inverse.name])
        # another module's stored computes, if any, are computed as create() has them
        for field in self._fields.values():
            if field.store and field.compute and field.name not in INSERT_COMPUTED:
                self.env.add_to_compute(field, lines)
        lines.modified(self._fields, create=True)
        lines._validate_fields(columns)
        lines._check_company()
        lines.check_access("create")
        if not is_unlocked(self._name, "partner_id"):  # items added by hand are logged, as create() logs them
            self.env["customer.handover.event"]._append_for(lines, "item_added")
            lines._log_to_chatter("item_added")
        return lines

    def write(self, vals):
        self._check_open(self.handover_id, "write", sorted(vals))
        if "name" in vals and not is_unlocked(self._name, "name") and "customer" in self.mapped("line_type"):
            self._refuse_evidence(["name"], "write")
        if ("exclusion_reason" in vals and not is_unlocked(self._name, "exclusion_reason")
                and any(self.mapped("excluded"))):
            self._refuse_evidence(["exclusion_reason"], "write")
        renamed = {line: line.name for line in self if "name" in vals and line.name != vals["name"]}
        result = super().write(vals)
        for line, old_name in renamed.items():
            line._log_to_chatter("item_renamed", old_name=old_name)
        return result

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        """A line leaves a checklist by exclusion with a reason, never by deletion."""
        self._refuse_evidence([], "unlink")

    def action_verify(self):
        self._set_verification("verified")

    def action_mark_missing(self):
        self._set_verification("missing")

    def action_reject(self):
        self._set_verification("rejected")

    def action_reset(self):
        self._set_verification("pending")

    def _set_verification(self, state):
        handovers = self.handover_id
        if handovers.filtered(lambda handover: handover.state != "in_progress"):
            raise UserError(self.env._("Checklist lines are verified while the handover is in progress."))
        if self.filtered(lambda line: line.eligibility == "ineligible"):
            raise UserError(
                self.env._("Ineligible customers are not handed over unless a data-protection officer admits them.")
            )
        values = {"state": state, "verified_by_id": self.env.uid, "verified_on": fields.Datetime.now()}
        if state == "pending":
            values.update(verified_by_id=False, verified_on=False)
        self._step(VERIFICATION_FIELDS, values, "lines_checked", {"state": state})

    def action_verify_pending(self):
        """Verify the pending lines among these that can be verified; tell what was skipped and why."""
        handovers = self.handover_id
        closed = handovers.filtered(lambda handover: handover.state not in ("draft", "confirmed", "in_progress"))
        if closed:
            states = dict(closed._fields["state"]._description_selection(self.env))
            raise UserError(self.env._("The checklist of %(handover)s is closed (%(state)s): its lines can no longer "
                                       "be verified.", handover=closed[0].name, state=states[closed[0].state]))
        if handovers.filtered(lambda handover: handover.state != "in_progress"):
            raise UserError(self.env._("Checklist lines are verified while the handover is in progress: start the "
                                       "handover first."))
        verifiable = self.filtered("to_verify")
        skipped = {
            "done": len(self.filtered(lambda line: not line.excluded and line.state != "pending")),
            "excluded": len(self.filtered("excluded")),
            "ineligible": len(self.filtered(lambda line: not line.excluded and line.eligibility == "ineligible")),
        }
        if verifiable:
            values = {"state": "verified", "verified_by_id": self.env.uid, "verified_on": fields.Datetime.now()}
            verifiable._step(VERIFICATION_FIELDS, values, "pending_verified", {"state": "verified", **skipped})
        return self._verify_pending_notification(len(verifiable), skipped)

    def _verify_pending_notification(self, count, skipped):
        texts = {
            "done": self.env._("%(count)s already verified, missing or rejected", count=skipped["done"]),
            "excluded": self.env._("%(count)s excluded (include them first to verify them)",
                                   count=skipped["excluded"]),
            "ineligible": self.env._("%(count)s ineligible (a data-protection officer must admit them)",
                                     count=skipped["ineligible"]),
        }
        skipped_text = "; ".join(texts[key] for key, number in skipped.items() if number)
        message = self.env._("%(count)s pending lines verified.", count=count)
        if skipped_text:
            message = self.env._("%(message)s Skipped: %(skipped)s.", message=message, skipped=skipped_text)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Verify all pending"),
                "message": message,
                "type": "success" if count else "warning",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_exclude(self):
        if self.filtered(lambda line: not (line.exclusion_reason or "").strip()):
            raise UserError(self.env._("Write in the line why it is excluded, then exclude it."))
        self._step(("excluded",), {"excluded": True}, "lines_excluded")

    def action_include(self):
        if self.filtered(lambda line: line.eligibility == "ineligible"):
            raise UserError(
                self.env._("Ineligible customers are not handed over unless a data-protection officer admits them.")
            )
        self._step(("excluded", "exclusion_reason"), {"excluded": False}, "lines_included")

    def _admit(self, justification):
        if not self.env.user.has_group(OFFICER):
            raise AccessError(self.env._("Only a data-protection officer can admit an ineligible customer."))
        if not (justification or "").strip():
            raise UserError(self.env._("Write the justification for admitting these customers."))
        if self.filtered(lambda line: "other_handover" in (line.ineligibility_reasons or "")):
            raise UserError(
                self.env._("A customer in another open handover cannot be admitted: finish or cancel that one first.")
            )
        self.handover_id._check_checklist_open()
        values = {
            "eligibility": "admitted",
            "admission_justification": justification.strip(),
            "admitted_by_id": self.env.uid,
            "excluded": False,
            "exclusion_reason": False,
        }
        self._step(tuple(values), values, "lines_admitted")

    def _check_open(self, handovers, operation, field_names):
        """Refuse, and log, a change to a checklist that is signed or no longer open."""
        try:
            handovers._check_checklist_open()
        except UserError:
            self._log_refused_attempt(field_names, operation)
            raise

    def _by_handover(self):
        """(handover, its lines among these) pairs, in one pass over the lines."""
        if len(self.handover_id) <= 1:
            return [(self.handover_id, self)] if self else []
        ids = {}
        for line in self:
            ids.setdefault(line.handover_id, []).append(line.id)
        return [(handover, self.browse(line_ids)) for handover, line_ids in ids.items()]

    def _step(self, field_names, values, event, payload=None, chatter=True):
        """Write a step's facts, which only a step may set, and log it, one entry per batch of lines.

        A background step notes its result on the handover once, at its end (``chatter=False`` for its batches).
        """
        self.handover_id._check_idle()
        with evidence_step(self._name, *field_names):
            self.write(values)
        events = self.env["customer.handover.event"]
        for handover, lines in self._by_handover():
            events._append_for(lines, event, {**(payload or {}), "handover": handover.id}, handover.company_id)
            if chatter:
                lines._log_to_chatter(event, state=values.get("state"))

    # ------------------------------------------------------------------------------------------ batch verification
    # The background step "verify" (customer.handover.job): the pending lines of a handover, batch by batch.

    @api.model
    def _job_verify_batch(self, job, line_ids):
        """Verify these lines of the job's checklist that are still to verify: each line is verified once."""
        lines = self.browse(line_ids).filtered("to_verify")
        if lines:
            values = {"state": "verified", "verified_by_id": self.env.uid, "verified_on": fields.Datetime.now()}
            lines._step(VERIFICATION_FIELDS, values, "pending_verified", {"state": "verified", "job": job.id},
                        chatter=False)

    @api.model
    def _job_verify_undo(self, job, line_ids):
        """A cancelled batch verification: the lines it verified are pending again."""
        lines = self.browse(line_ids).filtered(lambda line: line.state == "verified")
        if lines:
            lines._step(VERIFICATION_FIELDS, {"state": "pending", "verified_by_id": False, "verified_on": False},
                        "lines_checked", {"state": "pending", "job": job.id}, chatter=False)

    @api.model
    def _job_verify_done(self, job):
        log_note(job.handover_id, "mt_pending_verified", str(job.done_count))

    @api.model
    def _search_customers_lines(self, partner_ids, domain, condition=None):
        """The lines of these customers (a batch) that ``domain`` selects, searched as the user.

        Their ids are found first through the customers' index alone, in SQL (``condition``: an SQL filter on the
        line's own columns, if any), and the user's search, with its record rules, runs over those few. Asked in
        one query, with the handover in the domain, PostgreSQL may start from the handover's side and read all its
        lines in every batch, more of them with each batch (its statistics lag while a step adds lines).
        """
        self.env.cr.execute(SQL(
            "SELECT id FROM customer_handover_line WHERE partner_id = ANY(%s) AND %s", list(partner_ids),
            condition or SQL("TRUE"),
        ))
        candidates = [row[0] for row in self.env.cr.fetchall()]
        return self.search_fetch([("id", "in", candidates), *domain], ["partner_id"], order="id") if candidates \
            else self.browse()

    @api.model
    def _id_batches(self, domain, size):
        """Yield the ids of the lines ``domain`` selects, in the checklist's order (sequence, id), ``size`` at a time.

        Each batch is one query that starts after the last line of the batch before, so memory stays flat whatever
        the checklist's length. A line without a sequence comes last, as ``search(order="sequence, id")`` puts it.
        """
        table = SQL.identifier(self._table)
        null, sequence = SQL("%s.sequence IS NULL", table), SQL("COALESCE(%s.sequence, 0)", table)
        after = None
        while True:
            query = self._search(domain)
            if after:
                query.add_where(SQL("(%s, %s, %s.id) > (%s, %s, %s)", null, sequence, table, *after))
            query.order = SQL("%s, %s, %s.id", null, sequence, table)
            query.limit = size
            rows = self.env.execute_query(query.select(null, sequence, SQL("%s.id", table)))
            if not rows:
                return
            yield [row[2] for row in rows]
            if len(rows) < size:
                return  # the last batch: no query to find nothing after it
            after = rows[-1]

    @api.model
    def _package_customer_rows(self, line_ids):
        """(id, partner id, the five snapshots) of the verified, kept customer lines among ``line_ids``, in order."""
        return self.env.execute_query(SQL(
            """SELECT id, partner_id, snapshot_ref, snapshot_contact, snapshot_classification, snapshot_consent,
                      snapshot_retention
                 FROM customer_handover_line
                WHERE id = ANY(%s) AND line_type = 'customer' AND state = 'verified' AND excluded IS NOT TRUE
             ORDER BY sequence, id""",
            line_ids,
        ))

    @api.model
    def _destroy_snapshots(self, handover_ids):
        """Clear what the lines of ``handover_ids`` say of a person (a customer's name, the snapshots, the free
        texts) once the handover's record retention ended; states, dates and who verified stay. One statement."""
        self.flush_model()
        self.env.execute_query(SQL(
            """UPDATE customer_handover_line
                  SET name = CASE WHEN line_type = 'customer' THEN %s ELSE name END,
                      snapshot_ref = NULL, snapshot_contact = NULL, snapshot_classification = NULL,
                      snapshot_consent = NULL, snapshot_retention = NULL, admission_justification = NULL,
                      exclusion_reason = NULL, remarks = NULL
                WHERE handover_id = ANY(%s)""",
            DESTROYED_NAME, list(handover_ids),
        ))
        self.invalidate_model()

    def _log_to_chatter(self, event, state=None, old_name=None):
        """Tell the handover's chatter what happened to these lines, in each reader's language (handover_notes)."""
        subtypes = {
            "item_added": "mt_lines_added",
            "item_renamed": "mt_item_renamed",
            "lines_checked": f"mt_lines_{state}",
            "pending_verified": "mt_pending_verified",
            "lines_excluded": "mt_lines_excluded",
            "scope_undone": "mt_scope_undone",
            "lines_included": "mt_lines_included",
            "lines_admitted": "mt_lines_admitted",
        }
        if event not in subtypes:
            return
        for handover, lines in self._by_handover():
            if event == "item_renamed":
                log_note(handover, subtypes[event], changes=[(lines[:1], "name", old_name or "", lines[:1].name)])
            elif event == "lines_excluded":
                log_note(handover, subtypes[event], lines._excluded_names())
            else:
                log_note(handover, subtypes[event], names_text(lines))

    def _excluded_names(self):
        """The lines' names, each with its exclusion reason as every reader of the chatter may see it.

        No words of ours around them (handover_notes): the reason is shown as it was recorded.
        """
        names = "; ".join(
            f"{line.name} ({_coarsened(line.exclusion_reason or '')})" if line.exclusion_reason else line.name
            for line in self[:NOTE_NAMES]
        )
        more = len(self) - NOTE_NAMES
        return f"{names} … (+{more})" if more > 0 else names


def _coarsened(text):
    """``text`` without the officer-only facts 18.0.1.0 wrote into it."""
    for revealing, held_back in REVEALING.items():
        text = text and text.replace(revealing, held_back)
    return text
