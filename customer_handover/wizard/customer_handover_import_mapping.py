from odoo import fields, models

from ..models.customer_retention_policy import PERIOD_STARTS, PERIOD_UNITS


class CustomerHandoverImportMapping(models.TransientModel):
    _name = "customer.handover.import.mapping"
    _description = "Purpose or Retention Policy of a Transfer Package"
    _transient_max_hours = 1.0  # as its wizard's
    _order = "kind, name"

    wizard_id = fields.Many2one("customer.handover.import", required=True, ondelete="cascade")
    kind = fields.Selection([("purpose", "Consent purpose"), ("policy", "Retention policy")], readonly=True)
    name = fields.Char(string="In the Package", readonly=True)
    code = fields.Char(string="Code in the Package", readonly=True,
                       help="What the purpose or policy is matched on; a package made before codes names it only.")
    action = fields.Selection([("map", "Map to an existing one"), ("create", "Create it")], required=True,
                              default="map")
    purpose_id = fields.Many2one("customer.consent.purpose")
    policy_id = fields.Many2one("customer.retention.policy")
    period = fields.Integer(readonly=True)
    period_unit = fields.Selection(PERIOD_UNITS, readonly=True)
    period_start = fields.Selection(PERIOD_STARTS, string="Counted From", readonly=True)
