"""Background steps on OCA's ``queue_job``, where it is installed: each batch becomes a job of its own.

Without ``queue_job`` (not a dependency), the cron runs the batches (``customer_handover_job``). With it, a step's
batches are queue jobs instead, which its job runner spreads over every Odoo server and worker that runs it, so the
steps of several handovers run side by side. Each queue job runs one batch of one step, exactly as a cron call does
(the same ``_run_batch``, the same row lock, one transaction), and queues the next batch while work is left. The cron
stays as the safety net: it still wakes every 10 minutes and runs what no queue job took (a queue job cancelled or
lost with its server), and the row lock keeps the two from ever running the same batch twice.
"""

import logging

from odoo import models
from odoo.tools import SQL

from .customer_handover_job import RUNNABLE_STATES

_logger = logging.getLogger(__name__)

# One queued batch per step at a time: a second enqueue while one waits is dropped by queue_job.
IDENTITY_KEY = "customer_handover.job.%s"


class CustomerHandoverJob(models.Model):
    _inherit = "customer.handover.job"

    def _queue_job_installed(self):
        """Whether OCA's ``queue_job`` is installed in this database (its ``with_delay`` is then on every model)."""
        return "queue.job" in self.env and hasattr(self, "with_delay")

    def _trigger(self):
        if not self or not self._queue_job_installed():
            super()._trigger()
            return
        for job in self:
            # sudo: the batch runs as the system, as the cron's does; it runs the step as the user who started it
            job.sudo().with_delay(
                identity_key=IDENTITY_KEY % job.id,
                description=self.env._("%(step)s of %(target)s", step=job._kind_label(), target=job._target_name()),
            )._queue_job_batch()

    def _queue_job_batch(self):
        """One batch of this step, as a queue job; queues the next one while work is left.

        The row lock is the cron's: a batch the cron runs right now is left to it (and it queues the next).
        """
        self.ensure_one()
        self.env.cr.execute(SQL(
            "SELECT id FROM customer_handover_job WHERE id = %s AND state IN %s FOR NO KEY UPDATE SKIP LOCKED",
            self.id, RUNNABLE_STATES,
        ))
        if not self.env.cr.fetchone():
            return "ended or running elsewhere"
        job = self.sudo()  # sudo: the system runs the job; its batch runs as the user who started it
        try:
            with self.env.cr.savepoint():
                done = job._run_batch()
        except Exception as error:  # a step that fails past its records (its end, its undo) stops, as in _cron_run
            self.env.invalidate_all()
            _logger.warning("Job %s stopped.", job.id, exc_info=True)
            job._stop(0, error)
            done = 0
        if job.state in RUNNABLE_STATES:
            job._trigger()
        return f"{done} records, {job.state}"
