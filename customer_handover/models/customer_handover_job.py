import contextvars
import logging
from contextlib import contextmanager

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from .customer_handover_evidence_mixin import CREATE, evidence_step
from .handover_access import MANAGER, OFFICER, has_group_in_company
from .handover_notes import log_note

_logger = logging.getLogger(__name__)
# How long a step waits for another transaction's ANALYZE of the same table before it leaves the statistics to it.
ANALYZE_WAIT_MS = 200
# A table a step fills is analysed once it holds twice the rows PostgreSQL last counted, and this many more.
STATISTICS_ROWS = 10_000

# Queued, running, stopped on an error or being undone: the handover is busy, whatever the step.
ACTIVE_STATES = ("queued", "running", "failed", "cancelling")
# What the cron picks up: a failed job waits for its user to continue or cancel it.
RUNNABLE_STATES = ("queued", "running", "cancelling")
THRESHOLD_PARAM = "customer_handover.background_threshold"
DEFAULT_THRESHOLD = 2000
BATCH_PARAM = "customer_handover.background_batch_size"
DEFAULT_BATCH = 1000
# PostgreSQL's lock_not_available: another transaction holds the row a NOWAIT lock asked for.
LOCK_NOT_AVAILABLE = "55P03"
# Serialises the start of a company's event-log steps: (this class of lock, company id).
LOG_JOB_LOCK = 0x43484A42
# The kinds of background step: (the model that does the work, the model of the ids it works on). The first
# implements, for kind K: ``_job_K_batch(job, ids)`` (one batch, all or nothing), ``_job_K_undo(job, ids)`` (undo
# what the batches did to these ids, for a cancelled step) and ``_job_K_done(job)`` (once every id is done); and may
# implement ``_job_K_prepare(job)`` (a call of its own before the first batch, once: a check of what the batches read)
# and ``_job_K_record_name(job, id)`` (how an error names the record). A new step adds a line here and to ``JOB_KINDS``.
STEP_MODELS = {
    "scope": ("customer.handover.scope", "res.partner"),
    "verify": ("customer.handover.line", "customer.handover.line"),
    "export": ("customer.handover.export", "customer.handover"),
    "package": ("customer.handover.package", "customer.handover"),
    "preview": ("customer.handover.import", "customer.handover.import"),
    "import": ("customer.handover.incoming", "customer.handover.import.line"),
    "move": ("customer.handover", "res.partner"),
    "log_check": ("customer.handover.event", "customer.handover.event"),
    "log_export": ("customer.handover.event", "res.company"),
    "notice": ("customer.handover.notice", "res.partner"),
    "destroy": ("res.partner", "res.partner"),
}
JOB_KINDS = [
    ("scope", "Building the checklist"),
    ("verify", "Batch verification"),
    ("export", "Signed export"),
    ("package", "Transfer package"),
    ("preview", "Previewing the package"),
    ("import", "Importing the package"),
    ("move", "Moving the customers"),
    ("log_check", "Checking the event log"),
    ("log_export", "Exporting the event log"),
    ("notice", "Telling the customers"),
    ("destroy", "Destroying customers"),
]
# Kinds that make one file (their ids: the handover alone). A file cannot be kept half-written from one transaction
# to the next, so their batch builds the whole file in one call, streaming its rows, and reports them with
# ``_file_progress``; a crash keeps nothing and the next call starts the file again. Their ``total`` counts rows, given
# to ``_start``; their batch does all, and keeps nothing before its end: they have no ``_undo`` and no ``_done``.
FILE_KINDS = ("export", "package", "log_export")
# Kinds that work on a company's event log: their target is the company (``company_id``, no handover), and only the
# company's data-protection officers start them, read them and decide on them. One at a time per company.
LOG_KINDS = ("log_check", "log_export")
# The import's preview: its target is the import wizard of its user (a transient record, named in the job's
# ``params["wizard"]``), its ids the package's customers by position (1, 2, …). It leaves no note: a wizard has no
# chatter, and the package is not imported yet.
WIZARD_KINDS = ("preview",)
JOB_FACTS = (
    "handover_id", "kind", "state", "total", "done_count", "skipped_count", "started_on", "ended_on", "user_id",
    "error", "failed_res_id", "params", "incoming_id", "company_id", "destruction_request_id",
)
# Kinds that cannot be undone: cancelling them is refused (a run that stopped is retried or continued).
FINAL_KINDS = ("destroy",)
# The job whose batch runs in this thread: its own work is not refused as conflicting with it. Set by the cron's
# batch only; a request cannot set it.
_RUNNING = contextvars.ContextVar("customer_handover_running_job", default=0)


def running_job_id():
    """The job whose own work runs in this thread (0: none)."""
    return _RUNNING.get()


def analyze(cr, table):
    """ANALYZE ``table`` on ``cr``. ANALYZE holds the table's statistics lock until its transaction ends: when
    another transaction is analysing the same table, this one leaves the statistics to it rather than wait for
    that transaction (``ANALYZE_WAIT_MS`` at most); the transaction's own lock timeout is kept."""
    cr.execute(SQL("SELECT current_setting('lock_timeout')"))
    waits = cr.fetchone()[0]
    try:
        with cr.savepoint(flush=False):
            cr.execute(SQL("SELECT set_config('lock_timeout', %s, true)", f"{ANALYZE_WAIT_MS}ms"))
            cr.execute(SQL("ANALYZE %s", SQL.identifier(table)), log_exceptions=False)
    except Exception as error:
        if getattr(error, "pgcode", None) != LOCK_NOT_AVAILABLE:
            raise
        _logger.info("%s is being analysed by another transaction: left to it", table)
    cr.execute(SQL("SELECT set_config('lock_timeout', %s, true)", waits))


class CustomerHandoverJob(models.Model):
    _name = "customer.handover.job"
    _description = "Background Step of a Handover"
    _inherit = ["customer.handover.evidence.mixin"]
    _order = "id desc"
    _evidence_create = True
    _evidence_fields = JOB_FACTS

    # What the step works on: a handover, or (for an import) an incoming handover, removed when its import is
    # cancelled; for the event log's steps (LOG_KINDS), the company alone.
    handover_id = fields.Many2one("customer.handover", readonly=True, index=True, ondelete="cascade")
    incoming_id = fields.Many2one("customer.handover.incoming", string="Incoming Handover", readonly=True,
                                  index="btree_not_null", ondelete="set null")
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    destruction_request_id = fields.Many2one("customer.destruction.request", readonly=True,
                                             index="btree_not_null", ondelete="restrict")
    kind = fields.Selection(JOB_KINDS, string="Step", required=True, readonly=True)
    state = fields.Selection(
        [("queued", "Queued"), ("running", "Running"), ("failed", "Stopped on an error"),
         ("cancelling", "Being cancelled"), ("done", "Done"), ("cancelled", "Cancelled")],
        required=True, default="queued", readonly=True,
    )
    total = fields.Integer(readonly=True, help="How many records the step works on.")
    done_count = fields.Integer(string="Done", readonly=True)
    skipped_count = fields.Integer(string="Skipped", readonly=True,
                                   help="Records the user chose to skip after they stopped the step.")
    started_on = fields.Datetime(readonly=True)
    ended_on = fields.Datetime(readonly=True)
    user_id = fields.Many2one("res.users", string="Started By", readonly=True)
    error = fields.Text(string="Last Error", readonly=True, help="Why the step stopped, naming the record.")
    failed_res_id = fields.Integer(string="Failed Record", readonly=True)
    params = fields.Json(string="Parameters", readonly=True)
    progress = fields.Float(compute="_compute_progress", help="Percentage of the records done.")
    time_left = fields.Char(compute="_compute_progress", help="An estimate from the pace so far.")
    progress_text = fields.Char(compute="_compute_progress")

    def init(self):
        # Starting a step twice is impossible, whatever the timing: one active job per handover, and per incoming one.
        self.env.cr.execute(SQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS customer_handover_job_one_active ON customer_handover_job "
            "(handover_id) WHERE state IN %s", ACTIVE_STATES,
        ))
        self.env.cr.execute(SQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS customer_handover_job_one_active_incoming ON customer_handover_job "
            "(incoming_id) WHERE state IN %s", ACTIVE_STATES,
        ))
        self.env.cr.execute(SQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS customer_handover_job_one_active_log ON customer_handover_job "
            "(company_id) WHERE kind IN %s AND state IN %s", LOG_KINDS, ACTIVE_STATES,
        ))
        self.env.cr.execute(SQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS customer_handover_job_one_active_destruction ON customer_handover_job "
            "(destruction_request_id) WHERE state IN %s", ACTIVE_STATES,
        ))
        self.env.cr.execute(SQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS customer_handover_job_one_active_wizard ON customer_handover_job "
            "(((params->>'wizard')::int)) WHERE kind IN %s AND state IN %s", WIZARD_KINDS, ACTIVE_STATES,
        ))

    @api.depends("total", "done_count", "skipped_count", "started_on", "state")
    @api.depends_context("lang")
    def _compute_progress(self):
        now = fields.Datetime.now()
        for job in self:
            figures = job._figures(now)
            job.progress = figures["percent"]
            job.time_left = figures["time_left"]
            job.progress_text = self.env._(
                "%(step)s: %(done)s of %(total)s (%(percent)s%%)", step=job._kind_label(), done=figures["done"],
                total=job.total, percent=int(figures["percent"]),
            ) if job.state != "cancelling" else self.env._(
                "%(step)s is being cancelled: %(count)s records left to undo", step=job._kind_label(),
                count=job.done_count,
            )

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        """A job records a step of the procedure: it is kept, as the log entries that name it."""
        self._refuse_evidence([], "unlink")

    def action_continue(self):
        """Skip the record that stopped the step, recorded, and let the rest go on."""
        self._check_may_decide()
        self._lock()
        for job in self:
            if job.state != "failed":
                raise UserError(self.env._("%(step)s is not stopped on an error: nothing to continue.",
                                           step=job._kind_label()))
            if (job.params or {}).get("stopped_while") == "cancelling":
                raise UserError(self.env._("Cancelling %(step)s stopped on an error: cancel it again to undo the "
                                           "rest.", step=job._kind_label()))
            skipped = job.failed_res_id
            if skipped:
                job._items_set_state([skipped], "skipped")
            job._set({"state": "running", "skipped_count": job.skipped_count + bool(skipped), "error": False,
                      "failed_res_id": 0}, "job_continued", {"skipped": skipped})
        self._trigger()
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    def action_retry(self):
        """Run again the record that stopped the step (its cause was fixed): nothing is skipped."""
        self._check_may_decide()
        self._lock()
        for job in self:
            if job.state != "failed" or (job.params or {}).get("stopped_while") == "cancelling":
                raise UserError(self.env._("%(step)s is not stopped on an error: nothing to retry.",
                                           step=job._kind_label()))
            job._set({"state": "running", "error": False, "failed_res_id": 0}, "job_continued",
                     {"retried": job.failed_res_id})
        self._trigger()
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    def action_cancel(self):
        """Cancel the whole step: what its batches did is undone in the background, batch by batch."""
        self._check_may_decide()
        self._lock()
        for job in self:
            if job.state not in ("queued", "running", "failed"):
                raise UserError(self.env._("%(step)s has ended: it can no longer be cancelled.",
                                           step=job._kind_label()))
            if job.kind in FINAL_KINDS:
                raise UserError(self.env._("%(step)s cannot be undone: retry it, or continue without the record "
                                           "that stopped it.", step=job._kind_label()))
            params = {key: value for key, value in (job.params or {}).items() if key != "stopped_while"}
            job._set({"state": "cancelling", "error": False, "failed_res_id": 0, "params": params}, None)
        self._trigger()
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    # ------------------------------------------------------------------------------------------ starting

    @api.model
    def _threshold(self):
        """How many records a step handles at once, in the request; more go to the background."""
        # sudo: a setting every step reads, whoever starts it
        return int(self.env["ir.config_parameter"].sudo().get_param(THRESHOLD_PARAM, DEFAULT_THRESHOLD))

    @api.model
    def _batch_size(self):
        # sudo: a setting every step reads, whoever starts it
        return max(1, int(self.env["ir.config_parameter"].sudo().get_param(BATCH_PARAM, DEFAULT_BATCH)))

    @api.model
    def _lock_handover(self, handover):
        """Hold ``handover`` (or an incoming handover) for this transaction, refusing at once if another request holds
        it, then check it is idle.

        The lock serialises the steps of one handover that start or run in a request; the unique index on active
        jobs makes a second job impossible even without it.
        """
        name = handover[:1].display_name
        try:
            self.env.cr.execute(SQL(
                "SELECT id FROM %s WHERE id IN %s FOR NO KEY UPDATE NOWAIT", SQL.identifier(handover._table),
                tuple(handover.ids),
            ), log_exceptions=False)
        except Exception as error:
            if getattr(error, "pgcode", None) != LOCK_NOT_AVAILABLE:
                raise
            self.env.cr.rollback()  # as ir.cron's _try_lock: the request fails anyway, the message needs a cursor
            raise UserError(self.env._("Another step of %(handover)s is starting right now: try again in a moment.",
                                       handover=name)) from None
        handover._check_idle()

    @api.model
    def _lock_log(self, company):
        """Hold ``company``'s event-log steps for this transaction, refusing at once if another request holds them,
        then check that none is active. An advisory lock: the company's row stays free for everyone else; the
        unique index on active log steps makes a second one impossible even without it."""
        self.env.cr.execute(SQL("SELECT pg_try_advisory_xact_lock(%s, %s)", LOG_JOB_LOCK, company.id))
        if not self.env.cr.fetchone()[0]:
            raise UserError(self.env._("Another step on the event log of %(company)s is starting right now: try "
                                       "again in a moment.", company=company.name))
        # sudo: whether a step runs on the log is checked for the officer who starts one
        job = self.sudo().search([("company_id", "=", company.id), ("kind", "in", LOG_KINDS),
                                  ("state", "in", ACTIVE_STATES)], limit=1)
        if job:
            raise UserError(self.env._(
                "The event log of %(company)s is busy: %(step)s runs in the background (%(done)s of %(total)s). Wait "
                "until it ends, or cancel it from Check the Event Log.", company=company.name,
                step=job._kind_label(), done=job.done_count + job.skipped_count, total=job.total))

    @api.model
    def _start(self, handover, kind, query, params=None, total=None):
        """Queue ``kind`` on ``handover`` over the ids ``query`` (an SQL returning ids, in order) selects.

        ``handover``: a handover, an incoming handover, an import wizard (``WIZARD_KINDS``, its id in ``params``), or
        for the event log's steps (``LOG_KINDS``) a company. The
        caller checked the user's right to run the step. ``total``: the rows of a file step (``FILE_KINDS``).
        Returns the job; the cron runs it.
        """
        if kind in LOG_KINDS:
            self._lock_log(handover)
            values = {"company_id": handover.id}
        else:
            self._lock_handover(handover)
            target = {"customer.handover.incoming": "incoming_id", "customer.handover": "handover_id",
                      "customer.destruction.request": "destruction_request_id"}.get(handover._name)
            values = {target: handover.id} if target else {}
            values["company_id"] = handover.company_id.id
        values.update({"kind": kind, "state": "queued", "user_id": self.env.uid, "started_on": fields.Datetime.now(),
                       "params": params or {}})
        # sudo: jobs are written by the system only; the step checked the user's rights to start it
        with evidence_step(self._name, CREATE, *values):
            job = self.sudo().create(values)
        self.env.cr.execute(SQL(
            "INSERT INTO customer_handover_job_item (job_id, res_id, state) "
            "SELECT %s, ids.id, 'todo' FROM (%s) AS ids(id)", job.id, query,
        ))
        count = self.env.cr.rowcount
        if count > self._batch_size():
            self._analyze(self.env["customer.handover.job.item"])
        job._set({"total": count if total is None else total}, "job_started")
        job._trigger()
        return job.with_env(self.env)

    @api.model
    def _analyze(self, model):
        """Refresh PostgreSQL's statistics of ``model``'s table once a step has written many of its rows.

        Autovacuum catches up within minutes; until then PostgreSQL plans for the table as it was, and may read
        every row of a big checklist or job in each batch of the next step instead of the batch's own.
        """
        analyze(self.env.cr, model._table)

    def _refresh_statistics(self):
        """Have the tables this batch filled analysed after its commit once they doubled since last measured.

        A step fills its tables from almost nothing to a million rows in minutes. Until they are analysed,
        PostgreSQL plans each batch's lookups for the table as it was, a few rows it reads whole: every batch
        reads every row the batches before wrote (a million-customer checklist's batches went from 0.3 s to
        0.8 s). Autovacuum, where it runs, catches up a minute at a time. One query a batch; the ANALYZE runs
        in a transaction of its own once the batch committed, on the few batches after which a table doubled.
        """
        self.env.cr.execute(SQL(
            """SELECT c.relname FROM pg_stat_xact_user_tables x JOIN pg_class c ON c.oid = x.relid
                WHERE x.n_tup_ins > 0
                  AND pg_stat_get_live_tuples(c.oid) + x.n_tup_ins > 2 * GREATEST(c.reltuples, 0) + %s
             ORDER BY c.relname""", STATISTICS_ROWS,
        ))
        tables = [row[0] for row in self.env.cr.fetchall()]
        if not tables:
            return
        registry = self.pool

        @self.env.cr.postcommit.add
        def refresh():
            with registry.cursor() as cr:
                for table in tables:
                    analyze(cr, table)

    def _started_action(self):
        """What the step's button returns once its job is queued: a word to the user, and the form reloaded."""
        self.ensure_one()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self._kind_label(),
                "message": self.env._("%(count)s records are processed in the background; the handover shows the "
                                      "progress and you are told when it ends.", count=self.total),
                "type": "info",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    # ------------------------------------------------------------------------------------------ running

    @api.model
    def _cron_run(self):
        """Run one batch of the oldest runnable job, and say how much is left (one batch per call, a commit each)."""
        self.env.cr.execute(SQL(
            "SELECT id FROM customer_handover_job WHERE state IN %s ORDER BY id LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED",
            RUNNABLE_STATES,
        ))
        row = self.env.cr.fetchone()
        if not row:
            self.env["ir.cron"]._notify_progress(done=0, remaining=0)
            return
        job = self.sudo().browse(row[0])  # sudo: the system runs the job; its batch runs as the user who started it
        try:
            with self.env.cr.savepoint():
                done = job._run_batch()
        except Exception as error:  # a step that fails past its records (its end, its undo) stops, never the cron
            self.env.invalidate_all()
            _logger.warning("Job %s stopped.", job.id, exc_info=True)
            job._stop(0, error)
            done = 0
        self.env.cr.execute(SQL(
            "SELECT count(*) FROM customer_handover_job WHERE state IN %s AND id != %s", RUNNABLE_STATES, job.id,
        ))
        others = self.env.cr.fetchone()[0]
        remaining = (job.total - job.done_count - job.skipped_count if job.state in RUNNABLE_STATES else 0) + others
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        if remaining:
            # Odoo's cron runs a job 10 calls in a row, then sleeps a minute unless notified: wake it again.
            job._trigger()

    def _run_batch(self):
        """One batch of this (locked) job, all or nothing: its work and the job's progress commit together.

        A batch that raises is rolled back and its records are retried one by one, so the job stops at the
        record that fails, naming it, with the records before it done. Returns how many records were handled.
        """
        self.ensure_one()
        if self.state == "cancelling":
            return self._run_undo_batch()
        if self.state == "queued":
            self._set({"state": "running"}, None)
        if self.kind in FILE_KINDS:
            return self._run_file()
        prepare = getattr(self._worker(), f"_job_{self.kind}_prepare", None)
        if prepare and not (self.params or {}).get("prepared"):
            # its own call: a failure stops the step naming no record (_cron_run), and continuing prepares again
            with self._running():
                prepare(self._as_user())
            self._keep({"prepared": True})
            self._send_progress()
            return 0
        ids = self._items("todo", self._batch_size())
        if ids:
            worker = self._worker()
            try:
                with self.env.cr.savepoint(), self._running():
                    getattr(worker, f"_job_{self.kind}_batch")(self._as_user(), ids)
                    worker.env.flush_all()
                self._items_set_state(ids, "done")
                self._set({"done_count": self.done_count + len(ids)}, None)
                self._refresh_statistics()
            except Exception:  # any failure stops the job: the record is named, the rest kept
                _logger.info("A batch of job %s failed; finding the record that fails.", self.id, exc_info=True)
                self.env.invalidate_all()
                for res_id in ids:
                    if not self._run_one(worker, res_id):
                        return ids.index(res_id)
        if self.state == "running" and (self._settled() or not self._items("todo", 1)):
            with self._running():
                getattr(self._worker(), f"_job_{self.kind}_done")(self._as_user())
            self._set({"state": "done", "ended_on": fields.Datetime.now()}, "job_done", self._result_payload())
            self._tell("done")
        else:
            self._send_progress()
        return len(ids)

    def _run_one(self, worker, res_id):
        """Run one record alone: done, or the job stops on it. Whether it went through."""
        try:
            with self.env.cr.savepoint(), self._running():
                getattr(worker, f"_job_{self.kind}_batch")(self._as_user(), [res_id])
                worker.env.flush_all()
        except Exception as error:  # reported to the user, naming the record
            self.env.invalidate_all()
            _logger.warning("Job %s stopped on record %s.", self.id, res_id, exc_info=True)
            self._stop(res_id, error)
            return False
        self._items_set_state([res_id], "done")
        self._set({"done_count": self.done_count + 1}, None)
        return True

    def _run_file(self):
        """The whole file of a file step, in this call: its failure stops the step (``_cron_run``), naming no row."""
        ids = self._items("todo", 1)
        with self._running():
            getattr(self._worker(), f"_job_{self.kind}_batch")(self._as_user(), ids)
        self._items_set_state(ids, "done")
        self._set({"done_count": self.total, "state": "done", "ended_on": fields.Datetime.now()}, "job_done",
                  self._result_payload())
        self._tell("done")
        return self.total

    def _file_progress(self, rows):
        """Say how many rows of its file this file step wrote, while its one call runs.

        The cron's progress commits with the call; the form of the user who started the step hears it at once,
        through a transaction of its own that only sends the figures.
        """
        self.env["ir.cron"]._notify_progress(done=rows, remaining=max(self.total - rows, 0))
        job = self._in_user_lang()
        figures = job._figures(done=rows)
        payload = {
            "handover_id": job.handover_id.id, "res_model": job._target()._name, "res_id": job._target().id,
            "job_id": job.id, "state": job.state, "step": job._kind_label(),
            "text": job.env._("%(step)s: %(done)s of %(total)s (%(percent)s%%)", step=job._kind_label(), done=rows,
                              total=job.total, percent=int(figures["percent"])),
            **figures,
        }
        with self.env.registry.cursor() as cr:
            # The user's own channel (res.users._bus_channel), as _send_progress reaches it
            self.env(cr=cr)["bus.bus"]._sendone(self.user_id.partner_id, "customer_handover/job", payload)

    def _run_undo_batch(self):
        """One batch of undoing a cancelled step, newest records first; the step is cancelled once all are undone."""
        ids = self._items("done", self._batch_size(), newest_first=True)
        if ids:
            with self._running():
                getattr(self._worker(), f"_job_{self.kind}_undo")(self._as_user(), ids)
            self._items_set_state(ids, "undone")
            self._set({"done_count": max(self.done_count - len(ids), 0)}, None)
        if not self._items("done", 1):
            cancelled = getattr(self._worker(), f"_job_{self.kind}_cancelled", None)
            if cancelled:
                with self._running():
                    cancelled(self._as_user())
            self._set({"state": "cancelled", "ended_on": fields.Datetime.now()}, "job_cancelled")
            self._tell("cancelled")
        else:
            self._send_progress()
        return len(ids)

    # ------------------------------------------------------------------------------------------ helpers

    @contextmanager
    def _running(self):
        """The block does this job's own work: the lock on its handover does not refuse it."""
        token = _RUNNING.set(self.id)
        try:
            yield
        finally:
            _RUNNING.reset(token)

    def _keep(self, values):
        """Keep ``values`` in the job's parameters, for its next batches and its end: what a batch found (the
        state of a check carried from one batch to the next). Called by the job's own batches, in their
        transaction: a batch rolled back keeps nothing."""
        self._set({"params": {**(self.params or {}), **values}}, None)

    def _result_payload(self):
        """What the log's ``job_done`` entry says of the step's result, when the step kept one (``result``)."""
        result = (self.params or {}).get("result")
        return {"result": result} if result else {}

    def _settled(self):
        """Whether the step's outcome is known before its last record (a check that found a broken entry): it then
        ends at once, the records left being of no use to it."""
        return bool((self.params or {}).get("settled"))

    def _as_user(self):
        """This job in the environment of the user who started it, in the handover's company."""
        user = self.user_id
        return self.with_env(self.env(user=user.id, su=False, context={
            **self.env.context, "lang": user.lang, "allowed_company_ids": [self.company_id.id]}))

    def _in_user_lang(self):
        """This job as the system sees it, in the language of the user who started it: what the user is told."""
        return self.with_context(lang=self.user_id.lang)

    def _worker(self):
        return self._as_user().env[STEP_MODELS[self.kind][0]]

    def _items(self, state, limit, newest_first=False):
        """The ids of the next ``limit`` records in ``state``, in the order the job works on them.

        Batches take their records in order, and undoing takes them back newest first, so the records still to do
        come after the last one done or skipped, and those still to undo before the first one undone: each read
        starts there. Read from the end of the range, each batch would step over the index entries every batch
        before it left behind (an update leaves its old entry until vacuum), a cost growing with the job. When
        nothing is found past that point, the whole range is read: no record is ever left behind.
        """
        def edge(edge_state, order):  # the first (ASC) or last (DESC) record of the job in ``edge_state``
            return SQL("(SELECT id FROM customer_handover_job_item WHERE job_id = %s AND state = %s ORDER BY id %s "
                       "LIMIT 1)", self.id, edge_state, SQL(order))

        past = {
            ("todo", False): SQL("id > GREATEST(%s, %s)", edge("done", "DESC"), edge("skipped", "DESC")),
            ("done", True): SQL("id < %s", edge("undone", "ASC")),
        }.get((state, newest_first))
        for where in ([past] if past else []) + [SQL("TRUE")]:
            self.env.cr.execute(SQL(
                "SELECT res_id FROM customer_handover_job_item WHERE job_id = %s AND state = %s AND %s "
                "ORDER BY id %s LIMIT %s",
                self.id, state, where, SQL("DESC" if newest_first else "ASC"), limit,
            ))
            rows = self.env.cr.fetchall()
            if rows:
                break
        return [row[0] for row in rows]

    def _items_set_state(self, res_ids, state):
        self.env.cr.execute(SQL(
            "UPDATE customer_handover_job_item SET state = %s WHERE job_id = %s AND res_id = ANY(%s)",
            state, self.id, list(res_ids),
        ))

    def _set(self, values, event, payload=None):
        """Write the job's facts (the job's own methods only) and log ``event`` if given."""
        with evidence_step(self._name, *values):
            self.sudo().write(values)  # sudo: the job's facts are the system's, written by the job's own steps
        if event:
            self.env["customer.handover.event"]._append_for(
                self, event, {**self._target_payload(), "kind": self.kind, "total": self.total,
                              "done": self.done_count, "skipped": self.skipped_count, **(payload or {})},
                self.company_id,
            )

    def _lock(self):
        """Wait for the batch running on these jobs, if any, then hold them for this transaction."""
        self.flush_recordset()
        self.env.cr.execute(SQL("SELECT id FROM customer_handover_job WHERE id IN %s FOR NO KEY UPDATE",
                                tuple(self.ids)))
        self.invalidate_recordset()

    def _trigger(self):
        self.env.ref("customer_handover.ir_cron_handover_jobs")._trigger()

    def _check_may_decide(self):
        for job in self:
            if job.kind in LOG_KINDS:
                if not has_group_in_company(self.env, OFFICER, job.company_id):
                    raise AccessError(self.env._("Only a data-protection officer of %(company)s can continue or "
                                                 "cancel a step on its event log.", company=job.company_id.name))
                continue
            if job.kind in FINAL_KINDS:
                if not has_group_in_company(self.env, OFFICER, job.company_id):
                    raise AccessError(self.env._("Only a data-protection officer of %(company)s can continue or "
                                                 "retry a destruction.", company=job.company_id.name))
                continue
            if job.user_id != self.env.user and not self.env.user.has_group(MANAGER):
                raise AccessError(self.env._("Only the user who started %(step)s, or a handover manager, can "
                                             "continue or cancel it.", step=job._kind_label()))
            job._target().check_access("write")

    def _target(self):
        """The handover, or the incoming handover, the step works on (empty once a cancelled import removed it); the
        company, for a step on its event log; the import wizard, for a preview (empty once it went)."""
        if self.kind in LOG_KINDS:
            return self.company_id
        if self.kind in WIZARD_KINDS:
            return self.env["customer.handover.import"].browse((self.params or {}).get("wizard")).exists()
        return self.handover_id or self.incoming_id or self.destruction_request_id

    def _target_name(self):
        if self.kind in WIZARD_KINDS:
            return (self.params or {}).get("name", "")
        return self._target().name or (self.params or {}).get("name", "")

    def _target_payload(self):
        """What the log names the step's target by: its handover, or its incoming handover (kept once it is gone), or
        its company."""
        if self.kind in LOG_KINDS:
            return {"company": self.company_id.id}
        if self.kind in WIZARD_KINDS:
            return {"package": (self.params or {}).get("name", "")}
        if self.handover_id:
            return {"handover": self.handover_id.id}
        if self.destruction_request_id:
            return {"destruction_request": self.destruction_request_id.id}
        return {"incoming": self.incoming_id.id or (self.params or {}).get("incoming")}

    def _kind_label(self):
        return dict(self._fields["kind"]._description_selection(self.env)).get(self.kind, self.kind or "")

    def _figures(self, now=None, done=None):
        """Done, total, percentage and an estimate of the time left, from the pace since the step started.

        ``done``: the rows a file step wrote so far, when it is not its job's count.
        """
        done = self.done_count + self.skipped_count if done is None else done
        percent = min(round(100.0 * done / self.total, 1), 100.0) if self.total else 0.0
        time_left = ""
        if self.state in ("running", "cancelling") and done and self.started_on and done < self.total:
            elapsed = ((now or fields.Datetime.now()) - self.started_on).total_seconds()
            left = self.done_count if self.state == "cancelling" else self.total - done
            seconds = int(elapsed / done * left) + 1
            time_left = (self.env._("about %(minutes)s min left", minutes=seconds // 60 + 1) if seconds >= 60
                         else self.env._("about %(seconds)s s left", seconds=seconds))
        return {"done": done, "total": self.total, "percent": percent, "time_left": time_left}

    def _stop(self, res_id, error):
        """Stop the step on ``error``, on record ``res_id`` (0: past its records), and tell its user why."""
        values = {"state": "failed", "error": self._error_text(res_id, error), "failed_res_id": res_id}
        if self.state == "cancelling":
            values["params"] = {**(self.params or {}), "stopped_while": "cancelling"}
        self._set(values, "job_failed", {"record": res_id})
        self._tell("failed")

    def _error_text(self, res_id, error):
        """Why the step stopped, naming the record: the message of a refusal, never a database's internals."""
        job = self._in_user_lang()
        reason = error.args[0] if isinstance(error, (UserError, AccessError)) and error.args else job.env._(
            "an unexpected error; the server log holds the details")
        if not res_id:
            return reason
        namer = getattr(self._worker(), f"_job_{self.kind}_record_name", None)
        if namer:
            return job.env._("%(name)s: %(reason)s", name=namer(job, res_id), reason=reason)
        record = self.env[STEP_MODELS[self.kind][1]].browse(res_id).exists()
        # sudo: the name of the record the job stopped on, which its user put into the step
        name = record.sudo().display_name if record else f"#{res_id}"
        return job.env._("%(name)s: %(reason)s", name=name, reason=reason)

    def _progress_payload(self):
        job = self._in_user_lang()
        return {"handover_id": job.handover_id.id, "res_model": job._target()._name, "res_id": job._target().id,
                "job_id": job.id, "state": job.state, "step": job._kind_label(),
                "text": job.progress_text, **job._figures()}

    def _send_progress(self):
        """Tell the form of the user who started the step how far it got (sent once the batch commits)."""
        self.user_id._bus_send("customer_handover/job", self._progress_payload())

    def _tell(self, outcome):
        """Tell the user who started the step that it ended, and why if it failed; note it on the handover."""
        job = self._in_user_lang()
        env = job.env
        # a step may say its own result (a check: intact, or the first broken entry), in its user's language
        outcome_text = getattr(self._worker(), f"_job_{self.kind}_outcome", None)
        texts = {
            "done": outcome_text(job) if outcome_text and outcome == "done" else env._(
                "%(step)s of %(handover)s is done: %(count)s records.", step=job._kind_label(),
                handover=job._target_name(), count=job.done_count),
            "failed": env._("%(step)s of %(handover)s stopped on an error (%(error)s). Continue without that record, "
                            "or cancel the step, from the handover.", step=job._kind_label(),
                            handover=job._target_name(), error=job.error),
            "cancelled": env._("%(step)s of %(handover)s is cancelled: what it did is undone.",
                               step=job._kind_label(), handover=job._target_name()),
        }
        self.user_id._bus_send("simple_notification", {
            "title": job._kind_label(), "message": texts[outcome],
            "sticky": outcome == "failed" or bool(outcome == "done" and outcome_text),
            "type": {"done": "success", "failed": "danger", "cancelled": "warning"}[outcome],
        })
        self._send_progress()
        if outcome == "done" or not self._target() or self.kind in LOG_KINDS + WIZARD_KINDS + FINAL_KINDS:
            # the step notes its own result; a cancelled import leaves no incoming handover to note it on; a company
            # keeps no chatter: its officers are told, and its log records the step
            return
        # sudo: the system notes on the handover what its job did, whoever may read the handover now. The note's
        # subtype says what happened, in each reader's language (handover_notes); the body holds the error only.
        log_note(self._target().sudo(), f"mt_job_{outcome}", self.error if outcome == "failed" else "")


class CustomerHandoverJobProgressMixin(models.AbstractModel):
    """What a record shows of the background step running on it: the handover, the incoming handover, the import
    wizard. Each says which job is its own (``_active_jobs``) and when to look again (the depends of its
    ``_compute_active_job``)."""

    _name = "customer.handover.job.progress.mixin"
    _description = "Progress of a Background Step"

    active_job_id = fields.Many2one("customer.handover.job", string="Running Step", compute="_compute_active_job")
    active_job_state = fields.Selection(
        lambda self: self.env["customer.handover.job"]._fields["state"].selection, string="Running Step Status",
        compute="_compute_active_job")
    active_job_progress = fields.Float(string="Progress", compute="_compute_active_job")
    active_job_text = fields.Char(string="Running Step Progress", compute="_compute_active_job")
    active_job_time_left = fields.Char(string="Time Left", compute="_compute_active_job")
    active_job_error = fields.Text(string="Running Step Error", compute="_compute_active_job")

    def _compute_active_job(self):
        active = self._active_jobs()
        for record in self:
            job = active.get(record.id, self.env["customer.handover.job"])
            record.update({
                "active_job_id": job.id, "active_job_state": job.state, "active_job_progress": job.progress,
                "active_job_text": job.progress_text, "active_job_time_left": job.time_left,
                "active_job_error": job.error,
            })

    def _active_jobs(self):
        """{record id: the job active on it}."""
        raise NotImplementedError


class CustomerHandoverJobItem(models.Model):
    """One record a job works on, and whether it is done: written and read by the job's SQL only."""

    _name = "customer.handover.job.item"
    _description = "Record of a Background Step"
    _log_access = False

    job_id = fields.Many2one("customer.handover.job", required=True, ondelete="cascade")
    res_id = fields.Integer(string="Record", required=True)
    state = fields.Selection([("todo", "To do"), ("done", "Done"), ("skipped", "Skipped"), ("undone", "Undone")],
                             required=True, default="todo")

    def init(self):
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS customer_handover_job_item_next ON customer_handover_job_item "
            "(job_id, state, id)"
        ))
        # A batch marks its records by their ids: without this index, each batch reads every record of its job.
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS customer_handover_job_item_record ON customer_handover_job_item "
            "(job_id, res_id)"
        ))
