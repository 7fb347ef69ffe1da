from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from .customer_data_request import REQUEST_CHANNELS
from .customer_handover_evidence_mixin import evidence_step

# PIPL Art. 13 lists the grounds on which personal information may be processed.
LAWFUL_BASES = [
    ("consent", "Consent of the individual (Art. 13(1))"),
    ("contract", "Necessary for a contract or HR management (Art. 13(2))"),
    ("legal_duty", "Necessary for a statutory duty or obligation (Art. 13(3))"),
    ("emergency", "Public health emergency or protection of life and property (Art. 13(4))"),
    ("public_interest", "News reporting or public-opinion supervision (Art. 13(5))"),
    ("disclosed", "Information already lawfully disclosed (Art. 13(6))"),
    ("other_law", "Other circumstances provided by laws (Art. 13(7))"),
]
CHANNELS = [
    ("in_person", "In person"),
    ("paper", "Paper form"),
    ("website", "Website"),
    ("email", "Email"),
    ("phone", "Phone"),
    ("app", "App or mini-program"),
    ("other", "Other"),
]


class CustomerConsent(models.Model):
    _name = "customer.consent"
    _description = "Customer Consent"
    _inherit = ["mail.thread", "customer.handover.evidence.mixin"]
    _order = "date_given desc, id desc"
    _check_company_auto = True
    _immutable_fields = ("partner_id", "company_id")
    # Set by a customer's request only (``_withdraw_by_request``): that the customer withdrew, and how.
    _evidence_fields = ("withdrawal_channel", "withdrawal_request_id")

    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        ondelete="cascade",
        index=True,
        tracking=True,
        check_company=True,
    )
    purpose_id = fields.Many2one(
        "customer.consent.purpose",
        required=True,
        ondelete="restrict",
        index=True,
        tracking=True,
        check_company=True,
    )
    company_id = fields.Many2one(
        "res.company",
        string="Given To",
        required=True,
        index=True,
        default=lambda self: self.env.company,
        help="The company that handles the personal information under this consent.",
    )
    state = fields.Selection(
        [("granted", "Granted"), ("refused", "Refused"), ("withdrawn", "Withdrawn")],
        string="Status",
        required=True,
        default="granted",
        tracking=True,
    )
    date_given = fields.Date(tracking=True)
    date_withdrawn = fields.Date(tracking=True)
    channel = fields.Selection(CHANNELS, required=True, default="in_person", tracking=True)
    lawful_basis = fields.Selection(
        LAWFUL_BASES,
        required=True,
        default="consent",
        tracking=True,
        help="The ground of PIPL Art. 13 on which this processing rests.",
    )
    evidence = fields.Binary(
        attachment=True,
        groups="customer_handover.group_data_protection_officer",
        help="The signed form, recording or screenshot that proves the customer's choice.",
    )
    evidence_filename = fields.Char(groups="customer_handover.group_data_protection_officer")
    note = fields.Text()
    withdrawal_channel = fields.Selection(
        REQUEST_CHANNELS, string="Withdrawn Through", readonly=True, tracking=True,
        help="How the customer withdrew the consent, when a data request withdrew it.",
    )
    withdrawal_request_id = fields.Many2one("customer.data.request", string="Withdrawn by Request", readonly=True)

    @api.constrains("state", "date_given", "date_withdrawn")
    def _check_dates(self):
        for consent in self:
            if consent.state in ("granted", "withdrawn") and not consent.date_given:
                raise ValidationError(
                    self.env._("Enter the date %(customer)s gave consent for “%(purpose)s”.", **consent._labels())
                )
            if consent.state == "withdrawn" and not consent.date_withdrawn:
                raise ValidationError(
                    self.env._(
                        "Enter the date %(customer)s withdrew consent for “%(purpose)s”.",
                        **consent._labels(),
                    )
                )
            if consent.state != "withdrawn" and consent.date_withdrawn:
                raise ValidationError(
                    self.env._(
                        "Only a withdrawn consent has a withdrawal date: clear the date %(customer)s withdrew "
                        "“%(purpose)s”, or record the consent as withdrawn.",
                        **consent._labels(),
                    )
                )
            if consent.date_withdrawn and consent.date_given and consent.date_withdrawn < consent.date_given:
                raise ValidationError(
                    self.env._(
                        "Consent of %(customer)s for “%(purpose)s” cannot be withdrawn on %(withdrawn)s, "
                        "before it was given on %(given)s; correct one of the two dates.",
                        withdrawn=consent.date_withdrawn,
                        given=consent.date_given,
                        **consent._labels(),
                    )
                )

    @api.constrains("partner_id", "purpose_id", "company_id", "state")
    def _check_single_granted(self):
        # sudo: an integrity check counts every consent, including the ones a move just gave to another company
        # that the mover may no longer read; it tells only the names of the consents being written.
        granted = self.sudo().filtered(lambda consent: consent.state == "granted")
        if not granted:
            return
        duplicates = granted._read_group(
            [
                ("state", "=", "granted"),
                ("partner_id", "in", granted.partner_id.ids),
                ("purpose_id", "in", granted.purpose_id.ids),
                ("company_id", "in", granted.company_id.ids),
            ],
            ["partner_id", "purpose_id", "company_id"],
            having=[("__count", ">", 1)],
        )
        if duplicates:
            partner, purpose, _company = duplicates[0]
            raise ValidationError(
                self.env._(
                    "%(customer)s already has a granted consent for “%(purpose)s”; "
                    "update or withdraw that consent instead of recording a second one.",
                    customer=partner.display_name,
                    purpose=purpose.display_name,
                )
            )

    @api.depends("partner_id", "purpose_id")
    def _compute_display_name(self):
        for consent in self:
            consent.display_name = f"{consent.partner_id.display_name or ''} – {consent.purpose_id.display_name or ''}"

    @api.model_create_multi
    def create(self, vals_list):
        consents = super().create(vals_list)
        events = self.env["customer.handover.event"]
        for state in set(consents.mapped("state")):
            events._append_for(consents.filtered(lambda consent, state=state: consent.state == state),
                               "consent_recorded", {"state": state})
        return consents

    def write(self, vals):
        before = {consent.id: consent.state for consent in self} if "state" in vals else {}
        result = super().write(vals)
        changes = {}
        for consent in self.filtered(lambda consent: consent.id in before):
            if consent.state != before[consent.id]:
                changes.setdefault((before[consent.id], consent.state), []).append(consent.id)
        events = self.env["customer.handover.event"]
        for (old, new), ids in changes.items():
            events._append_for(self.browse(ids), "consent_changed", {"from": old, "state": new})
        return result

    @api.onchange("state")
    def _onchange_state(self):
        today = fields.Date.context_today(self)
        if self.state in ("granted", "withdrawn") and not self.date_given:
            self.date_given = today
        if self.state == "withdrawn" and not self.date_withdrawn:
            self.date_withdrawn = today
        if self.state == "granted":
            self.date_withdrawn = False

    def action_withdraw(self):
        today = fields.Date.context_today(self)
        for consent in self.filtered(lambda consent: consent.state == "granted"):
            consent.write({"state": "withdrawn", "date_withdrawn": max(today, consent.date_given or today)})

    def _withdraw_by_request(self, request):
        """Withdraw these consents at once, as the customer's ``request`` asks: today, through its channel."""
        self.action_withdraw()
        with evidence_step(self._name, "withdrawal_channel", "withdrawal_request_id"):
            self.write({"withdrawal_channel": request.channel, "withdrawal_request_id": request.id})

    @api.model
    def _handover_move(self, partners, from_company, company, purposes):
        """Give the consents ``partners`` gave ``from_company`` to ``company``, with its ``purposes`` (a move)."""
        consents = self.search([("partner_id", "in", partners.ids), ("company_id", "=", from_company.id)])
        # The move is logged as one event per batch; tracking would write a message per consent.
        consents = consents.with_context(tracking_disable=True)
        with evidence_step(consents._name, "company_id"):
            for purpose_id in set(consents.purpose_id.ids):
                group = consents.filtered(lambda consent, purpose_id=purpose_id: consent.purpose_id.id == purpose_id)
                group.write({"company_id": company.id, "purpose_id": purposes.get(purpose_id, purpose_id)})
        self.env.flush_all()

    @api.model
    def _handover_package_rows(self, partner_ids, purpose_ids, company):
        """What a transfer package carries of the consents ``partner_ids`` gave ``company`` for ``purpose_ids``."""
        return self.env.execute_query_dict(SQL(
            """SELECT id, partner_id, purpose_id, state, date_given, date_withdrawn, channel, lawful_basis,
                      evidence_filename
                 FROM customer_consent
                WHERE partner_id = ANY(%s) AND purpose_id = ANY(%s) AND company_id = %s
             ORDER BY id""",
            partner_ids, purpose_ids, company.id,
        ))

    def _labels(self):
        return {"customer": self.partner_id.display_name, "purpose": self.purpose_id.display_name}
