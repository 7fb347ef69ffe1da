from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import create_unique_index

from ..tools.codes import slug

PERIOD_UNITS = [("day", "Days"), ("month", "Months"), ("year", "Years")]
PERIOD_STARTS = [
    ("relationship_end", "End of the business relationship"),
    ("creation", "Creation of the record"),
    ("last_review", "Last accuracy review"),
    ("consent_withdrawal", "Last consent withdrawal"),
]


class CustomerRetentionPolicy(models.Model):
    _name = "customer.retention.policy"
    _description = "Retention Policy"
    _order = "sequence, name, id"

    name = fields.Char(required=True, translate=True)
    code = fields.Char(
        required=True, compute="_compute_code", store=True, readonly=False, precompute=True, copy=False,
        help="Stable across companies and databases: transfer packages and moves match policies on it, never on "
        "their translated name. Made from the name when the policy is created; renaming it keeps it.",
    )
    sequence = fields.Integer(default=10)
    period = fields.Integer(required=True, default=3)
    period_unit = fields.Selection(
        PERIOD_UNITS,
        required=True,
        default="year",
    )
    period_start = fields.Selection(
        PERIOD_STARTS,
        string="Counted From",
        required=True,
        default="relationship_end",
        help="The event from which the retention period counts. While it has not happened, "
        "the record has no retention end date.",
    )
    description = fields.Text(translate=True, help="The legal or business ground for this period.")
    company_id = fields.Many2one(
        "res.company",
        help="Leave empty to use this policy in every company.",
    )
    active = fields.Boolean(default=True)
    legal_duty = fields.Boolean(
        string="Legal Retention Duty",
        help="The period is a duty of law (accounting, tax, a sector's rules): until it ends, customers under "
        "this policy are held back from any destruction, even one they asked for.",
    )
    destroy_on_approval = fields.Boolean(
        string="Destroy Once Approved",
        help="The daily job's proposal to destroy customers whose retention ended under this policy comes as "
        "requested by the system: one officer's approval runs it. Without it, the proposal is a draft that an "
        "officer requests and a second officer approves.",
    )
    partner_count = fields.Integer(compute="_compute_partner_count")

    @api.constrains("period")
    def _check_period(self):
        for policy in self:
            if policy.period <= 0:
                raise ValidationError(
                    self.env._(
                        "The retention period of policy “%(policy)s” must be a positive number "
                        "of days, months or years; enter a period greater than zero.",
                        policy=policy.name,
                    )
                )

    @api.constrains("code", "company_id")
    def _check_code(self):
        for policy in self:
            same = [("code", "=", policy.code), ("company_id", "=", policy.company_id.id), ("id", "!=", policy.id)]
            if self.with_context(active_test=False).search_count(same, limit=1):
                raise ValidationError(self.env._(
                    "Another retention policy of this company has the code “%(code)s”: give each its own code.",
                    code=policy.code,
                ))

    @api.depends("name")
    def _compute_code(self):
        for policy in self:
            policy.code = policy.code or slug(policy.name)

    def _compute_partner_count(self):
        counts = dict(
            self.env["res.partner"]._read_group(
                [("retention_policy_id", "in", self.ids)], ["retention_policy_id"], ["__count"]
            )
        )
        for policy in self:
            policy.partner_count = counts.get(policy, 0)

    def init(self):
        # One code per company, and one among the shared policies (no company).
        create_unique_index(self.env.cr, "customer_retention_policy_code_company_uniq", self._table,
                            ["code", "COALESCE(company_id, 0)"])

    def action_view_partners(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Customers under %(policy)s", policy=self.name),
            "res_model": "res.partner",
            "view_mode": "list,form",
            "domain": [("retention_policy_id", "=", self.id)],
        }
