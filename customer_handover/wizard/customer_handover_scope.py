import ast

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import SQL, split_every

from ..models.customer_handover import OPEN_STATES
from ..models.customer_handover_evidence_mixin import evidence_step
from ..models.customer_handover_line import HELD_BACK, INELIGIBILITY_REASONS, PUBLIC_REASONS, public_reasons
from ..models.handover_access import OFFICER
from ..models.handover_notes import log_note
from ..models.res_company import RELATIONSHIP_STAGES
from ..models.res_partner import CUSTOMER_TYPES

BATCH_SIZE = 1000
# Stored fields where Odoo offers both (complete_name, the address parts): computing display_name
# and contact_address per customer costs more than the rest of the snapshot together.
SNAPSHOT_FIELDS = [
    "complete_name", "ref", "email", "phone", "mobile", "street", "street2", "zip", "city", "state_id",
    "country_id", "customer_type", "relationship_stage", "business_domain_ids", "consent_summary",
    "retention_status", "retention_end_date",
]
ADDRESS_FIELDS = ("street", "street2", "zip", "city", "state_id", "country_id")
# What a line of an undone selection drops when its customer is selected again: the new values say the rest.
REINCLUDED = {"eligibility": "eligible", "ineligibility_reasons": False, "public_reasons": False, "excluded": False,
              "exclusion_reason": False}
# The contacts a count of the preview lists inside the wizard, at most.
SHOWN_LIMIT = 200
# What the scope step records on each line it creates.
LINE_STEP_FIELDS = (
    "line_type", "partner_id", "snapshot_ref", "snapshot_contact", "snapshot_classification", "snapshot_consent",
    "snapshot_retention", "eligibility", "ineligibility_reasons", "public_reasons", "excluded", "scope_run",
)


class CustomerHandoverScope(models.TransientModel):
    _name = "customer.handover.scope"
    _description = "Select the customers of a handover"
    # A selection of customers, kept for the step only (see docs/evidence.md, "Wizards").
    _transient_max_hours = 1.0

    handover_id = fields.Many2one(
        "customer.handover",
        required=True,
        domain="[('state', 'in', ('draft', 'confirmed'))]",
        ondelete="cascade",
    )
    partner_ids = fields.Many2many("res.partner", string="Selected Customers")
    customer_type = fields.Selection(CUSTOMER_TYPES)
    relationship_stage = fields.Selection(RELATIONSHIP_STAGES)
    business_domain_ids = fields.Many2many("customer.business.domain")
    salesperson_id = fields.Many2one("res.users")
    partner_company_id = fields.Many2one("res.company", string="Customers of Company")
    domain = fields.Char(string="Other Conditions", default="[]")
    customers_only = fields.Boolean(
        default=True,
        help="Leave out the contacts of the database's own companies, internal users, employees and suppliers.",
    )
    select_all = fields.Boolean(
        string="Every Customer",
        help="Select every customer of the company: needed when no condition is set.",
    )
    has_condition = fields.Boolean(compute="_compute_has_condition")
    # The companies' own contacts, whole subtrees: a branch flagged as a company under a company's partner is its
    # own commercial partner, yet it and its people are the company's own. Computed once for the scope's searches.
    own_partner_ids = fields.Many2many("res.partner", string="Companies' Own Contacts",
                                       compute="_compute_own_partner_ids")
    transferring_partner_ids = fields.Many2many("res.partner", string="Transferring Company's Contacts",
                                                compute="_compute_own_partner_ids")
    left_out_count = fields.Integer(
        compute="_compute_preview",
        help="Contacts that match the conditions but are not selected: already on this checklist, the parties "
        "themselves, another company's contacts or, with Customers Only, not customers.",
    )
    show_partners = fields.Selection(
        [
            ("selected", "Selected"), ("eligible", "Eligible"), ("ineligible", "Ineligible"),
            ("left_out", "Matching but left out"), ("no_consent", "Ineligible: no valid consent"),
            ("expired", "Ineligible: retention expired"), ("abroad", "Ineligible: receiver abroad without basis"),
            ("other_handover", "Ineligible: in another open handover"),
            (HELD_BACK, "Ineligible: held back by the data-protection officer"),
            ("legal_hold", "Ineligible: legal hold (officers)"), ("sensitive", "Ineligible: sensitive data (officers)"),
        ],
        string="Show the Contacts",
    )
    shown_partner_ids = fields.Many2many("res.partner", string="Contacts", compute="_compute_shown_partner_ids")
    shown_count = fields.Integer(compute="_compute_shown_partner_ids")
    total_count = fields.Integer(compute="_compute_preview")
    eligible_count = fields.Integer(compute="_compute_preview")
    ineligible_count = fields.Integer(compute="_compute_preview")
    preview = fields.Html(compute="_compute_preview", sanitize=False)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if self.env.context.get("active_model") == "res.partner" and self.env.context.get("active_ids"):
            values["partner_ids"] = [(6, 0, self.env.context["active_ids"])]
        return values

    @api.depends(
        "partner_ids", "customer_type", "relationship_stage", "business_domain_ids", "salesperson_id",
        "partner_company_id", "domain",
    )
    def _compute_has_condition(self):
        for wizard in self:
            try:
                user_domain = wizard._user_domain()
            except UserError:
                user_domain = True
            wizard.has_condition = bool(
                wizard.partner_ids or wizard.customer_type or wizard.relationship_stage or wizard.business_domain_ids
                or wizard.salesperson_id or wizard.partner_company_id or user_domain
            )

    @api.depends("handover_id")
    def _compute_own_partner_ids(self):
        # sudo: the companies' partners and their contacts are read as ids only, to leave them out of the selection.
        companies = self.env["res.company"].sudo().with_context(active_test=False).search_fetch(
            [("partner_id", "!=", False)], ["partner_id"])
        Partner = self.env["res.partner"].sudo().with_context(active_test=False)
        own = Partner.search_fetch([("id", "child_of", companies.partner_id.ids)], ["parent_id"])
        for wizard in self:
            top = wizard.handover_id.company_id.partner_id
            wizard.own_partner_ids = own
            wizard.transferring_partner_ids = own.filtered(lambda partner, top=top: top in _lineage(partner))

    @api.depends(
        "handover_id", "partner_ids", "customer_type", "relationship_stage", "business_domain_ids",
        "salesperson_id", "partner_company_id", "domain", "customers_only", "show_partners",
    )
    def _compute_shown_partner_ids(self):
        for wizard in self:
            ids = wizard._partner_ids_shown() if wizard.handover_id and wizard.show_partners else []
            wizard.shown_count = len(ids)
            wizard.shown_partner_ids = [(6, 0, list(ids)[:SHOWN_LIMIT])]

    @api.depends(
        "handover_id", "partner_ids", "customer_type", "relationship_stage", "business_domain_ids",
        "salesperson_id", "partner_company_id", "domain", "customers_only",
    )
    def _compute_preview(self):
        officer = self.env.user.has_group(OFFICER)
        labels = {reason: self.env._(label) for reason, label in INELIGIBILITY_REASONS + PUBLIC_REASONS}
        for wizard in self:
            if not wizard.handover_id:
                wizard.update({"total_count": 0, "eligible_count": 0, "ineligible_count": 0, "preview": False,
                               "left_out_count": 0})
                continue
            reasons = wizard._ineligible_ids()
            if not officer:
                held = set().union(*(reasons.pop(code, set()) for code in ("legal_hold", "sensitive")))
                if held:
                    reasons[HELD_BACK] = held
            ineligible = set().union(*reasons.values())
            total = self.env["res.partner"].search_count(wizard._scope_domain())
            wizard.total_count = total
            wizard.ineligible_count = len(ineligible)
            wizard.eligible_count = total - len(ineligible)
            wizard.left_out_count = self.env["res.partner"].search_count(wizard._condition_domain()) - total
            rows = "".join(
                f"<tr><td>{labels[reason]}</td><td class='text-end'>{len(ids)}</td></tr>"
                for reason, ids in reasons.items()
                if ids
            )
            wizard.preview = rows and f"<table class='table table-sm'><tbody>{rows}</tbody></table>"

    def action_confirm(self):
        self.ensure_one()
        handover = self.handover_id
        if handover.state not in ("draft", "confirmed"):
            raise UserError(self.env._("Customers can only be added to a handover that has not started."))
        if not handover.purpose_ids:
            raise UserError(
                self.env._("Say on the handover what the receiving party will use the data for before selecting "
                           "customers: eligibility depends on consent for those purposes.")
            )
        if not self.has_condition and not self.select_all:
            raise UserError(
                self.env._("No condition is set: choose the customers (type, stage, business domains, salesperson or "
                           "other conditions), or tick “Every Customer” to select all of them.")
            )
        Job = self.env["customer.handover.job"]
        Job._lock_handover(handover)
        threshold = Job._threshold()
        scope = self._scope_domain()
        ids = self.env["res.partner"].search(scope, order="id", limit=threshold + 1).ids
        if not ids:
            raise UserError(self.env._("No customer matches this selection: widen the conditions."))
        run = handover.scope_run_count + 1
        if len(ids) > threshold:
            handover.check_access("write")
            query = self.env["res.partner"]._search(scope, order="id")
            job = Job._start(handover, "scope", query.select("res_partner.id"), {"run": run})
            # The job holds the selection now: the wizard's goes.
            self.partner_ids = [Command.clear()]
            return job._started_action()
        reasons = self._ineligible_ids(scope)
        reasons_by_partner = {}
        for reason, partner_ids in reasons.items():
            for partner_id in partner_ids:
                reasons_by_partner.setdefault(partner_id, []).append(reason)
        labels = self._labels()
        counts = (handover.line_count, handover.excluded_count)
        for batch in split_every(BATCH_SIZE, ids):
            self._add_lines(run, batch, reasons_by_partner, labels)
        log_note(handover, "mt_customers_selected", changes=[
            (handover, "line_count", counts[0], counts[0] + len(ids)),
            (handover, "excluded_count", counts[1], counts[1] + len(reasons_by_partner)),
        ])
        # The checklist holds the customers now: the wizard's selection goes.
        self.partner_ids = [Command.clear()]
        return {"type": "ir.actions.act_window_close"}

    def _add_lines(self, run, batch, reasons_by_partner, labels):
        """Put the customers ``batch`` on the checklist as selection ``run``, with their snapshots, and log it."""
        handover = self.handover_id
        Line = self.env["customer.handover.line"]
        # A snapshot is one document in the company's language: record names (domains, purposes, countries) too.
        company_env = handover.company_id._handover_lang_env()
        snapshots = self.env["res.partner"].with_env(company_env).browse(batch).read(SNAPSHOT_FIELDS)
        domain_ids = {domain_id for snapshot in snapshots for domain_id in snapshot["business_domain_ids"]}
        labels["business_domain"] = {
            domain["id"]: domain["name"]
            for domain in self.env["customer.business.domain"].with_env(company_env).browse(domain_ids).read(["name"])
        }
        # A customer of an undone selection gets its line back, with a fresh snapshot, never a second one.
        undone = {line.partner_id.id: line for line in Line._search_customers_lines(
            batch, [("handover_id", "=", handover.id), ("scope_run", "<", 0)], SQL("scope_run < 0"))}
        values = {
            snapshot["id"]: {**self._line_values(snapshot, reasons_by_partner.get(snapshot["id"]), labels),
                             "scope_run": run}
            for snapshot in snapshots
        }
        with evidence_step(Line._name, *LINE_STEP_FIELDS, "name", "exclusion_reason"):
            lines = Line._insert_lines([vals for partner_id, vals in values.items() if partner_id not in undone])
            restored = Line.browse([line.id for line in undone.values()])
            restored.check_access("write")
            for partner_id, line in undone.items():
                # sudo: the reasons are officer-only to read, yet the scope step records them for every preparer
                # as its create does; the user's right to write the lines was checked just above.
                line.sudo().write({**REINCLUDED, **values[partner_id]})
            lines |= restored
        self.env["customer.handover.event"]._append_for(
            lines, "lines_added", {"handover": handover.id, "run": run}, handover.company_id
        )
        self.env.invalidate_all()

    # ------------------------------------------------------------------------------------------ background step
    # The background step "scope" (customer.handover.job): the customers a selection froze, batch by batch.

    @api.model
    def _job_scope_batch(self, job, partner_ids):
        """Put these customers on the job's checklist, their eligibility checked now; a customer deleted since goes."""
        batch = self.env["res.partner"].browse(partner_ids).exists().ids
        if not batch:
            return
        wizard = self.new({"handover_id": job.handover_id.id})
        reasons_by_partner = {}
        for reason, ids in wizard._ineligible_ids(partner_ids=batch).items():
            for partner_id in ids:
                reasons_by_partner.setdefault(partner_id, []).append(reason)
        wizard._add_lines(job.params["run"], batch, reasons_by_partner, wizard._labels())

    @api.model
    def _job_scope_undo(self, job, partner_ids):
        """A cancelled selection: its customers' lines leave the checklist as an undone selection's do."""
        handover = job.handover_id
        run = job.params["run"]
        lines = self.env["customer.handover.line"].search(
            [("handover_id", "=", handover.id), ("partner_id", "in", partner_ids), ("scope_run", "=", run)])
        if lines:
            handover._undo_lines(lines, run)

    @api.model
    def _job_scope_done(self, job):
        handover = job.handover_id
        job._analyze(self.env["customer.handover.line"])  # the lines this step wrote, for the steps that read them
        run = job.params["run"]
        counts = dict(self.env["customer.handover.line"]._read_group(
            [("handover_id", "=", handover.id), ("scope_run", "=", run)], ["eligibility"], ["__count"]))
        added, ineligible = sum(counts.values()), counts.get("ineligible", 0)
        log_note(handover, "mt_customers_selected", changes=[
            (handover, "line_count", handover.line_count - added, handover.line_count),
            (handover, "excluded_count", handover.excluded_count - ineligible, handover.excluded_count),
        ])

    def action_show_partners(self):
        """List, inside the wizard, the contacts behind one of the preview's counts."""
        self.ensure_one()
        self.show_partners = self.env.context.get("show") or "selected"
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Select customers"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "context": {"default_handover_id": self.handover_id.id},
        }

    def _partner_ids_shown(self):
        """Ids of the contacts behind the count chosen in ``show_partners``, in name order."""
        Partner = self.env["res.partner"]
        show = self.show_partners
        if show == "left_out":
            selected = Partner.search(self._scope_domain()).ids
            return Partner.search(expression.AND([self._condition_domain(), [("id", "not in", selected)]]),
                                  order="name").ids
        selected = Partner.search(self._scope_domain(), order="name").ids
        if show == "selected":
            return selected
        reasons = self._ineligible_ids()
        if not self.env.user.has_group(OFFICER):
            held = set().union(*(reasons.pop(code, set()) for code in ("legal_hold", "sensitive")))
            if held:
                reasons[HELD_BACK] = held
        ineligible = set().union(*reasons.values())
        if show == "eligible":
            return [partner_id for partner_id in selected if partner_id not in ineligible]
        chosen = ineligible if show == "ineligible" else reasons.get(show, set())
        return [partner_id for partner_id in selected if partner_id in chosen]

    def _labels(self):
        """Labels of the selections a snapshot shows, read once per selection, in the company's language.

        They are stored on the lines, which every reader of the handover reads alike.
        """
        env = self.handover_id.company_id._handover_lang_env()
        fields_ = self.env["res.partner"]._fields
        labels = {name: dict(fields_[name]._description_selection(env))
                  for name in ("customer_type", "relationship_stage", "retention_status")}
        labels["reason"] = {reason: env._(label) for reason, label in PUBLIC_REASONS}
        return labels

    def _line_values(self, snapshot, reasons, labels):
        domain_names = [labels["business_domain"].get(domain_id, "") for domain_id in snapshot["business_domain_ids"]]
        values = {
            "handover_id": self.handover_id.id,
            "line_type": "customer",
            "partner_id": snapshot["id"],
            "name": snapshot["complete_name"],
            "snapshot_ref": snapshot["ref"] or False,
            "snapshot_contact": " · ".join(
                part for part in (snapshot["email"], snapshot["phone"] or snapshot["mobile"], _address(snapshot))
                if part
            ),
            "snapshot_classification": " · ".join(
                part for part in (labels["customer_type"].get(snapshot["customer_type"]),
                                  labels["relationship_stage"].get(snapshot["relationship_stage"]),
                                  ", ".join(domain_names)) if part
            ),
            "snapshot_consent": snapshot["consent_summary"] or False,
            "snapshot_retention": " · ".join(
                str(part) for part in (labels["retention_status"].get(snapshot["retention_status"]),
                                       snapshot["retention_end_date"]) if part
            ),
        }
        if reasons:
            shown = public_reasons(reasons)
            text = "; ".join(labels["reason"][reason] for reason in shown)
            values.update(eligibility="ineligible", ineligibility_reasons=",".join(reasons),
                          public_reasons=",".join(shown), excluded=True, exclusion_reason=text)
        return values

    def _condition_domain(self):
        """What the conditions select, before the scope leaves anyone out."""
        domains = [expression.normalize_domain(self._user_domain())]
        if self.partner_ids:
            domains.append([("id", "in", self.partner_ids.ids)])
        for field, value in (
            ("customer_type", self.customer_type),
            ("relationship_stage", self.relationship_stage),
            ("user_id", self.salesperson_id.id),
            ("company_id", self.partner_company_id.id),
        ):
            if value:
                domains.append([(field, "=", value)])
        if self.business_domain_ids:
            domains.append([("business_domain_ids", "in", self.business_domain_ids.ids)])
        return expression.AND(domains)

    def _customer_domain(self):
        """Customers only: not the database's own companies and their people, users, employees or suppliers."""
        domain = [
            ("id", "not in", self.own_partner_ids.ids),
            ("user_ids", "not any", [("share", "=", False), ("active", "in", [True, False])]),
        ]
        partner_fields = self.env["res.partner"]._fields
        if "employee_ids" in partner_fields:
            domain.append(("employee_ids", "=", False))
        if "supplier_rank" in partner_fields and "customer_rank" in partner_fields:
            domain = expression.AND([domain, ["|", ("supplier_rank", "=", 0), ("customer_rank", ">", 0)]])
        return domain

    def _scope_domain(self):
        """The customers chosen, less those already on this handover's checklist and the parties themselves."""
        handover = self.handover_id
        parties = handover.receiver_id.commercial_partner_id | handover.company_id.partner_id
        domains = [
            # Customers of an undone selection (negated run) may be selected again.
            [("handover_line_ids", "not any", [("handover_id", "=", handover.id), ("scope_run", ">=", 0)])],
            [("commercial_partner_id", "not in", parties.ids)],
            [("id", "not in", self.transferring_partner_ids.ids)],
            [("company_id", "in", [False, handover.company_id.id])],
            # restricted (kept for a legal duty, storage only) or destroyed: never handed over, even by an officer
            [("handover_destruction_state", "=", False)],
            self._condition_domain(),
        ]
        if self.customers_only:
            domains.append(self._customer_domain())
        return expression.AND(domains)

    def _user_domain(self):
        try:
            domain = ast.literal_eval(self.domain or "[]")
        except (ValueError, SyntaxError) as error:
            raise UserError(
                self.env._("The other conditions are not a valid filter: %(error)s", error=error)
            ) from error
        if not isinstance(domain, list):
            raise UserError(
                self.env._("The other conditions must be a list of conditions, like [('city', '=', 'Shanghai')].")
            )
        return domain

    def _ineligible_ids(self, scope=None, partner_ids=None):
        """Ids of the chosen customers that cannot be handed over, per reason.

        ``scope``: a domain among them (the whole selection by default); ``partner_ids``: these customers only,
        a background step's batch, whose cost must not grow with the other open handovers' checklists.
        """
        handover = self.handover_id
        if partner_ids is not None:
            scope = [("id", "in", partner_ids)]
        scope = self._scope_domain() if scope is None else scope
        Partner = self.env["res.partner"]
        granted = [("state", "=", "granted"), ("company_id", "=", handover.company_id.id)]
        in_other_handover = [("handover_id.state", "in", OPEN_STATES), ("handover_id", "!=", handover.id)]
        reason_domains = {"expired": [("retention_status", "=", "expired")]}
        if partner_ids is None:
            reason_domains["other_handover"] = [("handover_line_ids", "any", in_other_handover)]
        reasons = {reason: set(Partner.search(expression.AND([scope, domain])).ids)
                   for reason, domain in reason_domains.items()}
        visible = set(Partner.search(scope, order="id").ids)
        if handover.purpose_ids:
            # Those chosen less those with every purpose granted: "has" is a semi-join, while "has not" ("not any")
            # is PostgreSQL's NOT IN over every consent, which turns quadratic once they outgrow its work memory.
            reasons["no_consent"] = visible - self._granted_all(scope, partner_ids, granted, handover.purpose_ids)
        if partner_ids is not None:
            reasons["other_handover"] = visible & self._in_other_handover(partner_ids, in_other_handover)
        transfer_purpose = self.env.ref("customer_handover.consent_purpose_handover", raise_if_not_found=False)
        sensitive = [("data_sensitivity", "=", "sensitive")]
        # sudo: legal holds and sensitivity are officer-only to read, but whether they block the transfer is
        # every preparer's business; the answers are cut down to the customers the user's own search returned,
        # and shown to non-officers only as "held back by the data-protection officer"
        officer_view = Partner.sudo()
        held = [("legal_hold", "=", True)]
        reasons["legal_hold"] = visible & set(officer_view.search(expression.AND([scope, held])).ids)
        sensitive_ids = set(officer_view.search(expression.AND([scope, sensitive])).ids)
        if transfer_purpose and sensitive_ids:
            # the sensitive ones less those who agreed to the transfer (a semi-join, as for the consents above)
            sensitive_ids -= self.sudo()._granted_all(expression.AND([scope, sensitive]), partner_ids, granted,
                                                      transfer_purpose)
        reasons["sensitive"] = visible & sensitive_ids
        if handover.receiver_abroad and not handover.abroad_legal_basis:
            reasons["abroad"] = visible
        return {reason: reasons[reason] for reason, _label in INELIGIBILITY_REASONS if reason in reasons}

    def _granted_all(self, scope, partner_ids, granted, purposes):
        """Ids of the customers that hold a consent matching ``granted`` for each of ``purposes``: among ``scope``,
        or among a background batch's ``partner_ids``, which its callers then cut down to the customers they found.

        Over the whole selection, a semi-join per purpose. For a batch, the batch's own consents, found through
        their customer's index: a semi-join would hash every consent of the company in each batch, a cost that
        grows with the company's customers, not with the batch.
        """
        if partner_ids is None:
            return set(self.env["res.partner"].search(expression.AND([scope, *(
                [("consent_ids", "any", [*granted, ("purpose_id", "=", purpose.id)])] for purpose in purposes
            )])).ids)
        consents = self.env["customer.consent"].search_fetch(
            [("partner_id", "in", partner_ids), *granted, ("purpose_id", "in", purposes.ids)],
            ["partner_id", "purpose_id"], order="id",
        )
        held = {}
        for consent in consents:
            held.setdefault(consent.partner_id.id, set()).add(consent.purpose_id.id)
        return {partner_id for partner_id, purpose_ids in held.items() if purpose_ids >= set(purposes.ids)}

    def _in_other_handover(self, partner_ids, in_other_handover):
        """Ids of these customers (a background batch) on the checklist of another open handover the user sees.

        The lines of closed handovers are left out in SQL already: a customer handed over many times before has as
        many lines, which the user's search would read only to drop them."""
        lines = self.env["customer.handover.line"]._search_customers_lines(
            partner_ids, in_other_handover, SQL(
                "handover_id != %s AND handover_id IN (SELECT id FROM customer_handover WHERE state = ANY(%s))",
                self.handover_id.id, list(OPEN_STATES)))
        return set(lines.partner_id.ids)


def _lineage(partner):
    """The partner and its parents, up to the top."""
    while partner:
        yield partner
        partner = partner.parent_id


def _address(snapshot):
    """One line of address from a partner's read() values: many2one values come as (id, name)."""
    parts = (
        snapshot[name][1] if isinstance(snapshot[name], tuple | list) else snapshot[name] for name in ADDRESS_FIELDS
    )
    return ", ".join(part for part in parts if part)
