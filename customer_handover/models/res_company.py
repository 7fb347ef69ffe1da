import base64

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..tools import checklist as ck
from ..tools import transfer_package as tp
from .handover_access import OFFICER, has_group_in_company

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
    handover_bilingual_headers = fields.Boolean(
        string="Bilingual Handover Documents",
        help="The signed checklist and the handover record label their contents in the company's language and in "
        "English; the values stay in the company's language.",
    )

    # PIPL Art. 56 keeps records of processing for at least three years: a handover's signed record is one.
    handover_record_retention_years = fields.Integer(
        string="Keep Handover Records (years)", default=3,
        groups="customer_handover.group_data_protection_officer",
        help="The checklist lines' snapshots and the signed exports of a completed handover are its legal record: "
        "they are kept this many years after completion (PIPL Art. 56 asks for at least three), then the daily "
        "retention job destroys them, keeping each file's digest.",
    )
    handover_record_restrict_days = fields.Integer(
        string="Restrict Handover Records After (days)", default=90,
        groups="customer_handover.group_data_protection_officer",
        help="This many days after completion, a handover's checklist lines and signed exports are read by "
        "data-protection officers only (storage and security only, PIPL Art. 47), until they are destroyed.",
    )
    handover_package_retention_days = fields.Integer(
        string="Keep Packages (days)", default=30,
        groups="customer_handover.group_data_protection_officer",
        help="The backup package and every stored transfer package of a completed handover are destroyed this many "
        "days after completion, keeping each file's digest: the customers now live with the receiver, or here.",
    )

    # China's rules on accounting archives keep vouchers and books for 30 years.
    handover_accounting_retention_years = fields.Integer(
        string="Keep Invoiced Contacts (years)", default=30,
        groups="customer_handover.group_data_protection_officer",
        help="A contact an accounting document names is restricted rather than destroyed, until this many years "
        "after the document's date.",
    )
    handover_destruction_grace_days = fields.Integer(
        string="Destroy Our Copies After Handover (days)", default=60,
        groups="customer_handover.group_data_protection_officer",
        help="A completed handover that carried customers out in a package proposes destroying this company's "
        "copies this many days later. 0: no proposal.",
    )

    handover_package_identity = fields.Text(
        string="Package Key (secret)", copy=False,
        groups="customer_handover.group_data_protection_officer",
        help="The company's age identity: it opens the backup packages made before customers move, and the "
        "transfer packages other companies encrypt to this company.",
    )
    handover_package_recipient = fields.Char(
        string="Package Public Key", compute="_compute_handover_package_recipient",
        help="Give this age1… key to a transferring company: it encrypts its transfer package to it.",
    )
    handover_request_due_days = fields.Integer(
        string="Days to Answer a Data Request",
        default=15,
        help="A customer's request (withdrawal, objection, copy, deletion) is due this many days after it is received.",
    )

    @api.constrains("handover_record_retention_years", "handover_record_restrict_days",
                    "handover_package_retention_days")
    def _check_handover_record_retention(self):
        for company in self.sudo():  # sudo: the settings are officer-only; only their values are checked
            if min(company.handover_record_retention_years, company.handover_record_restrict_days,
                   company.handover_package_retention_days) < 0:
                raise ValidationError(self.env._("A retention period of handover records or packages cannot be "
                                                 "negative."))
            if company.handover_record_retention_years < 3:
                raise ValidationError(self.env._("Handover records are kept at least three years (PIPL Art. 56)."))

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

    @api.constrains("handover_package_identity")
    def _check_handover_package_identity(self):
        for company in self.sudo():
            if company.handover_package_identity:
                try:
                    tp.load_identities(company.handover_package_identity)
                except tp.PackageError as error:
                    raise ValidationError(self.env._("The package key is not an age identity: %(reason)s",
                                                     reason=error)) from error

    @api.depends("handover_package_identity")
    def _compute_handover_package_recipient(self):
        for company in self:
            # sudo: only the public half of the officer-only identity is derived and shown.
            identity = company.sudo().handover_package_identity
            company.handover_package_recipient = identity and str(tp.load_identities(identity)[0].to_public())

    def action_handover_create_package_key(self):
        """Create the company's age key pair for transfer and backup packages (officers only)."""
        self.ensure_one()
        if not has_group_in_company(self.env, OFFICER, self):
            raise AccessError(self.env._("Only a data-protection officer of %(company)s can create its package key.",
                                         company=self.name))
        if self.sudo().handover_package_identity:
            raise UserError(self.env._("%(company)s already has a package key; it is not replaced: packages "
                                       "encrypted to it would no longer open.", company=self.name))
        self._handover_create_package_key()
        return True

    def _handover_package_recipient(self):
        """The company's package public key, created on first use by the calling step (a manager's backup)."""
        self.ensure_one()
        # sudo: the secret half is officer-only; the caller is a checked step, and only the public half is read.
        if not self.sudo().handover_package_identity:
            self._handover_create_package_key()
        return self.sudo().handover_package_recipient

    def _handover_create_package_key(self):
        identity, recipient = tp.new_identity()
        # sudo: the key's fields are officer-only, and creating it is the calling step's (checked by its caller).
        self.sudo().handover_package_identity = identity
        self.env["customer.handover.event"]._append_for(
            self, "package_key_created", {"fingerprint": tp.recipient_fingerprint(recipient)[1]}, self
        )

    def action_handover_create_signing_key(self):
        """Create an elliptic-curve key and a self-signed certificate that sign this company's checklists."""
        self.ensure_one()
        if not has_group_in_company(self.env, OFFICER, self):
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

    def _handover_lang_env(self):
        """An environment in this company's language, for the texts the addon stores or posts for every reader.

        Chatter notes and stored reasons are read by the company's staff, whoever acted: they are not written in
        the actor's language (STYLE.md, habit 12). The company's language is its contact's; failing that, the
        database's default language for contacts (the ``ir.default`` Odoo sets from the language the database
        was created with); failing that, en_US, the language of the addon's own texts.
        """
        return self.with_context(lang=self._handover_lang()).env

    def _handover_lang(self):
        """The code of this company's language (see ``_handover_lang_env``)."""
        self.ensure_one()
        # sudo: the database-wide default is hidden from non-admins by ir.default's rules; only a language code is read
        return self.partner_id.lang or self.env["ir.default"].sudo()._get("res.partner", "lang") or "en_US"
