import contextlib
import tempfile

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, split_every

from ..tools import transfer_package as tp
from ..tools.checklist_read import checklist_rows
from .customer_handover_evidence_mixin import evidence_step
from .customer_handover_incoming import COUNT_FIELDS
from .customer_handover_incoming_import import BATCH, PARTNER_STEP_FIELDS, release
from .customer_handover_job import ACTIVE_STATES, running_job_id


class CustomerHandoverIncoming(models.Model):
    """An import above the threshold, in the background: staged batch by batch, shown at once by its last step."""

    _name = "customer.handover.incoming"
    _inherit = ["customer.handover.incoming", "customer.handover.job.progress.mixin"]

    job_ids = fields.One2many("customer.handover.job", "incoming_id", string="Background Steps", readonly=True)
    active_job_id = fields.Many2one(
        help="The import running in the background, or stopped on an error and waiting for its user.")

    @api.depends("job_ids.state", "job_ids.done_count", "job_ids.error")
    @api.depends_context("lang")
    def _compute_active_job(self):
        return super()._compute_active_job()

    def _active_jobs(self):
        # sudo: which step runs on an incoming handover the user reads is the user's business
        jobs = self.env["customer.handover.job"].sudo().search(
            [("incoming_id", "in", self.ids), ("state", "in", ACTIVE_STATES)])
        return {job.incoming_id.id: job for job in jobs}

    def action_job_continue(self):
        """Let the import that stopped on a customer go on without that customer."""
        self.ensure_one()
        return self.active_job_id.with_env(self.env).action_continue()

    def action_job_cancel(self):
        """Cancel the import running in the background: what it staged is removed, nothing else changed."""
        self.ensure_one()
        return self.active_job_id.with_env(self.env).action_cancel()

    # ------------------------------------------------------------------------------------------ starting

    @api.model
    def _import_start(self, wizard, result, package_sha256, mappings):
        """Record the incoming handover, being imported, and queue its import; the wizard checked the user's rights.

        Returns the job. The wizard keeps the decrypted package and the preview (each customer and its checklist
        row) until the job ends: the batches read them there.
        """
        incoming = self._import_record(wizard.company_id, result, package_sha256, state="importing")
        return self.env["customer.handover.job"]._start(incoming, "import", SQL(
            "SELECT id FROM customer_handover_import_line WHERE wizard_id = %s ORDER BY line_number", wizard.id,
        ), params={
            "name": incoming.name, "incoming": incoming.id, "wizard": wizard.id, "version": result.version,
            "mappings": [[kind, key, id_] for (kind, key), id_ in mappings.items()],
            "manifest_counts": {key: result.counts.get(key, 0) for key in ("customers", "evidence_files")},
        })

    def _check_idle(self):
        """Refuse a step on these incoming handovers while their import runs or waits for its user."""
        # sudo: whether an import runs is the business of every user who acts on its incoming handover
        job = self.env["customer.handover.job"].sudo().search(
            [("incoming_id", "in", self.ids), ("state", "in", ACTIVE_STATES), ("id", "!=", running_job_id())],
            limit=1)
        if job:
            raise UserError(self.env._(
                "%(incoming)s is busy: %(step)s runs in the background (%(done)s of %(total)s). Wait until it ends, "
                "or cancel it on the incoming handover.", incoming=job.incoming_id.name, step=job._kind_label(),
                done=job.done_count + job.skipped_count, total=job.total))

    # ------------------------------------------------------------------------------------------ the job's steps

    @api.model
    def _job_import_batch(self, job, ids):
        """Import these customers of the preview, staged: new contacts archived, merges left for the last step."""
        incoming, wizard = job.incoming_id, self._job_import_wizard(job)
        payloads = self.env["customer.handover.import.line"].browse(ids)._payloads()
        with incoming._job_import_received(job, wizard, payloads) as received:
            counts = dict.fromkeys(COUNT_FIELDS, 0)
            incoming._import_customers(received, [payload["customer"] for payload in payloads.values()], counts)
            incoming._job_import_add_counts(counts)

    @api.model
    def _job_import_undo(self, job, ids):
        """Remove what these customers' batches staged: their contacts, with their consents, and their lines."""
        incoming = job.incoming_id
        # a preview gone leaves nothing to find here: the cancellation's end removes whatever is still staged
        numbers = self.env["customer.handover.import.line"].browse(ids).exists().mapped("line_number")
        # sudo: the lines and staged contacts of an import its own job cancels (checked by _unlink_never)
        lines = self.env["customer.handover.incoming.line"].sudo().search(
            [("incoming_id", "=", incoming.id), ("kind", "=", "customer"), ("line_number", "in", numbers)])
        self.env["res.partner"]._handover_staged(incoming, lines.partner_id.ids).unlink()
        lines.unlink()

    @api.model
    def _job_import_cancelled(self, job):
        """The whole import is undone: the incoming handover goes, with whatever it still staged."""
        incoming = job.incoming_id
        self.env["res.partner"]._handover_staged(incoming).unlink()
        # sudo: the incoming handover of an import its own job cancelled, which no one else changed (_unlink_never)
        incoming.sudo().line_ids.unlink()
        incoming.sudo().unlink()
        wizard = self._job_import_wizard(job)
        if wizard:
            wizard._step_write({"plain_package": False, "state": "preview"})

    @api.model
    def _job_import_done(self, job):
        """The last step: merge into the matched contacts, reconcile, and show every staged contact at once."""
        incoming, wizard = job.incoming_id, self._job_import_wizard(job)
        matched = self.env["customer.handover.incoming.line"].search(
            [("incoming_id", "=", incoming.id), ("outcome", "=", "matched")]).mapped("line_number")
        counts = dict.fromkeys(COUNT_FIELDS, 0)
        preview = self.env["customer.handover.import.line"]
        with incoming._job_import_received(job, wizard, {}, with_data=True) as received:
            for numbers in split_every(BATCH, matched):
                lines = preview.search([("wizard_id", "=", wizard.id), ("line_number", "in", list(numbers))])
                incoming._job_import_merge(received, lines, counts)
                release(self.env)
            # the line numbers the batches imported, as plain numbers: no record of them is loaded (the incoming
            # handover's own lines, which its import wrote)
            self.env.cr.execute(SQL(
                "SELECT coalesce(array_agg(line_number), '{}') FROM customer_handover_incoming_line "
                "WHERE incoming_id = %s", incoming.id))
            received.seen = set(self.env.cr.fetchone()[0])
            # What the signed checklist lists and the package did not deliver: from the rows the preview read from
            # it (a million rows in half a second, against about 50 s for the workbook), or from the workbook where
            # the preview kept none. Only the lines no batch imported are kept (the items, the lines not delivered):
            # memory does not grow with them.
            def not_imported(number):
                return number not in received.seen

            received.rows = wizard._kept_checklist_rows(not_imported)
            with wizard._upload_path("checklist_file") as checklist:
                if received.rows is None:
                    received.rows = checklist_rows(checklist, keep=not_imported)
                incoming._import_keep_checklist(checklist, wizard.checklist_filename)
            total = {name: incoming[name] + counts[name] for name in COUNT_FIELDS}
            self.env["res.partner"]._handover_publish_staged(incoming)
            incoming._import_finish(received, total, job.params["manifest_counts"])
        wizard._import_done(incoming)

    # ------------------------------------------------------------------------------------------ helpers

    def _import_cancelled_by_running_job(self):
        """These incoming handovers whose import is being cancelled by the job running in this thread."""
        job_id = running_job_id()
        if not job_id:
            return self.browse()
        # sudo: the job's state only, to tell its own undo from any other deletion
        job = self.env["customer.handover.job"].sudo().browse(job_id)
        return self.filtered(lambda incoming: incoming.state == "importing" and job.incoming_id == incoming
                             and job.state == "cancelling")

    @api.model
    def _job_import_wizard(self, job):
        wizard = self.env["customer.handover.import"].browse(job.params["wizard"]).exists()
        if not wizard and job.state != "cancelling":
            raise UserError(self.env._("The package's preview is gone (it is kept an hour after its last use): "
                                       "cancel this import and import the package again."))
        return wizard

    @contextlib.contextmanager
    def _job_import_received(self, job, wizard, payloads, with_data=False):
        """What the import needs of the package for the preview's lines ``payloads`` ({line number: payload}): their
        rows, mappings, evidence files."""
        params = job.params
        rows = {number: tuple(payload["row"]) for number, payload in payloads.items() if payload.get("row")}
        with tempfile.TemporaryDirectory(prefix="customer-handover-import-") as folder, \
                wizard._plain_archive() as archive:
            if with_data:  # the last step reconciles the items, listed after the customers
                archive.extract(tp.DATA, folder)
            received = self._received(folder, params["version"], {(kind, key): id_ for kind, key, id_ in
                                                                   params["mappings"]}, rows, wizard._decisions)
            received.archive = archive
            received.staged = True
            yield received

    def _job_import_add_counts(self, counts):
        with evidence_step(self._name, *COUNT_FIELDS):
            self.write({name: self[name] + counts[name] for name in COUNT_FIELDS if counts[name]})

    def _job_import_merge(self, received, lines, counts):
        """Merge these customers into the contacts they matched, with their consents: the import's last step."""
        payloads = lines._payloads()
        customers = [payloads[line.line_number]["customer"] for line in lines]
        decisions = {line.line_number: line for line in lines}
        states = self._import_states(customers)
        domains = self._import_domains(received, customers)
        targets = self.env["res.partner"].browse([line.partner_id.id for line in lines])
        targets.check_access("write")
        with evidence_step("res.partner", *PARTNER_STEP_FIELDS):
            self._import_merge(received, decisions, customers, targets, states, domains)
        by_line = {line.line_number: line.partner_id for line in lines}
        counts["consent_count"] += len(self._import_consents(received, customers, by_line))
        self.env["customer.handover.event"]._append_for(targets, "customers_imported",
                                                        {"incoming": self.id, "outcome": "matched"},
                                                        company=self.company_id)

