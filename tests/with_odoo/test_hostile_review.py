"""Hostile review of the event log's pending entries and the chatter's step notes, over JSON-RPC."""

from odoo.tests import HttpCase, tagged

from .common import ACCESS_ERROR, HandoverCase, RpcMixin
from .test_hostile_orm import HostileFixture

FORGED = "FORGED-5120"


@tagged("post_install", "-at_install", "customer_handover_hostile")
class TestHostileReview(RpcMixin, HostileFixture, HandoverCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_fixture()
        cls.handover = cls._handover_at("in_progress")

    def _users(self):
        return (self.handover_user, self.manager, self.officer, self.admin)

    def test_a_step_note_is_not_posted_or_made_by_hand(self):
        handover = self.handover
        exported = self.env.ref("customer_handover.mt_checklist_exported").id
        for user in self._users():
            with self.subTest(user=user.login):
                for kwargs in (
                    {"subtype_xmlid": "customer_handover.mt_lines_verified", "message_type": "comment"},
                    {"subtype_id": exported, "message_type": "notification"},
                ):
                    self._refused(
                        user.login, handover._name, "message_post", [handover.ids], {"body": FORGED, **kwargs}
                    )
                note = self._call(
                    user.login,
                    handover._name,
                    "message_post",
                    [handover.ids],
                    {"body": FORGED, "subtype_xmlid": "mail.mt_note", "message_type": "comment"},
                )
                self.assertIn("result", note, note.get("error"))
                self._refused(user.login, "mail.message", "write", [[note["result"]], {"subtype_id": exported}])
        forged = self.env["mail.message"].search(
            [("model", "=", handover._name), ("res_id", "=", handover.id), ("body", "ilike", FORGED)]
        )
        self.assertEqual(set(forged.subtype_id.mapped("res_model")), {False}, "only plain notes were posted")

    def test_the_steps_still_write_their_notes(self):
        line = self.handover.line_ids.filtered(lambda line: line.state == "pending")[:1]
        line.with_user(self.handover_user).action_mark_missing()
        note = self.env["mail.message"].search(
            [("model", "=", "customer.handover"), ("res_id", "=", self.handover.id)], order="id desc", limit=1
        )
        self.assertEqual(note.subtype_id, self.env.ref("customer_handover.mt_lines_missing"))

    def test_only_settings_administrators_set_the_bilingual_documents(self):
        for user in (self.handover_user, self.manager, self.officer):
            with self.subTest(user=user.login):
                self._refused(
                    user.login, "res.company", "write", [self.company_a.ids, {"handover_bilingual_headers": True}]
                )
        self.assertFalse(self.company_a.handover_bilingual_headers)

    def test_nobody_chains_or_seals_the_log_over_rpc(self):
        log = "customer.handover.event"
        calls = [
            ("_chain_pending", [[]]),
            ("_cron_chain", [[]]),
            ("_cron_seal", [[]]),
            ("_seal", [[], self.company_a.id]),
            ("_append", [[], [{"company_id": self.company_a.id, "event": "handover_done", "payload": FORGED}]]),
        ]
        for user in self._users():
            for method, args in calls:
                with self.subTest(user=user.login, method=method):
                    self._refused(user.login, log, method, args, error=ACCESS_ERROR)
        self.assertFalse(
            self._events(company_id=self.company_a.id).filtered(lambda entry: FORGED in (entry.payload or ""))
        )


@tagged("post_install", "-at_install")
class TestSealKeyBroken(HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a.partner_id.email = cls.company_a.partner_id.email or "a@example.com"
        cls.company_a.with_user(cls.officer).action_handover_create_signing_key()
        cls.Event = cls.env["customer.handover.event"]

    def test_a_seal_whose_private_key_an_administrator_removed_does_not_stall_the_chain(self):
        self.Event._chain_pending()
        seal = self.Event._seal(self.company_a)
        after = self.Event._append([{"company_id": self.company_a.id, "event": "lines_checked", "payload": {}}])
        # The certificate keeps its dates, so it still reads valid, but nothing can sign with it any more.
        certificate = self.company_a.sudo().handover_certificate_id
        certificate.with_user(self.env.ref("base.user_admin")).private_key_id = False
        self.assertTrue(certificate.is_valid)
        with self.assertLogs("odoo.addons.customer_handover.models.customer_handover_event", "WARNING"):
            self.Event._cron_chain()
        self.assertFalse(seal.exists(), "the seal is dropped, as when the key is gone")
        self.assertTrue(after.sequence, "the entries after the seal are chained, not left pending")
        self.assertIsNone(self.Event.with_user(self.officer)._check_chain(self.company_a)[1])
