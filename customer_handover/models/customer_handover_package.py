import hashlib
import os
import tempfile
from datetime import timezone

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, split_every

from ..tools import checklist as ck
from ..tools import transfer_package as tp
from ..tools.digests import sha256_file, sha256_stream
from .customer_handover_evidence_mixin import CREATE, evidence_step
from .handover_access import MANAGER
from .handover_notes import log_note

BATCH = 2000
CONTACT_FIELDS = ("ref", "name", "function", "street", "street2", "zip", "city", "email", "phone", "mobile", "vat",
                  "lang")


class CustomerHandoverPackage(models.Model):
    _name = "customer.handover.package"
    _description = "Transfer Package"
    _order = "handover_id, number desc"
    _rec_name = "number"
    _check_company_auto = True
    _inherit = ["customer.handover.evidence.mixin"]
    _evidence_create = True
    _evidence_fields = (
        "number", "kind", "export_id", "created_on", "user_id", "encryption", "recipient", "recipient_fingerprint",
        "signer_fingerprint", "manifest_sha256", "file_sha256", "customer_count", "child_count", "consent_count",
        "evidence_count", "item_count", "attachment_id", "partner_ids",
    )
    _immutable_fields = ("handover_id", "company_id")

    handover_id = fields.Many2one("customer.handover", required=True, ondelete="cascade", index=True, readonly=True)
    company_id = fields.Many2one(related="handover_id.company_id", store=True, index=True)
    number = fields.Integer(string="Package No.", required=True, readonly=True)
    kind = fields.Selection(
        [("transfer", "Transfer to the receiver"), ("backup", "Backup before the move")],
        required=True, default="transfer", readonly=True,
    )
    export_id = fields.Many2one(
        "customer.handover.export", string="Delivers Export", required=True, readonly=True, ondelete="restrict",
        help="The signed checklist export whose customers this package carries.",
    )
    state = fields.Selection(
        related="export_id.state", string="Status",
        help="A package delivers one export of the checklist: when a later export supersedes it, so is the package.",
    )
    created_on = fields.Datetime(required=True, readonly=True)
    user_id = fields.Many2one("res.users", string="Created By", required=True, readonly=True)
    encryption = fields.Selection(
        [("recipient", "To the receiver's key"), ("passphrase", "With a one-time passphrase"),
         ("company", "To the company's own key")],
        required=True, readonly=True,
    )
    recipient = fields.Char(string="Encrypted To", readonly=True, help="The age recipient (public key) it opens with.")
    recipient_fingerprint = fields.Char(string="Recipient Fingerprint (SHA-256)", readonly=True)
    signer_fingerprint = fields.Char(string="Signed With (SHA-256)", readonly=True)
    manifest_sha256 = fields.Char(string="Manifest SHA-256", readonly=True)
    file_sha256 = fields.Char(string="File SHA-256", readonly=True)
    customer_count = fields.Integer(string="Customers", readonly=True)
    child_count = fields.Integer(string="Child Contacts", readonly=True)
    consent_count = fields.Integer(string="Consents", readonly=True)
    evidence_count = fields.Integer(string="Evidence Files", readonly=True)
    item_count = fields.Integer(string="Items", readonly=True)
    # An evidence file that no user reads directly: it is downloaded through its step only (action_download), which
    # refuses a superseded package and logs each download.
    attachment_id = fields.Many2one("ir.attachment", string="Encrypted Package", readonly=True)
    partner_ids = fields.Many2many(
        "res.partner", "customer_handover_package_partner_rel", "package_id", "partner_id", string="Customers Carried",
        readonly=True,
    )

    _sql_constraints = [
        ("number_unique", "UNIQUE (handover_id, kind, number)", "Each package of a handover has its own number."),
    ]

    @api.depends("handover_id.name", "number", "kind")
    def _compute_display_name(self):
        for package in self:
            package.display_name = self.env._(
                "%(handover)s, package %(number)s", handover=package.handover_id.name, number=package.number
            )

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        self._refuse_evidence([], "unlink")

    def action_download(self):
        self.ensure_one()
        self._check_download()
        return {"type": "ir.actions.act_url", "url": f"/customer_handover/package/{self.id}/download",
                "target": "self"}

    def _download_attachment(self):
        """The package's file, once the user and the export are checked and the download is logged."""
        self.ensure_one()
        self._check_download()
        self.env["customer.handover.event"]._append_for(
            self, "package_downloaded", {"handover": self.handover_id.id, "number": self.number}
        )
        # sudo: nobody reads the file's attachment directly; this step checked the user above
        return self.attachment_id.sudo()

    def _check_download(self):
        self._check_manager()
        # the state is read as superuser (a related field): the package itself must be this user's to read
        self.check_access("read")
        if self.attachment_id.sudo().handover_destroyed_on:  # sudo: only whether the file was destroyed is read
            raise UserError(self.env._("Package %(number)s was destroyed at the end of its retention; its digest is "
                                       "kept.", number=self.number))
        if self.state == "superseded":
            raise UserError(
                self.env._("Package %(number)s delivers export %(export)s of the checklist, which a later export "
                           "superseded: make a new package from the current export.",
                           number=self.number, export=self.export_id.number)
            )

    @api.model
    def _check_manager(self):
        if not self.env.user.has_group(MANAGER):
            raise AccessError(self.env._("Only handover managers can make or download transfer packages."))

    @api.model
    def _check_may_package(self, handover):
        """Refuse a user who may not make a package of ``handover``, or a handover not signed or busy."""
        self._check_manager()
        handover.ensure_one()
        handover.check_access("write")
        if handover.state not in ("signed", "done"):
            raise UserError(
                self.env._("%(handover)s is not signed: a transfer package carries what both parties signed.",
                           handover=handover.name)
            )
        handover._check_idle()
        handover._check_record_kept()

    @api.model
    def _start_for(self, handover, recipient):
        """Make the transfer package of a handover above the background threshold in the background, to ``recipient``.

        The request checks and queues; the job builds the backup if there is none yet, the export if there is none,
        then the package, in one call of the cron (``_job_package_batch``): each record exists once its file is
        whole, or not at all.
        """
        self._check_may_package(handover)
        # sudo: whether the company can sign is checked now rather than when the job runs; the user is a manager
        handover.company_id.sudo().handover_certificate_id._handover_signing_material()
        recipient = tp.recipient_fingerprint(recipient)[0]
        lines = self.env["customer.handover.line"].search_count([("handover_id", "=", handover.id)])
        return self.env["customer.handover.job"]._start(
            handover, "package", SQL("SELECT %s", handover.id), {"recipient": recipient}, total=lines)

    @api.model
    def _job_package_batch(self, job, handover_ids):
        """The background package: its whole file (and the backup's, the export's if missing), rows reported."""
        self._create_for(self.env["customer.handover"].browse(handover_ids), recipient=job.params["recipient"],
                         job=job)

    @api.model
    def _create_for(self, handover, kind="transfer", recipient=None, passphrase=None, job=None):
        """Build, sign, encrypt and keep a package of ``handover``'s verified customers; return the record.

        ``kind`` transfer: to ``recipient`` (an age1… key) or with ``passphrase``; backup: to the company's own key.
        ``job``: the background step that builds it, told how far the customers are written.
        """
        self._check_may_package(handover)
        company = handover.company_id
        if kind == "backup":
            recipient = company._handover_package_recipient()
            encryption, recipient_print = "company", tp.recipient_fingerprint(recipient)[1]
        elif recipient:
            try:
                recipient, recipient_print = tp.recipient_fingerprint(recipient)
            except tp.PackageError as error:
                raise UserError(self.env._("The receiver's key is not an age public key (age1…): %(reason)s",
                                           reason=error)) from error
            encryption = "recipient"
        elif passphrase:
            encryption, recipient_print = "passphrase", ""
        else:
            raise UserError(self.env._("Give the receiver's public key, or let Odoo make a one-time passphrase."))
        if kind == "transfer":
            handover._ensure_backup()
        export = handover._current_export() or self.env["customer.handover.export"]._create_for(handover)
        # sudo: the signing key is an officer's setting and the customers' officer-only data (sensitivity, legal
        # hold, consent evidence) travels with them; the user was checked as a manager of this handover above.
        key, cert = company.sudo().handover_certificate_id._handover_signing_material()
        # sudo: the signed workbook is read by its steps only; the user was checked as a manager above
        with export.attachment_id.sudo()._open_content() as handle:
            checklist_sha256 = sha256_stream(handle)
        # Serialise the packages of one handover so that two never get the same number.
        self.env.cr.execute(SQL("SELECT id FROM customer_handover WHERE id = %s FOR UPDATE", handover.id))
        number = max(self.search([("handover_id", "=", handover.id), ("kind", "=", kind)]).mapped("number"),
                     default=0) + 1
        now = fields.Datetime.now()
        partner_ids = []
        with tempfile.TemporaryDirectory(prefix="customer-handover-") as folder:
            path = os.path.join(folder, "package.age")
            writer = tp.PackageWriter(
                path, handover.name, company.name, number, export.number, checklist_sha256,
                cover=handover._package_cover(kind), recipient=recipient if encryption != "passphrase" else None,
                passphrase=passphrase if encryption == "passphrase" else None,
                created_at=ck.utc_timestamp(now.replace(tzinfo=timezone.utc)),
            )
            try:
                with writer:
                    every = job._batch_size() if job else 0
                    for count, (customer, partner_id) in enumerate(handover._package_customers(writer), start=1):
                        writer.add_customer(customer)
                        partner_ids.append(partner_id)
                        if every and not count % every:
                            job._file_progress(customer["line"])
                    for item in handover._package_items():
                        writer.add_item(item)
                    manifest = writer.close(key, cert)
            except tp.PackageError as error:
                raise UserError(self.env._("The package cannot be made: %(reason)s", reason=error)) from error
            file_sha256 = sha256_file(path)
            values = {
                "handover_id": handover.id,
                "number": number,
                "kind": kind,
                "export_id": export.id,
                "created_on": now,
                "user_id": self.env.uid,
                "encryption": encryption,
                "recipient": recipient if encryption != "passphrase" else False,
                "recipient_fingerprint": recipient_print or False,
                "signer_fingerprint": ck.fingerprint(cert),
                "manifest_sha256": hashlib.sha256(tp.canonical_json(manifest)).hexdigest(),
                "file_sha256": file_sha256,
                "customer_count": manifest["counts"]["customers"],
                "child_count": manifest["counts"]["child_contacts"],
                "consent_count": manifest["counts"]["consents"],
                "evidence_count": manifest["counts"]["evidence_files"],
                "item_count": manifest["counts"]["items"],
            }
            with evidence_step(self._name, CREATE, *self._evidence_fields):
                return self._record_package(handover, values, path, partner_ids)

    def _record_package(self, handover, values, path, partner_ids):
        package = self.create(values)
        reference = (handover.name or "handover").replace("/", "-")
        suffix = "backup" if package.kind == "backup" else "package"
        # The package is attached to its own record, which only managers read, not to the handover, which users read;
        # as an evidence file that only its step serves.
        # Stored from its file in chunks: a package of a million customers is not held in the worker's memory.
        attachment = self.env["ir.attachment"]._keep_handover_evidence_file({
            "name": f"{reference}-{suffix}-{package.number}.age",
            "res_model": self._name,
            "res_id": package.id,
            "company_id": handover.company_id.id,
            "mimetype": "application/octet-stream",
        }, path)
        package.write({"attachment_id": attachment.id})
        for batch in split_every(BATCH * 5, partner_ids):
            self.env.cr.execute(SQL(
                "INSERT INTO customer_handover_package_partner_rel (package_id, partner_id) "
                "SELECT %s, unnest(%s::int[]) ON CONFLICT DO NOTHING", package.id, list(batch),
            ))
        if package.kind == "backup":
            subtype, body = "mt_backup_package", ""
        elif package.encryption == "passphrase":
            subtype, body = "mt_transfer_package_passphrase", self.env.user.name
        else:
            subtype, body = "mt_transfer_package", ""
        log_note(handover, subtype, body, changes=[
            (package, "number", 0, package.number),
            (package, "customer_count", 0, package.customer_count),
            *([(package, "export_id", package.export_id.browse(), package.export_id)] if package.export_id else []),
            *([(package, "recipient_fingerprint", "", package.recipient_fingerprint)]
              if package.recipient_fingerprint else []),
        ])
        events = self.env["customer.handover.event"]
        events._append_for(package, f"{package.kind}_package_created", {
            "handover": handover.id, "number": package.number, "export": package.export_id.number,
            "manifest": package.manifest_sha256, "file": package.file_sha256, "encryption": package.encryption,
            "recipient": package.recipient_fingerprint or "passphrase", "customers": package.customer_count,
        })
        events._append_for(
            self.env["res.partner"].browse(partner_ids), "customers_packaged",
            {"package": package.id, "handover": handover.id, "kind": package.kind}, handover.company_id,
        )
        self.env["res.partner"].invalidate_model(["handover_package_ids"])
        return package

