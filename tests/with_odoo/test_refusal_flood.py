"""A refused attempt repeated in a loop is counted, not appended call by call: the chain keeps every refusal
without one user flooding it (docs/evidence.md, "Refused attempts")."""

import json

from odoo.tests import HttpCase, tagged
from odoo.tools import SQL

from .common import HandoverCase, RpcMixin
from .test_hostile_orm import HostileFixture

REFUSALS = ("evidence_refused", "evidence_refused_repeated")


@tagged("post_install", "-at_install", "customer_handover_hostile")
class TestRefusalFlood(RpcMixin, HostileFixture, HandoverCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_fixture()
        cls.handover = cls._handover_at("in_progress")
        cls.other = cls._handover_at("draft")
        cls.log = cls.env["customer.handover.event"]

    def _refuse(self, user, handover, times=1):
        for _attempt in range(times):
            self._refused(user.login, handover._name, "write", [handover.ids, {"state": "done"}], fields=["state"])

    def _refusals_since(self, before):
        return self.log.search([("id", ">", before.id), ("event", "in", REFUSALS)], order="id")

    def _close_windows(self):
        """What a minute does: the open windows of refused attempts end."""
        self.env.cr.execute(SQL(
            "UPDATE customer_handover_event_refusal SET window_start = window_start - interval '2 minutes', "
            "last_at = last_at - interval '2 minutes'"
        ))
        self.env.invalidate_all()

    @staticmethod
    def _count(entries):
        return sum(json.loads(entry.payload).get("count", 1) for entry in entries)

    def _assert_chain_intact(self):
        check = self.env["customer.handover.event.check"].with_user(self.officer).create(
            {"company_id": self.company_a.id})
        check.action_check()
        self.assertEqual(check.status, "intact", check.summary)

    def test_fifty_refusals_in_a_minute_are_one_entry_and_a_count(self):
        before = self.log.search([], order="id desc", limit=1)
        self._refuse(self.handover_user, self.handover, 50)
        entries = self._refusals_since(before)
        self.assertEqual(entries.mapped("event"), ["evidence_refused"], "each repeat was appended to the chain")
        self.assertEqual((entries.user_id, entries.res_id), (self.handover_user, self.handover.id))

        # the next refusal after the minute appends the repeats, counted, and opens a window of its own
        self._close_windows()
        self._refuse(self.handover_user, self.handover)
        entries = self._refusals_since(before)
        self.assertEqual(entries.mapped("event"), ["evidence_refused", "evidence_refused_repeated",
                                                   "evidence_refused"])
        repeated = json.loads(entries[1].payload)
        self.assertEqual((repeated["count"], repeated["operation"], repeated["fields"]), (49, "write", ["state"]))
        self.assertEqual(entries[1].user_id, self.handover_user)

        # repeats still counted when the chain is sealed go into the log before the seal
        self._refuse(self.handover_user, self.handover, 3)
        self.log._cron_seal()
        self.log._chain_pending()  # what follows the job's commit
        entries = self._refusals_since(before)
        self.assertEqual(len(entries), 4)
        self.assertEqual(self._count(entries), 54, "a refusal was lost")
        self.assertEqual(self.log.search([("company_id", "=", self.company_a.id)], limit=1).event, "chain_sealed")
        self._assert_chain_intact()

    def test_the_seal_of_an_export_covers_the_repeats_counted_before_it(self):
        self.log._chain_pending()
        self._refuse(self.handover_user, self.handover, 3)
        self.log.with_user(self.officer)._export_log(self.company_a)
        counter = self.env["customer.handover.event.refusal"].search([("user_id", "=", self.handover_user.id)])
        self.assertEqual(counter.repeats, 2, "the export, a long step, took the counter in its own transaction")
        self.log._chain_pending()  # what follows the export's commit: the repeats go in, then the seal
        entries = self.log.search([("company_id", "=", self.company_a.id)], limit=3)[::-1]
        self.assertEqual([entry.event for entry in entries],
                         ["evidence_refused_repeated", "chain_sealed", "log_exported"])
        self.assertEqual(json.loads(entries[0].payload)["count"], 2)
        self.assertEqual(json.loads(entries[1].payload)["head"], entries[0].sequence)
        self.assertEqual(counter.repeats, 0)
        self._assert_chain_intact()

    def test_refusals_by_two_users_or_on_two_records_stay_apart(self):
        before = self.log.search([], order="id desc", limit=1)
        for user, handover in ((self.handover_user, self.handover), (self.manager, self.handover),
                               (self.handover_user, self.other)):
            self._refuse(user, handover, 3)
        self._close_windows()
        self.log._cron_seal()
        entries = self._refusals_since(before)
        seen = {(entry.event, entry.user_id.login, entry.res_id): json.loads(entry.payload).get("count", 1)
                for entry in entries}
        self.assertEqual(seen, {
            ("evidence_refused", "ch_user", self.handover.id): 1,
            ("evidence_refused_repeated", "ch_user", self.handover.id): 2,
            ("evidence_refused", "ch_manager", self.handover.id): 1,
            ("evidence_refused_repeated", "ch_manager", self.handover.id): 2,
            ("evidence_refused", "ch_user", self.other.id): 1,
            ("evidence_refused_repeated", "ch_user", self.other.id): 2,
        })
        self.assertFalse(self.env["customer.handover.event.refusal"].search([]), "closed windows were kept")
        self._assert_chain_intact()

    def test_no_group_forges_or_empties_the_count_of_repeats(self):
        self._refuse(self.handover_user, self.handover, 3)
        counter = self.env["customer.handover.event.refusal"].search([("user_id", "=", self.handover_user.id)])
        self.assertEqual(counter.repeats, 2)
        model = counter._name
        for login in ("ch_user", "ch_manager", "ch_officer", "admin"):
            with self.subTest(login=login):
                self._refused(login, model, "write", [counter.ids, {"repeats": 0}])
                self._refused(login, model, "unlink", [counter.ids])
                self._refused(login, model, "create", [{"key": "x", "company_id": self.company_a.id,
                                                        "user_id": self.manager.id, "window_start": "2026-01-01"}])
        counter.invalidate_recordset()
        self.assertEqual(counter.repeats, 2, "a repeat was lost")
