"""Each party signs as itself: the receiving party's representative from a personal link, over HTTP.

The link is the one mailed (read back from mail.mail), the code the one mailed after it; the browser is an
anonymous HTTP client. In person stays possible when chosen, and is recorded as witnessed.
"""

import json
import re

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, HttpCase, tagged
from odoo.tools import SQL

from .common import HandoverCase, RpcMixin
from .test_hostile_orm import SIGNATURE, HostileFixture

LINK = re.compile(r"/customer_handover/sign/(\d+)\?access_token=([\w-]+)")
CODE = re.compile(r'class="o_sign_code"[^>]*>\s*(\d{6})\s*<')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
UNUSABLE = "This link cannot be used"
FORGED = "FORGED-5521"


@tagged("post_install", "-at_install", "customer_handover_signing")
class TestRemoteSigning(RpcMixin, HostileFixture, HandoverCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_fixture()
        cls.representative = cls.env["res.partner"].create(
            {"name": "李代表", "email": "li.daibiao@xinjin.example.cn", "parent_id": cls.receiver.id}
        )

    # ------------------------------------------------------------------------------------------ helpers

    def _waiting(self):
        """A verified handover that the manager signed as themself: the receiving party still signs."""
        handover = self._handover_at("verified")
        handover.receiver_responsible_id = self.representative
        handover.with_user(self.manager)._sign("transfer", None, SIGNATURE, channel="user")
        return handover

    def _send_link(self, handover):
        """The manager sends the link from the sign wizard; returns (link, url path) as mailed."""
        sign = Form(
            self.env["customer.handover.sign"].with_user(self.manager).with_context(default_handover_id=handover.id)
        )
        self.assertEqual((sign.side, sign.channel), ("receiver", "link"), "remote signing is the receiver's default")
        self.assertEqual(sign.link_partner_id, self.representative)
        self.assertFalse(sign.problem)
        sign.save().action_send_link()
        link = handover.sign_request_ids.filtered(lambda request: request.state == "pending")
        self.assertEqual(len(link), 1)
        mail = self._mails(link)[:1]
        self.assertEqual(mail.email_to, self.representative.email)
        found = LINK.search(mail.body_html)
        self.assertTrue(found, "the mail carries the personal link")
        self.assertEqual(int(found[1]), link.id)
        return link, found[0]

    def _mails(self, link):
        return self.env["mail.mail"].search([("model", "=", link._name), ("res_id", "=", link.id)], order="id desc")

    def _get(self, path):
        self.env.flush_all()
        response = self.url_open(path)
        self.env.invalidate_all()
        return response

    def _post(self, path, data, page):
        """Post a form of ``page`` (an earlier response, whose CSRF token it sends) to ``path``."""
        self.env.flush_all()
        csrf = CSRF.search(page.text)
        response = self.url_open(path, data={**data, "csrf_token": csrf[1] if csrf else ""})
        self.env.invalidate_all()
        return response

    def _action(self, link_path, action):
        link_id, token = LINK.search(link_path).groups()
        return f"/customer_handover/sign/{link_id}/{action}", token

    def _ask_code(self, link, link_path):
        page = self._get(link_path)
        path, token = self._action(link_path, "code")
        answer = self._post(path, {"access_token": token}, page)
        mail = self._mails(link)[:1]
        found = CODE.search(mail.body_html or "")
        return answer, found and found[1]

    def _enter_code(self, link_path, code, page):
        path, token = self._action(link_path, "verify")
        return self._post(path, {"access_token": token, "code": code}, page)

    def _accept(self, link_path, name="李代表", signature=None):
        path, token = self._action(link_path, "accept")
        signature = signature or SIGNATURE.decode()
        self.env.flush_all()
        body = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {"access_token": token, "name": name, "signature": signature},
        }
        response = self.url_open(path, data=json.dumps(body), headers={"Content-Type": "application/json"})
        self.env.invalidate_all()
        return response.json().get("result") or response.json()

    def _unusable(self, response):
        self.assertEqual(response.status_code, 404)
        self.assertIn(UNUSABLE, response.text)
        self.assertNotIn("Wang Fang", response.text)

    # ------------------------------------------------------------------------------------------ the flow

    def test_the_receiver_signs_from_its_link_after_the_code(self):
        handover = self._waiting()
        link, link_path = self._send_link(handover)
        self.assertIn("Signing link for the receiving party sent to", handover.message_ids[0].body)

        page = self._get(link_path)
        self.assertEqual(page.status_code, 200)
        self.assertIn("li***", page.text, "the page says where the code goes, masked")
        self.assertNotIn("Wang Fang", page.text, "the checklist stays closed before the code")
        answer, code = self._ask_code(link, link_path)
        self.assertIn("A code was sent", answer.text)
        self.assertTrue(code, "the code was mailed to the representative")
        self.assertNotIn(code, (link.sudo().code_hash or ""), "the code is kept hashed")
        self.assertEqual(
            self._accept(link_path).get("error")[:24], "This link cannot be used", "no signature before the code"
        )

        opened = self._enter_code(link_path, code, answer)
        self.assertEqual(opened.status_code, 200)
        self.assertIn("Wang Fang", opened.text, "the checklist opens with the code")
        self.assertIn("portal.signature_form", opened.text)
        record = self._get(self._action(link_path, "record")[0] + "?access_token=" + self._action(link_path, "x")[1])
        self.assertEqual(record.headers["Content-Type"], "application/pdf")

        result = self._accept(link_path)
        self.assertEqual(result, {"force_refresh": True, "redirect_url": "/customer_handover/sign/done"})
        self.assertEqual(handover.state, "signed")
        self.assertEqual(
            (
                handover.receiver_signer,
                handover.receiver_sign_channel,
                handover.receiver_sign_email,
                handover.receiver_sign_ip,
                handover.receiver_sign_request_id,
                handover.receiver_witness_id,
            ),
            ("李代表", "link", self.representative.email, "127.0.0.1", link, self.env["res.users"]),
        )
        self.assertTrue(handover.receiver_signature)
        self.assertEqual((link.state, link.signed_ip), ("signed", "127.0.0.1"))
        self.assertEqual(handover.transfer_signer_user_id, self.manager)
        self.assertEqual(
            handover.receiver_sign_note,
            f"Signed from a personal link sent to {self.representative.email}, from the address 127.0.0.1",
        )
        events = self._events(res_model="customer.handover.sign.request", res_id=link.id).mapped("event")
        self.assertEqual(sorted(events), ["sign_code_accepted", "sign_code_sent", "sign_link_sent"])
        signed = self._events(res_model="customer.handover", res_id=handover.id, event="handover_signed")[:1]
        self.assertEqual(json.loads(signed.payload), {"side": "receiver", "channel": "link", "link": link.id})
        self.assertNotIn(self.representative.email, signed.payload, "the log keeps ids, not addresses")

        note = handover.message_ids.filtered(lambda message: "from the personal link" in (message.body or ""))
        self.assertEqual(note.author_id, self.representative, "the chatter names who signed, not the system")

        # replay: the used link, its page, its code and its signature route are closed
        self._unusable(self._get(link_path))
        self.assertIn("error", self._accept(link_path))
        self._unusable(self._enter_code(link_path, code, page))
        self.assertEqual(handover.receiver_sign_request_id, link)

    def test_an_expired_link_shows_the_plain_page_and_sends_no_code(self):
        handover = self._waiting()
        link, link_path = self._send_link(handover)
        page = self._get(link_path)
        self.env.cr.execute(
            SQL(
                "UPDATE customer_handover_sign_request SET expires_on = now() - interval '1 hour' WHERE id = %s",
                link.id,
            )
        )
        self.env.invalidate_all()
        self._unusable(self._get(link_path))
        mails = len(self._mails(link))
        path, token = self._action(link_path, "code")
        self._unusable(self._post(path, {"access_token": token}, page))
        self.assertEqual(len(self._mails(link)), mails, "no code for an expired link")
        self.assertEqual(link.code_count, 0)

    def test_wrong_codes_are_counted_and_spend_the_code(self):
        handover = self._waiting()
        link, link_path = self._send_link(handover)
        answer, code = self._ask_code(link, link_path)
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        for attempt in range(1, 6):
            with self.subTest(attempt=attempt):
                refused = self._enter_code(link_path, wrong, answer)
                self.assertIn("This code is not valid", refused.text)
                self.assertNotIn("Wang Fang", refused.text)
                self.assertEqual(link.code_attempts, attempt)
        self.assertFalse(link.sudo().code_hash, "the fifth wrong code spent the code")
        self.assertIn(
            "This code is not valid", self._enter_code(link_path, code, answer).text, "the right code comes too late"
        )
        self.assertEqual(len(self._events(res_model=link._name, res_id=link.id, event="sign_code_refused")), 6)

        again, _code = self._ask_code(link, link_path)
        self.assertIn("No new code was sent", again.text, "a new code waits a minute")
        self.assertEqual(link.code_count, 1)
        for count in range(2, 6):
            self.env.cr.execute(
                SQL(
                    "UPDATE customer_handover_sign_request SET code_sent_on = now() - "
                    "interval '2 minutes' WHERE id = %s",
                    link.id,
                )
            )
            self.env.invalidate_all()
            answer, code = self._ask_code(link, link_path)
            self.assertIn("A code was sent", answer.text)
            self.assertEqual(link.code_count, count)
        self.env.cr.execute(
            SQL(
                "UPDATE customer_handover_sign_request SET code_sent_on = now() - interval '2 minutes' WHERE id = %s",
                link.id,
            )
        )
        self.env.invalidate_all()
        self.assertIn("No new code was sent", self._ask_code(link, link_path)[0].text, "five codes per link")
        self.assertEqual(link.code_count, 5)
        self.assertIn("Wang Fang", self._enter_code(link_path, code, answer).text, "the last code still opens")
        self.assertFalse(handover.receiver_signed_on)

    def test_a_token_opens_its_own_link_only(self):
        first, second = self._waiting(), self._waiting()
        link, link_path = self._send_link(first)
        other, _other_path = self._send_link(second)
        _path, token = self._action(link_path, "x")
        crossed = f"/customer_handover/sign/{other.id}?access_token={token}"
        self._unusable(self._get(crossed))
        self._unusable(self._get(f"/customer_handover/sign/{other.id}"))
        self._unusable(self._get(f"/customer_handover/sign/{other.id + 1000}?access_token={token}"))
        self.assertIn("error", self._accept(crossed))
        answer, code = self._ask_code(link, link_path)
        self.assertIn("Wang Fang", self._enter_code(link_path, code, answer).text)
        self.assertIn("error", self._accept(crossed), "a code entered for one link opens no other")
        self.assertFalse(second.receiver_signed_on)
        self.assertEqual(other.code_count, 0)

    def test_a_huge_body_is_refused_unread(self):
        handover = self._waiting()
        _link, link_path = self._send_link(handover)
        path, token = self._action(link_path, "accept")
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "call",
                "params": {"access_token": token, "name": "x", "signature": "A" * (3 * 1024 * 1024)},
            }
        )
        response = self.url_open(path, data=body, headers={"Content-Type": "application/json"})
        # a JSON route answers its errors in JSON: werkzeug refused to read the body
        self.assertEqual(response.json()["error"]["data"]["name"], "werkzeug.exceptions.RequestEntityTooLarge")
        form_path, _token = self._action(link_path, "verify")
        self.assertEqual(self.url_open(form_path, data={"code": "1" * (32 * 1024)}).status_code, 413)
        self.assertFalse(handover.receiver_signed_on)

    def test_a_new_link_replaces_the_one_before(self):
        handover = self._waiting()
        first, first_path = self._send_link(handover)
        second, _path = self._send_link(handover)
        self.assertEqual((first.state, second.state), ("cancelled", "pending"))
        self._unusable(self._get(first_path))

    def test_choosing_the_contact_to_send_the_link_to_names_the_representative(self):
        handover = self._handover_at("verified")
        handover.with_user(self.manager)._sign("transfer", None, SIGNATURE, channel="user")
        self.assertFalse(handover.receiver_responsible_id)
        sign = Form(
            self.env["customer.handover.sign"].with_user(self.manager).with_context(default_handover_id=handover.id)
        )
        self.assertEqual((sign.side, sign.channel), ("receiver", "link"))
        sign.link_partner_id = self.representative
        self.assertEqual(sign.signer, "李代表", "the contact the link goes to is the representative who signs")
        self.assertFalse(sign.problem)

    def test_a_chosen_signer_of_the_transferring_side_signs_from_a_link_too(self):
        handover = self._handover_at("verified")
        director = self.env["res.partner"].create({"name": "张董事", "email": "zhang.dongshi@example.com"})
        sign = Form(
            self.env["customer.handover.sign"].with_user(self.manager).with_context(default_handover_id=handover.id)
        )
        self.assertEqual((sign.side, sign.channel), ("transfer", "user"))
        sign.channel = "link"
        sign.link_partner_id = director
        sign.signer = "张董事"
        sign.save().action_send_link()
        link = handover.sign_request_ids
        link_path = LINK.search(self._mails(link)[:1].body_html)[0]
        answer, code = self._ask_code(link, link_path)
        self.assertIn(
            "You are asked to sign for the transferring party", self._enter_code(link_path, code, answer).text
        )
        self.assertEqual(
            self._accept(link_path, name="张董事"),
            {"force_refresh": True, "redirect_url": "/customer_handover/sign/done"},
        )
        self.assertEqual(
            (handover.transfer_signer, handover.transfer_sign_channel, handover.transfer_sign_email),
            ("张董事", "link", director.email),
        )
        self.assertEqual(handover.state, "verified", "the receiving party still signs")

    # ------------------------------------------------------------------------------------------ in person, one user

    def test_one_user_never_signs_both_sides_without_the_in_person_record(self):
        handover = self._waiting()
        with self.assertRaisesRegex(UserError, "You already signed for the other party"):
            handover.with_user(self.manager)._sign("receiver", None, SIGNATURE, channel="user")
        with self.assertRaisesRegex(UserError, "You are not the receiving party"):
            handover.with_user(self.officer)._sign("receiver", None, SIGNATURE, channel="user")
        manager_contact = self.env["res.partner"].create({"name": "Manager at home", "email": self.manager.email})
        with self.assertRaisesRegex(UserError, "belongs to .* who signed for the other party"):
            handover.with_user(self.manager)._send_sign_link("receiver", manager_contact)
        with self.assertRaisesRegex(AccessError, "Only handover managers can send a signing link"):
            handover.with_user(self.handover_user)._send_sign_link("receiver", self.representative)
        self.assertFalse(handover.receiver_signed_on)

        sign = Form(
            self.env["customer.handover.sign"].with_user(self.manager).with_context(default_handover_id=handover.id)
        )
        sign.channel = "user"
        self.assertIn("You already signed for the other party", sign.problem)
        sign.channel = "in_person"
        self.assertEqual(sign.signer, "李代表")
        self.assertFalse(sign.problem)
        sign.signature = SIGNATURE
        sign.save().action_sign()
        self.assertEqual(handover.state, "signed")
        self.assertEqual(
            (handover.receiver_sign_channel, handover.receiver_witness_id, handover.receiver_signer),
            ("in_person", self.manager, "李代表"),
        )
        self.assertEqual(handover.receiver_sign_note, f"Signed in person, witnessed by {self.manager.name}")

    def test_the_token_and_the_code_reach_no_user_of_the_database(self):
        handover = self._waiting()
        link, link_path = self._send_link(handover)
        _answer, code = self._ask_code(link, link_path)
        _path, token = self._action(link_path, "x")
        for user in (self.handover_user, self.manager, self.officer):
            with self.subTest(user=user.login, way="the link's messages"):
                messages = self._call(
                    user.login,
                    "mail.message",
                    "search_read",
                    [[("model", "=", link._name), ("res_id", "=", link.id)], ["body"]],
                )
                text = json.dumps(messages, ensure_ascii=False)
                self.assertNotIn(token, text)
                self.assertNotIn(code, text)
            with self.subTest(user=user.login, way="get_portal_url"):
                self._refused(user.login, link._name, "get_portal_url", [link.ids])
            with self.subTest(user=user.login, way="the portal's share wizard"):
                shared = self._call(
                    user.login,
                    "portal.share",
                    "default_get",
                    [["share_link"]],
                    {"context": {"active_model": link._name, "active_id": link.id}},
                )
                self.assertNotIn(token, json.dumps(shared))
        self.assertIn(code, self._mails(link)[0].body_html, "the mail itself carries the code to its recipient")

    # ------------------------------------------------------------------------------------------ hostile writes

    def test_the_new_evidence_is_refused_to_every_group_over_json_rpc(self):
        handover = self._waiting()
        link, _path = self._send_link(handover)
        unsigned = self._handover_at("verified")
        handover_forged = {
            "receiver_sign_channel": "in_person",
            "receiver_witness_id": self.officer.id,
            "receiver_signer_user_id": self.officer.id,
            "receiver_sign_email": FORGED,
            "receiver_sign_ip": FORGED,
            "receiver_sign_request_id": link.id,
            "transfer_sign_channel": "link",
        }
        link_forged = {
            "state": "signed",
            "email": FORGED,
            "expires_on": "2099-01-01 00:00:00",
            "code_attempts": 0,
            "code_count": 0,
            "verified_on": "2020-01-02 03:04:05",
            "signed_ip": FORGED,
            "access_token": FORGED,
            "code_hash": FORGED,
        }
        for user in (self.handover_user, self.manager, self.officer, self.admin):
            for record, values in ((unsigned, handover_forged), (link, link_forged)):
                for name, value in values.items():
                    with self.subTest(user=user.login, model=record._name, field=name):
                        before = record.sudo().read([name])
                        self._refused(user.login, record._name, "write", [record.ids, {name: value}], fields=[name])
                        self.env.invalidate_all()
                        self.assertEqual(record.sudo().read([name]), before)
        for user in (self.manager, self.officer, self.admin):
            with self.subTest(user=user.login, operation="create"):
                self._refused(
                    user.login,
                    link._name,
                    "create",
                    [
                        {
                            "handover_id": handover.id,
                            "side": "receiver",
                            "email": FORGED,
                            "requested_by_id": user.id,
                            "requested_on": "2026-01-01 00:00:00",
                            "expires_on": "2099-01-01 00:00:00",
                        }
                    ],
                )
            with self.subTest(user=user.login, operation="unlink"):
                self._refused(user.login, link._name, "unlink", [link.ids])
        for user in (self.handover_user, self.manager, self.officer):
            with self.subTest(user=user.login, operation="read the token"):
                self._refused(user.login, link._name, "read", [link.ids, ["access_token"]])
                self._refused(user.login, link._name, "read", [link.ids, ["code_hash"]])
        for values in ({"state": "signed"}, {"expires_on": "2099-01-01 00:00:00"}, {"code_hash": FORGED}):
            with self.subTest(user="superuser", fields=sorted(values)), self.assertRaises(AccessError):
                link.sudo().write(values)
        self.assertEqual(link.state, "pending")
