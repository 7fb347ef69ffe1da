import contextlib
import filecmp
import hashlib
import io
import os
import shutil
import tempfile

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..tools.digests import sha256_file
from .customer_handover_evidence_mixin import CustomerHandoverEvidenceMixin, evidence_step, is_unlocked
from .handover_access import OFFICER

FLAG = "handover_evidence"
# Binary fields whose attachment is (or becomes) evidence: another attachment in their place would stand for it.
# Consent evidence is evidence from its creation, the agreement from the handover's start.
CONSENT_EVIDENCE = ("customer.consent", "evidence")
EVIDENCE_SLOTS = {CONSENT_EVIDENCE, ("customer.handover", "nda_document")}
SLOT_KEYS = ("res_model", "res_field", "res_id")
# What the destruction of an evidence file keeps of it: when, why, and the SHA-256 of the content destroyed.
DESTROYED = ("handover_destroyed_on", "handover_destroyed_reason", "handover_destroyed_sha256")
DESTRUCTION_REASONS = [
    ("record_retention", "The handover record's retention ended"),
    ("package_retention", "The package's retention ended"),
]


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    handover_evidence = fields.Selection(
        [("kept", "Kept as evidence"), ("served", "Kept as evidence, downloaded through its step only")],
        readonly=True, copy=False,
        help="A file that records a fact of a customer handover is never changed, renamed or deleted, whoever asks; "
        "a served one is read only through its step's download, which checks the user and logs it.",
    )
    handover_destroyed_on = fields.Datetime(string="Content Destroyed On", readonly=True, copy=False)
    handover_destroyed_reason = fields.Selection(DESTRUCTION_REASONS, string="Destroyed Because", readonly=True,
                                                 copy=False)
    handover_destroyed_sha256 = fields.Char(string="SHA-256 of the Destroyed Content", readonly=True, copy=False)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            slot = (vals.get("res_model"), vals.get("res_field"))
            if vals.get(FLAG) and not is_unlocked(self._name, FLAG):
                self._refuse_new_evidence("create", [FLAG])
            if any(vals.get(name) for name in DESTROYED):
                self._refuse_new_evidence("create", [name for name in DESTROYED if vals.get(name)])
            if slot in EVIDENCE_SLOTS and vals.get("res_id"):
                self._check_slot_free(*slot, vals["res_id"])
            if slot == CONSENT_EVIDENCE:
                vals[FLAG] = "kept"
        return super().create(vals_list)

    def write(self, vals):
        self._check_not_evidence("write", vals)
        if FLAG in vals and not is_unlocked(self._name, FLAG):
            self._refuse_new_evidence("write", [FLAG])
        if not vals.keys().isdisjoint(DESTROYED):
            # Only the destruction step says a file was destroyed, in SQL: a write saying so is a forgery.
            self._refuse_new_evidence("write", sorted(vals.keys() & set(DESTROYED)))
        if not vals.keys().isdisjoint(SLOT_KEYS) and not is_unlocked(self._name, FLAG):
            # An attachment moved into an evidence field's place would stand for the evidence.
            for attachment in self.sudo():  # sudo: only where the attachments would land is read
                slot = tuple(vals.get(key, attachment[key]) for key in SLOT_KEYS)
                if slot[:2] in EVIDENCE_SLOTS:
                    self._refuse_new_evidence("write", sorted(vals.keys() & set(SLOT_KEYS)))
        return super().write(vals)

    def unlink(self):
        self._check_not_evidence("unlink")
        return super().unlink()

    @api.model
    def _search(self, domain, offset=0, limit=None, order=None):
        """A served evidence file is found by no user: its step reads it, after its own checks, as the system."""
        if not self.env.su:
            domain = [(FLAG, "!=", "served"), *domain]
        return super()._search(domain, offset, limit, order)

    @api.model
    def _keep_handover_evidence(self, vals_list):
        """Create the evidence files a step made, served by that step only; the caller is the step, which checked
        the user."""
        with evidence_step(self._name, FLAG):
            # sudo: nobody reads or writes these files by their own rights; the step checked the user
            created = self.sudo().create([{**vals, FLAG: "served"} for vals in vals_list])
        return created.sudo(False)

    @api.model
    def _keep_handover_evidence_file(self, vals, path):
        """``_keep_handover_evidence`` of one file a step wrote at ``path``, stored without being read whole."""
        with evidence_step(self._name, FLAG):
            # sudo: nobody reads or writes these files by their own rights; the step checked the user
            created = self.sudo()._create_from_file({**vals, FLAG: "served"}, path)
        return created.sudo(False)

    @api.model
    def _create_from_file(self, vals, path):
        """Create an attachment of ``vals`` holding the file at ``path``, copied into the filestore in chunks.

        ``raw`` holds a file whole, and Odoo hashes, guesses and writes it from memory: a package or a decrypted
        upload of a million customers would weigh on the worker several times over. Where attachments are kept in
        the database (``ir_attachment.location``), the file is read whole, as that storage needs.
        """
        vals = {"mimetype": "application/octet-stream", **vals}
        if self._storage() == "db":
            with open(path, "rb") as handle:
                return self.create({**vals, "raw": handle.read()})
        checksum, size = hashlib.sha1(), 0
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                checksum.update(chunk)
                size += len(chunk)
        checksum = checksum.hexdigest()
        fname = f"{checksum[:2]}/{checksum}"
        full_path = self._full_path(fname)
        os.makedirs(os.path.dirname(full_path), exist_ok=True)
        if not os.path.isfile(full_path):
            # copied beside its place, then renamed: no reader ever finds it half-written
            descriptor, partial = tempfile.mkstemp(dir=os.path.dirname(full_path), prefix=".handover-")
            try:
                with os.fdopen(descriptor, "wb") as target, open(path, "rb") as source:
                    shutil.copyfileobj(source, target, 1 << 20)
                os.replace(partial, full_path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(partial)
            # marked for the garbage collection, as Odoo marks what it writes, in case the transaction aborts
            self._mark_for_gc(fname)
        elif not filecmp.cmp(path, full_path, shallow=False):
            raise UserError(self.env._("The attachment collides with an existing file."))
        attachment = self.create(vals)
        # create() and write() drop the store's columns from their values: they are written here, as
        # _get_datas_related_values would have
        self.env.cr.execute(SQL(
            "UPDATE ir_attachment SET store_fname = %s, checksum = %s, file_size = %s, db_datas = NULL WHERE id = %s",
            fname, checksum, size, attachment.id,
        ))
        attachment.invalidate_recordset(["store_fname", "checksum", "file_size", "db_datas", "raw", "datas"])
        return attachment

    @contextlib.contextmanager
    def _open_content(self):
        """This attachment's content as a binary file, read from the filestore in place rather than whole."""
        self.ensure_one()
        if self.store_fname:
            with open(self._full_path(self.store_fname), "rb") as handle:
                yield handle
        else:
            yield io.BytesIO(self.raw or b"")

    @contextlib.contextmanager
    def _content_path(self):
        """The path of a file holding this attachment's content: the filestore's own, else a temporary copy."""
        self.ensure_one()
        if self.store_fname:
            yield self._full_path(self.store_fname)
            return
        with tempfile.NamedTemporaryFile(prefix="customer-handover-") as handle:
            handle.write(self.raw or b"")
            handle.flush()
            yield handle.name

    @api.model
    def _mark_handover_evidence(self, records, field_name):
        """From now on, the file in ``field_name`` of ``records`` is evidence: its step (a start) says so."""
        # sudo: the files of a binary field are found by the system; the step checked the user
        attachments = self.sudo().search([
            ("res_model", "=", records._name), ("res_field", "=", field_name), ("res_id", "in", records.ids),
            (FLAG, "=", False),
        ])
        with evidence_step(self._name, FLAG):
            attachments.write({FLAG: "kept"})

    def _destroy_handover_evidence(self, reason, company):
        """Destroy the content of these evidence files of ``company``, keeping each one's SHA-256, when and why.

        The step of a retention that ended (the daily job, as the system) or of an officer; the file stays an
        evidence file, refused any other change. Its content leaves the database at once and the filestore at the
        next garbage collection, after the commit: a run that fails keeps every file. Constant queries for any
        number of files; files already destroyed are left as they are, so a run resumed does nothing twice.
        """
        if not (self.env.su or self.env.user.has_group(OFFICER)):
            raise AccessError(self.env._("Only a data-protection officer, or the retention job, destroys the files "
                                         "that record a handover."))
        ids = [id_ for id_ in self._ids if isinstance(id_, int)]
        self.flush_recordset()
        rows = self.env.execute_query(SQL(
            """SELECT id, store_fname, db_datas FROM ir_attachment
                WHERE id = ANY(%s) AND handover_evidence IS NOT NULL AND handover_destroyed_on IS NULL
                ORDER BY id FOR UPDATE""", ids,
        ))
        if not rows:
            return self.browse()
        digests = [self._handover_content_sha256(store_fname, db_datas) for _id, store_fname, db_datas in rows]
        destroyed_ids = [row[0] for row in rows]
        now = fields.Datetime.now()
        self.env.execute_query(SQL(
            """UPDATE ir_attachment
                  SET store_fname = NULL, db_datas = NULL, file_size = 0, checksum = NULL, index_content = NULL,
                      handover_destroyed_on = %s, handover_destroyed_reason = %s, handover_destroyed_sha256 = data.sha
                 FROM unnest(%s::int[], %s::varchar[]) AS data(id, sha)
                WHERE ir_attachment.id = data.id""",
            now, reason, destroyed_ids, digests,
        ))
        for _id, store_fname, _data in rows:
            if store_fname:
                # Only marked: the garbage collection removes it after the commit, if no other file shares it.
                self._file_delete(store_fname)
        destroyed = self.browse(destroyed_ids)
        destroyed.invalidate_recordset()
        self.env["customer.handover.event"]._append_for(destroyed, "evidence_destroyed", {
            "reason": reason, "digests": dict(zip(map(str, destroyed_ids), digests, strict=True)),
        }, company)
        return destroyed

    def _handover_content_sha256(self, store_fname, db_datas):
        """The SHA-256 of a file's content, read in chunks from the filestore (or the database)."""
        if store_fname:
            path = self._full_path(store_fname)
            return sha256_file(path) if os.path.exists(path) else hashlib.sha256().hexdigest()
        return hashlib.sha256(bytes(db_datas or b"")).hexdigest()

    def _check_not_evidence(self, operation, vals=None):
        """Refuse, and log, any change to an evidence file: one query per call, whoever asks."""
        ids = [id_ for id_ in self._ids if isinstance(id_, int)]
        if not ids:
            return
        self.flush_recordset([FLAG])
        rows = self.env.execute_query(SQL(
            "SELECT id, name FROM ir_attachment WHERE id = ANY(%s) AND handover_evidence IS NOT NULL ORDER BY id",
            ids,
        ))
        if not rows:
            return
        refused = self.browse([row[0] for row in rows])
        # The mixin's log of refused attempts: an attachment has no evidence fields, so it does not inherit it.
        CustomerHandoverEvidenceMixin._log_refused_attempt(refused, sorted(vals or ()), operation)
        names = ", ".join(f"“{name}”" for _id, name in rows)
        if operation == "unlink":
            message = self.env._("%(files)s: a file that records a fact of a customer handover cannot be deleted, "
                                 "by anyone.", files=names)
        else:
            message = self.env._("%(files)s: a file that records a fact of a customer handover cannot be changed or "
                                 "renamed, by anyone.", files=names)
        raise AccessError(message)

    def _check_slot_free(self, res_model, res_field, res_id):
        """Refuse a second file in the place of an evidence file."""
        taken = self.env.execute_query(SQL(
            "SELECT 1 FROM ir_attachment WHERE res_model = %s AND res_field = %s AND res_id = %s "
            "AND handover_evidence IS NOT NULL LIMIT 1", res_model, res_field, res_id,
        ))
        if taken:
            self._refuse_new_evidence("create", ["res_field"])

    def _refuse_new_evidence(self, operation, field_names):
        """Refuse, and log, a file made, marked or moved into an evidence file's place outside its step."""
        CustomerHandoverEvidenceMixin._log_refused_attempt(self, field_names, operation)
        raise AccessError(self.env._(
            "Files that record a fact of a customer handover are kept by their step only: they are not created, "
            "marked or replaced directly."
        ))

    def _event_company_ids(self):
        """The companies of the records these files belong to, whose event logs record what happens to them."""
        companies = self.env["res.company"]
        # sudo: only the ids of the files' companies, and of their records' companies, are read
        for attachment in self.sudo():
            record = (self.env[attachment.res_model].sudo().browse(attachment.res_id)
                      if attachment.res_model in self.env and attachment.res_id else None)
            if record is not None and "company_id" in record._fields and record.exists():
                companies |= record.company_id
            elif attachment.res_model == "res.company" and attachment.res_id:
                companies |= companies.browse(attachment.res_id)
            else:
                companies |= attachment.company_id
        return companies.ids
