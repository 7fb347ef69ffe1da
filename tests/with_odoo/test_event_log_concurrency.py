"""The event log blocks no one: a long step's entries wait, pending, for its commit, and are chained then in a
short transaction of their own (docs/evidence.md, "Appending and chaining").

These tests need connections of their own, as two users' requests have: a TransactionCase shares one. What
they commit is removed at the end; the long step and the user's requests roll back.
"""

import base64
import threading
import time

from odoo import SUPERUSER_ID, api
from odoo.addons.customer_handover.models.handover_access import MANAGER, OFFICER, USER
from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tests.common import TransactionCase, new_test_user
from odoo.tools import SQL

# How long the other user's step keeps its transaction open after its first entries, and the longest wait allowed.
LONG_STEP = 5.0
MAX_WAIT = 1.0
# A 20,000-customer import logs its customers 1,000 record ids to an entry.
CUSTOMERS, BATCH = 20_000, 1_000


@tagged("post_install", "-at_install")
class TestEventLogConcurrency(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_id = cls.env.ref("base.main_company").id

    def _entry(self, event, **payload):
        return {"company_id": self.company_id, "event": event, "res_model": "res.partner", "payload": payload}

    def test_a_long_step_keeps_no_one_waiting(self):
        started, done, failures = threading.Event(), threading.Event(), []

        def long_import():
            """Another user's import: its entries, then the rest of a long transaction, rolled back."""
            try:
                with self.registry.cursor() as cr:
                    log = api.Environment(cr, SUPERUSER_ID, {})["customer.handover.event"]
                    for first in range(0, CUSTOMERS, BATCH):
                        log._append([self._entry("customers_imported", records=list(range(first, first + BATCH)))])
                        started.set()
                    done.wait(LONG_STEP)
                    cr.rollback()
            except Exception as error:  # reported by the test below
                failures.append(error)
                started.set()

        self._chain_committed()
        head = self._head()
        thread = threading.Thread(target=long_import)
        thread.start()
        try:
            self.assertTrue(started.wait(60), "the long step did not start")
            waits = self._a_users_requests()
            with self.registry.cursor() as cr:
                cr.execute(SQL("SELECT event FROM customer_handover_event WHERE company_id = %s AND sequence > %s",
                               self.company_id, head))
                chained = [row[0] for row in cr.fetchall()]
        finally:
            done.set()
            thread.join(LONG_STEP + 60)
            self._remove_after(head)
        self.assertFalse(failures, failures)
        self.assertEqual(chained, ["evidence_refused"], "the refused attempt was not logged and chained at once")
        slow = {name: round(wait, 2) for name, wait in waits.items() if wait > MAX_WAIT}
        self.assertFalse(slow, f"requests waited behind the long step: {slow}")

    def _a_users_requests(self):
        """A user and a manager record consents and verify lines while the long step runs; each request timed."""
        waits = {}
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            user = new_test_user(env, login="ch_concurrent_user", groups=USER, company_id=self.company_id,
                                 company_ids=[(6, 0, [self.company_id])])
            manager = new_test_user(env, login="ch_concurrent_manager", groups=MANAGER, company_id=self.company_id,
                                    company_ids=[(6, 0, [self.company_id])])
            partner = env["res.partner"].create({"name": "Consenting customer"})
            receiver = env["res.partner"].create({"name": "Receiver Co.", "is_company": True,
                                                  "email": "legal@receiver.example.cn"})
            purpose = env.ref("customer_handover.consent_purpose_marketing")

            def timed(name, request):
                moment = time.monotonic()
                result = request()
                env.flush_all()
                waits[name] = time.monotonic() - moment
                return result

            handover = timed("create a handover", lambda: env["customer.handover"].with_user(user).create(
                {"receiver_id": receiver.id, "reason": "shop_transfer"}))
            lines = timed("add items", lambda: env["customer.handover.line"].with_user(user).create(
                [{"handover_id": handover.id, "name": f"Paper file {number}"} for number in range(3)]))
            handover.with_user(user).write({"nda_reference": "NDA-1", "nda_date": "2026-11-01",
                                            "nda_document": base64.b64encode(b"%PDF")})
            timed("confirm", handover.with_user(manager).action_confirm)
            timed("start", handover.with_user(manager).action_start)
            consent = timed("record a consent", lambda: env["customer.consent"].with_user(user).create(
                {"partner_id": partner.id, "purpose_id": purpose.id, "date_given": "2026-01-05"}))
            timed("withdraw it", consent.with_user(user).action_withdraw)
            timed("verify lines", lines[:2].with_user(user).action_verify)
            timed("verify the last line", lines[2:].with_user(user).action_verify)
            # A refused attempt is logged once its request rolls back, in a transaction of its own: by a user
            # who exists outside this transaction, so that its entry is committed.
            admin = handover.with_user(env.ref("base.user_admin"))
            with self.assertRaises(AccessError):
                admin.write({"state": "done"})
            timed("a refused attempt, rolled back and logged", cr.rollback)
        return waits

    def test_entries_of_concurrent_transactions_are_chained_once_each_in_commit_order(self):
        self._chain_committed()
        head = self._head()
        try:
            with self.registry.cursor() as first, self.registry.cursor() as second, \
                    self.registry.cursor() as rolled_back:
                first_ids = self._append(first, "first", 2)
                second_ids = self._append(second, "second", 2)
                lost_ids = self._append(rolled_back, "rolled back", 1)
                second.commit()  # chained at once, before the first one, still open
                rolled_back.rollback()
                first.commit()
            with self.registry.cursor() as cr:
                cr.execute(SQL("SELECT id, sequence FROM customer_handover_event WHERE id IN %s ORDER BY id",
                               tuple(first_ids + second_ids + lost_ids)))
                sequences = dict(cr.fetchall())
                self.assertEqual(set(sequences), set(first_ids + second_ids), "a rolled back entry was logged")
                self.assertEqual([sequences[id_] for id_ in second_ids + first_ids], list(range(head + 1, head + 5)),
                                 "not chained once each, in the order of the commits")
                env = api.Environment(cr, SUPERUSER_ID, {})
                officer = new_test_user(env, login="ch_concurrent_officer", groups=OFFICER,
                                        company_id=self.company_id, company_ids=[(6, 0, [self.company_id])])
                log = env["customer.handover.event"].with_user(officer)
                checker, problem = log._check_chain(env["res.company"].browse(self.company_id))
                self.assertIsNone(problem, problem and problem.message)
                self.assertEqual((checker.count, log._pending_count(officer.company_id)), (head + 4, 0))
                cr.rollback()
        finally:
            self._remove_after(head)

    def _append(self, cr, step, count):
        log = api.Environment(cr, SUPERUSER_ID, {})["customer.handover.event"]
        return log._append([self._entry("lines_checked", step=step, number=number) for number in range(count)]).ids

    def _chain_committed(self):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["customer.handover.event"]._chain_pending([self.company_id])

    def _head(self):
        with self.registry.cursor() as cr:
            cr.execute(SQL("SELECT COALESCE(MAX(sequence), 0) FROM customer_handover_event WHERE company_id = %s",
                           self.company_id))
            return cr.fetchone()[0]

    def _remove_after(self, head):
        """Remove what the test committed: the end of the chain after ``head``, nothing before it."""
        with self.registry.cursor() as cr:
            cr.execute(SQL("DELETE FROM customer_handover_event WHERE company_id = %s AND "
                           "(sequence > %s OR sequence IS NULL)", self.company_id, head))
            cr.execute(SQL("DELETE FROM customer_handover_event_refusal WHERE company_id = %s", self.company_id))


@tagged("post_install", "-at_install")
class TestAnalyzeWaitsForNoOne(TransactionCase):
    """A step that refreshes a table's statistics (``_analyze``) while another transaction analyses the same table
    does not wait for that transaction to end."""

    def test_a_step_skips_the_statistics_another_transaction_is_refreshing(self):
        from odoo.addons.customer_handover.models.customer_handover_job import ANALYZE_WAIT_MS

        analysing, done, failures = threading.Event(), threading.Event(), []

        def other_step():
            try:
                with self.registry.cursor() as cr:
                    cr.execute("ANALYZE customer_handover_job_item")  # holds its lock until the rollback
                    analysing.set()
                    done.wait(LONG_STEP)
                    cr.rollback()
            except Exception as error:  # reported below
                failures.append(error)
                analysing.set()

        thread = threading.Thread(target=other_step)
        thread.start()
        try:
            self.assertTrue(analysing.wait(60), "the other step did not start")
            with self.registry.cursor() as cr:
                cr.execute("SET lock_timeout = '7s'")  # as a server may be configured
                env = api.Environment(cr, SUPERUSER_ID, {})
                start = time.monotonic()
                env["customer.handover.job"]._analyze(env["customer.handover.job.item"])
                waited = time.monotonic() - start
                cr.execute("SHOW lock_timeout")
                setting = cr.fetchone()[0]
                cr.execute("SELECT 1")  # the transaction goes on
                cr.rollback()
        finally:
            done.set()
            thread.join()
        self.assertFalse(failures, failures)
        self.assertLess(waited, MAX_WAIT, "the step waited for the other transaction's ANALYZE")
        self.assertGreaterEqual(waited, ANALYZE_WAIT_MS / 1000 * 0.9, "the ANALYZE was not even tried")
        self.assertEqual(setting, "7s", "the rest of the step waits for locks as configured")

    def test_a_table_a_step_filled_is_analysed_after_the_batch_once_it_doubled(self):
        table = "customer_handover_test_statistics"

        def reltuples():
            with self.registry.cursor() as cr:
                cr.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
                return cr.fetchone()[0]

        def batch(rows):
            """A batch that inserts ``rows`` rows, asks for the statistics, and commits."""
            with self.registry.cursor() as cr:
                cr.execute(f"INSERT INTO {table} SELECT generate_series(1, %s)", [rows])
                api.Environment(cr, SUPERUSER_ID, {})["customer.handover.job"]._refresh_statistics()

        with self.registry.cursor() as cr:
            cr.execute(f"CREATE TABLE {table} (n integer)")
        try:
            self.assertLess(reltuples(), 1, "never analysed")
            batch(5_000)
            self.assertLess(reltuples(), 1, "a small table is left to autovacuum")
            batch(20_000)
            self.assertEqual(reltuples(), 25_000, "analysed once the batch committed")
            batch(1_000)
            self.assertEqual(reltuples(), 25_000, "not again before it doubles")
            batch(60_000)
            self.assertEqual(reltuples(), 86_000)
        finally:
            with self.registry.cursor() as cr:
                cr.execute(f"DROP TABLE {table}")
