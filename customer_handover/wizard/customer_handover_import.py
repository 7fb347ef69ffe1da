import contextlib
import os
import shutil
import tempfile
import zipfile

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL, split_every

from ..models.customer_handover_evidence_mixin import evidence_step
from ..models.customer_handover_incoming_import import BATCH, package_customers, package_key, release
from ..models.customer_handover_job import ACTIVE_STATES
from ..models.handover_access import MANAGER, OFFICER, has_group_in_company
from ..tools import transfer_package as tp
from ..tools.digests import sha256_file

WIZARD_STEP_FIELDS = (
    "plain_package", "checklist_rows", "customer_lines", "state", "sender", "fingerprint", "signer_pinned",
    "handover_reference", "export_number", "package_number", "customer_count", "match_count", "child_count",
    "consent_count", "evidence_count", "item_count", "incoming_id", "background",
)


class CustomerHandoverImport(models.TransientModel):
    _name = "customer.handover.import"
    _description = "Import a Transfer Package"
    _inherit = ["customer.handover.evidence.mixin"]
    # What the package said and how far the steps went: set by the steps only, never sent by the client (a forged
    # decrypted package, state or pin would be imported and recorded as the package received).
    _evidence_fields = WIZARD_STEP_FIELDS
    # An uploaded and decrypted package, kept for the step only (see docs/evidence.md, "Wizards").
    _transient_max_hours = 1.0

    company_id = fields.Many2one("res.company", string="Receiving Company", required=True, readonly=True,
                                 default=lambda self: self.env.company)
    # The uploads are kept in the attachment store, private to the wizard's user (its record rule), and read there
    # as files by each step: a package of a million customers is never decoded whole in a worker's memory.
    package_file = fields.Binary(string="Transfer Package (.age)")
    package_filename = fields.Char()
    checklist_file = fields.Binary(string="Signed Checklist Workbook",
                                   help="The signed checklist workbook the transferring company gave you: the "
                                   "package must deliver exactly this checklist.")
    checklist_filename = fields.Char()
    decrypt_with = fields.Selection(
        [("key", "The company's package key"), ("passphrase", "A passphrase")],
        required=True, default="key",
    )
    passphrase = fields.Char(
        compute="_compute_passphrase", inverse="_inverse_passphrase",
        help="Never stored: the package is decrypted as you save and the passphrase is forgotten.",
    )
    # The decrypted zip, checked again (signature, digests, pin, checklist) before the import uses it. Kept in the
    # attachment store: each background batch opens it as a file and reads the members it needs (_plain_archive).
    plain_package = fields.Binary(attachment=True, readonly=True)
    # The signed checklist's rows (line number, then its name, snapshot digest and exclusion as JSON), one a line, in
    # the checklist's order: written once by the background preview's first call, each batch reads its own lines.
    checklist_rows = fields.Binary(attachment=True, readonly=True)
    # The package's customers, a line each, in blocks compressed one by one (tools/line_blocks.py): written once by
    # the background preview's first call, each batch reads its own blocks. data.json is compressed whole in the
    # package: reaching a customer there decompresses every one before it.
    customer_lines = fields.Binary(attachment=True, readonly=True)
    package_recipient = fields.Char(related="company_id.handover_package_recipient")
    has_package_key = fields.Boolean(compute="_compute_has_package_key")
    signing_key_missing = fields.Boolean(compute="_compute_signing_key_missing")
    state = fields.Selection([("upload", "Upload"), ("previewing", "Previewing"), ("preview", "Preview"),
                              ("done", "Imported")],
                             default="upload", required=True, readonly=True)
    sender = fields.Char(string="Transferring Company", readonly=True)
    fingerprint = fields.Char(string="Sender's Key Fingerprint (SHA-256)", readonly=True)
    signer_pinned = fields.Boolean(readonly=True)
    confirm_signer = fields.Boolean(
        string="I compared this fingerprint with the one the transferring company gave me: pin it",
        help="Data-protection officers only: the key is pinned for this company when the package is imported.",
    )
    handover_reference = fields.Char(readonly=True)
    export_number = fields.Integer(string="Checklist Export No.", readonly=True)
    package_number = fields.Integer(string="Package No.", readonly=True)
    customer_count = fields.Integer(string="Customers", readonly=True)
    match_count = fields.Integer(string="Matching Existing Contacts", readonly=True)
    child_count = fields.Integer(string="Child Contacts", readonly=True)
    consent_count = fields.Integer(string="Consents", readonly=True)
    evidence_count = fields.Integer(string="Evidence Files", readonly=True)
    item_count = fields.Integer(string="Items", readonly=True)
    line_ids = fields.One2many("customer.handover.import.line", "wizard_id", string="Customers to Import")
    mapping_ids = fields.One2many("customer.handover.import.mapping", "wizard_id", string="Purposes and Policies")
    incoming_id = fields.Many2one("customer.handover.incoming", readonly=True)
    background = fields.Boolean(readonly=True, help="The package is large: it is imported in the background.")

    @api.depends()
    def _compute_passphrase(self):
        self.passphrase = False

    def _inverse_passphrase(self):
        for wizard in self.filtered("passphrase"):
            wizard._decrypt(passphrase=wizard.passphrase)

    @api.depends("company_id")
    def _compute_has_package_key(self):
        for wizard in self:
            # sudo: only whether the officer-only key exists is told, never the key
            wizard.has_package_key = bool(wizard.company_id.sudo().handover_package_identity)

    @api.depends("company_id")
    def _compute_signing_key_missing(self):
        for wizard in self:
            # sudo: only whether the company can countersign is read; the key itself is an officer's setting.
            wizard.signing_key_missing = not wizard.company_id.sudo().handover_certificate_id.is_valid

    def _transient_clean_rows_older_than(self, seconds):
        # A package imported in the background keeps its wizard and its preview until its import ends.
        self._keep_importing()
        return super()._transient_clean_rows_older_than(seconds)

    @api.model
    def _keep_importing(self):
        """Mark the wizards of the imports running in the background, and their previews, as used just now."""
        # sudo: the autovacuum asks which wizards the running imports read; only their ids are read
        jobs = self.env["customer.handover.job"].sudo().search(
            [("kind", "in", ("preview", "import")), ("state", "in", ACTIVE_STATES)])
        ids = [job.params["wizard"] for job in jobs]
        if ids:
            for table, column in (("customer_handover_import", "id"), ("customer_handover_import_line", "wizard_id")):
                self.env.cr.execute(SQL("UPDATE %s SET write_date = now() AT TIME ZONE 'UTC' WHERE %s = ANY(%s)",
                                        SQL.identifier(table), SQL.identifier(column), ids))

    def write(self, vals):
        # Another package, or another way to decrypt it, is decrypted and previewed again from the start.
        if {"package_file", "decrypt_with", "checklist_file", "passphrase"} & set(vals):
            for wizard in self:
                wizard._check_idle()
        reset = {}
        if {"package_file", "decrypt_with"} & set(vals):
            reset = {"plain_package": False, "checklist_rows": False, "customer_lines": False, "state": "upload"}
        elif "checklist_file" in vals:
            reset = {"checklist_rows": False, "customer_lines": False, "state": "upload"}
        if reset:
            # reset first: a passphrase sent with the package decrypts it as the values are written
            self._step_write({**reset, "background": False})
            # the preview of the package before is no preview of this one: an import would read its lines
            self.env.cr.execute(SQL("DELETE FROM customer_handover_import_line WHERE wizard_id = ANY(%s)", self.ids))
            self.mapping_ids.unlink()
            self.env["customer.handover.import.line"].invalidate_model()
            self.invalidate_recordset(["line_ids"])
        return super().write(vals)

    def _step_write(self, values):
        """Write what a step of the import found; the client never sets it."""
        with evidence_step(self._name, *values):
            return self.write(values)

    # ------------------------------------------------------------------------------------------ actions

    def action_create_package_key(self):
        self.ensure_one()
        self.company_id.action_handover_create_package_key()
        return self._reopen()

    def action_create_signing_key(self):
        self.ensure_one()
        self.company_id.action_handover_create_signing_key()
        return self._reopen()

    def action_preview(self):
        """Decrypt the package and read its manifest, then show what the import would do; nothing is written yet.

        A package above the threshold is previewed in the background (the form shows the progress); a smaller one is
        checked whole and previewed at once.
        """
        self.ensure_one()
        self._check_importer()
        self._check_idle()
        result = self._peeked()
        self._write_facts(result)
        if not self.signer_pinned and not self.confirm_signer:
            return self._reopen()
        self._check_not_imported(result)
        if self.customer_count > self.env["customer.handover.job"]._threshold():
            self._preview_in_background(result)
            return self._reopen()
        self._step_write({"background": False})
        with self._opened() as (result, folder, _checklist):
            self._build_preview(folder, result.version)
        return self._reopen()

    def action_import(self):
        """Import the previewed package: all of it in one step, or nothing."""
        self.ensure_one()
        self._check_importer()
        self._check_idle()
        previewed = self.env["customer.handover.import.line"].search_count([("wizard_id", "=", self.id)], limit=1)
        if self.state == "preview" and self.confirm_signer and not self.signer_pinned and not previewed:
            # the customers were held back until the key was confirmed: show them before anything is imported
            return self.action_preview()
        if self.state != "preview" or not (self.signer_pinned or self.confirm_signer) or not previewed:
            raise UserError(self.env._("Preview the package before importing it."))
        if self.background:
            # the preview's job checked the package whole; its manifest, read again, says what is imported
            result = self._peeked()
            self._check_not_imported(result)
            if not self.signer_pinned:
                self.env["customer.handover.trusted.signer"]._pin(self.company_id, result.company, result.fingerprint)
            return self._import_in_background(result, self._resolve_mappings())
        with self._opened() as (result, folder, checklist):
            self._check_not_imported(result)
            if not self.signer_pinned:
                self.env["customer.handover.trusted.signer"]._pin(self.company_id, result.company, result.fingerprint)
            mappings = self._resolve_mappings()
            try:
                with self.env.cr.savepoint():
                    incoming = self.env["customer.handover.incoming"]._import_package(
                        self.company_id, result, folder, checklist, self._package_sha256(),
                        self.checklist_filename, mappings, self._decisions,
                    )
            except AccessError:
                raise
            except (UserError, ValidationError, ValueError) as error:
                raise UserError(self.env._(
                    "Nothing was imported: %(reason)s", reason=getattr(error, "args", [error])[0]
                )) from error
        self._import_done(incoming)
        return {
            "type": "ir.actions.act_window",
            "res_model": incoming._name,
            "res_id": incoming.id,
            "view_mode": "form",
            "target": "current",
        }

    def _import_in_background(self, result, mappings):
        """Queue the import of a large package; the wizard keeps the decrypted package for its batches."""
        self._keep_plain()
        job = self.env["customer.handover.incoming"]._import_start(self, result, self._package_sha256(), mappings)
        self._step_write({"incoming_id": job.incoming_id.id})
        action = job._started_action()
        action["params"]["next"] = {"type": "ir.actions.act_window", "res_model": job.incoming_id._name,
                                    "res_id": job.incoming_id.id, "view_mode": "form", "views": [[False, "form"]],
                                    "target": "current"}
        return action

    def _import_done(self, incoming):
        """The incoming handover keeps what was received: the uploads and the preview go."""
        self._step_write({"plain_package": False, "checklist_rows": False, "state": "done", "incoming_id": incoming.id,
                          "package_file": False,
                          "package_filename": False, "checklist_file": False, "checklist_filename": False})
        self.line_ids.unlink()
        self.mapping_ids.unlink()

    # ------------------------------------------------------------------------------------------ checks

    def _check_importer(self):
        if not has_group_in_company(self.env, MANAGER, self.company_id):
            raise AccessError(self.env._("Only handover managers of %(company)s can import a transfer package.",
                                         company=self.company_id.name))

    def _check_not_imported(self, result):
        done = self.env["customer.handover.incoming"].search([
            ("company_id", "=", self.company_id.id), ("handover_reference", "=", result.handover),
            ("package_number", "=", result.package), ("fingerprint", "=", result.fingerprint),
        ], limit=1)
        if done:
            raise UserError(self.env._(
                "Package %(package)s of %(handover)s was already imported on %(date)s (%(incoming)s): nothing is "
                "imported twice.", package=result.package, handover=result.handover, date=done.received_on,
                incoming=done.name,
            ))

    def _decrypt(self, passphrase):
        """Decrypt the uploaded package with the passphrase, which is not kept: keep the decrypted zip instead."""
        self._check_importer()
        with tempfile.NamedTemporaryFile() as plain:
            self._decrypt_into(plain, passphrase)
            self._keep_plain_file(plain.name)
        self._step_write({"state": "upload"})

    def _keep_plain(self):
        """Keep the decrypted package for the background steps (one for a passphrase is kept already)."""
        if self.decrypt_with == "key" and not self._has_plain():
            with tempfile.NamedTemporaryFile() as plain:
                self._decrypt_into(plain)
                self._keep_plain_file(plain.name)

    def _keep_plain_file(self, path):
        """Keep the decrypted package at ``path`` as ``plain_package``."""
        self._keep_step_file("plain_package", path)

    def _keep_step_file(self, field_name, path):
        """Keep the file at ``path`` in the step's binary field ``field_name``, stored from the file in chunks."""
        self._step_write({field_name: False})
        # sudo: stored as the ORM stores a binary field's file, by the system; the step checked the user
        self.env["ir.attachment"].sudo()._create_from_file({
            "name": field_name, "res_model": self._name, "res_field": field_name, "res_id": self.id,
        }, path)
        self.invalidate_recordset([field_name])

    @contextlib.contextmanager
    def _upload_path(self, field_name):
        """The path of the file uploaded in ``field_name`` (``package_file`` or ``checklist_file``), read in place."""
        self.ensure_one()
        attachment = self._step_attachment(field_name)
        if not attachment:
            raise UserError(self.env._("Upload the transfer package and the signed checklist workbook."))
        with attachment._content_path() as path:
            yield path

    def _has_upload(self, *field_names):
        """Whether a file is uploaded in each of ``field_names``, without reading one: their attachments are there.

        Not the fields read with ``bin_size``: Odoo 18 reads the whole file to give its size, and keeps it in the
        cache (a million customers' checklist and package: several hundred MB in the request).
        """
        self.ensure_one()
        return set(field_names) <= set(self._step_attachment(*field_names).mapped("res_field"))

    def _package_sha256(self):
        """The SHA-256 of the encrypted package as it was uploaded, read in chunks."""
        with self._upload_path("package_file") as path:
            return sha256_file(path)

    @contextlib.contextmanager
    def _plain_file(self):
        """The decrypted package kept for the background preview and import, as a binary file, not read whole.

        A background batch reads the zip's directory and the members it needs (evidence files, the data) from the
        attachment store's file, so neither its time nor its memory grows with the package.
        """
        self.ensure_one()
        attachment = self._step_attachment("plain_package")
        if not attachment:
            raise UserError(self.env._("The decrypted package is gone: cancel this import and import the package "
                                       "again."))
        with attachment._open_content() as source:
            yield source

    @contextlib.contextmanager
    def _plain_archive(self):
        """The decrypted package kept for the background steps, opened as a zip (``_plain_file``)."""
        with self._plain_file() as source, zipfile.ZipFile(source) as archive:
            yield archive

    def _decrypt_into(self, plain, passphrase=None):
        """Decrypt the uploaded package into the binary file ``plain``, with ``passphrase`` or the company's key."""
        if not self._has_upload("package_file"):
            raise UserError(self.env._("Upload the transfer package (.age file) first."))
        identity = None
        if passphrase is None:
            # sudo: the key is officer-only; a manager of this company decrypts with it but never reads it
            identity = self.company_id.sudo().handover_package_identity
            if not identity:
                raise UserError(self.env._(
                    "%(company)s has no package key: a data-protection officer creates it (Create Package Key) and "
                    "gives its recipient to the transferring company; or decrypt with a passphrase.",
                    company=self.company_id.name,
                ))
        with self._upload_path("package_file") as path:
            problem = tp.decrypt_package(path, plain, identity=identity, passphrase=passphrase)
        if problem:
            raise UserError(self._problem_text(problem))

    def _peeked(self):
        """Decrypt the package (or take the decrypted one kept for the background) and read its manifest only: its
        facts, its signature, the pin and the checklist it delivers. Quick whatever its size; refuses as
        ``_opened``."""
        pinned = self._pinned_now()
        with self._upload_path("checklist_file") as checklist, tempfile.NamedTemporaryFile() as plain:
            kept = self._has_plain()
            if kept:
                with self._plain_file() as source:
                    shutil.copyfileobj(source, plain)
            else:
                self._decrypt_into(plain)
            plain.flush()
            result = tp.peek_plain(plain, fingerprint=pinned, checklist=checklist)
            if not kept and (result.counts or {}).get("customers", 0) > self.env["customer.handover.job"]._threshold():
                # a package for the background: kept decrypted now, for its steps, rather than decrypted again
                self._keep_plain_file(plain.name)
        self._check_result(result)
        return result

    def _pinned_now(self):
        """The fingerprints pinned for the company, with the one an officer confirms; refuses a package not ready."""
        if not self._has_upload("package_file", "checklist_file"):
            raise UserError(self.env._("Upload the transfer package and the signed checklist workbook."))
        if self.decrypt_with == "passphrase" and not self._has_plain():
            raise UserError(self.env._("Enter the passphrase of the package."))
        pinned = self.env["customer.handover.trusted.signer"]._pinned(self.company_id)
        if self.confirm_signer and self.fingerprint:
            if not self.env.user.has_group(OFFICER):
                raise AccessError(self.env._("Only a data-protection officer can pin a sender's key."))
            pinned.add(self.fingerprint)
        return pinned

    def _step_attachment(self, *field_names):
        """The attachments holding this wizard's files in ``field_names``, one each at most, found without reading
        them: its uploads, and the files its steps keep."""
        # sudo: the wizard's own files, stored as the ORM stores a binary field's; its record rule let the user in
        return self.env["ir.attachment"].sudo().search([
            ("res_model", "=", self._name), ("res_field", "in", field_names), ("res_id", "=", self.id)],
            limit=len(field_names))

    def _has_plain(self):
        """Whether the decrypted package is kept, without reading it."""
        return bool(self._step_attachment("plain_package"))

    def _check_result(self, result):
        """Refuse a package that is not valid, save one an officer may pin."""
        if result.status == "unknown_key":
            if not self.env.user.has_group(OFFICER):
                raise UserError(self.env._(
                    "The package is signed by the key %(fingerprint)s, which is not pinned for %(company)s: a "
                    "data-protection officer compares it with the fingerprint the transferring company gave and "
                    "pins it.", fingerprint=result.fingerprint, company=self.company_id.name,
                ))
        elif not result.valid:
            raise UserError(self._problem_text(result.problems[0]))

    @contextlib.contextmanager
    def _opened(self):
        """Check the decrypted package again and open it into a temporary folder: (result, folder, checklist)."""
        pinned = self._pinned_now()
        folder = tempfile.mkdtemp(prefix="customer-handover-import-")
        try:
            checklist = os.path.join(folder, "checklist.xlsx")
            with self._upload_path("checklist_file") as uploaded:
                shutil.copyfile(uploaded, checklist)
            with tempfile.TemporaryFile() as plain:
                # a package for the company's key is decrypted each time; one for a passphrase was kept decrypted
                if self.decrypt_with == "passphrase":
                    with self._plain_file() as source:
                        shutil.copyfileobj(source, plain)
                else:
                    self._decrypt_into(plain)
                plain.flush()
                result = tp.open_plain(plain, fingerprint=pinned, checklist=checklist,
                                       out=os.path.join(folder, "package"))
            self._check_result(result)
            yield result, os.path.join(folder, "package"), checklist
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _problem_text(self, problem):
        """A problem of the opener, said in the user's language."""
        params = {**problem.params, "detail": problem.message}
        texts = {
            "wrong_key": self.env._("This package was encrypted for another key: it is not for %(company)s's "
                                    "package key. Ask the transferring company to encrypt it to your recipient."),
            "decrypt_failed": self.env._("The package cannot be decrypted: the passphrase is wrong, or the file is "
                                         "damaged or truncated."),
            "needs_passphrase": self.env._("This package is encrypted with a passphrase: choose “A passphrase” and "
                                           "enter the passphrase the transferring company gave you."),
            "needs_identity": self.env._("This package is encrypted to a key, not a passphrase: decrypt it with the "
                                         "company's package key."),
            "newer_version": self.env._("This package uses format version %(version)s; this Odoo reads version "
                                        "%(known)s: update the Customer Handover app."),
            "superseded": self.env._("This package delivers export %(export)s of %(handover)s, superseded by export "
                                     "%(newer)s, the checklist you uploaded: ask for the package of the latest "
                                     "export."),
            "checklist_mismatch": self.env._("This package does not deliver the checklist you uploaded: it delivers "
                                             "export %(export)s of %(handover)s."),
            "untrusted": self.env._("The package is signed by the key %(fingerprint)s, not by a key pinned for "
                                    "%(company)s."),
        }
        tampered = {
            "member_changed", "member_missing", "member_added", "signature_invalid", "certificate_mismatch",
            "counts_mismatch", "evidence_missing", "not_canonical", "signature_missing", "signature_broken",
            "manifest_changed",
        }
        if problem.code in texts:
            text = texts[problem.code]
        elif problem.code in tampered:
            text = self.env._("The package was changed after it was signed and is refused: %(detail)s")
        elif problem.code in ("not_age", "armored", "bad_header", "not_zip", "not_package"):
            text = self.env._("This file is not a transfer package: %(detail)s")
        else:
            text = self.env._("The package is refused: %(detail)s")
        return text % {"company": self.company_id.name, **params}

    def _write_facts(self, result):
        self._step_write({
            "sender": result.company,
            "fingerprint": result.fingerprint,
            "signer_pinned": result.trusted and result.fingerprint in self.env[
                "customer.handover.trusted.signer"]._pinned(self.company_id),
            "handover_reference": result.handover,
            "export_number": result.export,
            "package_number": result.package,
            "customer_count": result.counts.get("customers", 0),
            "child_count": result.counts.get("child_contacts", 0),
            "consent_count": result.counts.get("consents", 0),
            "evidence_count": result.counts.get("evidence_files", 0),
            "item_count": result.counts.get("items", 0),
            "state": "preview",
        })

    # ------------------------------------------------------------------------------------------ preview

    def _build_preview(self, folder, version):
        """One line per customer with its match, and the purposes and policies the company lacks, at once: a package
        up to the threshold (a larger one is previewed in the background, customer_handover_import_background)."""
        self.line_ids.unlink()
        self.mapping_ids.unlink()
        seen = {"line": {}, "vat": {}, "ref": {}}
        sensitive, purposes, policies = [], {}, {}
        for batch in split_every(BATCH, package_customers(folder)):
            for customer in batch:
                contact = customer["contact"]
                for key, value in (("line", customer["line"]), ("vat", contact.get("vat")),
                                   ("ref", contact.get("ref"))):
                    if value and value in seen[key]:
                        raise UserError(self.env._(
                            "Lines %(first)s and %(second)s of the package are the same customer (same %(key)s "
                            "%(value)s): the package is refused; ask the transferring company for a corrected one.",
                            first=seen[key][value], second=customer["line"], key=key, value=value,
                        ))
                    if value:
                        seen[key][value] = customer["line"]
                if customer["classification"].get("sensitivity") == "sensitive":
                    sensitive.append(customer["line"])
                for consent in customer["consents"]:
                    purposes.setdefault(package_key(version, consent, "purpose"), {"name": consent.get("purpose")})
                retention = customer["retention"]
                if retention.get("policy"):
                    policies.setdefault(package_key(version, retention, "policy"),
                                        {**retention, "name": retention["policy"]})
            if sensitive and not self.env.user.has_group(OFFICER):
                raise UserError(self.env._(
                    "The package holds customers with sensitive personal information (PIPL Art. 28), line %(line)s "
                    "first: a data-protection officer imports it.", line=sensitive[0],
                ))
            matches = self.env["res.partner"]._handover_match(batch, self.company_id)
            self.env["customer.handover.import.line"].create([
                self._preview_line(customer, matches.get(customer["line"])) for customer in batch])
            release(self.env)
        self._step_write({"match_count": self.env["customer.handover.import.line"].search_count(
            [("wizard_id", "=", self.id), ("partner_id", "!=", False)])})
        purposes.pop(None, None)
        purposes.pop("", None)
        self.env["customer.handover.import.mapping"].create(
            self._mapping_lines("purpose", purposes, version) + self._mapping_lines("policy", policies, version)
        )

    def _preview_line(self, customer, match):
        contact = customer["contact"]
        decision = "merge" if match else "create"
        return {
            "wizard_id": self.id,
            "line_number": customer["line"],
            "name": contact.get("name"),
            "vat": contact.get("vat"),
            "ref": contact.get("ref"),
            "email": contact.get("email"),
            "phone": contact.get("phone") or contact.get("mobile"),
            "sensitive": customer["classification"].get("sensitivity") == "sensitive",
            "consent_count": len(customer["consents"]),
            "child_count": len(customer["children"]),
            "partner_id": match and match[0],
            "match_key": match and match[1],
            "decision": decision,
            "default_decision": decision,
        }

    def _mapping_lines(self, kind, entries, version):
        """``entries``: {code, or name in a version 1 package: {"name": …, and a policy's retention values}}."""
        model = "customer.consent.purpose" if kind == "purpose" else "customer.retention.policy"
        found = self._by_key(model, entries, "code" if version >= 2 else "name")
        policy_fields = self.env["customer.retention.policy"]._fields
        units = set(policy_fields["period_unit"].get_values(self.env))
        starts = set(policy_fields["period_start"].get_values(self.env))
        return [{
            "wizard_id": self.id, "kind": kind, "name": values.get("name") or key,
            "code": key if version >= 2 else False,
            "purpose_id": found.get(key, False) if kind == "purpose" else False,
            "policy_id": found.get(key, False) if kind == "policy" else False,
            "action": "map" if key in found else "create",
            "period": max(int(values.get("period") or 0), 1) if kind == "policy" else 0,
            "period_unit": values.get("period_unit") if values.get("period_unit") in units else "year",
            "period_start": values.get("period_start") if values.get("period_start") in starts else "relationship_end",
        } for key, values in sorted(entries.items())]

    def _by_key(self, model, keys, field):
        """{key: id} of this company's records of ``model`` whose ``field`` (code; English name for a version 1
        package) is one of ``keys``; the company's own record wins over a shared one."""
        records = self.env[model].with_context(lang="en_US").search([
            (field, "in", list(keys)), ("company_id", "in", [False, self.company_id.id]),
        ])
        return {record[field]: record.id for record in records.sorted(lambda record: bool(record.company_id))}

    # ------------------------------------------------------------------------------------------ import

    def _resolve_mappings(self):
        """{(kind, name): id} of the purposes and policies the package names; missing ones created by an officer."""
        resolved = {}
        for mapping in self.mapping_ids:
            target = mapping.purpose_id if mapping.kind == "purpose" else mapping.policy_id
            key = mapping.code or mapping.name
            if mapping.action == "map":
                if not target:
                    raise UserError(self.env._("Choose what “%(name)s” maps to, or create it.", name=mapping.name))
                resolved[mapping.kind, key] = target.id
                continue
            if not self.env.user.has_group(OFFICER):
                raise UserError(self.env._(
                    "%(company)s has no “%(name)s”: map it to an existing one, or ask a data-protection officer to "
                    "import the package and create it.", company=self.company_id.name, name=mapping.name,
                ))
            model = "customer.consent.purpose" if mapping.kind == "purpose" else "customer.retention.policy"
            values = {"name": mapping.name, "company_id": self.company_id.id}
            if mapping.code:
                values["code"] = mapping.code
            if mapping.kind == "policy":
                values.update(period=mapping.period, period_unit=mapping.period_unit,
                              period_start=mapping.period_start)
            resolved[mapping.kind, key] = self.env[model].with_context(lang="en_US").create(values).id
        return resolved

    def _decisions(self, numbers):
        """{line number: preview line} of the package's lines ``numbers``: what the import does with each."""
        return {line.line_number: line for line in self.env["customer.handover.import.line"].search([
            ("wizard_id", "=", self.id), ("line_number", "in", numbers),
        ])}

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Import a Transfer Package"),
        }
