"""Who may tell the customers and read their notices, and the notices' facts guarded as evidence (ORM and JSON-RPC)."""

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from .common import RpcMixin
from .test_customer_notices import NoticeCase

FORGED = "FORGED-4410"
# A notice's facts, each with a value a forger would like to set.
NOTICE_ATTACKS = {
    "state": "sent", "channel": "other", "text_sha256": FORGED, "sent_on": "2020-01-02 03:04:05",
    "told_note": FORGED, "failure_type": FORGED, "attempt_count": 9, "lang": "fr_FR",
}


class NoticeAccessCase(NoticeCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.handover = cls._signed(cls.alice | cls.li)
        cls.env["customer.handover.notify"].with_user(cls.manager).with_context(
            default_handover_id=cls.handover.id).create({}).action_confirm()
        cls.notices = cls.handover.notice_ids
        cls.alice_notice = cls.notices.filtered(lambda notice: notice.partner_id == cls.alice)


@tagged("post_install", "-at_install", "customer_handover_notices", "customer_handover_hostile")
class TestNoticeAccess(NoticeAccessCase):
    def test_users_outside_the_groups_read_no_notice_and_start_nothing(self):
        self.env.invalidate_all()
        for user in (self.employee, self.user_b):
            with self.assertRaises(AccessError):
                self.notices.with_user(user).read(["state"])
        with self.assertRaises(AccessError):
            self.env["customer.handover.notice"].with_user(self.employee).search([])
        self.assertFalse(self.env["customer.handover.notice"].with_user(self.user_b).search([]),
                         "company B's users find none of company A's notices")
        with self.assertRaises(AccessError):
            self.handover.with_user(self.employee).action_open_notify()
        with self.assertRaises(AccessError):
            self.env["customer.handover.notify"].with_user(self.employee).create({"handover_id": self.handover.id})

    def test_handover_users_read_notices_but_only_managers_act(self):
        self.assertEqual(self.notices.with_user(self.handover_user).mapped("state"), self.notices.mapped("state"))
        handover = self.handover.with_user(self.handover_user)
        for step in (handover.action_open_notify, handover._notice_start, handover.action_notice_resend,
                     handover.action_notice_letters, lambda: handover._notice_plan("planned", "2030-01-01", False),
                     self.notices.with_user(self.handover_user).action_mark_posted,
                     lambda: self.notices.with_user(self.handover_user)._told_otherwise("phone", "Called")):
            with self.assertRaises(AccessError):
                step()
        with self.assertRaises(AccessError):
            self.env["customer.handover.notify"].with_user(self.handover_user).create(
                {"handover_id": self.handover.id})
        with self.assertRaises(AccessError):
            self.env["ir.actions.report"].with_user(self.handover_user)._render_qweb_html(
                "customer_handover.customer_handover_notice_report_letter", self.notices.ids)

    def test_a_manager_of_another_company_tells_nobody_here(self):
        manager_b = self._new_user("ch_manager_b_notice", "customer_handover.group_handover_manager",
                                   company=self.company_b)
        with self.assertRaises(AccessError):
            self.handover.with_user(manager_b)._notice_start()
        with self.assertRaises(AccessError):
            self.notices.with_user(manager_b)._told_otherwise("phone", "Called")

    def test_notice_facts_are_refused_to_every_user_raw_write_and_create(self):
        for who in (self.handover_user, self.manager, self.officer, "superuser"):
            notice = self.alice_notice if who == "superuser" else self.alice_notice.with_user(who)
            for name, value in NOTICE_ATTACKS.items():
                before = self.alice_notice.read([name])
                with self.assertRaises(AccessError, msg=f"{who} wrote {name}") as caught:
                    notice.write({name: value})
                label = self.alice_notice._fields[name]._description_string(self.env)
                self.assertIn(label, str(caught.exception))
                self.env.invalidate_all()
                self.assertEqual(self.alice_notice.read([name]), before)
            Notice = self.env["customer.handover.notice"]
            Notice = Notice if who == "superuser" else Notice.with_user(who)
            with self.assertRaises(AccessError, msg=f"{who} created a notice"):
                Notice.create({"handover_id": self.handover.id, "company_id": self.company_a.id,
                               "partner_id": self.wang.id, "state": "sent"})
            with self.assertRaises(AccessError, msg=f"{who} deleted a notice"):
                notice.unlink()
        self.assertEqual(self.alice_notice.state, "queued")

    def test_the_run_s_settings_on_the_handover_are_set_by_its_step_only(self):
        draft = self.env["customer.handover"].with_user(self.handover_user).create(
            {"receiver_id": self.receiver.id, "purpose_ids": [(6, 0, self.purpose_service.ids)]})
        for who in (self.handover_user, self.manager, self.officer, "superuser"):
            for handover, error in ((draft, AccessError), (self.handover, UserError)):  # a signed one is frozen too
                handover = handover if who == "superuser" else handover.with_user(who)
                for name, value in (("notice_send_mode", "planned"), ("notice_wait", True),
                                    ("notice_started_on", "2020-01-02 03:04:05")):
                    with self.assertRaises(error, msg=f"{who} wrote {name}") as caught:
                        handover.write({name: value})
                    self.assertIn(self.handover._fields[name]._description_string(self.env), str(caught.exception))
        self.assertEqual((self.handover.notice_send_mode, draft.notice_send_mode), ("now", False))


@tagged("post_install", "-at_install", "customer_handover_notices", "customer_handover_hostile")
class TestNoticeAccessRpc(RpcMixin, NoticeAccessCase, HttpCase):
    def test_outside_the_groups_nothing_is_read_nor_started_over_json_rpc(self):
        self._refused("ch_employee", "customer.handover.notice", "search_read", [[]], {"fields": ["state", "email"]})
        self._refused("ch_employee", "customer.handover.notice", "read", [self.notices.ids, ["text_sha256"]])
        self._refused("ch_user", "customer.handover", "action_open_notify", [self.handover.ids])
        self._refused("ch_user", "customer.handover", "action_notice_letters", [self.handover.ids])
        self._refused("ch_user", "customer.handover.notify", "create", [{"handover_id": self.handover.id}])
        self._refused("ch_user", "customer.handover.notice", "action_mark_posted", [self.notices.ids])
        answer = self._call("ch_user_b", "customer.handover.notice", "search_read", [[]], {"fields": ["state"]})
        self.assertEqual(answer.get("result"), [], "company B reads no notice of company A")
        self.assertEqual(len(self.handover.notice_ids), 2, "no run was started")

    def test_notice_facts_are_refused_over_json_rpc(self):
        for login in ("ch_manager", "ch_officer", "admin"):
            for name, value in (("state", "told_otherwise"), ("text_sha256", FORGED), ("told_note", FORGED)):
                self._refused(login, "customer.handover.notice", "write", [self.alice_notice.ids, {name: value}],
                              fields=[name])
            self._refused(login, "customer.handover.notice", "create",
                          [{"handover_id": self.handover.id, "company_id": self.company_a.id,
                            "partner_id": self.wang.id}])
            self._refused(login, "customer.handover", "write", [self.handover.ids, {"notice_send_mode": "planned"}],
                          fields=["notice_send_mode"], error="odoo.exceptions.UserError")
        self.env.invalidate_all()
        self.assertEqual((self.alice_notice.state, self.alice_notice.told_note), ("queued", False))
