from odoo import api, fields, models

OUTCOMES = [
    ("created", "Created"),
    ("matched", "Matched an existing contact"),
    ("refused", "Refused"),
    ("received", "Item received"),
    ("not_delivered", "In the checklist, not in the package"),
]
DIFFERENCES = [
    ("not_in_checklist", "Not in the signed checklist"),
    ("snapshot_differs", "Differs from the signed checklist"),
    ("not_delivered", "In the signed checklist, not delivered"),
]
MATCH_KEYS = [("vat", "Tax ID"), ("ref", "Reference"), ("email", "Email"), ("phone", "Phone")]


class CustomerHandoverIncomingLine(models.Model):
    _name = "customer.handover.incoming.line"
    _description = "Incoming Handover Reconciliation Line"
    _order = "incoming_id, line_number, id"
    _inherit = ["customer.handover.evidence.mixin"]
    _evidence_create = True
    _evidence_fields = (
        "incoming_id", "line_number", "kind", "name", "outcome", "partner_id", "match_key", "reason", "difference",
    )

    incoming_id = fields.Many2one("customer.handover.incoming", required=True, readonly=True, index=True,
                                  ondelete="cascade")
    company_id = fields.Many2one(related="incoming_id.company_id", store=True, index=True)
    line_number = fields.Integer(string="Checklist Line", readonly=True)
    kind = fields.Selection([("customer", "Customer"), ("item", "Item")], readonly=True)
    name = fields.Char(readonly=True)
    outcome = fields.Selection(OUTCOMES, readonly=True)
    partner_id = fields.Many2one("res.partner", string="Contact", readonly=True, ondelete="set null")
    match_key = fields.Selection(MATCH_KEYS, string="Matched On", readonly=True)
    reason = fields.Char(string="Reason Refused", readonly=True)
    difference = fields.Selection(DIFFERENCES, readonly=True)

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        if self.incoming_id - self.incoming_id._import_cancelled_by_running_job():
            self._refuse_evidence([], "unlink")

    def _event_company_ids(self):
        # sudo: only the ids of the lines' companies are read
        return self.sudo().incoming_id.company_id.ids
