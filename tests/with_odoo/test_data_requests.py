"""A customer's requests reach the data-protection officer: each takes effect, is followed and is guarded as evidence.

The requests are received by the step the customer's page calls (``_receive`` as the system, after the token) and
entered by staff through their dialog; the officers answer them by their status steps.
"""

import io
from datetime import timedelta

from openpyxl import load_workbook

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .common import HandoverCase
from .test_hostile_orm import HostileFixture
from .test_transfer_move import MoveCase

Request = "customer.data.request"


class RequestFixture(HostileFixture):
    def _receive(self, kind, partner, handover, purpose=None, channel="customer_page"):
        # as the customer's page calls it once the token is checked
        return self.env[Request].sudo()._receive(kind, partner, handover, channel, purpose=purpose)

    def _consent(self, partner, company=None):
        return self.env["customer.consent"].search([("partner_id", "=", partner.id),
                                                    ("company_id", "=", (company or self.company_a).id)])


@tagged("post_install", "-at_install", "customer_handover_requests")
class TestDataRequests(RequestFixture, HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_fixture()
        cls.signed = cls._handover_at("signed")

    def test_withdrawal_from_a_package_handover(self):
        consent = self._consent(self.ok)
        self.assertEqual(self.signed.transfer_mode, "package")
        request = self._receive("withdrawal", self.ok, self.signed, self.purpose_service)
        self.assertEqual((consent.state, consent.date_withdrawn, consent.withdrawal_channel),
                         ("withdrawn", fields.Date.context_today(consent), "customer_page"), "withdrawn at once")
        self.assertEqual(consent.withdrawal_request_id, request)
        self.assertEqual(request.consent_ids, consent)
        self.assertTrue(request.forward_needed, "the customer left in a package: the receiver must be told")
        self.assertEqual((request.state, request.channel, request.company_id), ("new", "customer_page",
                                                                              self.company_a))
        officer_request = request.with_user(self.officer)
        with self.assertRaisesRegex(UserError, "Forward the request"):
            officer_request.action_done()
        officer_request.action_mark_forwarded()
        self.assertTrue(request.forwarded_on)
        self.assertEqual(request.forwarded_by_id, self.officer)
        with self.assertRaises(UserError):
            officer_request.action_mark_forwarded()
        officer_request.action_done()
        self.assertEqual((request.state, request.handled_by_id), ("done", self.officer))
        events = self._events(res_model=Request, res_id=request.id).mapped("event")
        self.assertEqual(events, ["data_request_done", "data_request_forwarded", "data_request_received"])

    def test_objection_before_signing_excludes_the_line(self):
        # the customers are free of the signed handover once it is cancelled
        self.signed.with_user(self.manager)._cancel("The buyer withdrew.")
        handover = self._handover_at("in_progress")
        line = self._line(handover, self.ok)
        self.assertFalse(line.excluded)
        request = self._receive("objection", self.ok, handover)
        self.assertTrue(line.excluded)
        self.assertIn(request.name, line.exclusion_reason)
        self.assertIn("objected", line.exclusion_reason)
        self.assertEqual(request.excluded_line_id, line)
        self.assertFalse(handover.new_export_needed)
        self.assertTrue(self._events(event="lines_excluded", res_id=line.id))

    def test_objection_after_signing_flags_a_new_export(self):
        line = self._line(self.signed, self.ok)
        request = self._receive("objection", self.ok, self.signed)
        self.assertFalse(line.excluded, "the signed checklist stays as signed")
        self.assertFalse(request.excluded_line_id)
        handover = self.signed.with_user(self.officer)
        self.assertTrue(handover.new_export_needed)
        self.assertTrue(request.with_user(self.officer).after_signing)
        self.assertEqual(handover.data_request_count, 1)
        self.assertEqual(self.env[Request].with_user(self.officer).search(
            handover.action_open_data_requests()["domain"]), request)
        request.with_user(self.officer)._refuse("The transfer is required by the sale contract.")
        handover.invalidate_recordset()
        self.assertFalse(handover.new_export_needed)
        self.assertEqual(request.refuse_reason, "The transfer is required by the sale contract.")

    def test_copy_is_a_workbook_of_the_customer(self):
        self.ok.write({"email": "wang.fang@example.cn", "phone": "+86 138 0000 0001", "lang": "en_US"})
        request = self._receive("copy", self.ok, self.signed)
        officer_request = request.with_user(self.officer)
        copy = officer_request._copy_attachment()
        self.assertTrue(copy.name.endswith(".xlsx"))
        book = load_workbook(io.BytesIO(copy.raw), read_only=True)
        self.assertEqual(book.sheetnames, ["Customer", "Consents", "Handovers"])
        customer = {row[0]: row[1] for row in book["Customer"].iter_rows(min_row=2, values_only=True)}
        self.assertEqual((customer["Name"], customer["Email"]), ("Wang Fang", "wang.fang@example.cn"))
        consents = list(book["Consents"].iter_rows(min_row=2, values_only=True))
        self.assertEqual([(row[0], row[2]) for row in consents], [(self.purpose_service.name, "Granted")])
        handovers = list(book["Handovers"].iter_rows(min_row=2, values_only=True))
        self.assertEqual([row[0] for row in handovers], [self.signed.name])
        self.assertIn(self._line(self.signed, self.ok).snapshot_classification, handovers[0])
        with self.assertRaises(AccessError):
            request.with_user(self.manager)._copy_attachment()
        action = officer_request.action_send_copy()
        attachment = self.env["ir.attachment"].browse(action["context"]["default_attachment_ids"])
        self.assertEqual(attachment.raw, copy.raw)
        self.assertEqual(action["context"]["default_partner_ids"], self.ok.ids)

    def test_copy_leaves_the_legal_hold_out(self):
        request = self._receive("copy", self.held, self.signed)
        book = load_workbook(io.BytesIO(request.copy_attachment_id.sudo().raw), read_only=True)
        text = " ".join(str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row)
        self.assertNotIn("Court order", text)
        self.assertNotIn("Legal Hold", text)

    def test_deletion_reaches_the_officers_and_the_customer_chatter(self):
        officer_2 = self._new_user("ch_officer_2", "customer_handover.group_data_protection_officer")
        self.company_a.handover_request_due_days = 20
        before = self.ok.message_ids
        request = self._receive("deletion", self.ok, self.signed)
        self.assertEqual(request.due_date, fields.Date.to_date(request.received_on) + timedelta(days=20))
        activities = request.activity_ids
        officers = self.env.ref("customer_handover.group_data_protection_officer").users.filtered(
            lambda user: self.company_a in user.company_ids)
        self.assertEqual(activities.user_id, officers, "one to-do for each officer of the company")
        self.assertIn(officer_2, activities.user_id)
        self.assertNotIn(self.officer_b, activities.user_id, "officers of another company are not asked")
        self.assertEqual(set(activities.mapped("date_deadline")), {request.due_date})
        note = self.ok.message_ids - before
        self.assertEqual(len(note), 1)
        self.assertIn(request.name, note.body)
        self.assertIn("Deletion of the data", note.body)
        request.with_user(self.officer).action_start()
        request.with_user(self.officer).action_done()
        self.assertFalse(request.activity_ids, "answered: the officers' to-dos end")

    def test_same_answer_twice_records_one_request(self):
        first = self._receive("copy", self.ok, self.signed)
        again = self._receive("copy", self.ok, self.signed)
        self.assertEqual(first, again)
        self.assertEqual(self.env[Request].search_count([("partner_id", "=", self.ok.id)]), 1)
        # a different purpose, or once the first is answered, is a new request
        first.with_user(self.officer).action_done()
        self.assertNotEqual(self._receive("copy", self.ok, self.signed), first)

    def test_overdue(self):
        request = self._receive("deletion", self.ok, self.signed)
        self.assertFalse(request.is_overdue)
        late = self.env[Request].sudo()._receive("copy", self.sensitive, self.signed, "letter",
                                                 received_on=fields.Datetime.now() - timedelta(days=16))
        self.assertTrue(late.is_overdue)
        officer = self.env[Request].with_user(self.officer)
        self.assertEqual(officer.search([("is_overdue", "=", True)]), late)
        self.assertEqual(officer.search([("is_overdue", "=", False)]), request)
        late.with_user(self.officer).action_done()
        self.assertFalse(late.is_overdue, "an answered request is not overdue")

    def test_status_steps_are_the_officers(self):
        request = self._receive("deletion", self.ok, self.signed)
        for user in (self.employee, self.handover_user, self.manager, self.officer_b):
            with self.assertRaises(AccessError):
                request.with_user(user).action_start()
        with self.assertRaisesRegex(UserError, "Say why"):
            request.with_user(self.officer)._refuse("  ")
        request.with_user(self.officer).action_start()
        with self.assertRaises(UserError):
            request.with_user(self.officer).action_start()
        self.assertEqual(request.state, "in_progress")

    def test_refuse_from_its_dialog(self):
        request = self._receive("deletion", self.ok, self.signed)
        action = request.with_user(self.officer).action_refuse()
        form = Form(self.env[action["res_model"]].with_user(self.officer).with_context(action["context"]))
        form.reason = "The data must be kept for the tax authority until 2030."
        form.save().action_refuse()
        self.assertEqual((request.state, request.handled_by_id, request.refuse_reason),
                         ("refused", self.officer, "The data must be kept for the tax authority until 2030."))
        self.assertTrue(request.closed_on)
        self.assertFalse(request.activity_ids)
        self.assertFalse(self.env["customer.data.request.refuse"].search([]).reason, "the dialog's copy is gone")
        with self.assertRaises(UserError):
            request.with_user(self.officer).action_done()

    def test_evidence_fields_refused_to_raw_writes(self):
        request = self._receive("withdrawal", self.ok, self.signed, self.purpose_service)
        attacks = {"state": "done", "received_on": "2020-01-01 00:00:00", "channel": "phone",
                   "due_date": "2099-01-01", "refuse_reason": "x", "handled_by_id": self.officer.id,
                   "forwarded_on": "2020-01-01 00:00:00", "consent_ids": [(5,)], "partner_id": self.sensitive.id,
                   "request_type": "copy"}
        for who in (self.officer, "superuser"):
            target = request if who == "superuser" else request.with_user(who)
            for name, value in attacks.items():
                with self.subTest(who=str(who), field=name), self.assertRaises(AccessError) as caught:
                    target.write({name: value})
                self.assertIn(request._fields[name]._description_string(self.env), str(caught.exception))
        self.assertEqual((request.state, request.channel, len(request.consent_ids)), ("new", "customer_page", 1))
        for who in (self.officer, "superuser"):
            Model = self.env[Request] if who == "superuser" else self.env[Request].with_user(who)
            with self.assertRaises(AccessError):
                Model.create({"request_type": "copy", "partner_id": self.ok.id, "company_id": self.company_a.id,
                              "received_on": fields.Datetime.now(), "channel": "phone", "due_date": "2099-01-01"})
        with self.assertRaises(AccessError):
            request.with_user(self.officer).unlink()

    def test_requests_are_read_by_officers_only(self):
        request = self._receive("deletion", self.ok, self.signed)
        self.env.flush_all()
        for user in (self.employee, self.handover_user, self.manager):
            with self.assertRaises(AccessError):
                self.env[Request].with_user(user).search_read([], ["name"])
            with self.assertRaises(AccessError):
                self.ok.with_user(user).read(["data_request_ids"])
        self.assertEqual(self.env[Request].with_user(self.officer).search([]), request)
        self.assertFalse(self.env[Request].with_user(self.officer_b).search([]), "another company's officer")


@tagged("post_install", "-at_install", "customer_handover_requests")
class TestStaffEntry(RequestFixture, HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_fixture()
        cls.signed = cls._handover_at("signed")

    def _form(self, user):
        form = Form(self.env["customer.data.request.enter"].with_user(user))
        form.partner_id = self.ok
        form.request_type = "withdrawal"
        form.purpose_id = self.purpose_service
        form.handover_id = self.signed
        form.channel = "phone"
        return form

    def test_a_handover_user_enters_a_phone_request(self):
        result = self._form(self.handover_user).save().action_enter()
        request = self.env[Request].search([("partner_id", "=", self.ok.id)])
        self.assertEqual((request.channel, request.entered_by_id, request.request_type),
                         ("phone", self.handover_user, "withdrawal"))
        self.assertIn(request.name, result["params"]["message"])
        self.assertEqual(self._consent(self.ok).withdrawal_channel, "phone")
        self.assertFalse(self.env["customer.data.request.enter"].search([]), "the dialog's copy is gone")
        with self.assertRaises(AccessError):
            request.with_user(self.handover_user).read(["name"])

    def test_outsiders_cannot_enter(self):
        with self.assertRaises(AccessError):
            self.env["customer.data.request.enter"].with_user(self.employee).create(
                {"partner_id": self.ok.id, "request_type": "copy", "channel": "phone"})
        with self.assertRaises(AccessError):
            self.env[Request].with_user(self.employee)._check_may_enter(self.company_a)

    def test_bad_entries(self):
        form = self._form(self.officer)
        form.received_on = fields.Datetime.now() + timedelta(days=2)
        with self.assertRaisesRegex(UserError, "future"):
            form.save().action_enter()
        form = self._form(self.officer)
        form.partner_id = self.receiver
        with self.assertRaises(UserError):
            wizard = form.save()
            wizard.handover_id = self.signed
            wizard.action_enter()
        self.assertFalse(self.env[Request].search([]))


@tagged("post_install", "-at_install", "customer_handover_requests")
class TestWithdrawalAfterMove(RequestFixture, MoveCase):
    def test_withdrawal_applies_to_the_receiving_company(self):
        customer = self._customers(1)
        handover = self._signed(customer)
        handover.with_user(self.manager).action_done()
        moved = self._consent(customer, self.company_b)
        self.assertEqual(moved.state, "granted")
        request = self._receive("withdrawal", customer, handover, self.purpose_service)
        self.assertEqual((moved.state, moved.withdrawal_channel), ("withdrawn", "customer_page"))
        self.assertEqual(request.consent_ids, moved)
        self.assertFalse(request.forward_needed, "inside this database: nothing to forward")
