from odoo import api, fields, models


class CustomerHandover(models.Model):
    """The customers' requests about a handover (``customer.data.request``), as officers follow them on its form."""

    _inherit = "customer.handover"

    data_request_ids = fields.One2many("customer.data.request", "handover_id", string="Data Requests",
                                       groups="customer_handover.group_data_protection_officer")
    data_request_count = fields.Integer(string="Requests", compute="_compute_data_requests",
                                        groups="customer_handover.group_data_protection_officer")
    new_export_needed = fields.Boolean(
        compute="_compute_data_requests",
        groups="customer_handover.group_data_protection_officer",
        help="Customers objected after the checklist was signed: once the officer has answered them, export the "
             "checklist again.",
    )

    @api.depends("data_request_ids.state", "data_request_ids.request_type")
    def _compute_data_requests(self):
        counts, objections = {}, set()
        for handover, kind, state, count in self.env["customer.data.request"]._read_group(
                [("handover_id", "in", self.ids)], ["handover_id", "request_type", "state"], ["__count"]):
            counts[handover.id] = counts.get(handover.id, 0) + count
            if kind == "objection" and state in ("new", "in_progress"):
                objections.add(handover.id)
        for handover in self:
            handover.data_request_count = counts.get(handover.id, 0)
            handover.new_export_needed = handover.is_signed and handover.id in objections

    def action_open_data_requests(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Data requests"),
            "res_model": "customer.data.request",
            "view_mode": "list,form",
            "domain": [("handover_id", "=", self.id)],
        }
