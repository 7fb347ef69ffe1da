from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    handover_default_relationship_stage = fields.Selection(
        related="company_id.handover_default_relationship_stage", readonly=False,
        groups="customer_handover.group_data_protection_officer",
    )
    handover_default_sensitivity = fields.Selection(
        related="company_id.handover_default_sensitivity", readonly=False,
        groups="customer_handover.group_data_protection_officer",
    )
    handover_default_retention_policy_id = fields.Many2one(
        related="company_id.handover_default_retention_policy_id", readonly=False,
        groups="customer_handover.group_data_protection_officer",
    )
    handover_certificate_id = fields.Many2one(
        related="company_id.handover_certificate_id", readonly=False,
        groups="customer_handover.group_data_protection_officer",
    )
    handover_certificate_fingerprint = fields.Char(
        related="company_id.handover_certificate_fingerprint",
        groups="customer_handover.group_data_protection_officer",
    )
    handover_certificate_expiry = fields.Datetime(
        related="company_id.handover_certificate_expiry",
        groups="customer_handover.group_data_protection_officer",
    )
    handover_package_recipient = fields.Char(
        related="company_id.handover_package_recipient",
        groups="customer_handover.group_data_protection_officer",
    )
    handover_bilingual_headers = fields.Boolean(
        related="company_id.handover_bilingual_headers", readonly=False,
        groups="customer_handover.group_data_protection_officer",
    )
    handover_record_retention_years = fields.Integer(
        related="company_id.handover_record_retention_years", readonly=False,
        groups="customer_handover.group_data_protection_officer",
    )
    handover_record_restrict_days = fields.Integer(
        related="company_id.handover_record_restrict_days", readonly=False,
        groups="customer_handover.group_data_protection_officer",
    )
    handover_package_retention_days = fields.Integer(
        related="company_id.handover_package_retention_days", readonly=False,
        groups="customer_handover.group_data_protection_officer",
    )
    handover_accounting_retention_years = fields.Integer(
        related="company_id.handover_accounting_retention_years", readonly=False,
        groups="customer_handover.group_data_protection_officer",
    )
    handover_destruction_grace_days = fields.Integer(
        related="company_id.handover_destruction_grace_days", readonly=False,
        groups="customer_handover.group_data_protection_officer",
    )
    handover_request_due_days = fields.Integer(
        related="company_id.handover_request_due_days", readonly=False,
        groups="customer_handover.group_data_protection_officer",
    )
    handover_retention_due_soon_days = fields.Integer(
        string="Retention Due-Soon Window (days)",
        config_parameter="customer_handover.retention_due_soon_days",
        default=30,
        groups="customer_handover.group_data_protection_officer",
    )

    handover_background_threshold = fields.Integer(
        string="Background Threshold",
        config_parameter="customer_handover.background_threshold",
        default=2000,
        help="Selecting customers, verifying lines, exporting a checklist, making a package, importing one or "
        "completing a move inside this database runs in the background above this many customers or lines.",
        groups="customer_handover.group_data_protection_officer",
    )

    def action_handover_create_signing_key(self):
        self.ensure_one()
        return self.company_id.action_handover_create_signing_key()

    def action_handover_create_package_key(self):
        self.ensure_one()
        return self.company_id.action_handover_create_package_key()
