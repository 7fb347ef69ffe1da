from odoo import api, fields, models
from odoo.exceptions import UserError

from ..models.customer_data_request import REQUEST_CHANNELS, REQUEST_TYPES


class CustomerDataRequestEnter(models.TransientModel):
    """Staff enter a request a customer made by phone, letter, email or in person; the request's step records it."""

    _name = "customer.data.request.enter"
    _description = "Enter a customer's data request"
    # Names a customer and what they asked: kept for the step only (see docs/evidence.md, "Wizards").
    _transient_max_hours = 1.0

    request_type = fields.Selection(REQUEST_TYPES, string="Request", required=True, default="copy")
    partner_id = fields.Many2one("res.partner", string="Customer", required=True)
    handover_id = fields.Many2one(
        "customer.handover",
        domain="[('line_ids.partner_id', '=', partner_id), ('state', '!=', 'cancel')]",
        help="The handover the customer answers, if any.",
    )
    purpose_id = fields.Many2one("customer.consent.purpose",
                                 help="The purpose whose consent the customer withdraws.")
    channel = fields.Selection([item for item in REQUEST_CHANNELS if item[0] != "customer_page"], required=True,
                               default="phone")
    received_on = fields.Datetime(required=True, default=fields.Datetime.now)

    @api.onchange("partner_id")
    def _onchange_partner_id(self):
        if self.handover_id and self.partner_id not in self.handover_id.line_ids.partner_id:
            self.handover_id = False

    def action_enter(self):
        self.ensure_one()
        company = self.handover_id.company_id or self.partner_id.company_id or self.env.company
        self.env["customer.data.request"]._check_may_enter(company)
        if self.request_type == "withdrawal" and not self.purpose_id:
            raise UserError(self.env._("Choose the purpose whose consent the customer withdraws."))
        if self.received_on > fields.Datetime.now():
            raise UserError(self.env._("A request cannot be received in the future: check the date."))
        if self.handover_id and self.partner_id not in self.handover_id.line_ids.partner_id:
            raise UserError(self.env._("%(customer)s is not on the checklist of %(handover)s.",
                                       customer=self.partner_id.display_name, handover=self.handover_id.name))
        # sudo: the user may enter requests (checked above) but only officers read them; the step records it
        request = self.env["customer.data.request"].sudo()._receive(
            self.request_type, self.partner_id, self.handover_id, self.channel, purpose=self.purpose_id,
            received_on=self.received_on,
        )
        name = request.name
        # The request holds it now: the dialog's copy of the customer and the request goes.
        self.unlink()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": self.env._("Request %(request)s recorded: the data-protection officers are told.",
                                      request=name),
                "type": "success",
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
