"""Telling the handed-over customers: the preview, the run, Odoo's mail queue and gateway, letters, and faults."""

import base64
import io
import re
import shutil
import subprocess
import tempfile
import unicodedata
from contextlib import nullcontext
from pathlib import Path

from openpyxl import load_workbook
from psycopg2 import IntegrityError

from odoo.addons.customer_handover.models.customer_handover_evidence_mixin import CREATE, evidence_step
from odoo.addons.customer_handover.models.customer_handover_job import BATCH_PARAM, THRESHOLD_PARAM
from odoo.addons.customer_handover.tools.notice_text import text_digest
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged
from odoo.tools import html2plaintext, mute_logger, plaintext2html
from odoo.tools.translate import TranslationImporter

from .common import HandoverCase
from .smtp_sink import SmtpSink
from .test_transfer_move import NDA, SIGNATURE

PO = Path(__file__).resolve().parents[2] / "customer_handover" / "i18n" / "zh_CN.po"
# A delivery status notification as a mail server returns it (RFC 3464), carrying the bounced email's headers.
BOUNCE = """Return-Path: <>
Received: by mail.example.net (Postfix) id 4F1A; Sat,  5 Dec 2026 10:00:01 +0800 (CST)
Date: Sat,  5 Dec 2026 10:00:01 +0800 (CST)
From: MAILER-DAEMON@mail.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {to}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="4F1A.1764900001/mail.example.net"
Message-Id: <20261205020001.4F1A@mail.example.net>

This is a MIME-encapsulated message.

--4F1A.1764900001/mail.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered to one or more recipients.

<{recipient}>: host mx.example.com said: 550 5.1.1 No such user

--4F1A.1764900001/mail.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.net
Arrival-Date: Sat,  5 Dec 2026 10:00:00 +0800 (CST)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 No such user

--4F1A.1764900001/mail.example.net
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <{to}>
Message-Id: {message_id}
Subject: {subject}
From: {to}
To: {recipient}
Date: Sat,  5 Dec 2026 09:59:59 +0800

--4F1A.1764900001/mail.example.net--
"""


class NoticeCase(HandoverCase):
    """Customers of every kind (languages, addresses) on a handover signed by both parties."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("zh_CN")
        cls.env["res.lang"]._activate_lang("fr_FR")
        cls.env["ir.module.module"]._load_module_terms(["customer_handover"], ["zh_CN"], overwrite=True)
        # Odoo's reader keeps only the terms of the shipped .pot, regenerated at merge: read the .po alone as well.
        with tempfile.TemporaryDirectory() as folder:
            shutil.copy(PO, Path(folder) / "zh_CN.po")
            importer = TranslationImporter(cls.env.cr, verbose=False)
            with open(Path(folder) / "zh_CN.po", "rb") as po:
                importer.load(po, "po", "zh_CN")
            importer.save(overwrite=True)
        cls.company_a.partner_id.write({"email": "privacy@company-a.example.cn", "lang": "en_US"})
        cls.receiver = cls.env["res.partner"].create({
            "name": "Xinjin Trading Ltd", "is_company": True, "email": "legal@xinjin.example.cn",
            "phone": "+86 571 8888 0000", "city": "Hangzhou"})
        Partner = cls.env["res.partner"].with_context(tracking_disable=True)
        address = {"street": "1 Nanjing Road", "city": "Shanghai", "zip": "200001"}
        cls.alice = Partner.create({"name": "Alice Martin", "email": "alice@example.com", "lang": "en_US", **address})
        cls.wang = Partner.create({"name": "王芳", "email": "wangfang@example.cn", "lang": "zh_CN", **address})
        cls.pierre = Partner.create({"name": "Pierre Durand", "email": "pierre@example.fr", "lang": "fr_FR"})
        cls.li = Partner.create({"name": "李雷", "lang": "zh_CN", "street": "88 Huaihai Road", "city": "Shanghai"})
        cls.zhao = Partner.create({"name": "赵敏", "lang": "zh_CN"})
        cls.customers = cls.alice | cls.wang | cls.pierre | cls.li | cls.zhao
        cls.env["customer.consent"].create([
            {"partner_id": partner.id, "purpose_id": cls.purpose_service.id, "date_given": "2026-01-01"}
            for partner in cls.customers])
        cls.Notice = cls.env["customer.handover.notice"]
        cls.Job = cls.env["customer.handover.job"]
        # Odoo's mail queue sends to a real SMTP server listening on this machine.
        cls.smtp = SmtpSink().start()
        cls.addClassCleanup(cls.smtp.stop)
        cls.env["ir.mail_server"].search([]).active = False
        cls.env["ir.mail_server"].create({"name": "Test sink", "smtp_host": "127.0.0.1", "smtp_port": cls.smtp.port,
                                          "smtp_encryption": "none"})

    @classmethod
    def _signed(cls, customers=None, receiver=None, **values):
        """A handover of ``customers`` driven by its steps, as restricted users, up to signed by both parties."""
        self = cls
        form = Form(self.env["customer.handover"].with_user(self.handover_user))
        form.receiver_id = receiver or self.receiver
        form.reason = "shop_transfer"
        form.purpose_ids.add(self.purpose_service)
        for name, value in values.items():
            setattr(form, name, value)
        handover = form.save()
        Form(self.env["customer.handover.scope"].with_user(self.handover_user).with_context(
            active_model="res.partner", active_ids=(customers or self.customers).ids, default_handover_id=handover.id,
        )).save().action_confirm()
        handover.write(NDA)
        handover.with_user(self.manager).action_confirm()
        handover.with_user(self.manager).action_start()
        handover.line_ids.with_user(self.handover_user).action_verify()
        handover.with_user(self.handover_user).action_mark_verified()
        handover._sign("transfer", "王经理", SIGNATURE, channel="in_person")
        handover._sign("receiver", "李代表", SIGNATURE, channel="in_person")
        if handover.state != "signed":
            raise AssertionError(f"the handover is {handover.state}, not signed")
        return handover

    def _preview(self, handover, user=None):
        return Form(self.env["customer.handover.notify"].with_user(user or self.manager).with_context(
            default_handover_id=handover.id))

    def _send_now(self, handover, user=None):
        return self._preview(handover, user).save().action_confirm()

    def _notice(self, handover, partner):
        return self.Notice.search([("handover_id", "=", handover.id), ("partner_id", "=", partner.id)])

    def _mails(self, handover):
        return self.env["mail.mail"].search([("model", "=", "customer.handover.notice"),
                                             ("res_id", "in", handover.notice_ids.ids)])

    def _events(self, handover, event):
        return self.env["customer.handover.event"].search([
            ("event", "=", event), "|", ("payload", "like", f'"handover":{handover.id}'),
            "&", ("res_model", "=", "customer.handover"), ("res_id", "=", handover.id)])

    def _bounce(self, notice):
        """Feed Odoo's mail gateway the bounce of ``notice``'s email, as a mail server returns it."""
        message = notice.mail_message_id
        raw = BOUNCE.format(to=self.company_a.partner_id.email, recipient=notice.email, message_id=message.message_id,
                            subject="Notice")
        with mute_logger("odoo.addons.mail.models.mail_thread"):
            self.env["mail.thread"].message_process(False, raw)


@tagged("post_install", "-at_install", "customer_handover_notices")
class TestNoticeRun(NoticeCase):
    def test_the_preview_renders_each_language_counts_each_channel_and_sends_nothing(self):
        handover = self._signed()
        form = self._preview(handover)
        self.assertFalse(form.render_error)
        preview = html2plaintext(form.preview_html).replace("*", "")
        self.assertIn("has handed over your personal information to Xinjin Trading Ltd", preview)
        self.assertIn("将您的个人信息移交给 Xinjin Trading Ltd", preview)
        self.assertEqual((form.email_count, form.letter_count, form.nowhere_count, form.told_count), (3, 1, 1, 0))
        self.assertFalse(handover.notice_ids, "the preview keeps no notice")
        self.assertFalse(self.env["mail.mail"].search([("model", "=", "customer.handover.notice")]))
        self.assertFalse(self._events(handover, "notices_queued"))

    def test_each_customer_is_told_once_in_their_language(self):
        self.company_a.partner_id.lang = "zh_CN"  # the company's language: customers of another language get it
        handover = self._signed(receiver_abroad=True, receiver_country_id=self.env.ref("base.sg"),
                                abroad_legal_basis="standard_contract")
        self._send_now(handover)
        self.assertEqual(len(handover.notice_ids), 5)
        self.assertEqual(handover.notice_send_mode, "now")
        self.assertEqual(handover.notice_started_by_id, self.manager)
        alice, wang, pierre = (self._notice(handover, partner) for partner in (self.alice, self.wang, self.pierre))
        self.assertEqual([alice.lang, wang.lang, pierre.lang], ["en_US", "zh_CN", "zh_CN"])
        self.assertEqual({notice.state for notice in alice | wang | pierre}, {"queued"})
        self.assertEqual(self._notice(handover, self.li).state, "no_address")
        self.assertEqual(self._notice(handover, self.zhao).state, "no_address")

        mails = self._mails(handover)
        self.assertEqual(len(mails), 3, "one email per customer with an address")
        by_notice = {mail.res_id: mail for mail in mails}
        english = html2plaintext(by_notice[alice.id].body_html).replace("*", "")
        for text in ("Dear Alice Martin", self.company_a.name, "Xinjin Trading Ltd", "legal@xinjin.example.cn",
                     "+86 571 8888 0000", "Transfer of a shop", self.purpose_service.name,
                     "outside mainland China", "Singapore", "to withdraw your consent"):
            self.assertIn(text, english)
        self.assertEqual(by_notice[alice.id].email_to, self.alice.email_formatted)
        link = re.search(r'href="([^"]*/customer_handover/customer/([^"]+))"', by_notice[alice.id].body_html)
        self.assertTrue(link, "the notice carries the customer's personal link")
        self.assertEqual(self.env["customer.handover"]._customer_page_check(link.group(2)), (self.alice, handover),
                         "the link opens Alice's page about this handover")
        chinese = html2plaintext(by_notice[wang.id].body_html).replace("*", "")
        singapore = self.env.ref("base.sg").with_context(lang="zh_CN").name
        for text in ("尊敬的 王芳", "将您的个人信息移交给 Xinjin Trading Ltd", "撤回同意", "交原因：店铺转让",
                     f"接收方位于中国大陆境外：您的个人信息将被传输至{singapore}",
                     self.purpose_service.with_context(lang="zh_CN").name):
            self.assertIn(text, chinese)
        self.assertIn("您的个人信息现由 Xinjin Trading Ltd 持有", by_notice[wang.id].subject)
        self.assertIn("尊敬的 Pierre Durand", html2plaintext(by_notice[pierre.id].body_html),
                      "a French customer is told in the company's language")
        for notice in alice | wang | pierre:
            mail = by_notice[notice.id]
            self.assertEqual(notice.text_sha256, text_digest(mail.subject, mail.body_html))
            self.assertNotIn("Dear", mail.mail_message_id.body, "the message kept with the notice holds no text")
        self.assertEqual(len(self._events(handover, "notices_queued")), 1)
        self.assertEqual(len(self._events(handover, "notices_started")), 1)

    def test_a_batch_renders_and_queues_each_email_as_odoo_does_one_by_one(self):
        handover = self._signed()
        self._send_now(handover)
        notices = handover.notice_ids.filtered("mail_id")
        self.assertEqual(len(notices), 3)
        template = self.env.ref("customer_handover.mail_template_customer_notice")
        messages = notices.mail_id.mail_message_id
        self.assertEqual(len(set(messages.mapped("message_id"))), 3, "each email its own message id")
        for notice in notices:
            # one record at a time, Odoo's own rendering: the batch compiled once renders the same text
            mail = notice.mail_id
            self.assertEqual((mail.subject, mail.body_html), notice._render_texts(link=True)[notice.id])
            self.assertEqual(mail.email_from, template._generate_template(notice.ids, ["email_from"])[notice.id]
                             ["email_from"])
            message = mail.mail_message_id
            self.assertEqual((message.model, message.res_id, message.record_name, message.message_type),
                             ("customer.handover.notice", notice.id, notice.partner_id.name, "email_outgoing"))
            self.assertIn(f"-{notice.id}-customer.handover.notice@", message.message_id)
            self.assertEqual(message.author_id, messages[0].author_id)
            self.assertEqual(message.body, plaintext2html(mail.subject))
            self.assertEqual((mail.state, mail.email_to, mail.auto_delete, mail.is_notification),
                             ("outgoing", notice.partner_id.email_formatted, True, True))
        template.body_html = '<p t-out="object.partner_id.no_such_field"/>'
        with self.assertRaises(UserError, msg="a batch's failure is Odoo's own rendering's error"):
            notices._render_texts(link=True)

    def test_a_chinese_notice_lists_the_purposes_with_the_enumeration_comma(self):
        purposes = self.purpose_service | self.purpose_marketing
        handover = self.env["customer.handover"].create({"receiver_id": self.receiver.id,
                                                         "purpose_ids": [(6, 0, purposes.ids)]})
        for lang, comma in (("zh_CN", "、"), ("en_US", ", ")):
            names = [purpose.with_context(lang=lang).name for purpose in handover.purpose_ids]
            self.assertEqual(handover.with_context(lang=lang)._notice_terms()["purposes_text"], comma.join(names))

    def test_the_mail_queue_sends_and_a_bounce_through_the_gateway_puts_the_customer_on_the_letter_list(self):
        handover = self._signed()
        self._send_now(handover)
        self.smtp.messages.clear()
        self._mails(handover).send()
        alice = self._notice(handover, self.alice)
        self.assertEqual(sorted(rcpt for _sender, rcpts, _msg in self.smtp.messages for rcpt in rcpts),
                         ["alice@example.com", "pierre@example.fr", "wangfang@example.cn"], "the server received them")
        received = next(msg for _sender, rcpts, msg in self.smtp.messages if rcpts == ["alice@example.com"])
        self.assertEqual(received["Message-Id"], alice.mail_message_id.message_id)
        self.assertEqual(alice.state, "sent")
        self.assertTrue(alice.sent_on)
        self.assertEqual(handover.notice_sent_count, 3)
        self.assertFalse(self._mails(handover), "the sent emails left the queue; their messages stay")
        self.assertEqual(len(self._events(handover, "notice_sent")), 3)

        bounces = self.alice.message_bounce
        self._bounce(alice)
        self.assertEqual(alice.state, "bounced")
        self.assertEqual(alice.failure_type, "mail_bounce")
        self.assertEqual(self.alice.message_bounce, bounces + 1, "Odoo's own bounce counter still counts")
        self.assertEqual(self._notice(handover, self.wang).state, "sent", "only the bounced customer changes")
        self.assertEqual(handover.notice_letter_count, 3)
        self.assertFalse(handover.customers_told)
        self.assertEqual(len(self._events(handover, "notice_bounced")), 1)

    def test_a_failed_send_is_bounced_and_resending_is_one_click(self):
        handover = self._signed()
        self._send_now(handover)
        alice = self._notice(handover, self.alice)
        self.smtp.refused.add("alice@example.com")  # the receiving server refuses the address (550)
        with mute_logger("odoo.addons.mail.models.mail_mail"):
            self._mails(handover).send()
        self.smtp.refused.clear()
        self.assertEqual(alice.state, "bounced")
        self.assertEqual(alice.mail_id.state, "exception", "Odoo's queue keeps the failed email")
        self.assertEqual(alice.failure_type, alice.mail_id.failure_type)
        self.assertEqual(self._notice(handover, self.wang).state, "sent")
        first_digest = alice.text_sha256

        self.alice.email = "alice.martin@example.com"
        handover.with_user(self.manager).action_notice_resend()
        self.assertEqual(alice.state, "queued")
        self.assertEqual(alice.attempt_count, 2)
        self.assertEqual(alice.email, "alice.martin@example.com")
        self.assertEqual(alice.mail_id.email_to, self.alice.email_formatted)
        self.assertEqual(first_digest, alice.text_sha256, "the same text, told again")
        self.assertEqual(len(self._mails(handover)), 2, "the failed email stays in the queue, and one new")
        self._mails(handover).filtered(lambda mail: mail.state == "outgoing").send()
        self.assertEqual(alice.state, "sent")
        self.assertEqual(len(self._events(handover, "notices_resent")), 1)
        with self.assertRaisesRegex(UserError, "nothing to resend"):
            handover.with_user(self.manager).action_notice_resend()

    def test_a_failed_email_retried_from_odoo_s_queue_turns_the_notice_to_sent(self):
        handover = self._signed(self.alice | self.wang)
        self._send_now(handover)
        self.smtp.refused.add("alice@example.com")
        with mute_logger("odoo.addons.mail.models.mail_mail"):
            self._mails(handover).send()
        self.smtp.refused.clear()
        alice = self._notice(handover, self.alice)
        self.assertEqual(alice.state, "bounced")
        alice.mail_id.action_retry()  # the queue's Retry button
        alice.mail_id.send()
        self.assertEqual(alice.state, "sent")
        self.assertEqual(len(self._events(handover, "notice_sent")), 2)

    def test_letters_are_printed_posted_and_the_others_told_another_way(self):
        handover = self._signed()
        self._send_now(handover)
        self._mails(handover).send()
        with self.assertRaisesRegex(UserError, "赵敏"):
            handover.with_user(self.manager).action_notice_letters()
        zhao = self._notice(handover, self.zhao)
        with self.assertRaisesRegex(UserError, "no postal address"):
            zhao.with_user(self.manager).action_mark_posted()
        with self.assertRaisesRegex(UserError, "note"):
            zhao.with_user(self.manager)._told_otherwise("phone", "  ")
        told = Form(self.env["customer.handover.notice.told"].with_user(self.manager).with_context(
            default_notice_ids=zhao.ids))
        told.how = "in_person"
        told.note = "Told in the Huaihai Road shop on 5 December"
        told.save().action_confirm()
        self.assertEqual((zhao.state, zhao.channel, zhao.told_by_id, zhao.told_how),
                         ("told_otherwise", "other", self.manager, "in_person"))
        self.assertTrue(zhao.told_on)
        with self.assertRaisesRegex(UserError, "sent"):
            self._notice(handover, self.alice).with_user(self.manager)._told_otherwise("phone", "Called")

        action = handover.with_user(self.manager).action_notice_letters()
        self.assertEqual(action["report_name"], "customer_handover.report_notice_letter")
        self.env["ir.actions.report"].with_user(self.manager)._render_qweb_html(action["report_name"],
                                                                                 action["context"]["active_ids"])
        self.assertEqual(len(self._events(handover, "notice_letters_printed")), 1, "the rendering logs the printing")
        self.assertFalse(handover.customers_told)
        handover.with_user(self.manager).action_notice_letters_posted()
        li = self._notice(handover, self.li)
        self.assertEqual((li.state, li.channel, li.posted_by_id), ("posted", "letter", self.manager))
        self.assertEqual(len(li.text_sha256), 64)
        self.assertTrue(handover.customers_told)
        self.assertEqual(len(self._events(handover, "notice_letter_posted")), 1)
        self.assertEqual(len(self._events(handover, "notice_told_otherwise")), 1)

    def test_starting_twice_never_tells_anyone_twice(self):
        handover = self._signed()
        self._send_now(handover)
        with self.assertRaisesRegex(UserError, "nobody is told twice"):
            handover.with_user(self.manager)._notice_start()
        self.assertEqual(len(self._mails(handover)), 3)
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"), self.env.cr.savepoint():
            with evidence_step(self.Notice._name, CREATE, "handover_id", "company_id", "partner_id"):
                self.Notice.create({"handover_id": handover.id, "company_id": self.company_a.id,
                                    "partner_id": self.alice.id})
            self.env.flush_all()

    def test_a_template_that_does_not_render_stops_at_the_preview_and_nothing_is_sent(self):
        handover = self._signed()
        template = self.env.ref("customer_handover.mail_template_customer_notice")
        template.with_user(self.officer).body_html = '<p>Dear <t t-out="object.partner_id.name(">x</t></p>'
        form = self._preview(handover)
        self.assertIn("does not render", form.render_error)
        with self.assertRaisesRegex(UserError, "nothing was sent"):
            form.save().action_confirm()
        with self.assertRaisesRegex(UserError, "does not render"):
            handover.with_user(self.manager)._notice_start()
        self.assertFalse(handover.notice_ids)
        self.assertFalse(self.env["mail.mail"].search([("model", "=", "customer.handover.notice")]))

    def test_sending_at_completion_and_completion_that_waits_for_the_customers(self):
        handover = self._signed()
        with self.assertRaisesRegex(UserError, "cannot be told at completion"):
            handover.with_user(self.manager)._notice_plan("completion", False, True)
        handover.with_user(self.manager)._notice_plan("completion", False, False)
        self.env["customer.handover"]._cron_start_notices()
        self.assertFalse(handover.notice_ids, "not before completion")
        handover.with_user(self.manager).action_done()
        self.env["customer.handover"]._cron_start_notices()
        self.assertEqual(len(handover.notice_ids), 5)
        self.assertEqual(handover.notice_started_by_id, self.manager, "started as the manager who planned it")

        waiting = self._signed(self.alice | self.li)
        self._preview(waiting).save()  # the preview alone records nothing
        self.assertFalse(waiting.notice_send_mode)
        form = self._preview(waiting)
        form.send_mode = "now"
        form.notice_wait = True
        form.save().action_confirm()
        with self.assertRaisesRegex(UserError, "completes only once its customers are told"):
            waiting.with_user(self.manager).action_done()
        self.env["mail.mail"].search([("model", "=", "customer.handover.notice")]).send()
        self._notice(waiting, self.li).with_user(self.manager).action_mark_posted()
        self.assertTrue(waiting.customers_told)
        waiting.with_user(self.manager).action_done()
        self.assertEqual(waiting.state, "done")

    def test_a_planned_date_starts_the_run_on_that_day(self):
        handover = self._signed(self.alice | self.wang)
        form = self._preview(handover)
        form.send_mode = "planned"
        form.notice_date = "2099-01-01"
        form.save().action_confirm()
        self.env["customer.handover"]._cron_start_notices()
        self.assertFalse(handover.notice_ids)
        self.env.cr.execute("UPDATE customer_handover SET notice_date = '2026-01-01' WHERE id = %s", [handover.id])
        self.env.invalidate_all()
        self.env["customer.handover"]._cron_start_notices()
        self.assertEqual(len(handover.notice_ids), 2)

    def test_customers_moved_inside_this_database_are_told_too(self):
        self.company_a.with_user(self.officer).action_handover_create_signing_key()
        self.company_b.partner_id.email = "legal@company-b.example.cn"
        team = self.env["res.partner"].create({"name": "East sales team", "email": "east@example.com"})
        for receiver, values, mode in (
                (self.company_b.partner_id, {"receiver_user_id": self.user_b}, "company"),
                (team, {"reason": "team_handover", "receiver_user_id": self.manager}, "team")):
            customers = self.env["res.partner"].create([
                {"name": f"{mode} customer", "email": f"{mode}@example.com", "lang": "zh_CN"},
                {"name": f"{mode} customer without email", "street": "9 Xizang Road", "city": "Shanghai"}])
            self.env["customer.consent"].create([{"partner_id": partner.id, "purpose_id": self.purpose_service.id,
                                                  "date_given": "2026-01-01"} for partner in customers])
            handover = self._signed(customers, receiver=receiver, **values)
            self.assertEqual(handover.transfer_mode, mode)
            handover.with_user(self.manager).action_done()
            self._send_now(handover)
            self.assertEqual(sorted(handover.notice_ids.mapped("state")), ["no_address", "queued"], mode)
            mail = self._mails(handover)
            self.assertIn(receiver.name, html2plaintext(mail.body_html), mode)
            self.assertEqual(mail.email_to, customers[0].email_formatted)
            if mode == "company":
                self.assertEqual(customers.company_id, self.company_b, "told after they moved to company B")

    def test_the_cover_of_a_later_signed_export_counts_the_notices(self):
        self.company_a.with_user(self.officer).action_handover_create_signing_key()
        handover = self._signed()
        self._send_now(handover)
        export = self.env["customer.handover.export"].with_user(self.manager)._create_for(
            handover.with_user(self.manager))
        workbook = load_workbook(io.BytesIO(base64.b64decode(export.attachment_id.sudo().datas)))
        cover = {row[0].value: row[1].value for row in workbook["Cover"].iter_rows(min_row=2)}
        self.assertEqual(cover["Customer notices"], "Queued: 3 · No email address: 2")

    def test_the_letter_list_is_a_pdf_one_letter_per_customer_in_their_language(self):
        missing = [tool for tool in ("wkhtmltopdf", "pdftotext") if not shutil.which(tool)]
        if missing:
            self.skipTest(f"{', '.join(missing)} missing")
        self.env["ir.config_parameter"].set_param("report.url", "http://127.0.0.1:9")
        english = self.env["res.partner"].create({"name": "Bob Stone", "lang": "en_US", "street": "2 Bund Road",
                                                   "city": "Shanghai"})
        self.env["customer.consent"].create({"partner_id": english.id, "purpose_id": self.purpose_service.id,
                                             "date_given": "2026-01-01"})
        handover = self._signed(self.li | english)
        self._send_now(handover)
        notices = handover.notice_ids
        report = self.env["ir.actions.report"].with_user(self.manager).with_context(force_report_rendering=True)
        pdf, kind = report._render_qweb_pdf("customer_handover.customer_handover_notice_report_letter", notices.ids)
        self.assertEqual(kind, "pdf")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "letters.pdf"
            path.write_bytes(pdf)
            text = unicodedata.normalize("NFKC", subprocess.run(
                ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True, timeout=60).stdout)
            pages = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=False).stdout
        for expected in ("李雷", "88 Huaihai Road", "将您的个人信息移交给", "Bob Stone", "2 Bund Road",
                         "has handed over your personal information"):
            self.assertIn(expected, " ".join(text.split()))
        if pages:
            self.assertRegex(pages, r"Pages:\s+2\n", "one letter per customer")
        with self.assertRaises(AccessError):
            report.with_user(self.handover_user)._render_qweb_pdf(
                "customer_handover.customer_handover_notice_report_letter", notices.ids)


@tagged("post_install", "-at_install", "customer_handover_notices", "is_query_count")
class TestNoticeBackground(NoticeCase):
    def _many(self, count):
        Partner = self.env["res.partner"].with_context(tracking_disable=True)
        partners = Partner.create([{"name": f"Customer {i}", "email": f"customer{i}@example.com",
                                    "lang": "zh_CN" if i % 2 else "en_US"} for i in range(count)])
        self.env["customer.consent"].create([{"partner_id": partner.id, "purpose_id": self.purpose_service.id,
                                              "date_given": "2026-01-01"} for partner in partners])
        return partners

    def _run(self):
        for calls in range(100):
            if not self.Job.search_count([("state", "in", ("queued", "running", "cancelling"))]):
                return calls
            self.Job._cron_run()
        raise AssertionError("the job did not end")

    def test_a_large_run_goes_in_batches_and_resumes_after_a_crash_without_telling_anyone_twice(self):
        partners = self._many(9)
        handover = self._signed(partners)
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 4)
        self.env["ir.config_parameter"].set_param(BATCH_PARAM, 3)
        action = self._send_now(handover)
        self.assertEqual(action["tag"], "display_notification")
        job = handover.job_ids
        self.assertEqual((job.kind, job.total), ("notice", 9))
        with self.assertRaisesRegex(UserError, "busy"):
            handover.with_user(self.manager)._notice_start()

        self.Job._cron_run()
        self.assertEqual(len(handover.notice_ids), 3)
        # The process dies in the middle of the second batch: nothing of it is kept, nothing was sent.
        self.env.flush_all()
        with self.assertRaises(ZeroDivisionError), self.env.cr.savepoint():
            self.Job._cron_run()
            self.env.flush_all()
            self.assertEqual(len(self.Notice.search([("handover_id", "=", handover.id)])), 6)
            raise ZeroDivisionError
        self.env.invalidate_all()
        self.assertEqual(len(handover.notice_ids), 3)
        self._run()
        self.assertEqual(job.state, "done")
        self.assertEqual(sorted(handover.notice_ids.partner_id.ids), sorted(partners.ids))
        mails = self._mails(handover)
        self.assertEqual(sorted(mails.mapped("email_to")), sorted(partners.mapped("email_formatted")),
                         "one email per customer, none twice, none skipped")
        self.assertEqual(len(self._events(handover, "notices_queued")), 3, "one entry per batch")

    def test_a_batch_costs_the_same_queries_whatever_its_size(self):
        partners = self._many(14)
        handover = self._signed(partners)
        costs = []
        for size, batch in ((2, partners[:2]), (6, partners[2:8]), (6, partners[8:14])):
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            with nullcontext():
                self.Notice._notice_batch(handover, batch.ids)
                self.env.flush_all()
            costs.append((size, self.env.cr.sql_log_count - before))
        self.assertEqual(costs[1][1], costs[2][1], costs)
        self.assertLessEqual(costs[1][1], costs[0][1] + 2, costs)
