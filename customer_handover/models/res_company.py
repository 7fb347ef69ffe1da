from odoo import fields, models

RELATIONSHIP_STAGES = [
    ("prospect", "Prospect"),
    ("active", "Active customer"),
    ("former", "Former customer"),
]
SENSITIVITY_LEVELS = [
    ("ordinary", "Ordinary"),
    ("personal", "Personal"),
    ("sensitive", "Sensitive (PIPL Art. 28)"),
]


class ResCompany(models.Model):
    _inherit = "res.company"

    handover_default_relationship_stage = fields.Selection(
        RELATIONSHIP_STAGES,
        string="Default Relationship Stage",
        default="prospect",
        required=True,
        groups="customer_handover.group_data_protection_officer",
    )
    handover_default_sensitivity = fields.Selection(
        SENSITIVITY_LEVELS,
        string="Default Data Sensitivity",
        default="personal",
        required=True,
        groups="customer_handover.group_data_protection_officer",
    )
    handover_default_retention_policy_id = fields.Many2one(
        "customer.retention.policy",
        string="Default Retention Policy",
        check_company=True,
        groups="customer_handover.group_data_protection_officer",
    )
