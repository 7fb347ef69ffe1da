"""Background steps: building the checklist and batch verification, batch by batch, resumable, locked, visible."""

import json
import math
from contextlib import nullcontext
from datetime import timedelta

import psycopg2

from odoo import fields
from odoo.addons.customer_handover.models.customer_handover_job import BATCH_PARAM, THRESHOLD_PARAM
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import SQL, html2plaintext, mute_logger

from .common import HandoverCase, RpcMixin, note_text
from .test_handover import SIGNATURE


class Crash(Exception):
    """The process dies in the middle of a batch: nothing of that batch's transaction is kept."""


class JobFixture(HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 5)
        cls.env["ir.config_parameter"].set_param(BATCH_PARAM, 4)
        cls.receiver = cls.env["res.partner"].create({"name": "Receiver Co.", "is_company": True, "phone": "+86 21 1"})
        cls.domain = cls.env["customer.business.domain"].create({"name": "Background test domain"})
        cls.customers = cls._customers(11)
        cls.other_user = cls._new_user("ch_user_2", "customer_handover.group_handover_user")

    @classmethod
    def _customers(cls, count, consent=True):
        customers = cls.env["res.partner"].create(
            [{"name": f"Background customer {i:03d}", "business_domain_ids": [(6, 0, cls.domain.ids)]}
             for i in range(count)])
        if consent:
            cls.env["customer.consent"].create(
                [{"partner_id": customer.id, "purpose_id": cls.purpose_service.id, "date_given": "2026-01-01"}
                 for customer in customers])
        return customers

    def _handover(self):
        return self.env["customer.handover"].with_user(self.handover_user).create(
            {"receiver_id": self.receiver.id, "purpose_ids": [(6, 0, self.purpose_service.ids)]})

    def _select(self, handover, customers, user=None):
        """Select ``customers`` for ``handover`` as ``user`` would in the wizard; returns the action."""
        wizard = self.env["customer.handover.scope"].with_user(user or self.handover_user).create(
            {"handover_id": handover.id, "partner_ids": [(6, 0, customers.ids)]})
        return wizard.action_confirm()

    def _run(self):
        """Call the cron until no job is left to run; returns how many calls did work."""
        Job = self.env["customer.handover.job"]
        for calls in range(100):
            if not Job.search_count([("state", "in", ("queued", "running", "cancelling"))]):
                return calls
            Job._cron_run()
        raise AssertionError("the job did not end")

    def _measure_batches(self, pinned=None):
        """Queries of one batch of 5 then one of 20, each after two warm-up batches of its size (a changed setting
        empties the caches of access rights and rules)."""
        counts = []
        for size in (5, 20):
            self.env["ir.config_parameter"].set_param(BATCH_PARAM, size)
            for warm in (True, True, False):
                self.env.flush_all()
                self.env.invalidate_all()
                before = self.env.cr.sql_log_count
                with nullcontext() if warm or pinned is None else self.assertQueryCount(pinned, flush=False):
                    self.env["customer.handover.job"]._cron_run()
                    self.env.flush_all()
                if not warm:
                    counts.append(self.env.cr.sql_log_count - before)
        return counts

    def _crash_during_a_batch(self):
        """One cron call whose process is killed before it commits: its work and its progress vanish together."""
        self.env.flush_all()
        with self.assertRaises(Crash), self.env.cr.savepoint():
            self.env["customer.handover.job"]._cron_run()
            self.env.flush_all()
            raise Crash
        self.env.invalidate_all()

    def _events(self, event, **payload):
        entries = self.env["customer.handover.event"].search([("event", "=", event)], order="id")
        return entries.filtered(lambda entry: all(json.loads(entry.payload).get(key) == value
                                                  for key, value in payload.items()))

    def _logged_records(self, event, handover):
        """Every record id the log names for ``event`` on ``handover``, repeats included."""
        ids = []
        for entry in self._events(event, handover=handover.id):
            ids.extend(json.loads(entry.payload).get("records") or [entry.res_id])
        return ids

    def _start(self, handover):
        handover.with_user(self.handover_user).write(
            {"nda_reference": "NDA-2026-01", "nda_date": "2026-11-01", "nda_document": SIGNATURE,
             "nda_filename": "nda.pdf"})
        handover.with_user(self.manager).action_confirm()
        handover.with_user(self.manager).action_start()

    def _customer_lines(self, handover):
        return handover.line_ids.filtered(lambda line: line.line_type == "customer")

    def _bus(self, notification_type):
        """The payloads of ``notification_type`` this transaction sends on the bus, in order, when it commits.

        A batch's savepoint already wrote its notifications to the bus's table; the last ones wait in the cursor.
        """
        stored = self.env["bus.bus"].sudo().search([], order="id").mapped("message")
        waiting = [value["message"] for value in self.env.cr.precommit.data.get("bus.bus.values", [])]
        messages = [json.loads(message) for message in stored + waiting]
        return [message["payload"] for message in messages if message["type"] == notification_type]


@tagged("post_install", "-at_install", "customer_handover_background", "is_query_count")
class TestBackgroundChecklist(JobFixture):
    def test_a_small_selection_runs_at_once_as_before(self):
        handover = self._handover()
        action = self._select(handover, self.customers[:5])
        self.assertEqual(action["type"], "ir.actions.act_window_close")
        self.assertFalse(handover.job_ids, "five customers do not wait for the background")
        self.assertEqual(self._customer_lines(handover).partner_id, self.customers[:5])

    def test_the_threshold_is_a_setting(self):
        self.assertEqual(self.env["customer.handover.job"]._threshold(), 5)
        settings = self.env["res.config.settings"].create({"handover_background_threshold": 2000})
        settings.execute()
        self.assertEqual(self.env["ir.config_parameter"].get_param(THRESHOLD_PARAM), "2000")
        self.env["ir.config_parameter"].search([("key", "=", THRESHOLD_PARAM)]).unlink()
        self.assertEqual(self.env["customer.handover.job"]._threshold(), 2000, "2,000 lines by default")

    def test_a_large_selection_runs_in_batches_in_the_background(self):
        handover = self._handover()
        no_consent = self._customers(1, consent=False)
        elsewhere = self.customers[7]
        self._select(self._handover(), elsewhere)  # on another open handover's checklist already
        cron = self.env.ref("customer_handover.ir_cron_handover_jobs")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        action = self._select(handover, self.customers | no_consent)
        self.assertEqual(action["params"]["next"]["tag"], "soft_reload")
        job = handover.job_ids
        self.assertEqual((job.kind, job.state, job.total, job.done_count, job.user_id),
                         ("scope", "queued", 12, 0, self.handover_user))
        self.assertFalse(handover.line_ids, "nothing is added inside the request")
        self.assertGreater(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers,
                           "the cron is triggered at once")
        self.assertEqual(self._events("job_started", handover=handover.id).res_id, job.id)

        calls = self._run()
        self.assertEqual(calls, math.ceil(12 / 4), "one bounded batch per call")
        self.assertEqual((job.state, job.done_count), ("done", 12))
        lines = self._customer_lines(handover)
        self.assertEqual(len(lines), 12)
        self.assertEqual(lines.partner_id, self.customers | no_consent, "each customer once on the checklist")
        self.assertEqual(set(lines.mapped("scope_run")), {1})
        self.assertEqual(lines.filtered("excluded").partner_id, no_consent | elsewhere,
                         "eligibility is checked per batch")
        self.assertEqual(lines.filtered(lambda line: line.partner_id == elsewhere).public_reasons, "other_handover")
        self.assertEqual(set(lines.mapped("create_uid")), {self.handover_user}, "the batches run as the user")
        self.assertEqual(len(self._events("lines_added", handover=handover.id)), 3)
        self.assertEqual(self._events("job_done", handover=handover.id).user_id, self.env.user,
                         "the system ends the job")
        note = note_text(handover.message_ids[0])
        self.assertEqual(handover.message_ids[0].subtype_id, self.env.ref("customer_handover.mt_customers_selected"))
        self.assertIn("0 → 12", note, "the note counts the lines the job added")
        self.assertIn("0 → 2", note, "and the ineligible ones")
        done = [message for message in self._bus("simple_notification") if message["type"] == "success"]
        self.assertTrue(done and "is done: 12 records" in done[-1]["message"], "the user is told it ended")
        self.assertFalse(handover.active_job_id)
        self.assertEqual(handover.scope_run_count, 1)

    def test_a_batch_finds_the_reasons_the_whole_selection_finds(self):
        """A batch reads its own customers' consents and lines through their index; the preview reads the whole
        selection with semi-joins. Both must say the same of every customer."""
        transfer = self.env.ref("customer_handover.consent_purpose_handover")
        handover = self._handover()
        handover.purpose_ids = [(4, self.purpose_marketing.id)]
        customers = self._customers(8)  # each with the service consent
        both, one, withdrawn, other_company, agreed, not_agreed, elsewhere, held = customers
        Consent = self.env["customer.consent"]
        Consent.create([{"partner_id": customer.id, "purpose_id": self.purpose_marketing.id,
                         "date_given": "2026-01-01"} for customer in customers - one - other_company])
        Consent.create({"partner_id": other_company.id, "purpose_id": self.purpose_marketing.id,
                        "date_given": "2026-01-01", "company_id": self.company_b.id})
        Consent.search([("partner_id", "=", withdrawn.id), ("purpose_id", "=", self.purpose_marketing.id)]
                       ).action_withdraw()
        (agreed | not_agreed).data_sensitivity = "sensitive"
        Consent.create({"partner_id": agreed.id, "purpose_id": transfer.id, "date_given": "2026-01-01"})
        held.write({"legal_hold": True, "legal_hold_reason": "Court order"})
        self._select(self._handover(), elsewhere)
        # on the checklist of a handover cancelled since: not in another open handover
        closed = self._handover()
        self._select(closed, both)
        closed.with_user(self.manager)._cancel("The receiver withdrew")

        wizard = self.env["customer.handover.scope"].with_user(self.handover_user).create(
            {"handover_id": handover.id, "partner_ids": [(6, 0, customers.ids)]})
        whole = wizard._ineligible_ids()
        batch = wizard._ineligible_ids(partner_ids=customers.ids)
        self.assertEqual(batch, whole)
        self.assertEqual(whole["no_consent"], set((one | withdrawn | other_company).ids))
        self.assertEqual(whole["sensitive"], {not_agreed.id})
        self.assertEqual(whole["other_handover"], {elsewhere.id})
        self.assertEqual(whole["legal_hold"], {held.id})
        self.assertNotIn(both.id, set().union(*whole.values()))

    def test_the_next_records_are_read_past_the_last_done_and_none_is_left_behind(self):
        handover = self._handover()
        self._select(handover, self.customers)
        job = handover.job_ids
        self.env["customer.handover.job"]._cron_run()
        items = job._items("todo", 100)
        self.assertEqual(items, self.customers[4:].ids, "the batch after the first four")
        # A record still to do before the last one done (no step leaves one there): read once those after it are done.
        self.env.cr.execute(SQL(
            "UPDATE customer_handover_job_item SET state = 'todo' WHERE job_id = %s AND res_id = %s", job.id,
            self.customers[1].id))
        self.assertEqual(job._items("todo", 100), items, "past the last one done first")
        job._items_set_state(items, "done")
        self.assertEqual(job._items("todo", 100), self.customers[1].ids, "then from the start: none is left behind")
        # Undoing takes the newest done first, then goes on below the last one undone.
        job._items_set_state(self.customers[1].ids, "done")
        job._items_set_state(self.customers[9:].ids, "undone")
        self.assertEqual(job._items("done", 3, newest_first=True), self.customers[6:9].ids[::-1])

    def test_queries_per_batch_stay_constant(self):
        handover = self._handover()
        self._select(handover, self._customers(90))
        counts = self._measure_batches(pinned=47)
        self.assertEqual(handover.job_ids.done_count, 75)
        self.assertEqual(counts[0], counts[1], f"queries grew with the batch: {counts}")

    def test_a_crash_in_the_middle_resumes_where_it_stopped(self):
        handover = self._handover()
        self._select(handover, self.customers)
        job = handover.job_ids
        self.env["customer.handover.job"]._cron_run()
        self.assertEqual(job.done_count, 4)
        self._crash_during_a_batch()
        self.assertEqual(job.done_count, 4, "the killed batch's progress went with its work")
        self.assertEqual(len(self._customer_lines(handover)), 4)
        self.assertEqual(self._run(), 2, "the rerun goes on from the fifth customer")
        lines = self._customer_lines(handover)
        self.assertEqual(len(lines), 11)
        self.assertEqual(lines.partner_id, self.customers, "nothing skipped, nothing twice")
        logged = self._logged_records("lines_added", handover)
        self.assertEqual(sorted(logged), sorted(lines.ids), "each line logged once")

    def test_progress_figures(self):
        handover = self._handover()
        self._select(handover, self.customers)
        job = handover.job_ids
        cron = self.env.ref("customer_handover.ir_cron_handover_jobs")
        cron, progress = cron._add_progress()
        self.env["customer.handover.job"].with_context(cron.env.context)._cron_run()
        self.assertEqual((progress.done, progress.remaining), (4, 7), "the cron is told how far the step got")
        # started a minute ago by the clock the figures read (PostgreSQL's now() is the transaction's start)
        self.env.cr.execute(SQL("UPDATE customer_handover_job SET started_on = %s WHERE id = %s",
                                fields.Datetime.now() - timedelta(seconds=60), job.id))
        job.invalidate_recordset()
        handover.invalidate_recordset()
        figures = job._figures()
        self.assertEqual((figures["done"], figures["total"], figures["percent"]), (4, 11, 36.4))
        self.assertEqual(figures["time_left"], "about 2 min left", "60 s for 4: 7 more take about 105 s")
        self.assertEqual(handover.active_job_id, job)
        self.assertEqual(handover.active_job_text, "Building the checklist: 4 of 11 (36%)")
        self.assertEqual((handover.active_job_progress, handover.active_job_time_left), (36.4, "about 2 min left"))
        sent = self._bus("customer_handover/job")
        self.assertEqual(sent[-1]["handover_id"], handover.id)
        self.assertEqual((sent[-1]["done"], sent[-1]["total"], sent[-1]["state"]), (4, 11, "running"))
        self.assertEqual(sent[-1]["text"], "Building the checklist: 4 of 11 (36%)")
        self.assertIn('widget name="customer_handover_job_progress"',
                      handover.get_views([(False, "form")])["views"]["form"]["arch"])

    def test_one_step_at_a_time_on_a_handover(self):
        handover = self._handover()
        self._select(handover, self.customers)
        job = handover.job_ids
        busy = "is busy: Building the checklist runs in the background"
        as_user = handover.with_user(self.handover_user)
        with self.assertRaisesRegex(UserError, busy):
            self._select(handover, self._customers(1))
        with self.assertRaisesRegex(UserError, busy):
            as_user.action_select_customers()
        with self.assertRaisesRegex(UserError, busy):
            handover.with_user(self.manager).action_confirm()
        with self.assertRaisesRegex(UserError, busy):
            handover.with_user(self.manager).action_cancel()
        with self.assertRaisesRegex(UserError, busy):
            handover.with_user(self.manager).unlink()
        with self.assertRaisesRegex(UserError, busy):
            self.env["customer.handover.job"]._start(handover, "scope", SQL("SELECT 1"))
        self.env.flush_all()
        # Even past the checks, the database holds one active job per handover.
        with mute_logger("odoo.sql_db"), self.assertRaises(psycopg2.errors.UniqueViolation), \
                self.env.cr.savepoint():
            self.env.cr.execute(SQL(
                "INSERT INTO customer_handover_job (handover_id, company_id, kind, state) "
                "VALUES (%s, %s, 'verify', 'running')", handover.id, handover.company_id.id))
        self._run()
        self.assertEqual(job.state, "done")
        self._select(handover, self._customers(1))  # once done, the handover takes the next step

    def test_a_failing_customer_stops_the_step_then_the_rest_goes_on(self):
        handover = self._handover()
        self._select(handover, self.customers)
        job = handover.job_ids
        culprit = self.customers[5]
        # Moved to another company after the selection: the user may no longer put it on the checklist.
        culprit.company_id = self.company_b
        self._run()
        self.assertEqual(job.state, "failed")
        self.assertEqual(job.done_count, 5, "the records before the failing one are done")
        self.assertEqual(job.failed_res_id, culprit.id)
        self.assertIn(culprit.name, job.error)
        self.assertIn("access", job.error, "the refusal's own message says why")
        self.assertEqual(self._events("job_failed", handover=handover.id).res_id, job.id)
        self.assertNotIn(culprit.name, self._events("job_failed", handover=handover.id).payload,
                         "the log holds ids, never a name")
        failed = [message for message in self._bus("simple_notification") if message["type"] == "danger"]
        self.assertIn(culprit.name, failed[-1]["message"], "the user is told why, naming the customer")
        self.assertIn(culprit.name, handover.active_job_error)
        with self.assertRaisesRegex(UserError, "stopped on an error. Continue it without that record, or cancel"):
            self._select(handover, self._customers(1))
        with self.assertRaisesRegex(AccessError, "Only the user who started"):
            handover.with_user(self.other_user).action_job_continue()

        handover.with_user(self.handover_user).action_job_continue()
        self.assertEqual((job.state, job.skipped_count), ("running", 1))
        self.assertEqual(json.loads(self._events("job_continued", handover=handover.id).payload)["skipped"],
                         culprit.id)
        self._run()
        self.assertEqual((job.state, job.done_count, job.skipped_count), ("done", 10, 1))
        self.assertEqual(self._customer_lines(handover).partner_id, self.customers - culprit)

    def test_a_failed_step_is_cancelled_cleanly(self):
        handover = self._handover()
        self._select(handover, self.customers)
        job = handover.job_ids
        self.customers[9].company_id = self.company_b
        self._run()
        self.assertEqual((job.state, job.done_count), ("failed", 9))
        handover.with_user(self.manager).action_job_cancel()  # a manager may decide for the user
        self.assertEqual(job.state, "cancelling")
        handover.invalidate_recordset()
        self.assertEqual(handover.active_job_text, "Building the checklist is being cancelled: 9 records left to undo")
        self.assertEqual(self._run(), 3, "the undo runs in batches too")
        self.assertEqual(job.state, "cancelled")
        lines = self._customer_lines(handover)
        self.assertEqual(len(lines), 9, "lines are never deleted: they leave the record as an undone selection's")
        self.assertEqual(set(lines.mapped("scope_run")), {-1})
        self.assertEqual((handover.line_count, handover.excluded_count), (0, 0))
        self.assertEqual(sorted(self._logged_records("scope_undone", handover)), sorted(lines.ids))
        self.assertTrue(self._events("job_cancelled", handover=handover.id))
        self.assertIn("Background step cancelled: what it did is undone", note_text(handover.message_ids[0]))
        # The handover is free again, and the customers may be selected anew, their lines coming back.
        self.customers[9].company_id = False
        self._select(handover, self.customers)
        self._run()
        self.assertEqual(len(self._customer_lines(handover)), 11)
        self.assertEqual(handover.line_count, 11)

    def test_a_step_that_fails_past_its_records_stops_and_may_be_cancelled_again(self):
        handover = self._handover()
        self._select(handover, self.customers)
        job = handover.job_ids
        self.env["customer.handover.job"]._cron_run()
        job.with_user(self.handover_user).action_cancel()
        group = self.env.ref("customer_handover.group_handover_user")
        self.handover_user.groups_id = [(3, group.id)]  # the undo runs as the user, who may no longer do it
        self.env["customer.handover.job"]._cron_run()
        self.assertEqual((job.state, job.failed_res_id, job.done_count), ("failed", 0, 4), "the cron never fails")
        self.assertIn("access", job.error)
        self.assertEqual(len(self._customer_lines(handover.sudo()).filtered(lambda line: line.scope_run == 1)), 4)
        with self.assertRaisesRegex(UserError, "cancel it again to undo the rest"):
            handover.with_user(self.manager).action_job_continue()
        self.handover_user.groups_id = [(4, group.id)]
        handover.with_user(self.manager).action_job_cancel()
        self._run()
        self.assertEqual(job.state, "cancelled")
        self.assertEqual(handover.line_count, 0)

    def test_a_running_step_may_be_cancelled_too(self):
        handover = self._handover()
        self._select(handover, self.customers)
        job = handover.job_ids
        self.env["customer.handover.job"]._cron_run()
        with self.assertRaisesRegex(AccessError, "Only the user who started"):
            job.with_user(self.other_user).action_cancel()
        job.with_user(self.handover_user).action_cancel()
        self._run()
        self.assertEqual((job.state, job.done_count), ("cancelled", 0))
        self.assertEqual(handover.line_count, 0)
        with self.assertRaisesRegex(UserError, "has ended"):
            job.with_user(self.handover_user).action_cancel()


@tagged("post_install", "-at_install", "customer_handover_background", "is_query_count")
class TestBackgroundVerification(JobFixture):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 100)
        handover = cls.env["customer.handover"].with_user(cls.handover_user).create(
            {"receiver_id": cls.receiver.id, "purpose_ids": [(6, 0, cls.purpose_service.ids)]})
        cls.env["customer.handover.scope"].with_user(cls.handover_user).create(
            {"handover_id": handover.id, "partner_ids": [(6, 0, cls.customers.ids)]}).action_confirm()
        cls.handover = handover
        cls.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 5)

    def setUp(self):
        super().setUp()
        self._start(self.handover)
        self.lines = self.handover.line_ids

    def test_verify_all_pending_in_batches_each_line_once(self):
        action = self.handover.with_user(self.handover_user).action_verify_all_pending()
        self.assertEqual(action["tag"], "display_notification")
        job = self.handover.job_ids
        self.assertEqual((job.kind, job.total), ("verify", 11))
        self.assertEqual(set(self.lines.mapped("state")), {"pending"}, "nothing is verified inside the request")
        with self.assertRaisesRegex(UserError, "is busy: Batch verification runs"):
            self.lines[:1].with_user(self.handover_user).action_verify()
        self.env["customer.handover.job"]._cron_run()
        self._crash_during_a_batch()
        self.assertEqual(job.done_count, 4)
        self.assertEqual(self._run(), 2)
        self.assertEqual((job.state, job.done_count), ("done", 11))
        self.assertEqual(set(self.lines.mapped("state")), {"verified"})
        self.assertEqual(set(self.lines.mapped("verified_by_id")), {self.handover_user})
        self.assertEqual(sorted(self._logged_records("pending_verified", self.handover)), sorted(self.lines.ids),
                         "every line verified exactly once")
        self.assertEqual(self.handover.message_ids[0].subtype_id, self.env.ref("customer_handover.mt_pending_verified"))
        self.assertEqual(html2plaintext(self.handover.message_ids[0].body), "11", "the note counts the lines verified")
        self.handover.with_user(self.manager).action_mark_verified()
        self.assertEqual(self.handover.state, "verified")

    def test_finish_verification_reads_no_line(self):
        """Finish Verification counts the open lines in the database: its queries do not grow with the checklist."""
        Line = self.env["customer.handover.line"]
        self.lines.with_user(self.handover_user).action_verify()

        def queries():
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            with self.env.cr.savepoint(flush=False) as savepoint:
                self.handover.with_user(self.manager).action_mark_verified()
                self.env.flush_all()
                count = self.env.cr.sql_log_count - before
                savepoint.rollback()
            self.env.invalidate_all()
            return count

        small = queries()
        # 1,200 more verified items, more than Odoo's prefetch reads at once, copied in SQL from a line
        columns = [name for name, field in Line._fields.items() if field.store and field.column_type and name != "id"]
        self.env.cr.execute(SQL(
            "INSERT INTO customer_handover_line (%(columns)s) SELECT %(values)s FROM customer_handover_line, "
            "generate_series(1, 1200) WHERE id = %(line)s",
            columns=SQL(", ").join(SQL.identifier(name) for name in columns),
            values=SQL(", ").join(SQL("NULL") if name == "partner_id" else SQL("'item'") if name == "line_type"
                                  else SQL.identifier(name) for name in columns),
            line=self.lines[0].id,
        ))
        self.assertEqual(Line.search_count([("handover_id", "=", self.handover.id)]), len(self.lines) + 1200)
        self.assertEqual(queries(), small)
        self.env.cr.execute(SQL("UPDATE customer_handover_line SET state = 'pending', to_verify = TRUE WHERE id IN "
                                "(SELECT id FROM customer_handover_line WHERE handover_id = %s ORDER BY id DESC "
                                "LIMIT 3)", self.handover.id))
        self.env.invalidate_all()
        with self.assertRaisesRegex(UserError, "^3 checklist lines"):
            self.handover.with_user(self.manager).action_mark_verified()

    def test_a_small_checklist_is_verified_at_once(self):
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 2000)
        action = self.handover.with_user(self.handover_user).action_verify_all_pending()
        self.assertIn("11 pending lines verified", action["params"]["message"])
        self.assertFalse(self.handover.job_ids.filtered(lambda job: job.kind == "verify"))

    def test_verification_queries_per_batch_stay_constant(self):
        self.env["customer.handover.line"].create(
            [{"handover_id": self.handover.id, "name": f"Item {i}"} for i in range(70)])
        self.handover.with_user(self.handover_user).action_verify_all_pending()
        self.assertEqual(self.handover.job_ids.total, 81)
        counts = self._measure_batches(pinned=25)
        self.assertEqual(self.handover.job_ids.done_count, 75)
        self.assertEqual(counts[0], counts[1], f"queries grew with the batch: {counts}")

    def test_a_cancelled_verification_leaves_the_lines_pending(self):
        self.handover.with_user(self.handover_user).action_verify_all_pending()
        job = self.handover.job_ids
        self.env["customer.handover.job"]._cron_run()
        self.env["customer.handover.job"]._cron_run()
        self.assertEqual(job.done_count, 8)
        self.handover.with_user(self.handover_user).action_job_cancel()
        self._run()
        self.assertEqual(job.state, "cancelled")
        self.assertEqual(set(self.lines.mapped("state")), {"pending"})
        self.assertFalse(any(self.lines.mapped("verified_on")))
        self.assertEqual(len(self._logged_records("lines_checked", self.handover)), 8, "each reset logged")


@tagged("post_install", "-at_install", "customer_handover_background", "customer_handover_hostile")
class TestBackgroundStepAccess(RpcMixin, JobFixture, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = new_test_user(cls.env, login="ch_admin", groups="base.group_system," + (
            "customer_handover.group_data_protection_officer"))
        handover = cls.env["customer.handover"].with_user(cls.handover_user).create(
            {"receiver_id": cls.receiver.id, "purpose_ids": [(6, 0, cls.purpose_service.ids)]})
        cls.env["customer.handover.scope"].with_user(cls.handover_user).create(
            {"handover_id": handover.id, "partner_ids": [(6, 0, cls.customers.ids)]}).action_confirm()
        cls.handover = handover
        cls.job = handover.job_ids

    def test_restricted_users_start_no_step(self):
        with self.assertRaises(AccessError):
            self._select(self.handover, self.customers[:1], user=self.employee)
        with self.assertRaises(AccessError):
            self.handover.with_user(self.employee).action_verify_all_pending()
        with self.assertRaises(AccessError):
            self.job.with_user(self.user_b).action_cancel()
        with self.assertRaises(AccessError):
            self.job.with_user(self.employee).read(["state"])
        for user in (self.handover_user, self.manager, self.officer, self.admin):
            answer = self._call(user.login, "customer.handover.job", "_start",
                                [self.handover.id, "scope", "SELECT 1"])
            self.assertIn("error", answer, f"{user.login} called a private method")

    def test_job_facts_are_refused_to_every_user_over_json_rpc(self):
        forged = {"state": "done", "done_count": 11, "error": "FORGED", "failed_res_id": 1}
        for user in (self.handover_user, self.manager, self.officer, self.admin):
            with self.subTest(user=user.login):
                stored = self.job.read(list(forged))
                self._refused(user.login, "customer.handover.job", "write", [self.job.ids, forged],
                              fields=forged)
                self.env.invalidate_all()
                self.assertEqual(self.job.read(list(forged)), stored)
                entry = self.env["customer.handover.event"].search([], order="id desc", limit=1)
                self.assertEqual((entry.event, entry.user_id, entry.res_model),
                                 ("evidence_refused", user, "customer.handover.job"))
                self.assertNotIn("FORGED", entry.payload)
                self._refused(user.login, "customer.handover.job", "create",
                              [{"handover_id": self.handover.id, "kind": "verify", "state": "running"}])
                self._refused(user.login, "customer.handover.job", "unlink", [self.job.ids])

    def test_job_facts_are_refused_to_the_orm_whoever_calls(self):
        for env in (*(self.env(user=user) for user in (self.handover_user, self.manager, self.officer, self.admin)),
                    self.env):  # the superuser too
            for values in ({"state": "done"}, {"total": 1}, {"user_id": self.officer.id}, {"params": {"run": 9}}):
                with self.subTest(user=env.user.login, values=values), self.assertRaises(AccessError):
                    self.job.with_env(env).sudo().write(values)
            with self.subTest(user=env.user.login), self.assertRaises(AccessError):
                self.env["customer.handover.job"].with_env(env).sudo().create(
                    {"handover_id": self.handover.id, "kind": "verify"})
        self.assertEqual((self.job.state, self.job.total, self.job.params), ("queued", 11, {"run": 1}))

