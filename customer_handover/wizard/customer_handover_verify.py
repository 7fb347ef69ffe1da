import base64
import binascii
import hashlib

from odoo import fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools.translate import LazyTranslate

from ..models.handover_access import MANAGER
from ..tools.checklist import DESTRUCTION_CERTIFICATE_FORMAT, EVENT_LOG_FORMAT
from ..tools.checklist_verify import Limits, verify
from ..tools.event_log import ChainProblem

_lt = LazyTranslate(__name__)

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
# What the verifier found, in the user's language; the keys are the verifier's finding codes.
FINDINGS = {
    "too_large": _lt("The file is %(size)s bytes; files over %(limit)s bytes are refused."),
    "not_zip": _lt("The file is not an Excel workbook (.xlsx), or it is truncated."),
    "too_many_parts": _lt("The workbook has %(count)s parts; more than %(limit)s are refused."),
    "zip_bomb": _lt("Part %(part)s unpacks to far more than its size; the file is refused as a zip bomb."),
    "xml_entities": _lt("Part %(part)s declares XML entities or a document type; the file is refused."),
    "xml_encoding": _lt("Part %(part)s is not UTF-8 XML; the file is refused."),
    "corrupt": _lt("The workbook cannot be read: %(detail)s"),
    "not_checklist": _lt("This workbook is not a customer handover checklist."),
    "unsupported_version": _lt(
        "This checklist uses canonical form version %(version)s; this reader knows version %(known)s."
    ),
    "manifest_missing": _lt("The signatures sheet lacks its %(key)s row."),
    "not_signed": _lt("The checklist is not signed."),
    "sheet_missing": _lt("Sheet %(sheet)s is missing."),
    "sheet_extra": _lt("Sheet %(sheet)s was added."),
    "sheet_hidden": _lt("Sheet %(sheet)s is hidden."),
    "sheet_renamed": _lt("Sheet %(position)s is named %(sheet)s instead of %(expected)s."),
    "formula": _lt("%(sheet)s, cell %(cell)s: a formula replaced the value."),
    "not_text": _lt("%(sheet)s, cell %(cell)s: the value is no longer text."),
    "unexpected_cell": _lt("%(sheet)s, cell %(cell)s: a value was added outside the checklist."),
    "cell_changed": _lt("%(sheet)s, row %(row)s, cell %(cell)s: the value changed."),
    "row_moved": _lt("%(sheet)s, row %(row)s: a row was added, removed or moved here."),
    "digest_changed": _lt("%(sheet)s, row %(row)s, cell %(cell)s: the row digest changed."),
    "rows_count": _lt("%(sheet)s: %(signed)s rows were signed, %(found)s are present."),
    "digests_rewritten": _lt(
        "%(sheet)s: the content no longer matches its signed digest (the row digests were rewritten)."
    ),
    "unsigned_rows": _lt("%(sheet)s, row %(row)s: rows were added after the last signature."),
    "certificate_mismatch": _lt(
        "Signature %(number)s: the stated fingerprint is not that of the certificate beside it."
    ),
    "signature_invalid": _lt("Signature %(number)s (%(name)s) does not match the signed content."),
    "detached_mismatch": _lt("The signatures sheet differs from the detached signature file."),
    "untrusted": _lt("Signature %(number)s was made with the key %(fingerprint)s, not with the expected one."),
    "log_entry": _lt("Event log entry %(sequence)s: %(problem)s"),
    "not_pinned": _lt(
        "Signature %(number)s was made with the key %(fingerprint)s, which no export recorded here was signed "
        "with: the signer is not verified."
    ),
    "rewritten": _lt(
        "Part %(part)s: %(item)s is not as the signing program wrote it. The signed content may be intact, "
        "but this file is not the signed original: what it displays is not vouched for; ask for the original "
        "file."
    ),
    "zip_outside": _lt("The file holds data outside the entries of its zip, at byte %(offset)s; the file is refused."),
    "zip_duplicate": _lt("Zip entry %(entry)s appears twice (names compared without case); the file is refused."),
    "zip_name": _lt("Zip entry %(entry)s has a name no workbook part has; the file is refused."),
    "zip_mismatch": _lt(
        "Zip entry %(entry)s: its local header and the central directory disagree; the file is refused."
    ),
    "zip_method": _lt("Zip entry %(entry)s is stored with method %(method)s and flags %(flags)s, which are refused."),
    "zip_stream": _lt("Zip entry %(entry)s: its compressed data does not end where the zip says; the file is refused."),
    "part_foreign": _lt("Part %(part)s is content a signed checklist never holds; the file is refused."),
    "part_too_large": _lt("Part %(part)s is larger than such a part of a checklist can be; the file is refused."),
    "content_type_foreign": _lt("Part %(part)s has the content type %(kind)s, which a checklist never holds."),
    "relationship_foreign": _lt(
        "Part %(part)s: relationship %(id)s (%(kind)s) points at content a checklist never holds."
    ),
    "relationship_duplicate": _lt("Part %(part)s: relationship id %(id)s is given twice; the file is refused."),
    "external_link": _lt(
        "Part %(part)s: relationship %(id)s points outside the file (%(target)s); the file is refused."
    ),
    "element_foreign": _lt(
        "Part %(part)s: %(element)s is content a signed checklist never holds; the file is refused."
    ),
    "row_hidden": _lt("%(sheet)s, row %(row)s is hidden or too low to show its text."),
    "column_hidden": _lt("%(sheet)s, column %(column)s is hidden or too narrow to show its text."),
    "number_format": _lt("Part %(part)s: the number format %(format)s can change or hide the text a cell shows."),
    "text_twice": _lt(
        "Part %(part)s: a string holds both plain text and formatted runs: readers differ on which they show; "
        "the file is refused."
    ),
    "signature_extra": _lt(
        "Signatures, row %(row)s: %(key)s is not a row of a signed checklist (extra signature or row)."
    ),
    "cell_twice": _lt(
        "%(sheet)s, cell %(cell)s is stored twice, out of order or in another row: readers differ on which copy "
        "they show; the file is refused."
    ),
    "row_twice": _lt(
        "%(sheet)s, row %(row)s is stored twice or out of order: readers differ on which copy they show; the file "
        "is refused."
    ),
    "row_clipped": _lt(
        "%(sheet)s, cell %(cell)s: its text takes %(lines)s lines, more than a row shows (%(shown)s); the rest is "
        "signed but shows only in the cell itself, not on the sheet nor in print."
    ),
    "cell_cut": _lt(
        "%(sheet)s, cell %(cell)s: its text is wider than its column and stops at the next cell; the rest is signed "
        "but shows only in the cell itself."
    ),
    "strings_too_large": _lt(
        "Part %(part)s holds more text than the verifier reads (%(limit)s bytes); the file is not the signed "
        "original and its content was not checked: ask for the original file."
    ),
}
STATUSES = [
    ("valid", "Valid"),
    ("invalid", "Invalid: changed after signing"),
    ("not_signed", "Not signed"),
    ("unknown_key", "Signed by an unknown key"),
    ("resaved", "Re-saved: not the signed original"),
    ("superseded", "Superseded by a later export"),
    ("unreadable", "Unreadable"),
    ("not_checklist", "Not a checklist"),
]


class CustomerHandoverVerify(models.TransientModel):
    _name = "customer.handover.verify"
    _description = "Verify a Signed Checklist"
    # The upload carries customers' data: kept for the step only (see docs/evidence.md, "Wizards").
    _transient_max_hours = 1.0

    handover_id = fields.Many2one("customer.handover", readonly=True)
    # Required in the form; emptied once verified, so not a column constraint.
    file = fields.Binary(string="Checklist Workbook", attachment=False)
    filename = fields.Char()
    status = fields.Selection(STATUSES, readonly=True)
    summary = fields.Text(readonly=True)
    export_id = fields.Many2one("customer.handover.export", string="Signed Export", readonly=True)
    countersigned = fields.Boolean(readonly=True)
    can_record = fields.Boolean(compute="_compute_can_record")

    def _compute_can_record(self):
        for wizard in self:
            wizard.can_record = bool(
                wizard.status == "valid" and wizard.countersigned and wizard.export_id
                and not wizard.export_id.countersigned_on
            )

    def action_verify(self):
        self.ensure_one()
        result, export = self._verify()
        self.write({
            "status": result["status"],
            "summary": result["summary"],
            "export_id": export.id,
            "countersigned": result["countersigned"],
        })
        if not self.can_record:
            # A countersignature to record needs the upload once more; nothing else does.
            self._clear_upload()
        self.env["customer.handover.event"]._append([{
            "company_id": (export.company_id or self.handover_id.company_id or self.env.company).id,
            "event": "workbook_verified",
            "res_model": export._name if export else False,
            "res_id": export.id,
            "payload": {"status": result["status"], "countersigned": result["countersigned"],
                        "digest": result["digest"]},
        }])
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Verify a checklist"),
        }

    def action_record_countersignature(self):
        """Record the receiving party's confirmation carried by the uploaded workbook on its export."""
        self.ensure_one()
        if not self.env.user.has_group(MANAGER):
            raise AccessError(self.env._("Only handover managers can record a countersignature."))
        if self.status and not self.can_record:
            # verified already and found not recordable: its upload was emptied then
            if self.status == "valid" and self.countersigned and self.export_id:
                self.export_id._check_countersignable()
            raise UserError(self.env._("Only a valid, countersigned checklist of a current export can be recorded."))
        result, export = self._verify()
        if result["status"] != "valid" or not result["countersigned"]:
            raise UserError(self.env._("Only a valid, countersigned checklist of a current export can be recorded."))
        export._check_countersignable()
        receiving = result["signers"][1]
        export._record_countersignature(self._data(), receiving.name, receiving.fingerprint)
        self._clear_upload()
        return {"type": "ir.actions.act_window_close"}

    def _clear_upload(self):
        """Empty the uploaded workbook: what was found is kept, the customers' data is not."""
        self.write({"file": False, "filename": False})

    def _limit(self):
        # sudo: the size limit is a technical setting, not a secret; every user who verifies needs it.
        return int(self.env["ir.config_parameter"].sudo().get_param(
            "customer_handover.max_checklist_bytes", DEFAULT_MAX_BYTES
        ))

    def _data(self):
        limit = self._limit()
        if not self.file:
            raise UserError(self.env._("Upload the checklist workbook to verify."))
        # Base64 holds 3 bytes in 4 characters: refuse an oversized upload before decoding it.
        if len(self.file) * 3 // 4 > limit + 3:
            raise UserError(self.env._("The file is larger than %(limit)s bytes and is refused.", limit=limit))
        try:
            return base64.b64decode(self.file, validate=True)
        except (binascii.Error, ValueError) as error:
            raise UserError(self.env._("The uploaded file could not be read.")) from error

    def _verify(self):
        """Verify the upload and find its export here: (result values, export or an empty recordset)."""
        data = self._data()
        digest = hashlib.sha256(data).hexdigest()
        result = verify(data, limits=Limits(max_bytes=self._limit()))
        del data
        manifest = result.manifest
        export = self.env["customer.handover.export"]
        if manifest.get("format") in (EVENT_LOG_FORMAT, DESTRUCTION_CERTIFICATE_FORMAT):
            return self._verified_company_document(result, digest), export
        if result.signers and manifest.get("export", "").isdigit():
            export = export.search([
                ("handover_id.name", "=", manifest.get("handover")),
                ("number", "=", int(manifest["export"])),
                ("company_id.name", "=", manifest.get("company")),
            ], limit=1)
        status = result.status
        first = result.signers[0] if result.signers else None
        # The database's own record of the export is the pinned key: it trusts the signer or no one does.
        recorded = bool(export and first and first.fingerprint == export.fingerprint
                        and first.signature == export.signature)
        findings = [finding for finding in result.findings if not (recorded and finding.code == "not_pinned")]
        notes = [self._finding(finding.code, finding.params) for finding in findings]
        if status == "unknown_key" and recorded:
            status = "valid"
        elif status == "unknown_key":
            notes.append(self.env._(
                "No export %(export)s of %(handover)s signed with this key is recorded here.",
                export=manifest.get("export"), handover=manifest.get("handover"),
            ))
        if status == "valid" and export.state == "superseded":
            status = "superseded"
            latest = export.search([("handover_id", "=", export.handover_id.id)], order="number desc", limit=1)
            notes.append(self.env._("Export %(number)s supersedes it.", number=latest.number))
        # A countersignature confirms the content: on a changed checklist it confirms nothing shown here.
        countersigned = result.status != "invalid" and result.countersigned
        lines = [self._describe(manifest, result.signers), *notes]
        return {
            "status": status,
            "summary": "\n".join(line for line in lines if line),
            "countersigned": countersigned,
            "signers": result.signers,
            "digest": digest,
        }, export

    def _verified_company_document(self, result, digest):
        """An export of an event log or a destruction certificate: valid when signed with a key of one of the
        user's companies."""
        log = self.env["customer.handover.event"]
        known = set()
        for company in self.env.user.company_ids:
            known |= set(log._known_certificates(company))
        # The companies' own certificates are the pinned keys of their logs and certificates.
        recorded = bool(result.signers) and result.signers[0].fingerprint in known
        findings = [finding for finding in result.findings if not (recorded and finding.code == "not_pinned")]
        notes = [self._finding(finding.code, finding.params) for finding in findings]
        status = result.status
        if status == "unknown_key" and recorded:
            status = "valid"
        elif status == "unknown_key" and result.manifest.get("format") == EVENT_LOG_FORMAT:
            notes.append(self.env._("This event log was not signed with a key of your companies."))
        elif status == "unknown_key":
            notes.append(self.env._("This destruction certificate was not signed with a key of your companies."))
        return {
            "status": status,
            "summary": "\n".join(line for line in [self._describe(result.manifest, result.signers), *notes] if line),
            "countersigned": False,
            "signers": result.signers,
            "digest": digest,
        }

    def _describe(self, manifest, signers):
        if not manifest:
            return ""
        if manifest.get("format") == EVENT_LOG_FORMAT:
            lines = [self.env._(
                "Event log of %(company)s, entries 1 to %(head)s, exported %(moment)s (UTC).",
                company=manifest.get("company"), head=manifest.get("export"), moment=manifest.get("exported_at"),
            )]
        elif manifest.get("format") == DESTRUCTION_CERTIFICATE_FORMAT:
            lines = [self.env._(
                "Destruction certificate of %(company)s, request %(request)s, run %(run)s, signed %(moment)s (UTC).",
                company=manifest.get("company"), request=manifest.get("handover"), run=manifest.get("export"),
                moment=manifest.get("exported_at"),
            )]
        else:
            lines = [self.env._(
                "Handover %(handover)s, export %(export)s, company %(company)s, exported %(moment)s (UTC).",
                handover=manifest.get("handover"), export=manifest.get("export"), company=manifest.get("company"),
                moment=manifest.get("exported_at"),
            )]
        roles = {"transferring": self.env._("transferring party"), "receiving": self.env._("receiving party")}
        for signer in signers:
            lines.append(self.env._(
                "Signed for the %(role)s by %(name)s on %(moment)s (UTC), key fingerprint %(fingerprint)s.",
                role=roles.get(signer.role, signer.role), name=signer.name, moment=signer.signed_at,
                fingerprint=signer.fingerprint,
            ))
        return "\n".join(lines)

    def _finding(self, code, params):
        if code == "log_entry":
            problem = ChainProblem(params["sequence"], params["problem_code"], params["expected"])
            params = {**params, "problem": self.env["customer.handover.event"]._problem_text(problem)}
        template = FINDINGS.get(code)
        if template is None:
            return code
        text = self.env._(template)
        return text % params
