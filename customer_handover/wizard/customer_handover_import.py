import base64
import contextlib
import datetime
import hashlib
import os
import shutil
import tempfile

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL, email_normalize, split_every

from ..models.customer_consent import CHANNELS, LAWFUL_BASES
from ..models.customer_handover_evidence_mixin import CREATE, evidence_step
from ..models.customer_handover_incoming import COUNT_FIELDS
from ..models.customer_handover_incoming_line import MATCH_KEYS
from ..models.res_company import SENSITIVITY_LEVELS
from ..models.res_partner import PROVENANCE_FIELDS
from ..tools import transfer_package as tp
from ..tools.checklist_columns import SNAPSHOT_KEYS
from ..tools.checklist_read import checklist_rows, snapshot_digest
from ..tools.checklist_verify import verify
from ..tools.phone import e164_digits, stored_forms
from ..tools.retention import retention_end_date

MANAGER = "customer_handover.group_handover_manager"
OFFICER = "customer_handover.group_data_protection_officer"
BATCH = 500
DECISIONS = [("create", "Create a new contact"), ("merge", "Merge into the match"), ("refuse", "Refuse")]
CONTACT_CHOICES = [("keep", "Keep the existing contact data"), ("package", "Take the package's contact data")]
# The merge keeps the stricter sensitivity: the order of SENSITIVITY_LEVELS, least strict first.
STRICTNESS = {code: rank for rank, (code, _label) in enumerate(SENSITIVITY_LEVELS)}
# Retention periods are compared as the time they keep a record from one same day.
SOME_DAY = datetime.date(2000, 1, 1)
# Officer-only fields an import sets on the contacts and consents it creates, after its own checks.
PARTNER_STEP_FIELDS = (*PROVENANCE_FIELDS, "data_sensitivity", "legal_hold", "legal_hold_reason")
CONSENT_STEP_FIELDS = ("evidence", "evidence_filename")
INCOMING_FIELDS = (
    "name", "company_id", "sender", "fingerprint", "handover_reference", "export_number", "checklist_sha256",
    "package_number", "package_sha256", "package_created_at", "received_on", "user_id", "checklist_attachment_id",
)
WIZARD_STEP_FIELDS = (
    "plain_package", "state", "sender", "fingerprint", "signer_pinned", "handover_reference", "export_number",
    "package_number", "customer_count", "match_count", "child_count", "consent_count", "evidence_count", "item_count",
    "incoming_id",
)
CHILD_TYPES = {"contact", "invoice", "delivery", "other"}
CODES = {
    "customer_type": {"individual", "organisation"},
    "stage": {"prospect", "active", "former"},
    "sensitivity": {"ordinary", "personal", "sensitive"},
    "status": {"granted", "refused", "withdrawn"},
    "channel": {code for code, _label in CHANNELS},
    "lawful_basis": {code for code, _label in LAWFUL_BASES},
}

# An imported customer's provenance and the event log record the import: no chatter message or follower per record,
# which would cost more than the import itself.
QUIET = {"tracking_disable": True, "mail_create_nolog": True, "mail_create_nosubscribe": True, "mail_notrack": True}


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
    package_file = fields.Binary(string="Transfer Package (.age)", attachment=False)
    package_filename = fields.Char()
    checklist_file = fields.Binary(string="Signed Checklist Workbook", attachment=False,
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
    # The decrypted zip, checked again (signature, digests, pin, checklist) before the import uses it.
    plain_package = fields.Binary(attachment=False, readonly=True)
    package_recipient = fields.Char(related="company_id.handover_package_recipient")
    has_package_key = fields.Boolean(compute="_compute_has_package_key")
    state = fields.Selection([("upload", "Upload"), ("preview", "Preview"), ("done", "Imported")],
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

    def write(self, vals):
        # Another package, or another way to decrypt it, is decrypted and previewed again from the start.
        reset = {}
        if {"package_file", "decrypt_with"} & set(vals):
            reset = {"plain_package": False, "state": "upload"}
        elif "checklist_file" in vals:
            reset = {"state": "upload"}
        if reset:
            # reset first: a passphrase sent with the package decrypts it as the values are written
            self._step_write(reset)
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

    def action_preview(self):
        """Decrypt and check the package, then show what the import would do; nothing is written yet."""
        self.ensure_one()
        self._check_importer()
        with self._opened() as (result, folder, _checklist):
            self._write_facts(result)
            if not self.signer_pinned and not self.confirm_signer:
                return self._reopen()
            self._check_not_imported(result)
            self._build_preview(folder, result.version)
        return self._reopen()

    def action_import(self):
        """Import the previewed package: all of it in one step, or nothing."""
        self.ensure_one()
        self._check_importer()
        lines = self.env["customer.handover.import.line"]
        if (self.state != "preview" or not (self.signer_pinned or self.confirm_signer)
                or not lines.search_count([("wizard_id", "=", self.id)], limit=1)):
            raise UserError(self.env._("Preview the package before importing it."))
        with self._opened() as (result, folder, checklist):
            self._check_not_imported(result)
            if not self.signer_pinned:
                self.env["customer.handover.trusted.signer"]._pin(self.company_id, result.company, result.fingerprint)
            mappings = self._resolve_mappings()
            try:
                with self.env.cr.savepoint():
                    incoming = self._import(result, folder, checklist, mappings)
            except AccessError:
                raise
            except (UserError, ValidationError, ValueError) as error:
                raise UserError(self.env._(
                    "Nothing was imported: %(reason)s", reason=getattr(error, "args", [error])[0]
                )) from error
        # The incoming handover keeps what was received: the uploads and the preview go.
        self._step_write({"plain_package": False, "state": "done", "incoming_id": incoming.id, "package_file": False,
                          "package_filename": False, "checklist_file": False, "checklist_filename": False})
        self.line_ids.unlink()
        self.mapping_ids.unlink()
        return {
            "type": "ir.actions.act_window",
            "res_model": incoming._name,
            "res_id": incoming.id,
            "view_mode": "form",
            "target": "current",
        }

    # ------------------------------------------------------------------------------------------ checks

    def _check_importer(self):
        if not self.env.user.has_group(MANAGER) or self.company_id not in self.env.user.company_ids:
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
        with tempfile.TemporaryFile() as plain:
            self._decrypt_into(plain, passphrase)
            plain.seek(0)
            self._step_write({"plain_package": base64.b64encode(plain.read()), "state": "upload"})

    def _decrypt_into(self, plain, passphrase=None):
        """Decrypt the uploaded package into the binary file ``plain``, with ``passphrase`` or the company's key."""
        if not self.package_file:
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
        with tempfile.TemporaryDirectory(prefix="customer-handover-import-") as folder:
            path = os.path.join(folder, "package.age")
            with open(path, "wb") as handle:
                handle.write(base64.b64decode(self.package_file))
            problem = tp.decrypt_package(path, plain, identity=identity, passphrase=passphrase)
            if problem:
                raise UserError(self._problem_text(problem))

    @contextlib.contextmanager
    def _opened(self):
        """Check the decrypted package again and open it into a temporary folder: (result, folder, checklist)."""
        if not self.package_file or not self.checklist_file:
            raise UserError(self.env._("Upload the transfer package and the signed checklist workbook."))
        if self.decrypt_with == "passphrase" and not self.plain_package:
            raise UserError(self.env._("Enter the passphrase of the package."))
        pinned = self.env["customer.handover.trusted.signer"]._pinned(self.company_id)
        if self.confirm_signer and self.fingerprint:
            if not self.env.user.has_group(OFFICER):
                raise AccessError(self.env._("Only a data-protection officer can pin a sender's key."))
            pinned.add(self.fingerprint)
        folder = tempfile.mkdtemp(prefix="customer-handover-import-")
        try:
            checklist = os.path.join(folder, "checklist.xlsx")
            with open(checklist, "wb") as handle:
                handle.write(base64.b64decode(self.checklist_file))
            with tempfile.TemporaryFile() as plain:
                # a package for the company's key is decrypted each time; one for a passphrase was kept decrypted
                if self.decrypt_with == "passphrase":
                    plain.write(base64.b64decode(self.plain_package))
                else:
                    self._decrypt_into(plain)
                plain.flush()
                result = tp.open_plain(plain, fingerprint=pinned, checklist=checklist,
                                       out=os.path.join(folder, "package"))
            if result.status == "unknown_key":
                if not self.env.user.has_group(OFFICER):
                    raise UserError(self.env._(
                        "The package is signed by the key %(fingerprint)s, which is not pinned for %(company)s: a "
                        "data-protection officer compares it with the fingerprint the transferring company gave and "
                        "pins it.", fingerprint=result.fingerprint, company=self.company_id.name,
                    ))
            elif not result.valid:
                raise UserError(self._problem_text(result.problems[0]))
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
        """One line per customer with its match, and the purposes and policies the company lacks."""
        self.line_ids.unlink()
        self.mapping_ids.unlink()
        seen = {"line": {}, "vat": {}, "ref": {}}
        sensitive, purposes, policies = [], {}, {}
        for batch in split_every(BATCH, self._customers(folder)):
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
                    purposes.setdefault(_package_key(version, consent, "purpose"), {"name": consent.get("purpose")})
                retention = customer["retention"]
                if retention.get("policy"):
                    policies.setdefault(_package_key(version, retention, "policy"),
                                        {**retention, "name": retention["policy"]})
            if sensitive and not self.env.user.has_group(OFFICER):
                raise UserError(self.env._(
                    "The package holds customers with sensitive personal information (PIPL Art. 28), line %(line)s "
                    "first: a data-protection officer imports it.", line=sensitive[0],
                ))
            matches = self._match(batch)
            self.env["customer.handover.import.line"].create([
                self._preview_line(customer, matches.get(customer["line"])) for customer in batch
            ])
            _release(self.env)
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
        units = {"day", "month", "year"}
        starts = {"relationship_end", "creation", "last_review", "consent_withdrawal"}
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

    def _match(self, customers):
        """{line: (partner id, key)}: existing contacts of this company, by VAT, reference, email, then phone.

        Phones are compared as E.164 numbers: a national number is read with its contact's country, or the
        receiving company's. The stored numbers are searched on the index of their digits first.
        """
        calling = self._calling_codes({c["contact"].get("country") for c in customers} - {None, ""})
        own = calling.get(None, "")
        phones = {}
        for customer in customers:
            contact = customer["contact"]
            for number in (contact.get("phone"), contact.get("mobile")):
                if international := e164_digits(number, calling.get(contact.get("country")) or own):
                    phones.setdefault(international, customer["line"])
        keys = {
            "vat": {c["contact"].get("vat"): c["line"] for c in customers if c["contact"].get("vat")},
            "ref": {c["contact"].get("ref"): c["line"] for c in customers if c["contact"].get("ref")},
            "email": {email_normalize(c["contact"].get("email") or ""): c["line"] for c in customers
                      if email_normalize(c["contact"].get("email") or "")},
        }
        base = [("parent_id", "=", False), ("company_id", "in", [False, self.company_id.id])]
        partners = self.env["res.partner"]
        found = {}
        for key, field in (("vat", "vat"), ("ref", "ref"), ("email", "email_normalized")):
            if keys[key]:
                for partner in partners.search([*base, (field, "in", list(keys[key]))], order="id"):
                    found.setdefault(keys[key][partner[field]], (partner.id, key))
        if phones:
            codes = set(calling.values()) - {""}
            forms = tuple({form for international in phones for form in stored_forms(international, codes)})
            # the expressions of the digits indexes (res.partner's init): the search reads no whole table
            self.env.cr.execute(SQL(
                "SELECT p.id, p.phone, p.mobile, country.phone_code FROM res_partner p "
                "LEFT JOIN res_country country ON country.id = p.country_id "
                "WHERE regexp_replace(coalesce(p.phone, ''), '\\D', '', 'g') IN %s "
                "OR regexp_replace(coalesce(p.mobile, ''), '\\D', '', 'g') IN %s ORDER BY p.id",
                forms, forms,
            ))
            rows = self.env.cr.fetchall()
            # the query ignored access rules: keep the contacts this user may see in this company
            visible = set(partners.search([*base, ("id", "in", [row[0] for row in rows])]).ids)
            for partner_id, phone, mobile, phone_code in rows:
                code = str(phone_code or "") or own
                line = phones.get(e164_digits(phone, code)) or phones.get(e164_digits(mobile, code))
                if partner_id in visible and line:
                    found.setdefault(line, (partner_id, "phone"))
        return found

    def _calling_codes(self, countries):
        """{country code: its calling code} for ``countries``, and {None: the receiving company's}."""
        records = self.env["res.country"].search_fetch([("code", "in", list(countries))], ["code", "phone_code"])
        calling = {country.code: str(country.phone_code or "") for country in records}
        calling[None] = str(self.company_id.country_id.phone_code or "")
        return calling

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

    def _import(self, result, folder, checklist, mappings):
        """Create the incoming record, the contacts and consents, and reconcile against the checklist."""
        held = verify(checklist, trusted={result.fingerprint})
        manifest = held.manifest
        if (held.status != "valid" or str(manifest.get("export")) != str(result.export)
                or manifest.get("handover") != result.handover):
            raise UserError(self.env._(
                "The checklist workbook does not verify as export %(export)s of %(handover)s signed by the key "
                "%(fingerprint)s.", export=result.export, handover=result.handover, fingerprint=result.fingerprint,
            ))
        rows = checklist_rows(checklist)
        incoming_model = self.env["customer.handover.incoming"]
        now = fields.Datetime.now()
        with evidence_step(incoming_model._name, CREATE, *INCOMING_FIELDS):
            incoming = incoming_model.create({
                "name": f"{result.handover} · {result.package}",
                "company_id": self.company_id.id,
                "sender": result.company,
                "fingerprint": result.fingerprint,
                "handover_reference": result.handover,
                "export_number": result.export,
                "checklist_sha256": result.checklist_sha256,
                "package_number": result.package,
                "package_sha256": hashlib.sha256(base64.b64decode(self.package_file)).hexdigest(),
                "package_created_at": result.created_at,
                "received_on": now,
                "user_id": self.env.uid,
            })
            # The checklist received is evidence of the import, downloaded through the incoming record's step only.
            incoming.checklist_attachment_id = self.env["ir.attachment"]._keep_handover_evidence([{
                "name": self.checklist_filename or f"{result.handover}-export-{result.export}-signed.xlsx",
                "raw": base64.b64decode(self.checklist_file),
                "res_model": incoming._name,
                "res_id": incoming.id,
                "company_id": self.company_id.id,
                "mimetype": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            }])
        context = _ImportContext(self, incoming, folder, mappings, rows, result.version)
        counts = dict.fromkeys(COUNT_FIELDS, 0)
        for batch in split_every(BATCH, self._customers(folder)):
            try:
                context.import_customers(batch, counts)
                _release(self.env)
            except ValidationError as error:
                raise UserError(self.env._(
                    "the package stopped in the lines %(first)s to %(last)s: %(reason)s",
                    first=batch[0]["line"], last=batch[-1]["line"], reason=error.args[0],
                )) from error
        context.import_items(counts)
        counts["difference_count"] += context.not_delivered()
        counts["customer_count"] = result.counts["customers"]
        counts["evidence_count"] = result.counts["evidence_files"]
        with evidence_step(incoming._name, *COUNT_FIELDS, "reconciled"):
            incoming.write({**counts, "reconciled": not counts["difference_count"]})
        self.env["customer.handover.event"]._append_for(incoming, "package_imported", {
            "package": result.package, "export": result.export, "fingerprint": result.fingerprint,
            "checklist_sha256": result.checklist_sha256, "package_sha256": incoming.package_sha256,
            "counts": {key: counts[key] for key in COUNT_FIELDS},
        })
        company_env = incoming.with_context(lang=self.company_id.partner_id.lang or self.env.lang).env
        incoming._message_log(body=company_env._(
            "Package %(package)s of %(handover)s from %(sender)s imported: %(created)s customers created, "
            "%(matched)s matched, %(refused)s refused, %(differences)s differences with the signed checklist.",
            package=result.package, handover=result.handover, sender=result.company, created=counts["created_count"],
            matched=counts["matched_count"], refused=counts["refused_count"],
            differences=counts["difference_count"],
        ))
        return incoming

    def _customers(self, folder):
        for kind, record in tp.iter_data(os.path.join(folder, tp.DATA)):
            if kind == "customer":
                yield record

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Import a Transfer Package"),
        }


def _kept_until(policy):
    """How long ``policy`` keeps a record, as a date counted from one same day: what the merge compares."""
    return retention_end_date(SOME_DAY, policy.period, policy.period_unit)


def _package_key(version, record, name):
    """What a package's purpose or policy is matched on: its code; its English name in a version 1 package."""
    return record.get(f"{name}_code") if version >= 2 else record.get(name)


def _release(env):
    """Write a finished batch and forget its records, so that memory stays flat in the package's size."""
    env.flush_all()
    env.invalidate_all()


class _ImportContext:
    """What one import keeps between batches: the maps of codes to records, the lines seen."""

    def __init__(self, wizard, incoming, folder, mappings, rows, version):
        self.wizard = wizard
        self.version = version
        self.env = wizard.env
        self.company = wizard.company_id
        self.incoming = incoming
        self.folder = folder
        self.mappings = mappings
        self.decisions = {}
        self.rows = rows
        self.seen = set()
        self.today = fields.Date.context_today(wizard)
        countries = self.env["res.country"].search([])
        self.countries = {country.code: country.id for country in countries}
        self.langs = {code for code, _name in self.env["res.lang"].get_installed()}
        self.provenance = {
            "handover_incoming_id": incoming.id,
            "handover_sender": incoming.sender,
            "handover_source_reference": incoming.handover_reference,
            "handover_source_package": incoming.package_number,
            "handover_received_on": fields.Date.context_today(wizard),
        }

    def _fail(self, line, reason):
        raise UserError(self.env._("the package stopped at line %(line)s: %(reason)s", line=line, reason=reason))

    def _code(self, line, kind, value, default=None):
        if value in ("", None) and default:
            return default
        if value not in CODES[kind]:
            self._fail(line, self.env._("“%(value)s” is not a %(kind)s this Odoo knows.", value=value, kind=kind))
        return value

    def _contact_values(self, contact, states):
        country = self.countries.get(contact.get("country") or "")
        return {
            "name": contact.get("name") or "",
            "is_company": contact.get("kind") == "organisation",
            "function": contact.get("function") or False,
            "street": contact.get("street") or False,
            "street2": contact.get("street2") or False,
            "zip": contact.get("zip") or False,
            "city": contact.get("city") or False,
            "country_id": country or False,
            "state_id": states.get((country, contact.get("state") or "")) or False,
            "email": contact.get("email") or False,
            "phone": contact.get("phone") or False,
            "mobile": contact.get("mobile") or False,
            "vat": contact.get("vat") or False,
            "ref": contact.get("ref") or False,
            "lang": contact.get("lang") if contact.get("lang") in self.langs else False,
            "company_id": self.company.id,
        }

    def _states(self, customers):
        codes = {(c.get("country"), c.get("state")) for customer in customers
                 for c in (customer["contact"], *customer["children"]) if c.get("state") and c.get("country")}
        if not codes:
            return {}
        states = self.env["res.country.state"].search([
            ("country_id.code", "in", list({country for country, _code in codes})),
            ("code", "in", list({code for _country, code in codes})),
        ])
        return {(state.country_id.id, state.code): state.id for state in states}

    def _domains(self, customers):
        """{code, or name in a version 1 package: id} of the batch's business domains; missing ones created.

        A domain this database holds under another code but the same English name is that domain: names of
        domains are unique in a database."""
        named = {}
        for customer in customers:
            for key, name in self._domain_keys(customer):
                named.setdefault(key, name)
        model = self.env["customer.business.domain"].with_context(lang="en_US")
        found = {}
        if self.version >= 2:
            found = {domain.code: domain.id for domain in model.search([("code", "in", list(named))])}
        by_name = {domain.name: domain.id for domain in model.search(
            [("name", "in", [named[key] for key in named if key not in found])])}
        found.update({key: by_name[named[key]] for key in named if key not in found and named[key] in by_name})
        missing = sorted(set(named) - set(found))
        if missing:
            created = model.create([
                {"name": named[key], **({"code": key} if self.version >= 2 else {})} for key in missing
            ])
            found.update(zip(missing, created.ids, strict=True))
        return found

    def _domain_keys(self, customer):
        """(key, English name) of a customer's business domains: codes from version 2, names before."""
        classification = customer["classification"]
        names = classification.get("domains") or []
        codes = classification.get("domain_codes") or [] if self.version >= 2 else names
        if len(codes) != len(names):
            self._fail(customer["line"], self.env._("its business domains and their codes differ in number."))
        return list(zip(codes, names, strict=True))

    def import_customers(self, customers, counts):
        """One batch: a constant number of creates and writes, whatever its size."""
        states = self._states(customers)
        domains = self._domains(customers)
        new, merged, refused = [], [], []
        matches = self.wizard._match(customers)
        officer = self.env.user.has_group(OFFICER)
        # this batch's decisions only: memory stays flat in the package's size
        self.decisions = {line.line_number: line for line in self.env["customer.handover.import.line"].search([
            ("wizard_id", "=", self.wizard.id), ("line_number", "in", [c["line"] for c in customers]),
        ])}
        for customer in customers:
            number = customer["line"]
            decision = self.decisions.get(number)
            if decision is None:
                self._fail(number, self.env._("the package changed since its preview."))
            if customer["classification"].get("sensitivity") == "sensitive" and not officer:
                raise AccessError(self.env._(
                    "The package holds customers with sensitive personal information (PIPL Art. 28), line %(line)s "
                    "first: a data-protection officer imports it.", line=number,
                ))
            if decision.decision == "refuse" and not (decision.reason or "").strip():
                raise UserError(self.env._("Give the reason for each customer you refuse (line %(line)s).",
                                           line=number))
            match = matches.get(number)
            if decision.decision == "merge" and (not match or match[0] != decision.partner_id.id):
                self._fail(number, self.env._("the contact it matched in the preview no longer matches it; preview "
                                              "the package again."))
            if (decision.decision != ("merge" if match else "create") or decision.contact_choice != "keep") \
                    and not officer:
                raise AccessError(self.env._("Only a data-protection officer decides a customer differently from "
                                             "what the preview proposes (line %(line)s).", line=number))
            self.seen.add(number)
            if decision.decision == "refuse":
                refused.append(customer)
            elif decision.decision == "merge" and decision.partner_id:
                merged.append(customer)
            else:
                new.append(customer)
        partner_model = self.env["res.partner"].with_context(**QUIET)
        with evidence_step(partner_model._name, *PARTNER_STEP_FIELDS):
            created = partner_model.create([
                {**self._contact_values(c["contact"], states), **self._classification(c, domains),
                 **self.provenance} for c in new
            ])
            commercial = partner_model._commercial_fields()
            children = []
            for customer, partner in zip(new, created, strict=True):
                parent = self._contact_values(customer["contact"], states)
                shared = {name: parent[name] for name in commercial if name in parent}
                children += [
                    {**self._contact_values(child, states), **shared, "parent_id": partner.id,
                     "type": child.get("type") if child.get("type") in CHILD_TYPES else "contact"}
                    for child in customer["children"]
                ]
            # Odoo syncs each child from its parent one query at a time; the package states the child's own
            # address, and its commercial fields are set from the parent above.
            partner_model.with_context(_partners_skip_fields_sync=True).create(children)
            targets = partner_model.browse([self.decisions[c["line"]].partner_id.id for c in merged])
            targets.check_access("write")
            self._merge(merged, targets, states, domains)
        by_line = {c["line"]: partner for c, partner in zip(new, created, strict=True)}
        by_line.update({c["line"]: partner for c, partner in zip(merged, targets, strict=True)})
        consents = self._consents(new + merged, by_line)
        self._lines(customers, by_line, counts)
        events = self.env["customer.handover.event"]
        for outcome, partners in (("created", created), ("matched", targets)):
            if partners:
                events._append_for(partners, "customers_imported", {"incoming": self.incoming.id, "outcome": outcome},
                                   company=self.company)
        counts["created_count"] += len(new)
        counts["matched_count"] += len(merged)
        counts["refused_count"] += len(refused)
        counts["child_count"] += len(children)
        counts["consent_count"] += len(consents)

    def _merge(self, customers, targets, states, domains):
        """Merge what the package says of ``customers`` into their matches ``targets`` (docs/transfer-package.md).

        The stricter sensitivity, a legal hold (with each side's reason), the shorter retention policy (the
        longer one under a hold), the union of the business domains; contact data only where the officer chose
        the package's. Partners given the same values are written together: a few writes per batch.
        """
        # sudo: the officer-only protection fields are read to merge them; the user may write these partners
        existing = targets.sudo()
        existing.fetch(["data_sensitivity", "legal_hold", "legal_hold_reason", "retention_policy_id",
                        "business_domain_ids"])
        mapped = [id_ for (kind, _key), id_ in self.mappings.items() if kind == "policy"]
        policies = self.env["customer.retention.policy"].browse({*existing.retention_policy_id.ids, *mapped})
        policies.fetch(["period", "period_unit"])
        groups = {}
        for customer, partner in zip(customers, existing, strict=True):
            values = self._merged(self._classification(customer, domains), partner, policies)
            groups.setdefault(tuple(sorted(values.items())), []).append(partner.id)
            if self.decisions[customer["line"]].contact_choice == "package":
                contact = self._contact_values(customer["contact"], states)
                # never erased: a value the package leaves empty keeps the contact's
                targets.browse(partner.id).write(
                    {name: value for name, value in contact.items() if value and name != "company_id"})
        for values, ids in groups.items():
            values = dict(values)
            if "business_domain_ids" in values:
                values["business_domain_ids"] = [(4, domain_id) for domain_id in values["business_domain_ids"]]
            existing.browse(ids).write({**values, **self.provenance})

    def _merged(self, incoming, partner, policies):
        """The values that merge ``incoming`` (a new contact's classification) into ``partner``."""
        values = {}
        if STRICTNESS[incoming["data_sensitivity"]] > STRICTNESS.get(partner.data_sensitivity, 0):
            values["data_sensitivity"] = incoming["data_sensitivity"]
        reason = (incoming["legal_hold_reason"] or "").strip()
        if incoming["legal_hold"] and not partner.legal_hold:
            values.update(legal_hold=True, legal_hold_reason=reason or False)
        elif incoming["legal_hold"] and reason and reason not in (partner.legal_hold_reason or ""):
            values["legal_hold_reason"] = "\n".join(filter(None, [partner.legal_hold_reason, reason]))
        policy, current = policies.browse(incoming["retention_policy_id"] or ()), partner.retention_policy_id
        if policy and policy != current:
            held = partner.legal_hold or incoming["legal_hold"]
            if not current or ((_kept_until(policy) < _kept_until(current)) != held \
                    and _kept_until(policy) != _kept_until(current)):
                values["retention_policy_id"] = policy.id
        added = set(incoming["business_domain_ids"][0][2]) - set(partner.business_domain_ids.ids)
        if added:
            values["business_domain_ids"] = tuple(sorted(added))
        return values

    def _classification(self, customer, domains):
        number = customer["line"]
        classification, retention = customer["classification"], customer["retention"]
        policy = retention.get("policy")
        return {
            "customer_type": self._code(number, "customer_type", classification.get("customer_type"), "individual"),
            "relationship_stage": self._code(number, "stage", classification.get("stage"), "prospect"),
            "relationship_end_date": classification.get("relationship_ended_on") or False,
            "business_domain_ids": [(6, 0, [domains[key] for key, _name in self._domain_keys(customer)])],
            "data_sensitivity": self._code(number, "sensitivity", classification.get("sensitivity"), "personal"),
            "retention_policy_id": policy and self.mappings.get(
                ("policy", _package_key(self.version, retention, "policy")), False),
            "legal_hold": bool(retention.get("legal_hold")),
            "legal_hold_reason": retention.get("legal_hold_reason") or False,
        }

    def _consents(self, customers, by_line):
        """Create the consents of these customers, with their evidence; a purpose granted already is kept as is."""
        partners = self.env["res.partner"].browse([partner.id for partner in by_line.values()])
        granted = {
            (consent.partner_id.id, consent.purpose_id.id)
            for consent in self.env["customer.consent"].search([
                ("partner_id", "in", partners.ids), ("state", "=", "granted"), ("company_id", "=", self.company.id),
            ])
        }
        values = []
        for customer in customers:
            partner = by_line[customer["line"]]
            for consent in customer["consents"]:
                number = customer["line"]
                purpose = self.mappings.get(("purpose", _package_key(self.version, consent, "purpose")))
                if not purpose:
                    self._fail(number, self.env._("the purpose “%(purpose)s” is not mapped.",
                                                  purpose=consent.get("purpose")))
                state = self._code(number, "status", consent.get("status"))
                if state == "granted" and (partner.id, purpose) in granted:
                    continue
                granted.add((partner.id, purpose))
                evidence = (consent.get("evidence") or [None])[0]
                values.append({
                    "partner_id": partner.id,
                    "purpose_id": purpose,
                    "company_id": self.company.id,
                    "state": state,
                    "date_given": consent.get("given_on") or False,
                    "date_withdrawn": consent.get("withdrawn_on") or False,
                    "channel": self._code(number, "channel", consent.get("channel"), "other"),
                    "lawful_basis": self._code(number, "lawful_basis", consent.get("lawful_basis"), "consent"),
                    "evidence": evidence and self._evidence(evidence),
                    "evidence_filename": evidence and evidence.rsplit("/", 1)[-1],
                })
        consent_model = self.env["customer.consent"].with_context(**QUIET)
        with evidence_step(consent_model._name, *CONSENT_STEP_FIELDS):
            return consent_model.create(values)

    def _evidence(self, path):
        with open(os.path.join(self.folder, *path.split("/")), "rb") as handle:
            return base64.b64encode(handle.read())

    def _lines(self, customers, by_line, counts):
        values = []
        for customer in customers:
            number = customer["line"]
            decision = self.decisions[number]
            row = self.rows.get(number)
            snapshot = snapshot_digest([customer["snapshot"].get(key) for key in SNAPSHOT_KEYS])
            difference = False
            if row is None:
                difference = "not_in_checklist"
            elif row[1] != snapshot:
                difference = "snapshot_differs"
            counts["difference_count"] += bool(difference)
            outcome = {"create": "created", "merge": "matched", "refuse": "refused"}[decision.decision]
            if outcome == "matched" and not decision.partner_id:
                outcome = "created"
            values.append({
                "incoming_id": self.incoming.id,
                "line_number": number,
                "kind": "customer",
                "name": customer["contact"].get("name"),
                "outcome": outcome,
                "partner_id": by_line[number].id if number in by_line else False,
                "match_key": decision.match_key if outcome == "matched" else False,
                "reason": decision.reason if outcome == "refused" else False,
                "difference": difference,
            })
        self._create_lines(values)

    def _create_lines(self, values):
        line_model = self.env["customer.handover.incoming.line"]
        with evidence_step(line_model._name, CREATE, *line_model._evidence_fields):
            line_model.create(values)

    def import_items(self, counts):
        values = []
        for kind, item in tp.iter_data(os.path.join(self.folder, tp.DATA)):
            if kind != "item":
                continue
            number = item["line"]
            self.seen.add(number)
            row = self.rows.get(number)
            difference = "not_in_checklist" if row is None else (row[0] != item["name"] and "snapshot_differs")
            counts["difference_count"] += bool(difference)
            counts["item_count"] += 1
            values.append({"incoming_id": self.incoming.id, "line_number": number, "kind": "item",
                           "name": item["name"], "outcome": "received", "difference": difference})
        self._create_lines(values)

    def not_delivered(self):
        """List the signed checklist's lines that are neither in the package nor excluded there."""
        values = [
            {"incoming_id": self.incoming.id, "line_number": number, "name": name, "outcome": "not_delivered",
             "difference": "not_delivered"}
            for number, (name, _digest, excluded) in sorted(self.rows.items())
            if number not in self.seen and not excluded
        ]
        self._create_lines(values)
        return len(values)


class CustomerHandoverImportLine(models.TransientModel):
    _name = "customer.handover.import.line"
    _description = "Transfer Package Customer to Import"
    _transient_max_hours = 1.0  # as its wizard's
    _order = "line_number"

    wizard_id = fields.Many2one("customer.handover.import", required=True, ondelete="cascade")
    line_number = fields.Integer(string="Line", readonly=True)
    name = fields.Char(readonly=True)
    vat = fields.Char(string="Tax ID", readonly=True)
    ref = fields.Char(string="Reference", readonly=True)
    email = fields.Char(readonly=True)
    phone = fields.Char(readonly=True)
    sensitive = fields.Boolean(readonly=True)
    consent_count = fields.Integer(string="Consents", readonly=True)
    child_count = fields.Integer(string="Child Contacts", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Existing Contact", readonly=True)
    # As the user may read the contact: a line written by the client may name any contact of the database.
    partner_vat = fields.Char(related="partner_id.vat", string="Existing Tax ID", related_sudo=False)
    partner_email = fields.Char(related="partner_id.email", string="Existing Email", related_sudo=False)
    partner_phone = fields.Char(related="partner_id.phone", string="Existing Phone", related_sudo=False)
    match_key = fields.Selection(MATCH_KEYS, string="Matched On", readonly=True)
    decision = fields.Selection(DECISIONS, required=True, default="create")
    default_decision = fields.Selection(DECISIONS, readonly=True)
    contact_choice = fields.Selection(
        CONTACT_CHOICES, string="Contact Data", required=True, default="keep",
        help="For a merge: the existing contact's name, address, email, phones and tax ID stay as they are, or "
        "take the package's values where the package gives one (data-protection officers).",
    )
    reason = fields.Char(string="Reason Refused")

    @api.constrains("decision", "partner_id")
    def _check_decision(self):
        for line in self:
            if line.decision == "merge" and not line.partner_id:
                raise ValidationError(self.env._("Line %(line)s matches no existing contact: it cannot be merged.",
                                                 line=line.line_number))


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
    period_unit = fields.Selection([("day", "Days"), ("month", "Months"), ("year", "Years")], readonly=True)
    period_start = fields.Selection(
        [("relationship_end", "End of the business relationship"), ("creation", "Creation of the record"),
         ("last_review", "Last accuracy review"), ("consent_withdrawal", "Last consent withdrawal")],
        string="Counted From", readonly=True,
    )
