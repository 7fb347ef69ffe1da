import json
import tempfile

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..models.customer_handover_evidence_mixin import evidence_step
from ..models.customer_handover_incoming_import import package_key
from ..models.customer_handover_job import ACTIVE_STATES, running_job_id
from ..models.handover_access import OFFICER
from ..tools import transfer_package as tp
from ..tools.checklist_read import iter_checklist_rows
from ..tools.line_blocks import BLOCK_LINES, BlocksError, read_blocks, write_blocks

# customers a block of the preview's customer_lines holds: a batch reads at most one block more than its own
PREVIEW_BLOCK_LINES = BLOCK_LINES


class CustomerHandoverImport(models.TransientModel):
    """The preview of a package above the threshold, in the background: checked whole once, then its customers in
    bounded batches, each a transaction; the request only peeks at the manifest and queues it."""

    _name = "customer.handover.import"
    _inherit = ["customer.handover.import", "customer.handover.job.progress.mixin"]

    active_job_id = fields.Many2one(
        help="The preview running in the background, or stopped on an error and waiting for its user.")

    @api.depends("state")
    @api.depends_context("lang")
    def _compute_active_job(self):
        return super()._compute_active_job()

    def _active_jobs(self):
        return self._preview_jobs()

    @api.depends("handover_reference", "package_number")
    def _compute_display_name(self):
        for wizard in self:
            wizard.display_name = (f"{wizard.handover_reference} · {wizard.package_number}" if wizard.handover_reference
                                   else self.env._("Import a Transfer Package"))

    def action_job_continue(self):
        """Let the preview that stopped on a customer go on without that customer (not imported, then listed as not
        delivered)."""
        self.ensure_one()
        self._preview_job_or_fail().action_continue()
        return self._reopen()

    def action_job_cancel(self):
        """Cancel the preview: its lines are removed in the background, and the package can be previewed again."""
        self.ensure_one()
        self._preview_job_or_fail().action_cancel()
        return self._reopen()

    # ------------------------------------------------------------------------------------------ starting

    def _preview_in_background(self, result):
        """Queue the preview of the peeked package ``result``; the user's rights, the pin and the package's manifest
        were checked. The job checks the whole package first, then reads its customers a batch at a time."""
        self._keep_plain()
        self._step_write({"state": "previewing", "background": True})
        self.line_ids.unlink()
        self.mapping_ids.unlink()
        self.env["customer.handover.job"]._start(self, "preview", SQL(
            "SELECT generate_series(1, %s)", self.customer_count,
        ), params={
            "name": self.display_name, "wizard": self.id, "version": result.version,
            "fingerprint": result.fingerprint, "purposes": {}, "policies": {},
        })

    def _check_idle(self):
        """Refuse a second preview of a package while one runs or waits for its user (the job's lock calls it)."""
        job = self._preview_jobs().get(self.id)
        if job and job.id != running_job_id():
            raise UserError(self.env._(
                "The preview of %(package)s runs in the background (%(done)s of %(total)s): wait until it ends, or "
                "cancel it.", package=self.display_name, done=job.done_count + job.skipped_count, total=job.total))

    # ------------------------------------------------------------------------------------------ the job's steps

    @api.model
    def _job_preview_prepare(self, job):
        """Check the whole package once, before any batch reads it: signature, pin, every digest, the counts and the
        checklist it delivers. The request only read its manifest."""
        wizard = self._job_preview_wizard(job)
        with wizard._upload_path("checklist_file") as checklist:
            with wizard._plain_file() as plain:
                result = tp.check_plain(plain, fingerprint=job.params["fingerprint"], checklist=checklist)
            if not result.valid:
                raise UserError(wizard._problem_text(result.problems[0]))
            wizard._keep_checklist_rows(checklist)
        wizard._keep_customer_lines()

    @api.model
    def _job_preview_batch(self, job, ids):
        """Preview the package's customers at these positions: one line each, with its match and what the package
        says of it; duplicates are looked for among the lines earlier batches made."""
        wizard = self._job_preview_wizard(job)
        customers = wizard._preview_read(job, ids)
        wizard._preview_customers(job, customers)

    @api.model
    def _job_preview_undo(self, job, ids):
        """Remove the lines of as many customers: the newest, as the batches made them in the package's order."""
        self.env.cr.execute(SQL(
            "DELETE FROM customer_handover_import_line WHERE id IN (SELECT id FROM customer_handover_import_line "
            "WHERE wizard_id = %s ORDER BY id DESC LIMIT %s)", job.params["wizard"], len(ids),
        ))
        self.invalidate_model(["line_ids"])

    @api.model
    def _job_preview_cancelled(self, job):
        """The preview is undone: the package goes back to its upload, to be previewed again."""
        wizard = self.browse(job.params["wizard"]).exists()
        if wizard:
            wizard.mapping_ids.unlink()
            wizard._step_write({"state": "upload", "background": False, "checklist_rows": False,
                                "customer_lines": False})

    @api.model
    def _job_preview_done(self, job):
        """The last step: each line's row of the signed checklist, the purposes and policies, the matches counted."""
        wizard = self._job_preview_wizard(job)
        params = job.params
        purposes, policies = params["purposes"], params["policies"]
        wizard.env.cr.execute(SQL(
            "SELECT count(*) FROM customer_handover_import_line WHERE wizard_id = %s AND partner_id IS NOT NULL",
            wizard.id))
        # the rows stay for the import's last step, which reconciles the lines no batch imported
        wizard._step_write({"match_count": wizard.env.cr.fetchone()[0], "state": "preview", "customer_lines": False})
        version = params["version"]
        self.env["customer.handover.import.mapping"].create(
            wizard._mapping_lines("purpose", purposes, version) + wizard._mapping_lines("policy", policies, version))

    @api.model
    def _job_preview_record_name(self, job, position):
        return self.env._("Customer %(position)s of the package", position=position)

    # ------------------------------------------------------------------------------------------ helpers

    def _preview_jobs(self):
        """{wizard id: its active preview job}."""
        if not self.ids:
            return {}
        self.env.cr.execute(SQL(
            "SELECT (params->>'wizard')::int, id FROM customer_handover_job WHERE kind = 'preview' AND state IN %s "
            "AND (params->>'wizard')::int = ANY(%s)", ACTIVE_STATES, self.ids,
        ))
        # sudo: the preview job of the user's own wizard (its record rule): its figures and error only
        Job = self.env["customer.handover.job"].sudo()
        return {wizard_id: Job.browse(job_id) for wizard_id, job_id in self.env.cr.fetchall()}

    def _preview_job_or_fail(self):
        job = self._preview_jobs().get(self.id)
        if not job:
            raise UserError(self.env._("No preview of this package runs in the background."))
        return job.with_env(self.env)

    @api.model
    def _job_preview_wizard(self, job):
        wizard = self.browse(job.params["wizard"]).exists()
        if not wizard:
            raise UserError(self.env._("The package's preview is gone (it is kept an hour after its last use): "
                                       "cancel this preview and upload the package again."))
        return wizard

    def _keep_customer_lines(self):
        """Keep the package's customers, checked whole just before, for the batches: a line each, in blocks compressed
        one by one (``customer_lines``), so that a batch reads its own blocks only."""
        with self._plain_archive() as archive, archive.open(tp.DATA) as data, \
                tempfile.NamedTemporaryFile(prefix="customer-handover-lines-") as lines:
            data.readline()  # the head: checked with the rest
            write_blocks(_customer_lines(data), lines, PREVIEW_BLOCK_LINES)
            lines.flush()
            self._keep_step_file("customer_lines", lines.name)

    def _preview_read(self, job, positions):
        """The customers at ``positions`` (ascending, from 1), as the package gives them (``customer_lines``).

        Where the last batch stopped is kept in the job (``next``: the position of the first customer of the block
        that holds the next one, and that block's byte offset), so a batch reads its own blocks only (and the part of
        a block the batch before it read); a batch that starts before that place (a retry) reads from the beginning.
        """
        attachment = self._step_attachment("customer_lines")
        if not attachment:
            raise UserError(self.env._("The package's customers are gone: cancel this preview and preview the "
                                       "package again."))
        position, start = job.params.get("next") or (1, 0)
        if position > positions[0]:
            position, start = 1, 0
        wanted, last, customers, kept = set(positions), positions[-1], [], None
        with attachment._open_content() as handle:
            try:
                for offset, after, block in read_blocks(handle, start):
                    first = position
                    for line in block:
                        if position in wanted:
                            customers.append(json.loads(line))
                        position += 1
                    if position > last:
                        # the next batch starts in this block, or at the next one
                        kept = [first, offset] if position > last + 1 else [position, after]
                        break
            except BlocksError as error:
                raise UserError(self.env._(
                    "The package's customers kept for the preview cannot be read (%(error)s): cancel this preview and "
                    "preview the package again.", error=error,
                )) from error
        if kept is None:
            raise UserError(self.env._("The package holds fewer customers than its manifest counts."))
        job._keep({"next": kept})
        return customers

    def _preview_customers(self, job, customers):
        """The preview lines of ``customers``, refused as the preview at once refuses them."""
        Line = self.env["customer.handover.import.line"]
        seen = {"line": {}, "vat": {}, "ref": {}}
        purposes, policies = dict(job.params["purposes"]), dict(job.params["policies"])
        version = job.params["version"]
        for customer in customers:
            contact = customer["contact"]
            for key, value in (("line", customer["line"]), ("vat", contact.get("vat")), ("ref", contact.get("ref"))):
                if value and value in seen[key]:
                    self._preview_duplicate(seen[key][value], customer["line"], key, value)
                if value:
                    seen[key][value] = customer["line"]
            if customer["classification"].get("sensitivity") == "sensitive" and not self.env.user.has_group(OFFICER):
                raise UserError(self.env._(
                    "The package holds customers with sensitive personal information (PIPL Art. 28), line %(line)s "
                    "first: a data-protection officer imports it.", line=customer["line"],
                ))
            for consent in customer["consents"]:
                key = package_key(version, consent, "purpose")
                if key:
                    purposes.setdefault(key, {"name": consent.get("purpose")})
            retention = customer["retention"]
            key = package_key(version, retention, "policy") if retention.get("policy") else None
            if key:
                policies.setdefault(key, {**retention, "name": retention["policy"]})
        # The same customer in an earlier batch: one query, on the lines' indexes. The lines found are sorted
        # apart (MATERIALIZED): asked for the first by number, PostgreSQL would walk the number index of every
        # line the batches before made, in order, waiting for a match that rarely comes (0.4 s at 1,000,000).
        self.env.cr.execute(SQL(
            "WITH found AS MATERIALIZED (SELECT line_number, vat, ref FROM customer_handover_import_line "
            "WHERE wizard_id = %s AND (line_number = ANY(%s) OR vat = ANY(%s) OR ref = ANY(%s))) "
            "SELECT line_number, vat, ref FROM found ORDER BY line_number LIMIT 1",
            self.id, list(seen["line"]), list(seen["vat"]), list(seen["ref"]),
        ))
        row = self.env.cr.fetchone()
        if row:
            number, vat, ref = row
            key, value = next((key, value) for key, value in (("line", number), ("vat", vat), ("ref", ref))
                              if value in seen[key])
            self._preview_duplicate(number, seen[key][value], key, value)
        job._keep({"purposes": purposes, "policies": policies})
        matches = self.env["res.partner"]._handover_match(customers, self.company_id)
        rows = self._preview_checklist_rows(job, [customer["line"] for customer in customers])
        with evidence_step("customer.handover.import.line", "payload"):
            Line.create([{**self._preview_line(customer, matches.get(customer["line"])),
                          "payload": {"customer": customer, "row": rows.get(customer["line"])}}
                         for customer in customers])

    def _preview_duplicate(self, first, second, key, value):
        raise UserError(self.env._(
            "Lines %(first)s and %(second)s of the package are the same customer (same %(key)s %(value)s): the "
            "package is refused; ask the transferring company for a corrected one.",
            first=first, second=second, key=key, value=value,
        ))

    def _keep_checklist_rows(self, checklist):
        """Keep the rows of the signed checklist at ``checklist``, read once, for the batches that give each line its
        row: a line each, ``number<TAB>[name, snapshot digest, excluded]``, in the checklist's order."""
        with tempfile.NamedTemporaryFile(prefix="customer-handover-rows-") as rows:
            for number, row in iter_checklist_rows(checklist):
                rows.write(b"%d\t%s\n" % (number, json.dumps(list(row)).encode()))
            rows.flush()
            self._keep_step_file("checklist_rows", rows.name)

    def _kept_checklist_rows(self, keep):
        """{line number: its checklist row} of the rows file for the numbers ``keep`` accepts, read line by line (a
        row is parsed only if kept); None where the wizard keeps no rows file (a preview made at once)."""
        self.ensure_one()
        attachment = self._step_attachment("checklist_rows")
        if not attachment:
            return None
        rows = {}
        with attachment._open_content() as handle:
            for number, row in map(_rows_line, handle):
                if keep(number):
                    rows[number] = tuple(json.loads(row))
        return rows

    def _preview_checklist_rows(self, job, numbers):
        """{line number: its checklist row} for ``numbers``, which the import's batches compare each customer with.

        The customers come in the checklist's order: a batch reads the rows file from where the batch before it
        stopped (``rows_next`` in the job: the last line number it read up to, and the byte offset after it), to
        just past its own last line. A number not found there (a customer the checklist does not list, a batch
        retried) is looked for from the start.
        """
        attachment = self._step_attachment("checklist_rows")
        if not attachment or not numbers:
            return {}
        wanted, last = set(numbers), max(numbers)
        kept_last, offset = job.params.get("rows_next") or (0, 0)
        if kept_last >= min(numbers):
            offset = 0
        rows, start = {}, offset
        with attachment._open_content() as handle:
            handle.seek(offset)
            while line := handle.readline():
                number, row = _rows_line(line)
                if number > last:
                    break
                if number in wanted:
                    rows[number] = json.loads(row)
                offset += len(line)
            if start and len(rows) < len(wanted):
                handle.seek(0)
                for number, row in map(_rows_line, handle):
                    if number in wanted:
                        rows.setdefault(number, json.loads(row))
        job._keep({"rows_next": [last, offset]})
        return rows


def _customer_lines(data):
    """The customers' lines of data.json (its head read), each without its newline and comma, up to its items."""
    for line in data:
        if line.startswith(tp.DATA_MIDDLE):
            return
        body = line.rstrip(b"\n")
        yield body[:-1] if body.endswith(b",") else body


def _rows_line(line):
    """A line of the checklist's rows file (``_keep_checklist_rows``): its line number, and its row as JSON."""
    number, _tab, row = line.partition(b"\t")
    return int(number), row
