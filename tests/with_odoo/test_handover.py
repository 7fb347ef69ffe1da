import base64
from contextlib import nullcontext

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, tagged

from .common import HandoverCase

SIGNATURE = base64.b64encode(
    base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
)


@tagged("post_install", "-at_install")
class TestHandover(HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.receiver = cls.env["res.partner"].create(
            {"name": "杭州新锦贸易有限公司", "is_company": True, "email": "legal@xinjin.example.cn"}
        )
        cls.domain = cls.env["customer.business.domain"].create({"name": "Handover test domain"})
        cls.transfer_purpose = cls.env.ref("customer_handover.consent_purpose_handover")
        Partner = cls.env["res.partner"]
        cls.ok = Partner.create({"name": "Eligible", "business_domain_ids": [(6, 0, cls.domain.ids)]})
        cls.no_consent = Partner.create({"name": "No consent", "business_domain_ids": [(6, 0, cls.domain.ids)]})
        cls.sensitive = Partner.create(
            {"name": "Sensitive", "business_domain_ids": [(6, 0, cls.domain.ids)], "data_sensitivity": "sensitive"}
        )
        cls.held = Partner.create(
            {"name": "Held", "business_domain_ids": [(6, 0, cls.domain.ids)], "legal_hold": True,
             "legal_hold_reason": "Court order"}
        )
        for partner in (cls.ok, cls.sensitive, cls.held):
            cls.env["customer.consent"].create(
                {"partner_id": partner.id, "purpose_id": cls.purpose_service.id, "date_given": "2026-01-01"}
            )

    def _handover(self, user=None, **values):
        form = Form(self.env["customer.handover"].with_user(user or self.handover_user))
        form.receiver_id = self.receiver
        form.purpose_ids.add(self.purpose_service)
        for name, value in values.items():
            setattr(form, name, value)
        return form.save()

    def _scope(self, handover, user=None):
        form = Form(self.env["customer.handover.scope"].with_user(user or self.handover_user).with_context(
            default_handover_id=handover.id))
        form.business_domain_ids.add(self.domain)
        return form

    def _start(self, handover):
        handover.with_user(self.handover_user).write(
            {"nda_reference": "NDA-2026-01", "nda_date": "2026-11-01", "nda_document": SIGNATURE,
             "nda_filename": "nda.pdf"}
        )
        if handover.state == "draft":
            handover.with_user(self.manager).action_confirm()
        handover.with_user(self.manager).action_start()

    def test_preview_counts_eligible_and_ineligible_by_reason(self):
        handover = self._handover()
        scope = self._scope(handover)
        self.assertEqual((scope.total_count, scope.eligible_count, scope.ineligible_count), (4, 1, 3))
        self.assertIn("No valid consent", scope.preview)
        self.assertIn("Held back by the data-protection officer", scope.preview, "a preparer sees no legal hold")
        self.assertNotIn("Under legal hold", scope.preview)
        officer_preview = self._scope(handover, self.officer).preview
        self.assertIn("Under legal hold", officer_preview)
        self.assertIn("Sensitive data without separate consent", officer_preview)
        self.assertFalse(handover.line_ids, "the preview creates nothing")

    def test_whole_flow_through_forms_as_restricted_users(self):
        handover = self._handover(reason="shop_transfer", archive_customers=True)
        self.assertTrue(handover.name.startswith("HO/"))
        self._scope(handover).save().action_confirm()
        lines = handover.line_ids
        self.assertEqual(len(lines), 4)
        eligible = lines.filtered(lambda line: line.eligibility == "eligible")
        self.assertEqual(eligible.partner_id, self.ok)
        self.assertTrue(all(line.excluded and line.exclusion_reason for line in lines - eligible))
        self.assertIn("Eligible", eligible.name)
        self.ok.write({"name": "Renamed later"})
        self.assertEqual(eligible.name, "Eligible", "the snapshot keeps what was agreed")

        item = self.env["customer.handover.line"].with_user(self.handover_user).create(
            {"handover_id": handover.id, "name": "Paper files, 3 boxes"}
        )
        self._start(handover)
        self.assertEqual(handover.state, "in_progress")
        (eligible | item).with_user(self.handover_user).action_verify()
        self.assertEqual(eligible.verified_by_id, self.handover_user)
        handover.with_user(self.handover_user).action_mark_verified()
        self.assertEqual(handover.state, "verified")

        for side, channel in (("transfer", "user"), ("receiver", "in_person")):
            sign = Form(self.env["customer.handover.sign"].with_user(self.handover_user).with_context(
                default_handover_id=handover.id))
            self.assertEqual(sign.side, side, "the wizard offers the side still to sign")
            if channel == "in_person":
                sign.channel = channel
                sign.signer = "李代表"
            sign.signature = SIGNATURE
            sign.save().action_sign()
        self.assertEqual(handover.state, "signed")
        self.assertTrue(handover.transfer_signed_on and handover.receiver_signed_on)

        with self.assertRaisesRegex(UserError, "frozen"):
            item.with_user(self.handover_user).write({"remarks": "changed after signing"})
        with self.assertRaisesRegex(UserError, "frozen"):
            self.env["customer.handover.line"].with_user(self.manager).create(
                {"handover_id": handover.id, "name": "late item"}
            )
        with self.assertRaisesRegex(UserError, "frozen"):
            handover.with_user(self.manager).write({"reason_note": "edited"})
        message = handover.with_user(self.manager).message_post(body="Minutes", attachments=[("minutes.txt", b"ok")])
        self.assertEqual(message.attachment_ids.name, "minutes.txt", "the chatter of a signed handover still works")
        handover.with_user(self.manager).activity_schedule("mail.mail_activity_data_todo", summary="Notify customers")

        handover.with_user(self.manager).action_done()
        self.assertEqual(handover.state, "done")
        customer = self.ok.with_user(self.handover_user)
        self.assertEqual(customer.handover_id, handover)
        self.assertEqual(customer.handover_receiver_id, self.receiver)
        self.assertTrue(customer.handover_date)
        self.assertFalse(self.no_consent.handover_id, "excluded customers are not handed over")
        self.assertFalse(self.ok.active, "handed-over customers are archived when the handover asks it")
        self.assertTrue(self.no_consent.active)
        views = self.env["res.partner"].with_user(self.handover_user).get_views([(False, "form")])
        arch = views["views"]["form"]["arch"]
        self.assertIn('name="handover_receiver_id"', arch, "the data-protection tab shows the transfer")

    def test_manager_steps_are_refused_to_users(self):
        handover = self._handover()
        for action in ("action_confirm", "action_start", "action_cancel", "action_done"):
            with self.subTest(action=action), self.assertRaises(AccessError):
                getattr(handover.with_user(self.handover_user), action)()
        self.assertEqual(handover.state, "draft")

    def test_exceptions_are_admitted_by_officers_only_with_a_justification(self):
        handover = self._handover()
        self._scope(handover).save().action_confirm()
        ineligible = handover.line_ids.filtered(lambda line: line.partner_id == self.no_consent)
        with self.assertRaises(AccessError):
            ineligible.with_user(self.manager)._admit("Customer agreed by phone")
        with self.assertRaisesRegex(UserError, "justification"):
            ineligible.with_user(self.officer)._admit("  ")
        admit = Form(self.env["customer.handover.admit"].with_user(self.officer).with_context(
            default_line_ids=ineligible.ids))
        admit.justification = "Consent collected on paper, filed 2026-11-20"
        admit.save().action_admit()
        self.assertEqual(ineligible.eligibility, "admitted")
        self.assertFalse(ineligible.excluded)
        self.assertEqual(ineligible.admitted_by_id, self.officer)
        self.assertIn("paper", ineligible.admission_justification)

    def test_bad_input_is_refused_with_what_to_do(self):
        nameless = self.env["res.partner"].create({"name": "No contact"})
        with self.assertRaisesRegex(ValidationError, "email or phone"), self.env.cr.savepoint():
            self.env["customer.handover"].with_user(self.handover_user).create({"receiver_id": nameless.id})
        handover = self._handover()
        empty = self._scope(handover)
        empty.business_domain_ids.clear()
        empty.domain = "[('name', '=', 'nobody at all')]"
        with self.assertRaisesRegex(UserError, "No customer matches"):
            empty.save().action_confirm()
        handover.with_user(self.manager).action_confirm()
        with self.assertRaisesRegex(UserError, "confidentiality agreement"):
            handover.with_user(self.manager).action_start()
        self._scope(handover).save().action_confirm()

        other = self._handover()
        scope = self._scope(other)
        self.assertIn("Already in another open handover", scope.preview)
        self.assertEqual(scope.eligible_count, 0)

        self._start(handover)
        with self.assertRaisesRegex(UserError, "neither verified nor excluded"):
            handover.with_user(self.handover_user).action_mark_verified()
        with self.assertRaisesRegex(UserError, "this step needs it to be Verified"):
            handover.with_user(self.handover_user)._sign("transfer", "王经理", SIGNATURE, channel="in_person")
        self.assertFalse(handover.transfer_signed_on, "signing with pending lines changed nothing")
        with self.assertRaisesRegex(UserError, "recorded by their step"):
            handover.with_user(self.handover_user).write({"transfer_signature": SIGNATURE})
        handover.line_ids.filtered(lambda line: line.eligibility == "eligible").with_user(
            self.handover_user).action_verify()
        handover.with_user(self.handover_user).action_mark_verified()
        handover.with_user(self.handover_user)._sign("transfer", "王经理", SIGNATURE, channel="in_person")
        with self.assertRaisesRegex(UserError, "already signed for the other party"):
            handover.with_user(self.handover_user)._sign("receiver", " 王经理 ", SIGNATURE, channel="in_person")
        self.assertEqual(handover.state, "verified")

    def test_other_company_cannot_see_the_handover(self):
        handover = self._handover()
        self.env.invalidate_all()
        self.assertFalse(self.env["customer.handover"].with_user(self.user_b).search([("id", "=", handover.id)]))
        with self.assertRaises(AccessError):
            handover.with_user(self.user_b).read(["name"])
        with self.assertRaises(AccessError):
            handover.with_user(self.employee).read(["name"])

    def test_batch_verification_queries_do_not_grow(self):
        counts = []
        for size in (1, 5, 40):  # the first batch warms the caches of access rights and rules
            handover = self._handover()
            self.env["customer.handover.line"].create(
                [{"handover_id": handover.id, "name": f"Item {i}"} for i in range(size)]
            )
            self._start(handover)
            self.env.flush_all()
            self.env.invalidate_all()
            # browse ids, as a request does: an x2many value's lazy prefetch set empties on invalidation
            lines = self.env["customer.handover.line"].with_user(self.handover_user).browse(handover.line_ids.ids)
            # 11: the check that no background step runs on the handover is one of them
            with self.assertQueryCount(11, flush=False) if size > 1 else nullcontext():  # the warm-up is not pinned
                before = self.env.cr.sql_log_count
                lines.action_verify()
                self.env.flush_all()
                counts.append(self.env.cr.sql_log_count - before)
            self.assertEqual(set(lines.mapped("state")), {"verified"})
        self.assertEqual(counts[1], counts[2], f"batch verification queries grew with the batch: {counts}")

    def test_scope_from_a_selection_in_the_contacts_list(self):
        handover = self._handover()
        self.handover_user.partner_id.email = False  # logging the selection needs no sender address
        action = self.env.ref("customer_handover.customer_handover_scope_action")
        self.assertEqual(action.binding_model_id.model, "res.partner")
        form = Form(self.env["customer.handover.scope"].with_user(self.handover_user).with_context(
            active_model="res.partner", active_ids=(self.ok | self.no_consent).ids))
        form.handover_id = handover
        self.assertEqual((form.total_count, form.eligible_count), (2, 1))
        form.save().action_confirm()
        self.assertEqual(handover.line_ids.partner_id, self.ok | self.no_consent)
        everyone = Form(self.env["customer.handover.scope"].with_user(self.handover_user).with_context(
            default_handover_id=self._handover().id)).save()
        chosen = self.env["res.partner"].search(everyone._scope_domain())
        self.assertNotIn(self.receiver, chosen, "the receiving party is not its own customer")
        self.assertNotIn(self.company_a.partner_id, chosen)
        for view_type in ("form", "list", "search"):
            self.env["customer.handover"].with_user(self.handover_user).get_views([(False, view_type)])

    def test_checklist_creation_queries_do_not_grow(self):
        counts = []
        for size in (1, 5, 40):  # the first run warms the caches of access rights and rules
            customers = self.env["res.partner"].create([{"name": f"Bulk {size}-{i}"} for i in range(size)])
            self.env["customer.consent"].create(
                [{"partner_id": customer.id, "purpose_id": self.purpose_service.id, "date_given": "2026-01-01"}
                 for customer in customers]
            )
            scope = Form(self.env["customer.handover.scope"].with_user(self.handover_user).with_context(
                active_model="res.partner", active_ids=customers.ids, default_handover_id=self._handover().id))
            wizard = scope.save()
            self.env.flush_all()
            self.env.invalidate_all()
            # 48: the lock on the handover and the check that no background step runs on it are two of them, and
            # the lines go in one INSERT after reading their handovers' companies and customers' salespeople
            with self.assertQueryCount(48, flush=False) if size > 1 else nullcontext():  # the warm-up is not pinned
                before = self.env.cr.sql_log_count
                wizard.action_confirm()
                self.env.flush_all()
                counts.append(self.env.cr.sql_log_count - before)
            self.assertEqual(len(wizard.handover_id.line_ids), size)
        self.assertEqual(counts[1], counts[2], f"checklist creation queries grew with the customers: {counts}")

    def test_preview_counts_only_customers_the_user_may_see(self):
        self.env["res.partner"].create(
            {"name": "Company B's sensitive customer", "company_id": self.company_b.id,
             "business_domain_ids": [(6, 0, self.domain.ids)], "data_sensitivity": "sensitive"}
        )
        scope = self._scope(self._handover())
        self.assertEqual((scope.total_count, scope.ineligible_count), (4, 3), "company B's customer leaked in")
        wizard = scope.save()
        self.assertEqual(len(wizard._ineligible_ids()["sensitive"]), 1)

    def test_the_chatter_tracks_the_agreement_and_says_why_a_line_was_excluded(self):
        handover = self._handover()
        # Tracking compares with the values of the last commit: the handover is created in an earlier one.
        self.env.flush_all()
        self.env.cr.precommit.run()
        handover.with_user(self.handover_user).write(
            {"nda_document": SIGNATURE, "nda_filename": "nda-signed.pdf", "nda_term_months": 36}
        )
        self.env.flush_all()
        self.env.cr.precommit.run()
        self.env.invalidate_all()
        tracked = handover.sudo().message_ids.tracking_value_ids
        changes = {value.field_id.name: (value.old_value_char or value.old_value_integer,
                                         value.new_value_char or value.new_value_integer) for value in tracked}
        self.assertEqual(changes.get("nda_filename"), (False, "nda-signed.pdf"), "the upload shows in the chatter")
        self.assertEqual(changes.get("nda_term_months"), (0, 36))

        item = self.env["customer.handover.line"].with_user(self.handover_user).create(
            {"handover_id": handover.id, "name": "Old price lists", "exclusion_reason": "Superseded by the 2026 list"}
        )
        item.with_user(self.handover_user).action_exclude()
        note = handover.message_ids[0].body
        self.assertIn("Old price lists", note)
        self.assertIn("Superseded by the 2026 list", note, "the note says why")

    def test_the_exclusion_note_holds_back_what_only_officers_may_know(self):
        handover = self._handover()
        item = self.env["customer.handover.line"].with_user(self.manager).create(
            {"handover_id": handover.id, "name": "Archive box 7", "exclusion_reason": "Under legal hold"}
        )
        item.with_user(self.manager).action_exclude()
        note = handover.message_ids[0].body
        self.assertIn("Held back by the data-protection officer", note)
        self.assertNotIn("legal hold", note)
