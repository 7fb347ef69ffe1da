import base64

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..tools import checklist as ck
from ..tools.checklist_countersign import countersign
from .customer_handover_evidence_mixin import evidence_step
from .handover_access import MANAGER, has_group_in_company
from .handover_notes import log_note

COUNT_FIELDS = (
    "customer_count", "created_count", "matched_count", "refused_count", "child_count", "consent_count",
    "evidence_count", "item_count", "difference_count",
)
COUNTERSIGN_FIELDS = ("state", "countersigner", "countersign_fingerprint", "countersigned_on",
                      "countersigned_attachment_id")


class CustomerHandoverIncoming(models.Model):
    _name = "customer.handover.incoming"
    _description = "Incoming Handover"
    _order = "received_on desc, id desc"
    _inherit = ["mail.thread", "customer.handover.evidence.mixin"]
    _check_company_auto = True
    _evidence_create = True
    _evidence_fields = (
        "name", "sender", "fingerprint", "handover_reference", "export_number", "checklist_sha256",
        "package_number", "package_sha256", "package_created_at", "received_on", "user_id", "reconciled",
        "checklist_attachment_id", *COUNT_FIELDS, *COUNTERSIGN_FIELDS,
    )
    _immutable_fields = ("company_id",)

    name = fields.Char(string="Incoming Handover", required=True, readonly=True)
    company_id = fields.Many2one("res.company", string="Receiving Company", required=True, readonly=True,
                                 index=True, default=lambda self: self.env.company)
    state = fields.Selection(
        [("importing", "Importing"), ("imported", "Imported"), ("countersigned", "Countersigned")],
        required=True, default="imported", readonly=True, tracking=True,
    )
    sender = fields.Char(string="Transferring Company", readonly=True)
    fingerprint = fields.Char(string="Sender's Key Fingerprint (SHA-256)", readonly=True)
    handover_reference = fields.Char(readonly=True, index=True)
    export_number = fields.Integer(string="Checklist Export No.", readonly=True)
    checklist_sha256 = fields.Char(string="Checklist SHA-256", readonly=True)
    package_number = fields.Integer(string="Package No.", readonly=True)
    package_sha256 = fields.Char(string="Package SHA-256", readonly=True)
    package_created_at = fields.Char(string="Package Created At (UTC)", readonly=True)
    received_on = fields.Datetime(readonly=True)
    user_id = fields.Many2one("res.users", string="Imported By", readonly=True)
    customer_count = fields.Integer(string="Customers in Package", readonly=True)
    created_count = fields.Integer(string="Customers Created", readonly=True)
    matched_count = fields.Integer(string="Customers Matched", readonly=True)
    refused_count = fields.Integer(string="Customers Refused", readonly=True)
    child_count = fields.Integer(string="Child Contacts", readonly=True)
    consent_count = fields.Integer(string="Consents", readonly=True)
    evidence_count = fields.Integer(string="Evidence Files", readonly=True)
    item_count = fields.Integer(string="Items", readonly=True)
    difference_count = fields.Integer(string="Differences", readonly=True)
    reconciled = fields.Boolean(
        readonly=True, tracking=True,
        help="Every checklist line of the package is accounted for, its counts are the manifest's and each "
        "customer's snapshot is the one the signed checklist holds.",
    )
    line_ids = fields.One2many("customer.handover.incoming.line", "incoming_id", string="Reconciliation",
                               readonly=True)
    checklist_attachment_id = fields.Many2one("ir.attachment", string="Checklist Received", readonly=True)
    countersigner = fields.Char(string="Countersigned By", readonly=True)
    countersign_fingerprint = fields.Char(string="Countersigner's Fingerprint", readonly=True)
    countersigned_on = fields.Datetime(readonly=True)
    countersigned_attachment_id = fields.Many2one("ir.attachment", string="Countersigned Checklist", readonly=True)

    signing_key_missing = fields.Boolean(compute="_compute_signing_key_missing")

    _sql_constraints = [
        ("package_unique", "UNIQUE (company_id, handover_reference, package_number, fingerprint)",
         "A package is imported once."),
    ]

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        if self - self._import_cancelled_by_running_job():
            self._refuse_evidence([], "unlink")

    @api.depends("company_id")
    def _compute_signing_key_missing(self):
        for incoming in self:
            # sudo: only whether the company can countersign is read; the key itself is an officer's setting.
            incoming.signing_key_missing = not incoming.company_id.sudo().handover_certificate_id.is_valid

    def action_create_signing_key(self):
        self.ensure_one()
        return self.company_id.action_handover_create_signing_key()

    def action_countersign(self):
        """Countersign the checklist workbook this package came with, with the receiving company's key."""
        self.ensure_one()
        if not has_group_in_company(self.env, MANAGER, self.company_id):
            raise AccessError(self.env._("Only handover managers of %(company)s can countersign a checklist.",
                                         company=self.company_id.name))
        if self.state == "importing":
            raise UserError(self.env._("%(name)s is still being imported: countersign it once the import ends.",
                                       name=self.name))
        if self.state == "countersigned":
            raise UserError(self.env._("%(name)s is already countersigned.", name=self.name))
        # sudo: the company's signing key is an officer's setting; the user is a manager of this company (checked above)
        key, cert = self.company_id.sudo().handover_certificate_id._handover_signing_material()
        # sudo: the workbook received is a private attachment of this record; the user may read the record
        data = base64.b64decode(self.checklist_attachment_id.sudo().datas)
        try:
            signed, _result = countersign(
                data, key, cert, self.company_id.name, trusted={self.fingerprint},
            )
        except ck.ChecklistError as error:
            raise UserError(self.env._("The checklist cannot be countersigned: %(reason)s", reason=error)) from error
        attachment = self.env["ir.attachment"]._keep_handover_evidence([{
            "name": f"{self.handover_reference}-export-{self.export_number}-countersigned.xlsx".replace("/", "-"),
            "raw": signed,
            "res_model": self._name,
            "res_id": self.id,
            "company_id": self.company_id.id,
            "mimetype": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }])
        values = {
            "state": "countersigned",
            "countersigner": self.company_id.name,
            "countersign_fingerprint": ck.fingerprint(cert),
            "countersigned_on": fields.Datetime.now(),
            "countersigned_attachment_id": attachment.id,
        }
        with evidence_step(self._name, *COUNTERSIGN_FIELDS):
            self.write(values)
        self.env["customer.handover.event"]._append_for(
            self, "package_countersigned", {"fingerprint": values["countersign_fingerprint"]}
        )
        log_note(self, "mt_incoming_countersigned", changes=[
            (self, "countersigner", "", values["countersigner"]),
            (self, "countersign_fingerprint", "", values["countersign_fingerprint"]),
        ])
        return True

    def action_download_countersigned(self):
        """Download the checklist (countersigned once it is) through its step, which logs each download."""
        self.ensure_one()
        self._file_attachment()
        return {"type": "ir.actions.act_url", "url": f"/customer_handover/incoming/{self.id}/download",
                "target": "self"}

    def _download_attachment(self):
        """The checklist received (countersigned once it is), once the user is checked and the download is logged."""
        self.ensure_one()
        attachment = self._file_attachment()
        self.env["customer.handover.event"]._append_for(
            self, "received_checklist_downloaded",
            {"attachment": attachment.id, "countersigned": attachment == self.countersigned_attachment_id},
        )
        # sudo: nobody reads the checklists received directly; the user was checked as a reader of this record above
        return attachment.sudo()

    def _file_attachment(self):
        self.check_access("read")
        return self.countersigned_attachment_id or self.checklist_attachment_id

    def action_view_partners(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Customers of %(name)s", name=self.name),
            "res_model": "res.partner",
            "view_mode": "list,form",
            "domain": [("id", "in", self.line_ids.partner_id.ids)],
        }
