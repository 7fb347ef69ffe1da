import base64

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..tools import checklist as ck
from ..tools.transfer_package import new_identity

OFFICER = "customer_handover.group_data_protection_officer"

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
    handover_certificate_id = fields.Many2one(
        "certificate.certificate",
        string="Checklist Signing Certificate",
        domain="[('company_id', '=', id)]",
        groups="customer_handover.group_data_protection_officer",
        help="Signs the checklists this company exports: its key must stay private to the company.",
    )
    handover_certificate_fingerprint = fields.Char(
        string="Signing Key Fingerprint (SHA-256)",
        compute="_compute_handover_certificate_info",
        groups="customer_handover.group_data_protection_officer",
        help="Give it to receiving parties so that they can check who signed a checklist.",
    )
    handover_certificate_expiry = fields.Datetime(
        string="Signing Certificate Expires",
        compute="_compute_handover_certificate_info",
        groups="customer_handover.group_data_protection_officer",
    )

    handover_package_identity = fields.Text(
        string="Package Key (age identity)",
        copy=False,
        groups="customer_handover.group_data_protection_officer",
        help="The private age identity that decrypts the transfer packages sent to this company.",
    )
    handover_package_recipient = fields.Char(
        string="Package Recipient (age1…)",
        copy=False,
        readonly=True,
        help="Give it to the transferring company: it encrypts the packages it sends you to this key.",
    )

    @api.depends("handover_certificate_id")
    def _compute_handover_certificate_info(self):
        for company in self:
            # sudo: certificates are administrator records; these fields are readable by officers only (groups=).
            certificate = company.sudo().handover_certificate_id
            company.handover_certificate_fingerprint = (
                certificate.pem_certificate
                and ck.fingerprint(ck.load_certificate(base64.b64decode(certificate.pem_certificate)))
            )
            company.handover_certificate_expiry = certificate.date_end

    def action_handover_create_signing_key(self):
        """Create an elliptic-curve key and a self-signed certificate that sign this company's checklists."""
        self.ensure_one()
        if not self.env.user.has_group(OFFICER) or self not in self.env.user.company_ids:
            raise AccessError(self.env._("Only a data-protection officer of %(company)s can create its signing key.",
                                         company=self.name))
        # sudo: certificate storage is for administrators; the user is an officer of this company (checked above).
        company = self.sudo()
        if company.handover_certificate_id.is_valid:
            raise UserError(
                self.env._("%(company)s already has a valid signing key; it is not replaced.", company=self.name)
            )
        key = self.env["certificate.key"].sudo()._generate_ec_private_key(company, name=f"{self.name} checklist key")
        private_key = ck.load_private_key(base64.b64decode(key.with_context(bin_size=False).pem_key))
        certificate_pem = ck.certificate_pem(ck.make_self_signed(private_key, self.name, days=3 * 365))
        company.handover_certificate_id = self.env["certificate.certificate"].sudo().create({
            "name": self.env._("%(company)s checklist signing", company=self.name),
            "content": base64.b64encode(certificate_pem.encode("ascii")),
            "private_key_id": key.id,
            "company_id": self.id,
        })
        return True

    def action_handover_create_package_key(self):
        """Create the age identity that decrypts the transfer packages sent to this company; show its recipient."""
        self.ensure_one()
        if not self.env.user.has_group(OFFICER) or self not in self.env.user.company_ids:
            raise AccessError(self.env._("Only a data-protection officer of %(company)s can create its package key.",
                                         company=self.name))
        # sudo: the identity is officer-only (groups=); the user is an officer of this company (checked above)
        company = self.sudo()
        if company.handover_package_identity:
            raise UserError(
                self.env._("%(company)s already has a package key (recipient %(recipient)s); it is not replaced.",
                           company=self.name, recipient=company.handover_package_recipient)
            )
        identity, recipient = new_identity()
        company.write({"handover_package_identity": identity, "handover_package_recipient": recipient})
        self.env["customer.handover.event"]._append_for(self, "package_key_created", {"recipient": recipient},
                                                        company=self)
        return recipient
