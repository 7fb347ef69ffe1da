"""The event log's check and signed export in the background: batches, resume, lock, result, access."""

import io
import json
import math
from unittest.mock import patch

import psycopg2
from openpyxl import load_workbook

from odoo.addons.customer_handover.models.customer_handover_job import BATCH_PARAM, THRESHOLD_PARAM
from odoo.addons.customer_handover.tools import checklist as ck
from odoo.addons.customer_handover.tools.checklist_verify import verify
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged
from odoo.tools import SQL, mute_logger

from .common import RpcMixin
from .test_background_files import Kill
from .test_background_steps import JobFixture


class LogJobFixture(JobFixture):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].set_param(BATCH_PARAM, 10)
        cls.company_a.with_user(cls.officer).action_handover_create_signing_key()
        cls.Event = cls.env["customer.handover.event"]
        cls.Event._append([{"company_id": cls.company_a.id, "event": "consent_recorded", "res_model": "res.partner",
                            "res_id": number, "payload": {"n": number}} for number in range(1, 31)])
        cls.Event._chain_pending()

    def _chain(self):
        """The company's chained entries, in the chain's order (a TransactionCase never commits: chain them)."""
        self.Event._chain_pending()
        return self.Event.search([("company_id", "=", self.company_a.id), ("sequence", "!=", False)],
                                 order="sequence")

    def _wizard(self, user=None):
        return self.env["customer.handover.event.check"].with_user(user or self.officer).create(
            {"company_id": self.company_a.id})

    def _log_job(self, kind):
        return self.env["customer.handover.job"].search([("kind", "=", kind)], order="id desc", limit=1)

    def _notifications(self, kind):
        return [message for message in self._bus("simple_notification") if message["type"] == kind]


@tagged("post_install", "-at_install", "customer_handover_background", "is_query_count")
class TestBackgroundLogCheck(LogJobFixture):
    def test_a_small_log_is_checked_at_once_as_before(self):
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 2000)
        wizard = self._wizard()
        action = wizard.action_check()
        self.assertEqual(action["type"], "ir.actions.act_window")
        self.assertFalse(self._log_job("log_check"), "a small log waits for no background")
        self.assertEqual(wizard.status, "intact")
        self.assertIn(f"{len(self._chain())} entries", wizard.summary)

    def test_a_large_valid_log_is_checked_in_batches_and_its_result_shown_and_logged(self):
        chained = self._chain()
        wizard = self._wizard()
        action = wizard.action_check()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["next"]["res_id"], wizard.id, "the dialog comes back to follow it")
        job = wizard.job_id
        self.assertEqual((job.kind, job.company_id, job.total), ("log_check", self.company_a, len(chained)))
        self.assertFalse(job.handover_id or job.incoming_id, "the log's step belongs to the company alone")
        self.assertEqual(wizard.active_job_id, job, "the dialog follows the step")
        self.assertFalse(wizard.status, "no result before the step ends")
        self.assertEqual(self._run(), math.ceil(len(chained) / 10), "one batch of 10 entries per call")
        self.assertEqual((job.state, job.done_count), ("done", len(chained)))
        wizard.invalidate_recordset()
        self.assertEqual(wizard.status, "intact")
        self.assertIn(f"{len(chained)} entries", wizard.summary)
        self.assertIn("the chain is intact", wizard.summary)
        self.assertFalse(wizard.active_job_id)
        later = self._wizard()
        self.assertEqual(later.status, "intact", "a dialog opened afterwards shows the last check")
        self.assertIn("The last check, started by", later.summary)
        done = self._notifications("success")[-1]
        self.assertIn("the chain is intact", done["message"], "the officer is told the result")
        self.assertTrue(done["sticky"])
        entry = self._events("job_done", company=self.company_a.id)[-1]
        result = json.loads(entry.payload)["result"]
        self.assertEqual((result["count"], result["problem"]), (len(chained), None), "the log records the result")

    def test_a_chain_tampered_in_sql_names_its_first_broken_entry_and_ends_there(self):
        chained = self._chain()
        victim = chained[14]
        self.env.flush_all()
        self.env.cr.execute(SQL("UPDATE customer_handover_event SET payload = %s WHERE id = %s", '{"n":0}',
                                victim.id))
        self.env.invalidate_all()
        wizard = self._wizard()
        wizard.action_check()
        job = wizard.job_id
        self.assertEqual(self._run(), 2, "the check ends with the batch that holds the broken entry")
        self.assertEqual((job.state, job.done_count), ("done", 20))
        wizard.invalidate_recordset()
        self.assertEqual(wizard.status, "broken")
        self.assertIn(f"Entry {victim.sequence} was changed after it was logged.", wizard.summary)
        self.assertIn(f"Entry {victim.sequence} was changed", self._notifications("success")[-1]["message"])
        result = json.loads(self._events("job_done", company=self.company_a.id)[-1].payload)["result"]
        self.assertEqual(result["problem"], [victim.sequence, "changed", ""])
        self.assertEqual(result["count"], 14, "the entries before it hold")
        # the check at once finds the same
        _checker, problem = self.Event.with_user(self.officer)._check_chain(self.company_a)
        self.assertEqual((problem.sequence, problem.code), (victim.sequence, "changed"))

    def test_an_entry_removed_in_sql_while_the_check_runs_is_named(self):
        chained = self._chain()
        self._wizard().action_check()
        job = self._log_job("log_check")
        removed, following = chained[25].sequence, chained[26].sequence
        self.env["customer.handover.job"]._cron_run()
        self.env.flush_all()
        self.env.cr.execute(SQL("DELETE FROM customer_handover_event WHERE id = %s", chained[25].id))
        self._run()
        self.assertEqual(job.params["result"]["problem"], [removed, "missing", str(following)])

    def test_a_crash_in_the_middle_resumes_where_it_stopped(self):
        chained = self._chain()
        self._wizard().action_check()
        job = self._log_job("log_check")
        self.env["customer.handover.job"]._cron_run()
        self.assertEqual((job.done_count, job.params["checker"]["count"]), (10, 10))
        self._crash_during_a_batch()
        self.assertEqual((job.done_count, job.params["checker"]["count"]), (10, 10),
                         "the killed batch's checking went with its progress")
        self._run()
        self.assertEqual(job.done_count, len(chained))
        self.assertEqual(job.params["result"]["count"], len(chained), "each entry checked once, none skipped")
        self.assertIsNone(job.params["result"]["problem"])

    def test_a_batch_that_raises_stops_the_check_naming_the_entry_then_goes_on(self):
        chained = self._chain()
        self._wizard().action_check()
        job = self._log_job("log_check")
        feed = type(self.Event)._feed_entries
        failing = chained[12].id

        def feed_or_fail(log, checker, ids):
            if failing in ids:
                raise UserError("the disk went away")
            return feed(log, checker, ids)

        with patch.object(type(self.Event), "_feed_entries", feed_or_fail), mute_logger(
                "odoo.addons.customer_handover.models.customer_handover_job"):
            self._run()
        self.assertEqual((job.state, job.done_count, job.failed_res_id), ("failed", 12, failing))
        self.assertIn(f"{chained[12].sequence}: the disk went away", job.error)
        self.assertEqual(job.params["checker"]["count"], 12, "the entries before it were checked, once")
        with self.assertRaises(AccessError):
            job.with_user(self.manager).action_continue()
        self._wizard().action_job_continue()
        self._run()
        # the entry skipped leaves a gap the check sees: nothing is passed over silently
        self.assertEqual(job.params["result"]["problem"][:2], [chained[12].sequence, "missing"])

    def test_one_step_on_the_log_at_a_time(self):
        wizard = self._wizard()
        wizard.action_check()
        busy = "is busy: Checking the event log runs in the background"
        with self.assertRaisesRegex(UserError, busy):
            self._wizard().action_check()
        with self.assertRaisesRegex(UserError, busy):
            self._wizard().action_export()
        self.env.flush_all()
        with mute_logger("odoo.sql_db"), self.assertRaises(psycopg2.errors.UniqueViolation), \
                self.env.cr.savepoint():
            self.env.cr.execute(SQL(
                "INSERT INTO customer_handover_job (company_id, kind, state) VALUES (%s, 'log_export', 'queued')",
                self.company_a.id))
        self._run()
        self._wizard().action_check()  # once it ended, the next may start

    def test_a_second_request_starting_a_step_on_the_log_is_refused_at_once(self):
        connection = psycopg2.connect(dbname=self.env.cr.dbname)
        try:
            with connection.cursor() as other:
                other.execute("BEGIN; SELECT pg_advisory_xact_lock(%s, %s)", (0x43484A42, self.company_a.id))
                with self.assertRaisesRegex(UserError, "is starting right now"):
                    self._wizard().action_check()
        finally:
            connection.rollback()
            connection.close()

    def test_queries_per_batch_stay_constant(self):
        self.Event._append([{"company_id": self.company_a.id, "event": "consent_recorded", "res_model": "res.partner",
                             "res_id": number, "payload": {"n": number}} for number in range(200)])
        self._chain()
        self._wizard().action_check()
        counts = self._measure_batches(pinned=25)
        self.assertEqual(counts[0], counts[1], f"queries grew with the batch: {counts}")

    def test_the_progress_is_sent_to_the_dialog(self):
        chained = self._chain()
        wizard = self._wizard()
        wizard.action_check()
        self.env["customer.handover.job"]._cron_run()
        sent = self._bus("customer_handover/job")[-1]
        self.assertEqual((sent["job_id"], sent["done"], sent["total"]), (wizard.job_id.id, 10, len(chained)))
        self.assertEqual((sent["res_model"], sent["res_id"]), ("res.company", self.company_a.id))
        self.assertEqual(wizard.active_job_text, f"Checking the event log: 10 of {len(chained)} "
                                                 f"({int(round(1000 / len(chained), 1))}%)")
        arch = wizard.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('widget name="customer_handover_job_progress"', arch)

    def test_a_cancelled_check_ends_and_keeps_no_result(self):
        wizard = self._wizard()
        wizard.action_check()
        self.env["customer.handover.job"]._cron_run()
        wizard.action_job_cancel()
        self._run()
        self.assertEqual(wizard.job_id.state, "cancelled")
        wizard.invalidate_recordset()
        self.assertFalse(wizard.status)


@tagged("post_install", "-at_install", "customer_handover_background")
class TestBackgroundLogExport(LogJobFixture, HttpCase):
    """In the test mode of HttpCase, the transaction the export opens to send its progress is the test's own."""

    def _rows(self, attachment):
        data = self.Event.with_user(self.officer)._download_log_export(attachment.id).raw
        workbook = load_workbook(io.BytesIO(data), read_only=True)
        try:
            return data, [row[:11] for row in workbook.worksheets[1].iter_rows(min_row=2, values_only=True)]
        finally:
            workbook.close()

    def _verified(self, data):
        fingerprint = self.company_a.with_user(self.officer).handover_certificate_fingerprint
        return verify(data, trusted={ck.normalise_fingerprint(fingerprint)})

    def test_the_export_in_the_background_equals_the_export_at_once(self):
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 2000)
        wizard = self._wizard()
        self.assertEqual(wizard.action_export()["type"], "ir.actions.act_url", "a small log is exported at once")
        at_once, at_once_rows = self._rows(wizard.attachment_id)
        count = len(self._chain())

        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 5)
        wizard = self._wizard()
        action = wizard.action_export()
        self.assertEqual(action["tag"], "display_notification")
        job = wizard.job_id
        self.assertEqual((job.kind, job.total), ("log_export", count))
        self.assertFalse(wizard.export_ready)
        self.assertEqual(self._run(), 1, "one call writes the whole file")
        self.assertEqual(job.state, "done", job.error)
        wizard.invalidate_recordset()
        self.assertTrue(wizard.export_ready)
        self.assertEqual(wizard.action_download()["url"], f"/customer_handover/log/{wizard.attachment_id.id}/download")
        background, rows = self._rows(wizard.attachment_id)
        for data in (at_once, background):
            result = self._verified(data)
            self.assertEqual(result.status, "valid", [finding.message for finding in result.findings])
        self.assertEqual(rows[:len(at_once_rows)], at_once_rows, "the same entries, the same cells")
        self.assertEqual([row[4] for row in rows[len(at_once_rows):]],
                         ["chain_sealed", "log_exported", "log_downloaded"],
                         "and the entries chained since: the first export's seal, entry and download")
        self.assertEqual(len(rows), count)
        exported = self._events("log_exported")
        self.assertEqual(exported[-1].res_id, wizard.attachment_id.id, "the export is logged as at once")

    def test_a_crash_in_the_middle_of_the_file_keeps_nothing_and_a_rerun_makes_one(self):
        self._wizard().action_export()
        job = self._log_job("log_export")
        exports = len(self._events("log_exported"))
        progress = type(job)._file_progress

        def progress_then_kill(self_job, rows):
            progress(self_job, rows)
            raise Kill

        self.env.flush_all()
        with patch.object(type(job), "_file_progress", progress_then_kill), self.assertRaises(Kill), \
                self.env.cr.savepoint():
            self.env["customer.handover.job"]._cron_run()
        self.env.invalidate_all()
        self.assertEqual(job.state, "queued", "the killed call kept nothing, the step waits")
        self.assertEqual(len(self._events("log_exported")), exports, "no export was kept")
        self._run()
        self.assertEqual(len(self._events("log_exported")), exports + 1, "the rerun made exactly one")
        self.assertEqual(self.env["ir.attachment"].sudo().search_count(
            [("res_model", "=", "res.company"), ("res_id", "=", self.company_a.id),
             ("name", "like", "event-log-")]), 1)

    def test_export_progress_is_reported_as_the_rows_are_written(self):
        self._wizard().action_export()
        job = self._log_job("log_export")
        seen = []
        progress = type(job)._file_progress

        def record(self_job, rows):
            seen.append(rows)
            return progress(self_job, rows)

        with patch.object(type(job), "_file_progress", record):
            self._run()
        self.assertGreaterEqual(len(seen), 3)
        self.assertEqual(seen, list(range(10, 10 * len(seen) + 1, 10)), "every 10 rows, the batch size")


@tagged("post_install", "-at_install", "customer_handover_background")
class TestBackgroundLogAccess(RpcMixin, LogJobFixture, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["customer.handover.event.check"].with_user(cls.officer).create(
            {"company_id": cls.company_a.id}).action_check()
        cls.job = cls.env["customer.handover.job"].search([("kind", "=", "log_check")])
        cls.Job = cls.env["customer.handover.job"]

    def test_a_non_officer_starts_no_step_on_the_log_and_reads_none(self):
        for user in (self.handover_user, self.manager, self.user_b):
            with self.subTest(user=user.login):
                with self.assertRaises(AccessError):
                    self.Event.with_user(user)._check_in_background(self.company_a)
                with self.assertRaises(AccessError):
                    self.Event.with_user(user)._export_in_background(self.company_a)
                with self.assertRaises(AccessError):
                    self._wizard(user)
                self.assertFalse(self.Job.with_user(user).search([("kind", "in", ("log_check", "log_export"))]))
                with self.assertRaises(AccessError):
                    self.job.with_user(user).read(["params"])
                with self.assertRaises(AccessError):
                    self.job.with_user(user).action_cancel()
        self.assertEqual(self.Job.with_user(self.officer).search([("kind", "=", "log_check")]), self.job)

    def test_over_json_rpc(self):
        self._run()
        self.assertTrue(self.job.params["result"])
        for login in ("ch_user", "ch_manager"):
            with self.subTest(user=login):
                answer = self._call(login, "customer.handover.job", "search_read",
                                    [[("kind", "=", "log_check")], ["params", "state"]])
                self.assertEqual(answer.get("result"), [], f"{login} read a check of the log: {answer}")
                self._refused(login, "customer.handover.job", "read", [self.job.ids, ["params"]])
                self._refused(login, "customer.handover.event.check", "create", [{}])
                answer = self._call(login, "customer.handover.event", "_check_in_background", [self.company_a.id])
                self.assertIn("error", answer)
        answer = self._call("ch_officer", "customer.handover.job", "search_read",
                            [[("kind", "=", "log_check")], ["state"]])
        self.assertEqual(answer["result"], [{"id": self.job.id, "state": "done"}])
