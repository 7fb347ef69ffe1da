"""The in-database move of a large handover, and the daily retention job, in the background, batch by batch."""

import math
from datetime import date

from freezegun import freeze_time

from odoo.addons.customer_handover.models.customer_handover_job import BATCH_PARAM, THRESHOLD_PARAM
from odoo.addons.customer_handover.tools.retention import retention_status
from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from .common import RpcMixin
from .test_transfer_move import MoveCase


class Crash(Exception):
    """The process dies in the middle of a batch: nothing of that batch's transaction is kept."""


class MoveFixture(MoveCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].set_param(BATCH_PARAM, 4)
        cls.Job = cls.env["customer.handover.job"]

    def _large(self, count):
        """A signed handover of ``count`` customers, then the threshold lowered below it: completing goes to the
        background."""
        customers = self._customers(count)
        handover = self._signed(customers)
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 5)
        return customers, handover

    def _run(self):
        """Call the cron until no job is left to run; returns how many calls did work."""
        for calls in range(200):
            if not self.Job.search_count([("state", "in", ("queued", "running", "cancelling"))]):
                return calls
            self.Job._cron_run()
        raise AssertionError("the job did not end")

    def _crash_during_a_batch(self):
        self.env.flush_all()
        with self.assertRaises(Crash), self.env.cr.savepoint():
            self.Job._cron_run()
            self.env.flush_all()
            raise Crash
        self.env.invalidate_all()

    def _state_of(self, partners):
        """What a user sees of ``partners``: company, salesperson, evidence of a move, stamp, consents' company,
        followers and activities."""
        self.env.invalidate_all()
        return (
            [(p.company_id, p.user_id, p.moved_from_company_id, p.moved_on, p.handover_id) for p in partners],
            sorted(self.env["customer.consent"].search([("partner_id", "in", partners.ids)]).mapped("company_id.id")),
            sorted(self.env["mail.followers"].search(
                [("res_model", "=", "res.partner"), ("res_id", "in", partners.ids)]).mapped("partner_id.id")),
            sorted(self._activities(partners).mapped("user_id.id")),
        )


@tagged("post_install", "-at_install", "customer_handover_background", "is_query_count")
class TestBackgroundMove(MoveFixture):
    def test_a_small_move_runs_at_once_as_before(self):
        customers, handover = self._large(3)
        handover.with_user(self.manager).action_done()
        self.assertEqual(handover.state, "done")
        self.assertFalse(handover.job_ids)
        self.assertEqual(set(customers.mapped("company_id")), {self.company_b})

    def test_a_large_move_is_checked_in_batches_and_made_at_the_end(self):
        customers, handover = self._large(11)
        everyone = customers | customers.child_ids
        before = self._state_of(everyone)
        action = handover.with_user(self.manager).action_done()
        self.assertEqual(action["tag"], "display_notification")
        job = handover.job_ids
        self.assertEqual((job.kind, job.state, job.total), ("move", "queued", 11))
        self.assertEqual(handover.state, "signed", "the handover is done only at the end")
        with self.assertRaises(UserError) as caught:
            handover.with_user(self.manager).action_done()
        self.assertIn("Moving the customers", str(caught.exception), "a second start is refused, naming the step")
        with self.assertRaises(UserError):
            handover.with_user(self.manager)._cancel("Changed our minds")
        for _ in range(math.ceil(11 / 4) - 1):
            self.Job._cron_run()
            self.assertEqual(self._state_of(everyone), before, "nothing is visible before the last batch")
            self.assertEqual(handover.state, "signed")
        self.assertEqual(self._run(), 1, "the last batch checks its customers and makes the move")
        self.assertEqual((job.state, job.done_count), ("done", 11))
        self.assertEqual(handover.state, "done")
        self.assertEqual(set(everyone.mapped("company_id")), {self.company_b})
        self.assertEqual(set(everyone.mapped("user_id")), {self.user_b})
        self.assertEqual(set(customers.mapped("handover_id")), {handover})
        self.assertEqual(set(customers.consent_ids.mapped("company_id")), {self.company_b})
        self.assertEqual(set(self._activities(customers).mapped("user_id")), {self.user_b})
        self.assertEqual(self._followers(customers[0]).partner_id, self.follower | self.user_b.partner_id)
        self.assertEqual(len(self.env["customer.handover.package"].search(
            [("handover_id", "=", handover.id), ("kind", "=", "backup")])), 1, "the backup was kept")
        moved = self.env["customer.handover.event"].search([("event", "=", "customer_moved")])
        self.assertEqual(set(moved.mapped("company_id")), {self.company_a, self.company_b})

    def test_queries_per_batch_stay_constant(self):
        _customers, handover = self._large(90)
        handover.with_user(self.manager).action_done()
        counts = []
        for size in (5, 20):
            self.env["ir.config_parameter"].set_param(BATCH_PARAM, size)
            for warm in (True, True, False):  # a changed setting empties the caches of access rights and rules
                self.env.flush_all()
                self.env.invalidate_all()
                before = self.env.cr.sql_log_count
                self.Job._cron_run()
                self.env.flush_all()
                if not warm:
                    counts.append(self.env.cr.sql_log_count - before)
        self.assertEqual(handover.job_ids.done_count, 75)
        self.assertEqual(counts[0], counts[1], f"a batch's queries grew with its size: {counts}")

    def test_a_failure_half_way_leaves_everything_as_before_then_cancel(self):
        customers, handover = self._large(11)
        unmapped = self.env["customer.retention.policy"].create(
            {"name": "Shop records", "code": "shop_records_a", "company_id": self.company_a.id})
        customers[6].retention_policy_id = unmapped
        everyone = customers | customers.child_ids
        before = self._state_of(everyone)
        handover.with_user(self.manager).action_done()
        self._run()
        job = handover.job_ids
        self.assertEqual(job.state, "failed")
        self.assertEqual(job.failed_res_id, customers[6].id)
        self.assertIn(customers[6].name, job.error, "the failure names the customer")
        self.assertIn("Shop records", job.error, "and says why")
        self.assertEqual(job.done_count, 6, "the customers before it were checked")
        self.assertEqual(self._state_of(everyone), before, "nothing moved")
        self.assertEqual(handover.state, "signed")
        self.assertIn("Moving the customers", handover.active_job_text)

        job.with_user(self.manager).action_cancel()
        self._run()
        self.assertEqual(job.state, "cancelled")
        self.assertEqual(self._state_of(everyone), before, "a cancelled move leaves no trace")
        self.assertEqual(handover.state, "signed", "the handover may be completed again")

        self.env["customer.retention.policy"].create({"name": "Shop records", "code": "shop_records_a"})
        handover.with_user(self.manager).action_done()
        self._run()
        self.assertEqual(handover.state, "done")
        self.assertEqual(set(everyone.mapped("company_id")), {self.company_b})

    def test_continuing_without_a_customer_moves_the_rest_and_leaves_it(self):
        customers, handover = self._large(7)
        unmapped = self.env["customer.retention.policy"].create(
            {"name": "Shop records", "code": "shop_records_b", "company_id": self.company_a.id})
        customers[2].retention_policy_id = unmapped
        handover.with_user(self.manager).action_done()
        self._run()
        job = handover.job_ids
        self.assertEqual(job.state, "failed")
        job.with_user(self.manager).action_continue()
        self._run()
        self.assertEqual((job.state, job.done_count, job.skipped_count), ("done", 6, 1))
        self.assertEqual(handover.state, "done")
        self.assertEqual(customers[2].company_id, self.company_a, "the skipped customer stays")
        self.assertFalse(customers[2].handover_id)
        self.assertEqual(set((customers - customers[2]).mapped("company_id")), {self.company_b})

    def test_the_last_step_failing_moves_nothing(self):
        customers, handover = self._large(6)
        everyone = customers | customers.child_ids
        handover.with_user(self.manager).action_done()
        self.Job._cron_run()
        # After its batch checked it, a customer gains a contact that is a user's own: it cannot change company.
        late = self.env["res.partner"].create({"name": "Late contact", "parent_id": customers[0].id})
        self.env["res.users"].create({"login": "ch_late_user", "partner_id": late.id})
        everyone |= late
        before = self._state_of(everyone)
        self._run()
        job = handover.job_ids
        self.assertEqual((job.state, job.failed_res_id), ("failed", 0), "the last step failed, past the batches")
        self.assertIn("Late contact", job.error)
        self.assertEqual(self._state_of(everyone), before, "the move is all or nothing")
        self.assertEqual(handover.state, "signed")
        job.with_user(self.manager).action_cancel()
        self._run()
        self.assertEqual((job.state, handover.state), ("cancelled", "signed"))

    def test_a_crash_resumes_and_moves_each_partner_once(self):
        customers, handover = self._large(11)
        everyone = customers | customers.child_ids
        handover.with_user(self.manager).action_done()
        self.Job._cron_run()
        self._crash_during_a_batch()
        job = handover.job_ids
        self.assertEqual((job.state, job.done_count), ("running", 4), "the crashed batch left nothing")
        self.Job._cron_run()
        self._crash_during_a_batch()  # the last batch, which makes the move, crashes too
        self.assertEqual(handover.state, "signed")
        self.assertFalse(any(everyone.mapped("moved_on")))
        self._run()
        self.assertEqual((job.state, job.done_count, handover.state), ("done", 11, "done"))
        self.assertEqual(set(everyone.mapped("company_id")), {self.company_b})
        self.assertEqual(set(everyone.mapped("moved_from_company_id")), {self.company_a},
                         "moved once: a second move would record company B as where they came from")
        self.assertEqual(set(everyone.mapped("moved_from_user_id")), {self.seller_a})
        moved = self.env["customer.handover.event"].search([("event", "=", "customer_moved")])
        self.assertEqual(len(moved), 2, "one entry per company's log, once")

    def test_a_running_move_may_be_cancelled(self):
        customers, handover = self._large(11)
        everyone = customers | customers.child_ids
        before = self._state_of(everyone)
        handover.with_user(self.manager).action_done()
        self.Job._cron_run()
        job = handover.job_ids
        handover.with_user(self.manager).action_job_cancel()
        self._run()
        self.assertEqual(job.state, "cancelled")
        self.assertEqual(self._state_of(everyone), before)
        self.assertEqual(handover.state, "signed")
        self.assertFalse(handover.active_job_id)


@tagged("post_install", "-at_install", "customer_handover_background", "customer_handover_hostile")
class TestBackgroundMoveAccess(RpcMixin, MoveFixture, HttpCase):
    def test_restricted_users_are_refused_over_json_rpc(self):
        customers, handover = self._large(6)
        for login in (self.handover_user.login, self.employee.login, self.user_b.login):
            with self.subTest(user=login):
                answer = self._call(login, "customer.handover", "action_done", [handover.ids])
                self.assertIn("error", answer, f"{login} completed the handover")
        self.assertFalse(handover.job_ids, "no step was started")
        for login in (self.handover_user.login, self.manager.login):
            answer = self._call(login, "customer.handover", "_job_move_done", [handover.ids])
            self.assertIn("error", answer, f"{login} called a private method")
        answer = self._call(self.manager.login, "customer.handover", "action_done", [handover.ids])
        self.assertNotIn("error", answer, answer.get("error"))
        job = handover.job_ids
        self.assertEqual(job.kind, "move")
        for login in (self.handover_user.login, self.employee.login, self.user_b.login):
            with self.subTest(user=login):
                answer = self._call(login, "customer.handover.job", "action_cancel", [job.ids])
                self.assertIn("error", answer, f"{login} cancelled the move")
                answer = self._call(login, "customer.handover.job", "write", [job.ids, {"state": "done"}])
                self.assertIn("error", answer)
        self.env.invalidate_all()
        self.assertEqual(job.state, "queued")
        self.assertEqual(set(customers.mapped("company_id")), {self.company_a})


@tagged("post_install", "-at_install", "customer_handover_background", "is_query_count")
class TestRetentionInBatches(MoveFixture):
    def _stale(self, count):
        policy = self.env["customer.retention.policy"].create(
            {"name": "One year", "period": 1, "period_unit": "year", "period_start": "relationship_end"})
        with freeze_time("2026-01-01"):
            partners = self.env["res.partner"].create([
                {"name": f"Retained {i}", "relationship_stage": "former", "retention_policy_id": policy.id,
                 "relationship_end_date": f"2026-{1 + i % 6:02d}-{1 + i % 28:02d}"} for i in range(count)])
        self.env.flush_all()
        return partners

    def test_n_partners_in_ceil_n_over_b_calls_with_the_same_result(self):
        with freeze_time("2027-06-01"):
            while self.env["res.partner"]._cron_update_retention_status(batch_size=500):
                pass  # every other record up to date first
        partners = self._stale(23)
        with freeze_time("2027-06-01"):
            days = self.env["res.partner"]._retention_due_soon_days()
            expected = [retention_status(end, date(2027, 6, 1), days) for end in partners.mapped("retention_end_date")]
            cron = self.env.ref("customer_handover.ir_cron_update_retention_status")
            calls, counts, sizes = 0, [], []
            while True:
                self.env.flush_all()
                self.env.invalidate_all()
                before = self.env.cr.sql_log_count
                done = self.env["res.partner"]._cron_update_retention_status(batch_size=5)
                counts.append(self.env.cr.sql_log_count - before)
                if not done:
                    break
                calls += 1
                sizes.append(done)
        self.assertEqual(calls, math.ceil(23 / 5))
        self.assertEqual(sizes, [5, 5, 5, 5, 3], "one bounded batch per call")
        self.assertEqual(len(set(counts[1:3])), 1, f"queries per batch stay constant: {counts}")
        self.env.invalidate_all()
        self.assertEqual(partners.mapped("retention_status"), expected, "the same result as all at once")
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]),
                        "while records are left, the job triggers itself again")

    def test_each_call_reports_its_progress_to_the_cron(self):
        with freeze_time("2027-06-01"):
            while self.env["res.partner"]._cron_update_retention_status(batch_size=500):
                pass
        self._stale(7)
        cron = self.env.ref("customer_handover.ir_cron_update_retention_status")
        figures = []
        with freeze_time("2027-06-01"):
            for _ in range(3):
                progress = self.env["ir.cron.progress"].create({"cron_id": cron.id})
                self.env["res.partner"].with_context(ir_cron_progress_id=progress.id)._cron_update_retention_status(
                    batch_size=3)
                figures.append((progress.done, progress.remaining))
        self.assertEqual(figures, [(3, 4), (3, 1), (1, 0)])

