"""Background steps on OCA's queue_job, in a database where it is installed (scripts/test's queue_job stage).

The queue jobs are stored by queue_job itself and run as its job runner runs them (``Job.load``, started, performed,
done), in this test's transaction instead of one each.
"""

import math

from odoo.addons.customer_handover.models.customer_handover_job import BATCH_PARAM, THRESHOLD_PARAM
from odoo.addons.customer_handover.models.customer_handover_job_queue import IDENTITY_KEY
from odoo.tests import tagged

from ..with_odoo.common import HandoverCase

try:
    from odoo.addons.queue_job.job import Job
except ImportError:  # queue_job is not on the addons path: the module-level skip below says so
    Job = None

CUSTOMERS = 11
BATCH = 4


@tagged("post_install", "-at_install", "customer_handover_queue_job")
class TestStepsOnQueueJob(HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if "queue.job" not in cls.env:
            cls.skipTest(cls, "OCA queue_job is not installed in this database")
        cls.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 5)
        cls.env["ir.config_parameter"].set_param(BATCH_PARAM, BATCH)
        cls.receiver = cls.env["res.partner"].create({"name": "Receiver Co.", "is_company": True, "phone": "+86 21 1"})
        cls.customers = cls.env["res.partner"].create([{"name": f"Queued customer {i:02d}"} for i in range(CUSTOMERS)])
        cls.env["customer.consent"].create([
            {"partner_id": customer.id, "purpose_id": cls.purpose_service.id, "date_given": "2026-01-01"}
            for customer in cls.customers])
        cls.cron = cls.env.ref("customer_handover.ir_cron_handover_jobs")

    def _select(self):
        handover = self.env["customer.handover"].with_user(self.handover_user).create(
            {"receiver_id": self.receiver.id, "purpose_ids": [(6, 0, self.purpose_service.ids)]})
        self.env["customer.handover.scope"].with_user(self.handover_user).create(
            {"handover_id": handover.id, "partner_ids": [(6, 0, self.customers.ids)]}).action_confirm()
        return handover

    def _pending(self):
        return self.env["queue.job"].sudo().search(
            [("model_name", "=", "customer.handover.job"), ("state", "=", "pending")], order="id")

    def _run_queue(self):
        """Run the pending queue jobs as queue_job's runner does, until none is left; how many ran."""
        ran = 0
        for _round in range(50):
            pending = self._pending()
            if not pending:
                return ran
            for record in pending:
                job = Job.load(self.env, record.uuid)
                job.set_started()
                job.store()
                job.perform()
                self.env.flush_all()
                job.set_done()
                job.store()
                ran += 1
        raise AssertionError("the queue did not empty")

    def test_a_step_runs_as_queue_jobs_one_batch_each(self):
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", self.cron.id)])
        handover = self._select()
        step = handover.job_ids
        self.assertEqual((step.kind, step.state, step.total), ("scope", "queued", CUSTOMERS))
        queued = self._pending()
        self.assertEqual(len(queued), 1, "the start queues one batch")
        self.assertEqual((queued.method_name, queued.identity_key), ("_queue_job_batch", IDENTITY_KEY % step.id))
        self.assertEqual(queued.records, step)
        self.assertEqual(self.env["ir.cron.trigger"].search_count([("cron_id", "=", self.cron.id)]), triggers,
                         "with queue_job, the cron is not woken: it stays the safety net")
        self.assertFalse(handover.line_ids, "nothing is done inside the request")

        self.assertEqual(self._run_queue(), math.ceil(CUSTOMERS / BATCH), "one queue job per batch")
        self.assertEqual((step.state, step.done_count), ("done", CUSTOMERS))
        lines = handover.line_ids.filtered(lambda line: line.line_type == "customer")
        self.assertEqual(lines.partner_id, self.customers, "each customer once on the checklist")
        self.assertEqual(len(lines), CUSTOMERS)
        self.assertEqual(set(lines.mapped("create_uid")), {self.handover_user}, "the batches run as the user")
        done = self.env["queue.job"].sudo().search([("model_name", "=", "customer.handover.job")])
        self.assertEqual(set(done.mapped("state")), {"done"})

    def test_a_second_trigger_while_a_batch_waits_queues_nothing_more(self):
        step = self._select().job_ids
        step._trigger()
        step._trigger()
        self.assertEqual(len(self._pending()), 1, "one waiting batch per step, whatever calls it")

    def test_the_cron_and_the_queue_never_run_the_same_batch(self):
        handover = self._select()
        step = handover.job_ids
        self.env["customer.handover.job"]._cron_run()
        self.assertEqual(step.done_count, BATCH, "the cron, as a safety net, runs a batch")
        self.assertEqual(len(self._pending()), 1, "and hands the next one to the queue")
        self._run_queue()
        self.assertEqual((step.state, step.done_count), ("done", CUSTOMERS))
        lines = handover.line_ids.filtered(lambda line: line.line_type == "customer")
        self.assertEqual(len(lines), CUSTOMERS, "nothing twice")
        self.assertEqual(lines.partner_id, self.customers, "nothing skipped")

    def test_a_queue_job_on_an_ended_step_does_nothing(self):
        step = self._select().job_ids
        self._run_queue()
        self.assertEqual(step.state, "done")
        self.assertEqual(step._queue_job_batch(), "ended or running elsewhere")
        self.assertFalse(self._pending(), "an ended step queues nothing")
