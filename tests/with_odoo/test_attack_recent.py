"""Issue 21 attacked as hostile users would: notices, the customer's personal link, letters and requests.

Users of every group of two companies (handover user, manager, officer, a plain internal user, a portal user, an
anonymous visitor) call the models over JSON-RPC as a client outside the web client would, and open the routes.
"""

import io
import json

from openpyxl import load_workbook

from odoo.addons.customer_handover.models.customer_handover_customer_page import PAGE_ROUTE
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from .common import RpcMixin
from .test_customer_notices import NoticeCase

TEMPLATE = "customer_handover.mail_template_customer_notice"
LETTERS = "customer_handover.report_notice_letter"
ATTACKER = "attacker@evil.example"
Request = "customer.data.request"


class AttackCase(RpcMixin, NoticeCase, HttpCase):
    """A handover of company A whose notices went out: Alice by email, Li (no email) on the letter list."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.portal = cls._new_user("ch_portal", "base.group_portal")
        cls.manager_b = cls._new_user("ch_manager_b", "customer_handover.group_handover_manager",
                                      company=cls.company_b)
        cls.officer_b = cls._new_user("ch_officer_b", "customer_handover.group_data_protection_officer",
                                      company=cls.company_b)
        cls.handover = cls._signed(cls.alice | cls.li | cls.wang)
        cls.env["customer.handover.notify"].with_user(cls.manager).with_context(
            default_handover_id=cls.handover.id).create({}).action_confirm()
        cls.alice_notice = cls._notice(cls, cls.handover, cls.alice)
        cls.li_notice = cls._notice(cls, cls.handover, cls.li)
        cls.template = cls.env.ref(TEMPLATE)

    def _link_of(self, partner):
        """What every personal link of ``partner`` on the handover starts with (its signature follows)."""
        return f"{PAGE_ROUTE}{self.handover.id}.{partner.id}."

    def _assert_no_link(self, text, where):
        for partner in (self.alice, self.li, self.wang):
            self.assertNotIn(self._link_of(partner), str(text), f"{where} shows {partner.name}'s personal link")

    def _kw(self, login, model, method, args, kwargs=None):
        """The result of a JSON-RPC call that must succeed."""
        answer = self._call(login, model, method, args, kwargs)
        self.assertNotIn("error", answer, answer.get("error", {}).get("data", {}).get("message"))
        return answer["result"]

    def _new_mails(self, before):
        return self.env["mail.mail"].sudo().search([("id", "not in", before.ids)])


@tagged("post_install", "-at_install", "customer_handover_notices", "customer_handover_hostile")
class TestPersonalLinkStaysInTheNotice(AttackCase):
    def test_the_run_itself_sends_the_link(self):
        mail = self.alice_notice.mail_id.sudo()
        self.assertIn(self._link_of(self.alice), mail.body_html, "the customer's own email carries their link")

    def test_template_preview_renders_no_link(self):
        for login in ("ch_officer", "admin"):
            answer = self._call(login, "mail.template.preview", "web_save", [[], {
                "mail_template_id": self.template.id,
                "resource_ref": f"customer.handover.notice,{self.alice_notice.id}"}],
                {"specification": {"body_html": {}, "subject": {}}})
            self._assert_no_link(json.dumps(answer), f"the template preview of {login}")

    def test_template_sent_by_hand_carries_no_link(self):
        before = self.env["mail.mail"].sudo().search([])
        for login in ("ch_officer", "admin"):
            self._call(login, "mail.template", "send_mail", [self.template.ids, self.alice_notice.id],
                       {"email_values": {"email_to": ATTACKER, "recipient_ids": []}})
        mails = self._new_mails(before)
        self.assertTrue(mails, "the template was sent (its text is the officers' to edit)")
        for mail in mails:
            self._assert_no_link(mail.body_html, f"a mail sent by hand to {mail.email_to}")

    def test_the_composer_renders_no_link(self):
        attacker = self.env["res.partner"].create({"name": "Mallory", "email": ATTACKER})
        before = self.env["mail.mail"].sudo().search([])
        for login in ("ch_officer", "admin"):
            for model, res_id in (("customer.handover.notice", self.alice_notice.id), ("res.partner", self.alice.id)):
                answer = self._call(login, "mail.compose.message", "web_save", [[], {
                    "model": model, "res_ids": [res_id], "template_id": self.template.id,
                    "composition_mode": "comment", "partner_ids": [(6, 0, attacker.ids)]}],
                    {"specification": {"body": {}, "subject": {}}})
                self._assert_no_link(json.dumps(answer), f"the composer of {login} on {model}")
                if "result" in answer:
                    self._call(login, "mail.compose.message", "action_send_mail", [[answer["result"][0]["id"]]])
        for message in self.env["mail.message"].sudo().search([("partner_ids", "in", attacker.ids)]):
            self._assert_no_link(message.body, "a message sent with the composer")
        for mail in self._new_mails(before):
            self._assert_no_link(mail.body_html, "a mail sent with the composer")

    def test_the_preview_dialog_and_raw_reads_show_no_link(self):
        dialog = self.env["customer.handover.notify"].with_user(self.manager).with_context(
            default_handover_id=self.handover.id).default_get(["preview_html", "handover_id"])
        self.assertIn("personal page", dialog["preview_html"], "the preview shows where the link goes")
        self._assert_no_link(dialog["preview_html"], "the manager's preview")
        answer = self._call("admin", "customer.handover.notice", "read", [self.alice_notice.ids, ["page_url"]])
        self._assert_no_link(json.dumps(answer), "the administrator's read of page_url")
        answer = self._call("ch_manager", "customer.handover.notice", "read", [self.alice_notice.ids, ["page_url"]])
        self._assert_no_link(json.dumps(answer), "the manager's read of page_url")
        # Context keys come from the client: none of them turns the link on.
        for context in ({"customer_handover_page_link": True}, {"notice_render_link": 1}, {"render_link": True}):
            answer = self._call("admin", "customer.handover.notice", "read", [self.alice_notice.ids, ["page_url"]],
                                {"context": context})
            self._assert_no_link(json.dumps(answer), f"a read with the context {context}")


@tagged("post_install", "-at_install", "customer_handover_notices", "customer_handover_hostile")
class TestLetterList(AttackCase):
    def _letters(self, login, notices):
        self.authenticate(login, login)
        self.env.flush_all()
        response = self.url_open(f"/report/html/{LETTERS}/{','.join(map(str, notices.ids))}")
        self.env.invalidate_all()
        return response

    def _printed(self):
        return self._events(self.handover, "notice_letters_printed")

    def test_only_notices_on_the_letter_list_are_printed(self):
        self.assertEqual((self.alice_notice.state, self.li_notice.state), ("queued", "no_address"))
        for notices in (self.alice_notice, self.alice_notice | self.li_notice):
            response = self._letters("ch_manager", notices)
            self.assertNotEqual(response.status_code, 200, "a notice sent by email is no letter")
            self.assertNotIn(self.alice.name, response.text)
        with self.assertRaises(UserError):
            self.env["ir.actions.report"].with_user(self.manager)._render_qweb_html(LETTERS, self.alice_notice.ids)
        self.assertFalse(self._printed(), "nothing was printed")

    def test_each_printing_is_logged(self):
        response = self._letters("ch_manager", self.li_notice)
        self.assertEqual(response.status_code, 200)
        self.assertIn(self.li.name, response.text)
        events = self._printed()
        self.assertEqual(len(events), 1, "printed by the report's own route, logged all the same")
        self.assertEqual(json.loads(events.payload)["letters"], 1)
        self.assertNotIn(self.li.name, events.payload)
        self.handover.with_user(self.manager).action_notice_letters()
        self.assertEqual(len(self._printed()), 1, "the download's action prints nothing: the rendering logs")

    def test_outside_the_managers_of_the_company_nothing_is_printed(self):
        for login in ("ch_user", "ch_officer_b", "ch_manager_b", "ch_employee", "ch_portal"):
            response = self._letters(login, self.li_notice)
            self.assertNotEqual(response.status_code, 200, login)
            self.assertNotIn(self.li.name, response.text, login)
        self.assertFalse(self._printed())


@tagged("post_install", "-at_install", "customer_handover_requests", "customer_handover_hostile")
class TestCrossCompanyDialogs(AttackCase):
    def test_told_another_way_on_another_company_s_notices(self):
        self.li_notice.invalidate_recordset()
        for login in ("ch_manager_b",):
            wizard = self._call(login, "customer.handover.notice.told", "create", [{
                "notice_ids": [(6, 0, self.li_notice.ids)], "how": "phone", "note": "Called, all fine"}])
            if "result" in wizard:
                answer = self._call(login, "customer.handover.notice.told", "action_confirm", [[wizard["result"]]])
                self.assertEqual(answer.get("error", {}).get("data", {}).get("name"), "odoo.exceptions.UserError",
                                 answer)
        told = self.env["customer.handover.notice.told"].with_user(self.manager_b).create(
            {"notice_ids": [(6, 0, self.li_notice.ids)], "how": "phone", "note": "Called"})
        with self.assertRaises(UserError):
            told.action_confirm()
        self.assertEqual(self.li_notice.state, "no_address")
        self.assertFalse(self._events(self.handover, "notice_told_otherwise"))

    def test_entering_a_request_on_another_company_s_handover(self):
        officer_b = self._new_user("ch_user_b_enter", "customer_handover.group_handover_user", company=self.company_b)
        for partner in (self.alice, self.env["res.partner"].create({"name": "Shared customer"})):
            enter = self.env["customer.data.request.enter"].with_user(officer_b).create({
                "request_type": "objection", "partner_id": partner.id, "handover_id": self.handover.id})
            with self.assertRaises(UserError):  # an AccessError is one too
                enter.action_enter()
        self.assertFalse(self.env[Request].search([("handover_id", "=", self.handover.id)]))

    def test_refuse_another_company_s_request(self):
        request = self.env[Request].sudo()._receive("deletion", self.alice, self.handover, "customer_page")
        wizard = self._call("ch_officer_b", "customer.data.request.refuse", "create", [{
            "request_ids": [(6, 0, request.ids)], "reason": "Not ours"}])
        if "result" in wizard:
            answer = self._call("ch_officer_b", "customer.data.request.refuse", "action_refuse", [[wizard["result"]]])
            self.assertEqual(answer.get("error", {}).get("data", {}).get("name"), "odoo.exceptions.UserError",
                             answer)
        refuse = self.env["customer.data.request.refuse"].with_user(self.officer_b).create(
            {"request_ids": [(6, 0, request.ids)], "reason": "Not ours"})
        with self.assertRaises(UserError):
            refuse.action_refuse()
        self.assertEqual(request.state, "new")
        self.assertFalse(self.env["customer.handover.event"].sudo().search(
            [("event", "=", "data_request_refused")]), "no refusal logged, not even of nothing")


@tagged("post_install", "-at_install", "customer_handover_requests", "customer_handover_hostile")
class TestRequestsOutsideTheOfficers(AttackCase):
    def test_requests_are_read_by_the_officers_of_their_company_only(self):
        request = self.env[Request].sudo()._receive("copy", self.alice, self.handover, "customer_page")
        for login in ("ch_user", "ch_manager", "ch_employee", "ch_portal", "ch_officer_b"):
            answer = self._call(login, Request, "search_read", [[]], {"fields": ["name", "partner_id"]})
            self.assertFalse(answer.get("result"), f"{login} read requests: {answer.get('result')}")
            self._refused(login, Request, "read", [request.ids, ["partner_id"]])
        self.assertEqual(self._kw("ch_officer", Request, "read", [request.ids, ["name"]])[0]["name"], request.name)
        self.authenticate(None, None)
        answer = self.url_open(f"/web/dataset/call_kw/{Request}/search_read", data=json.dumps(
            {"jsonrpc": "2.0", "method": "call", "id": 1, "params": {
                "model": Request, "method": "search_read", "args": [[]], "kwargs": {}}}),
            headers={"Content-Type": "application/json"}).json()
        self.assertIn("error", answer, "an anonymous visitor reads no request")

    def test_request_facts_are_refused_to_every_group(self):
        request = self.env[Request].sudo()._receive("copy", self.alice, self.handover, "customer_page")
        attacks = {"state": "done", "refuse_reason": "x", "due_date": "2099-01-01", "channel": "phone",
                   "received_on": "2020-01-01 00:00:00", "forwarded_on": "2020-01-01 00:00:00",
                   "forward_needed": True, "partner_id": self.wang.id, "request_type": "deletion"}
        for login in ("ch_officer", "ch_manager", "ch_user", "admin"):
            for name, value in attacks.items():
                self._refused(login, Request, "write", [request.ids, {name: value}])
            self._refused(login, Request, "create", [{
                "request_type": "deletion", "partner_id": self.wang.id, "company_id": self.company_a.id,
                "received_on": "2026-01-01 00:00:00", "channel": "phone", "due_date": "2026-01-10"}])
            self._refused(login, Request, "unlink", [request.ids])
            self._refused(login, Request, "copy", [request.ids])
            self._refused(login, "customer.handover.notice", "copy", [self.li_notice.ids])
        self.assertEqual((request.state, request.partner_id), ("new", self.alice))

    def test_no_run_is_started_outside_the_managers_of_the_company(self):
        other = self._signed(self.pierre)
        for login in ("ch_user", "ch_employee", "ch_portal", "ch_manager_b", "ch_officer_b"):
            for method in ("action_open_notify", "action_notice_resend", "action_notice_letters",
                           "action_notice_letters_posted"):
                answer = self._call(login, "customer.handover", method, [other.ids])
                self.assertIn("error", answer, f"{login} called {method}")
            answer = self._call(login, "customer.handover.notify", "web_save", [[], {
                "handover_id": other.id, "send_mode": "now"}], {"specification": {}})
            self.assertIn("error", answer, f"{login} opened the preview")
        self.assertFalse(other.notice_ids, "nobody outside the managers told a customer")


@tagged("post_install", "-at_install", "customer_handover_requests", "customer_handover_hostile")
class TestCopyIsEvidence(AttackCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.request = cls.env[Request].sudo()._receive("copy", cls.alice, cls.handover, "customer_page")
        cls.copy = cls.request.copy_attachment_id.sudo()

    def _reads(self):
        return self.env["customer.handover.event"].sudo().search(
            [("event", "=", "data_request_copy_read"), ("res_model", "=", Request), ("res_id", "=", self.request.id)])

    def _download(self, login):
        self.authenticate(login, login)
        self.env.flush_all()
        response = self.url_open(f"/customer_handover/request/{self.request.id}/copy")
        self.env.invalidate_all()
        return response

    def test_the_copy_is_kept_whoever_asks(self):
        self.assertEqual(self.copy.handover_evidence, "served")
        content = self.copy.raw
        for login in ("ch_officer", "admin"):
            self._refused(login, "ir.attachment", "unlink", [self.copy.ids])
            for values in ({"name": "renamed.xlsx"}, {"raw": "forged"}, {"res_id": self.request.id + 1}):
                self._refused(login, "ir.attachment", "write", [self.copy.ids, values])
            self._refused(login, Request, "write", [self.request.ids, {"copy_attachment_id": False}])
            found = self._kw(login, "ir.attachment", "search_read", [[("res_model", "=", Request)]],
                             {"fields": ["name"]})
            self.assertFalse(found, f"{login} finds the copy outside its step")
            self.authenticate(login, login)
            response = self.url_open(f"/web/content/ir.attachment/{self.copy.id}/datas")
            self.assertNotEqual(response.status_code, 200, f"{login} read the copy past its step")
        for attack in (self.copy.unlink, lambda: self.copy.write({"name": "x.xlsx"})):
            with self.assertRaises(AccessError):
                attack()
        self.env.invalidate_all()
        self.assertEqual((self.copy.raw, self.request.copy_attachment_id), (content, self.copy))
        self.assertFalse(self._reads())

    def test_the_copy_is_served_by_its_step_to_officers_of_its_company_and_logged(self):
        for login in ("ch_manager", "ch_user", "ch_officer_b", "ch_employee", "ch_portal"):
            response = self._download(login)
            self.assertNotEqual(response.status_code, 200, login)
            self.assertNotEqual(response.content, self.copy.raw, login)
        self.assertFalse(self._reads(), "no read logged for the refused")
        response = self._download("ch_officer")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, self.copy.raw)
        self.assertEqual([json.loads(read.payload)["for"] for read in self._reads()], ["download"])
        action = self.request.with_user(self.officer).action_send_copy()
        attachment = self.env["ir.attachment"].browse(action["context"]["default_attachment_ids"])
        self.assertEqual(attachment.raw, self.copy.raw, "the mail carries the copy")
        self.assertFalse(attachment.handover_evidence, "the mail's own file, which its author may remove")
        self.assertEqual(sorted(json.loads(read.payload)["for"] for read in self._reads()), ["download", "mail"])
        for user in (self.manager, self.officer_b):
            with self.assertRaises(AccessError):
                self.request.with_user(user).action_send_copy()


@tagged("post_install", "-at_install", "customer_handover_notices", "customer_handover_hostile")
class TestCancelledHandoverTellsNobody(AttackCase):
    def test_no_resend_nor_letter_once_cancelled(self):
        self.alice_notice._mail_outcome("mail_smtp")
        self.assertEqual(self.alice_notice.state, "bounced")
        handover = self.handover.with_user(self.manager)
        handover._cancel("The buyer withdrew.")
        mails = self.env["mail.mail"].sudo().search([])
        for step in (handover.action_notice_resend, handover.action_notice_letters,
                     self.li_notice.with_user(self.manager).action_mark_posted,
                     lambda: self.env["ir.actions.report"].with_user(self.manager)._render_qweb_html(
                         LETTERS, self.li_notice.ids)):
            with self.assertRaisesRegex(UserError, "is cancelled: its customers are not told"):
                step()
        self.assertEqual(self.env["mail.mail"].sudo().search([]), mails, "nobody was emailed")
        self.assertEqual((self.alice_notice.state, self.li_notice.state), ("bounced", "no_address"))
        self.assertFalse(self._events(self.handover, "notices_resent") | self._events(
            self.handover, "notice_letters_printed") | self._events(self.handover, "notice_letter_posted"))


@tagged("post_install", "-at_install", "customer_handover_requests", "customer_handover_hostile")
class TestWithdrawalByRequestIsEvidence(AttackCase):
    def test_nobody_claims_a_consent_was_withdrawn_by_the_customer_s_request(self):
        request = self.env[Request].sudo()._receive("deletion", self.alice, self.handover, "customer_page")
        consent = self.env["customer.consent"].search([("partner_id", "=", self.wang.id)])
        for login in ("ch_user", "ch_manager", "ch_officer", "admin"):
            for values in ({"withdrawal_channel": "customer_page"}, {"withdrawal_request_id": request.id},
                           {"state": "withdrawn", "date_withdrawn": "2026-12-01",
                            "withdrawal_channel": "customer_page", "withdrawal_request_id": request.id}):
                self._refused(login, "customer.consent", "write", [consent.ids, values],
                              fields=[name for name in values if name.startswith("withdrawal_")])
            self._refused(login, "customer.consent", "create", [{
                "partner_id": self.pierre.id, "purpose_id": self.purpose_marketing.id, "state": "withdrawn",
                "date_given": "2026-01-01", "date_withdrawn": "2026-12-01", "withdrawal_channel": "customer_page",
                "withdrawal_request_id": request.id}], fields=["withdrawal_channel", "withdrawal_request_id"])
        self.assertEqual((consent.state, consent.withdrawal_channel, consent.withdrawal_request_id),
                         ("granted", False, self.env[Request]))
        self.assertFalse(self.env["customer.consent"].search([("partner_id", "=", self.pierre.id),
                                                              ("purpose_id", "=", self.purpose_marketing.id)]))
        # the request's own step still withdraws it
        withdrawal = self.env[Request].sudo()._receive("withdrawal", self.wang, self.handover, "customer_page",
                                                       purpose=self.purpose_service)
        self.assertEqual((consent.state, consent.withdrawal_channel, consent.withdrawal_request_id),
                         ("withdrawn", "customer_page", withdrawal))


@tagged("post_install", "-at_install", "customer_handover_requests", "customer_handover_hostile")
class TestCopyKeepsToItsCompany(AttackCase):
    def test_the_copy_holds_nothing_of_another_company(self):
        self.env["customer.consent"].create({"partner_id": self.alice.id, "purpose_id": self.purpose_marketing.id,
                                             "company_id": self.company_b.id, "date_given": "2026-02-02"})
        request = self.env[Request].sudo()._receive("copy", self.alice, self.handover, "customer_page")
        book = load_workbook(io.BytesIO(request.copy_attachment_id.sudo().raw), read_only=True)
        consents = list(book["Consents"].iter_rows(min_row=2, values_only=True))
        self.assertEqual([(row[0], row[1]) for row in consents], [(self.purpose_service.name, self.company_a.name)],
                         "company A's officer reads company A's consents only")
        text = " ".join(str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row)
        self.assertNotIn(self.company_b.name, text)
