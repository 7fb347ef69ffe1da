import base64
import hashlib
import tempfile
from datetime import timezone

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..tools import checklist as ck
from ..tools.checklist_columns import LINE_COLUMNS
from ..tools.checklist_countersign import countersign
from ..tools.checklist_xlsx import ChecklistWriter
from .customer_handover_evidence_mixin import CREATE, evidence_step
from .customer_handover_line import ON_RECORD
from .handover_access import MANAGER
from .handover_notes import log_note

BATCH = 2000
COUNTERSIGN_FIELDS = ("countersigner", "countersign_fingerprint", "countersigned_on", "countersigned_attachment_id")


class CustomerHandoverExport(models.Model):
    _name = "customer.handover.export"
    _description = "Signed Checklist Export"
    _order = "handover_id, number desc"
    _rec_name = "number"
    _check_company_auto = True
    _inherit = ["customer.handover.evidence.mixin"]
    _evidence_create = True
    _evidence_fields = (
        "number", "state", "exported_on", "user_id", "signer", "algorithm", "fingerprint", "certificate_pem",
        "signature", "line_count", "attachment_id", "signature_attachment_id", *COUNTERSIGN_FIELDS,
    )
    _immutable_fields = ("handover_id", "company_id")

    handover_id = fields.Many2one("customer.handover", required=True, ondelete="cascade", index=True, readonly=True)
    company_id = fields.Many2one(related="handover_id.company_id", store=True, index=True)
    number = fields.Integer(string="Export No.", required=True, readonly=True)
    state = fields.Selection(
        [("current", "Current"), ("superseded", "Superseded")], required=True, default="current", readonly=True
    )
    exported_on = fields.Datetime(required=True, readonly=True)
    user_id = fields.Many2one("res.users", string="Exported By", required=True, readonly=True)
    signer = fields.Char(string="Signed For", readonly=True)
    algorithm = fields.Char(readonly=True)
    fingerprint = fields.Char(string="Fingerprint (SHA-256)", readonly=True)
    certificate_pem = fields.Text(string="Signing Certificate", readonly=True)
    signature = fields.Char(readonly=True)
    line_count = fields.Integer(string="Lines", readonly=True)
    attachment_id = fields.Many2one("ir.attachment", string="Signed Workbook", readonly=True)
    signature_attachment_id = fields.Many2one("ir.attachment", string="Detached Signature", readonly=True)
    countersigner = fields.Char(string="Countersigned By", readonly=True)
    countersign_fingerprint = fields.Char(string="Countersigner's Fingerprint", readonly=True)
    countersigned_on = fields.Datetime(readonly=True)
    countersigned_attachment_id = fields.Many2one("ir.attachment", string="Countersigned Workbook", readonly=True)
    can_countersign = fields.Boolean(
        compute="_compute_can_countersign",
        help="The receiver is one of your companies in this database and this current export is not countersigned "
        "yet: it can be countersigned here with that company's key.",
    )

    _sql_constraints = [
        ("number_unique", "UNIQUE (handover_id, number)", "Each export of a handover has its own number."),
    ]

    @api.depends("handover_id.name", "number")
    def _compute_display_name(self):
        for export in self:
            export.display_name = self.env._(
                "%(handover)s, export %(number)s", handover=export.handover_id.name, number=export.number
            )

    @api.depends_context("uid")
    @api.depends("state", "countersigned_on", "handover_id.receiver_id.commercial_partner_id")
    def _compute_can_countersign(self):
        for export in self:
            export.can_countersign = bool(
                export.state == "current" and not export.countersigned_on and export._receiving_company()
            )

    def _receiving_company(self):
        """The user's company that receives this export's handover: empty when the receiver is outside."""
        receiver = self.handover_id.receiver_id.commercial_partner_id
        return self.env.user.company_ids.filtered(lambda company: company.partner_id == receiver)

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        self._refuse_evidence([], "unlink")

    def action_download(self):
        """Download the workbook (countersigned once it is) through its step, which logs each download."""
        return self._download_action("workbook")

    def action_download_signature(self):
        return self._download_action("signature")

    def action_download_signed(self):
        """Download the workbook as the transferring company signed it, before any countersignature."""
        return self._download_action("signed")

    def _download_action(self, kind):
        self.ensure_one()
        self._file_attachment(kind)
        return {"type": "ir.actions.act_url", "url": f"/customer_handover/export/{self.id}/download?file={kind}",
                "target": "self"}

    def _download_attachment(self, kind="workbook"):
        """The export's file ``kind``, once the user is checked and the download is logged.

        The files are evidence, read by no user directly (``ir.attachment``, ``/web/content``): this step serves
        them to whoever reads the export.
        """
        self.ensure_one()
        attachment = self._file_attachment(kind)
        self.env["customer.handover.event"]._append_for(
            self, "export_downloaded", {"attachment": attachment.id, "handover": self.handover_id.id, "file": kind}
        )
        # sudo: nobody reads an export's files directly; the user was checked as a reader of the export above
        return attachment.sudo()

    def _file_attachment(self, kind):
        """The attachment of file ``kind`` of this export, which the user must read: AccessError otherwise."""
        self.check_access("read")
        attachment = {
            "workbook": self.countersigned_attachment_id or self.attachment_id,
            "signed": self.attachment_id,
            "signature": self.signature_attachment_id,
            "countersigned": self.countersigned_attachment_id,
        }.get(kind)
        if not attachment:
            raise UserError(self.env._("Export %(number)s has no such file.", number=self.number))
        if attachment.sudo().handover_destroyed_on:  # sudo: only whether the file was destroyed is read
            raise UserError(self.env._("The files of export %(number)s were destroyed at the end of their retention; "
                                       "their digests are kept.", number=self.number))
        return attachment

    def action_countersign(self):
        """Countersign inside Odoo with the receiving company's key, when the receiver is a company here."""
        self.ensure_one()
        if not self.env.user.has_group(MANAGER):
            raise AccessError(self.env._("Only handover managers can countersign a checklist."))
        company = self._receiving_company()
        if not company:
            raise UserError(
                self.env._(
                    "%(receiver)s is not one of your companies in this database: it countersigns with its own key "
                    "and the customer-handover-countersign command, then you upload the countersigned workbook "
                    "with Verify a Checklist.",
                    receiver=self.handover_id.receiver_id.commercial_partner_id.display_name,
                )
            )
        self._check_countersignable()
        # sudo: the receiving company's key is readable by administrators only; the user manages that company.
        certificate = company.sudo().handover_certificate_id
        key, cert = certificate._handover_signing_material()
        # sudo: the signed workbook is read by its steps only; the user was checked as a manager of the receiver
        data = base64.b64decode(self.attachment_id.sudo().datas)
        try:
            signed, _result = countersign(
                data, key, cert, company.name, trusted={self.fingerprint},
            )
        except ck.ChecklistError as error:
            raise UserError(self.env._("The checklist cannot be countersigned: %(reason)s", reason=error)) from error
        self._record_countersignature(signed, company.name, ck.fingerprint(cert))

    def _check_countersignable(self):
        if self.state != "current":
            raise UserError(
                self.env._("Export %(number)s was superseded by a later export: countersign the latest one.",
                           number=self.number)
            )
        if self.countersigned_on:
            raise UserError(self.env._("Export %(number)s is already countersigned.", number=self.number))

    def _record_countersignature(self, data, countersigner, countersign_fingerprint):
        """Keep the countersigned workbook and record the receiving party's confirmation."""
        handover = self.handover_id
        attachment = self.env["ir.attachment"]._keep_handover_evidence([{
            "name": self._file_name("countersigned", "xlsx"),
            "raw": data,
            "res_model": self._name,
            "res_id": self.id,
            "company_id": handover.company_id.id,
            "mimetype": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }])
        with evidence_step(self._name, *COUNTERSIGN_FIELDS):
            self.write({
                "countersigner": countersigner,
                "countersign_fingerprint": countersign_fingerprint,
                "countersigned_on": fields.Datetime.now(),
                "countersigned_attachment_id": attachment.id,
            })
        self.env["customer.handover.event"]._append_for(
            self, "export_countersigned", {"fingerprint": countersign_fingerprint, "handover": handover.id}
        )
        log_note(handover, "mt_checklist_countersigned", self._file_name("signed", "xlsx"), changes=[
            (self, "countersigner", "", countersigner),
            (self, "countersign_fingerprint", "", countersign_fingerprint),
        ])

    @api.model
    def _check_may_export(self, handover):
        """Refuse a user who may not export ``handover``'s checklist, or a checklist not signed; else its key."""
        if not self.env.user.has_group(MANAGER):
            raise AccessError(self.env._("Only handover managers can export and sign a checklist."))
        handover.ensure_one()
        handover.check_access("write")
        if handover.state == "cancel":
            raise UserError(self.env._("A cancelled handover cannot be exported."))
        if handover.state not in ("signed", "done"):
            raise UserError(
                self.env._("%(handover)s is sealed with the company's key once both parties have signed its "
                           "checklist; it is not signed yet.", handover=handover.name)
            )
        handover._check_idle()
        handover._check_record_kept()
        # sudo: the signing certificate is an officer's setting; the user was checked as a manager above.
        return handover.company_id.sudo().handover_certificate_id._handover_signing_material()

    @api.model
    def _line_count(self, handover):
        """The lines the export of ``handover`` lists (a signed handover has lines: it could not start without)."""
        return self.env["customer.handover.line"].search_count([("handover_id", "=", handover.id), ON_RECORD])

    @api.model
    def _start_for(self, handover):
        """Export a checklist above the background threshold in the background; the request only checks and queues.

        The job builds the whole workbook in one call of the cron (``_job_export_batch``): the export exists once
        its file is whole, or not at all.
        """
        self._check_may_export(handover)
        Job = self.env["customer.handover.job"]
        return Job._start(handover, "export", SQL("SELECT %s", handover.id), total=self._line_count(handover))

    @api.model
    def _job_export_batch(self, job, handover_ids):
        """The background export: the whole workbook, its rows reported to the job as they are written."""
        self._create_for(self.env["customer.handover"].browse(handover_ids), job=job)

    @api.model
    def _create_for(self, handover, job=None):
        """Export ``handover``'s checklist, sign it with its company's key, keep it and announce it.

        ``job``: the background step that builds it, told how many rows are written, a batch's size at a time.
        """
        key, cert = self._check_may_export(handover)
        line_count = self._line_count(handover)
        # Serialise exports of one handover so that two never get the same number.
        self.env.cr.execute(SQL("SELECT id FROM customer_handover WHERE id = %s FOR UPDATE", handover.id))
        previous = self.search([("handover_id", "=", handover.id)])
        number = max(previous.mapped("number"), default=0) + 1
        now = fields.Datetime.now()
        signed_at = ck.utc_timestamp(now.replace(tzinfo=timezone.utc))
        company = handover.company_id
        content = self._in_document_language(company)
        document = handover.with_env(content.env)
        labels = content._document_labels(company)
        with tempfile.TemporaryFile() as output:
            writer = ChecklistWriter(output, labels["sheet_names"], labels)
            writer.write_cover(labels["cover_header"],
                               content._document_cover(company, document, number, line_count, now))
            header = content._document_header(company, labels["number"])
            writer.start_checklist(header, [5, *(width for _name, width in LINE_COLUMNS)])
            every = job._batch_size() if job else 0
            for index, row in enumerate(content._checklist_export_rows(document), start=1):
                writer.write_row(row)
                if every and not index % every:
                    job._file_progress(index)
            rows = writer.manifest(handover.name, number, handover.company_id.name, signed_at)
            try:
                rows += ck.signature_rows(
                    labels, 1, "transferring", handover.company_id.name, signed_at, cert, key, rows
                )
            except ck.ChecklistError as error:
                raise UserError(self.env._("The checklist cannot be signed: %(reason)s", reason=error)) from error
            writer.close(rows)
            output.seek(0)
            data = output.read()
        return self._keep(handover, number, now, line_count, cert, rows, data, previous)

    def _keep(self, handover, number, now, line_count, cert, rows, data, previous):
        signature_row = rows[-1]
        block = {row[0].rsplit(".", 1)[1]: row[2] for row in rows if row[0].startswith("signature.1.")}
        with evidence_step(self._name, CREATE, *self._evidence_fields):
            return self._record_export(handover, number, now, line_count, block, signature_row, data, rows, previous)

    def _record_export(self, handover, number, now, line_count, block, signature_row, data, rows, previous):
        export = self.create({
            "handover_id": handover.id,
            "number": number,
            "exported_on": now,
            "user_id": self.env.uid,
            "signer": handover.company_id.name,
            "algorithm": block["algorithm"],
            "fingerprint": block["fingerprint"],
            "certificate_pem": block["certificate"],
            "signature": signature_row[2],
            "line_count": line_count,
        })
        # The files are evidence of the export, not attachments of the handover that its readers fetch: they are
        # downloaded through the export's step only, which logs each download.
        attachments = self.env["ir.attachment"]._keep_handover_evidence([
            {
                "name": export._file_name("signed", "xlsx"),
                "raw": data,
                "res_model": self._name,
                "res_id": export.id,
                "company_id": handover.company_id.id,
                "mimetype": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            },
            {
                "name": export._file_name("signature", "json"),
                "raw": ck.detached_signature(rows),
                "res_model": self._name,
                "res_id": export.id,
                "company_id": handover.company_id.id,
                "mimetype": "application/json",
            },
        ])
        export.write({"attachment_id": attachments[0].id, "signature_attachment_id": attachments[1].id})
        superseded = previous.filtered(lambda old: old.state == "current")
        superseded.write({"state": "superseded"})
        last = superseded[:1]
        log_note(handover, "mt_checklist_exported", changes=[
            (export, "number", last.number, number),
            (export, "signer", last.signer or "", export.signer),
            (export, "fingerprint", last.fingerprint or "", export.fingerprint),
        ])
        events = self.env["customer.handover.event"]
        events._append_for(export, "export_created", {
            "handover": handover.id, "number": number, "fingerprint": export.fingerprint,
            "digest": hashlib.sha256(data).hexdigest(), "lines": line_count,
        })
        events._seal(handover.company_id)
        return export

    def _file_name(self, kind, extension):
        reference = (self.handover_id.name or "handover").replace("/", "-")
        return f"{reference}-export-{self.number}-{kind}.{extension}"
