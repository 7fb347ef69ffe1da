"""The handover run from its form: smart buttons, pending lines first, verify all pending, the chatter."""

from lxml import etree

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, tagged
from odoo.tools.safe_eval import safe_eval

from .common import HandoverCase, note_text
from .test_handover import SIGNATURE


class FormCase(HandoverCase):
    """A receiver, a business domain, two customers with consent and one without."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.receiver = cls.env["res.partner"].create(
            {"name": "杭州新锦贸易有限公司", "is_company": True, "email": "legal@xinjin.example.cn"}
        )
        cls.domain = cls.env["customer.business.domain"].create({"name": "Form test domain"})
        Partner = cls.env["res.partner"]
        cls.ok = Partner.create({"name": "Eligible A", "business_domain_ids": [(6, 0, cls.domain.ids)],
                                 "user_id": cls.manager.id})
        cls.ok_b = Partner.create({"name": "Eligible B", "business_domain_ids": [(6, 0, cls.domain.ids)]})
        cls.no_consent = Partner.create({"name": "No consent", "business_domain_ids": [(6, 0, cls.domain.ids)]})
        for partner in (cls.ok, cls.ok_b):
            cls.env["customer.consent"].create(
                {"partner_id": partner.id, "purpose_id": cls.purpose_service.id, "date_given": "2026-01-01"}
            )

    def _handover_with_lines(self):
        form = Form(self.env["customer.handover"].with_user(self.handover_user))
        form.receiver_id = self.receiver
        form.purpose_ids.add(self.purpose_service)
        handover = form.save()
        scope = Form(self.env["customer.handover.scope"].with_user(self.handover_user).with_context(
            default_handover_id=handover.id))
        scope.business_domain_ids.add(self.domain)
        scope.save().action_confirm()
        return handover

    def _verified(self):
        handover = self._handover_with_lines()
        handover.with_user(self.handover_user).receiver_responsible_id = self.env["res.partner"].create(
            {"name": "李代表"})
        self._start(handover)
        handover.with_user(self.handover_user).action_verify_all_pending()
        handover.with_user(self.handover_user).action_mark_verified()
        return handover

    def _sign_form(self, handover):
        return Form(self.env["customer.handover.sign"].with_user(self.handover_user).with_context(
            default_handover_id=handover.id))

    def _start(self, handover):
        handover.with_user(self.handover_user).write(
            {"nda_reference": "NDA-1", "nda_date": "2026-11-01", "nda_document": SIGNATURE, "nda_filename": "nda.pdf"}
        )
        handover.with_user(self.manager).action_confirm()
        handover.with_user(self.manager).action_start()



@tagged("post_install", "-at_install")
class TestHandoverForm(FormCase):
    def test_verify_all_pending_skips_what_cannot_be_verified_and_says_why(self):
        handover = self._handover_with_lines()
        with self.assertRaisesRegex(UserError, "this step needs it to be In progress"):
            handover.with_user(self.handover_user).action_verify_all_pending()
        item = self.env["customer.handover.line"].with_user(self.handover_user).create(
            {"handover_id": handover.id, "name": "Paper files", "exclusion_reason": "Stays with us"}
        )
        item.with_user(self.handover_user).action_exclude()
        self._start(handover)
        first = handover.line_ids.filtered(lambda line: line.partner_id == self.ok)
        first.with_user(self.handover_user).action_mark_missing()
        self.assertEqual(handover.pending_count, 1)

        action = handover.with_user(self.handover_user).action_verify_all_pending()
        message = action["params"]["message"]
        self.assertIn("1 pending lines verified", message)
        self.assertIn("1 already verified, missing or rejected", message)
        self.assertIn("2 excluded", message, "the ineligible customer and the excluded item")
        verified = handover.line_ids.filtered(lambda line: line.partner_id == self.ok_b)
        self.assertEqual((verified.state, verified.verified_by_id), ("verified", self.handover_user))
        self.assertEqual(first.state, "missing", "a line already checked keeps its state")
        self.assertEqual(handover.pending_count, 0)
        entry = self.env["customer.handover.event"].search(
            [("event", "=", "pending_verified"), ("res_model", "=", "customer.handover.line")], limit=1
        )
        self.assertEqual(entry.res_id, verified.id)
        self.assertIn('"excluded":2', entry.payload)
        self.assertEqual(note_text(handover.message_ids[0]), "Verify all pending Eligible B")

    def test_batch_verification_from_the_lines_list_skips_ineligible_lines(self):
        handover = self._handover_with_lines()
        self._start(handover)
        action = handover.line_ids.with_user(self.handover_user).action_verify_pending()
        self.assertIn("2 pending lines verified", action["params"]["message"])
        self.assertEqual(handover.verified_count, 2)

    def test_mark_as_verified_is_not_offered_on_the_lines_of_a_cancelled_handover(self):
        handover = self._handover_with_lines()
        self._start(handover)
        handover.with_user(self.manager)._cancel("The receiver withdrew")
        self.assertEqual(handover.state, "cancel")
        Line = self.env["customer.handover.line"].with_user(self.handover_user)
        bindings = self.env["ir.actions.actions"].with_user(self.handover_user).get_bindings(Line._name)
        self.assertNotIn("Mark as verified", [action["name"] for action in bindings.get("action", [])],
                         "an Action-menu entry cannot look at the handover's state")
        action = handover.with_user(self.handover_user).action_open_lines()
        arch = Line.get_views([(False, "list")])["views"]["list"]["arch"]
        button = etree.fromstring(arch).find("header/button[@name='action_verify_pending']")
        self.assertTrue(safe_eval(button.get("invisible"), {"context": action["context"]}),
                        "the list of a cancelled handover's lines hides Mark as Verified")
        self.assertFalse(safe_eval(button.get("invisible"), {"context": {}}), "the list of all lines shows it")
        with self.assertRaisesRegex(UserError, r"is closed \(Cancelled\): its lines can no longer be verified"):
            handover.line_ids.with_user(self.handover_user).action_verify_pending()

    def test_smart_buttons_open_this_handovers_lines_filtered(self):
        handover = self._handover_with_lines()
        self.assertEqual((handover.pending_count, handover.excluded_count), (2, 1))
        self.assertEqual(handover.checklist_line_ids.partner_id, self.ok | self.ok_b)
        self.assertEqual(handover.excluded_line_ids.partner_id, self.no_consent)
        action = handover.with_user(self.handover_user).with_context(line_filter="to_verify").action_open_lines()
        self.assertEqual(action["domain"], [("handover_id", "=", handover.id)])
        self.assertEqual(action["context"]["search_default_filter_to_verify"], 1)
        Line = self.env["customer.handover.line"].with_user(self.handover_user)
        self.assertEqual(Line.search([("handover_id", "=", handover.id), ("to_verify", "=", True)]),
                         handover.checklist_line_ids)
        self.assertEqual(Line.search([("handover_id", "=", handover.id), ("salesperson_id", "=", self.manager.id)]
                                     ).partner_id, self.ok)
        views = Line.get_views([(False, "list"), (False, "form"), (False, "kanban"), (False, "search")])
        self.assertIn('name="filter_to_verify"', views["views"]["search"]["arch"])
        self.assertIn("No valid consent", handover.excluded_line_ids.with_user(self.handover_user).public_reasons_text)

    def test_lines_are_never_deleted_and_every_change_is_in_the_chatter(self):
        handover = self._handover_with_lines()
        item = self.env["customer.handover.line"].with_user(self.handover_user).create(
            {"handover_id": handover.id, "name": "Paper files"}
        )
        self.assertEqual(note_text(handover.message_ids[0]), "Added to the checklist Paper files")
        item.with_user(self.handover_user).write({"name": "Paper files, 3 boxes"})
        self.assertEqual(note_text(handover.message_ids[0]),
                         "Checklist item renamed Item: Paper files → Paper files, 3 boxes")
        with self.assertRaises(AccessError), self.env.cr.savepoint():
            item.with_user(self.manager).unlink()
        item.with_user(self.handover_user).write({"exclusion_reason": "Kept by the transferring company"})
        item.with_user(self.handover_user).action_exclude()
        self.assertEqual(note_text(handover.message_ids[0]), "Excluded from the checklist Paper files, 3 boxes")
        self.assertTrue(item.exists())


@tagged("post_install", "-at_install")
class TestMistakesCaughtAtSave(HandoverCase):
    def test_receiver_dialog_asks_for_what_the_law_needs(self):
        view = self.env.ref("customer_handover.res_partner_view_form_handover_receiver")
        arch = self.env["res.partner"].with_user(self.handover_user).get_view(view.id, "form")["arch"]
        self.assertIn('required="not phone and not mobile"', arch)
        form_arch = self.env["customer.handover"].with_user(self.handover_user).get_view(False, "form")["arch"]
        self.assertIn("res_partner_view_form_handover_receiver", form_arch, "the receiver is created in that dialog")
        self.assertIn("no_quick_create", form_arch)

    def test_receiver_abroad_needs_its_export_basis_at_save(self):
        receiver = self.env["res.partner"].create({"name": "Overseas Ltd", "email": "legal@overseas.example"})
        values = {"receiver_id": receiver.id, "receiver_abroad": True,
                  "receiver_country_id": self.env.ref("base.sg").id}
        Handover = self.env["customer.handover"].with_user(self.handover_user)
        with self.assertRaisesRegex(ValidationError, "legal basis for export"), self.env.cr.savepoint():
            Handover.create(values)
        handover = Handover.create({**values, "abroad_legal_basis": "standard_contract"})
        with self.assertRaisesRegex(ValidationError, "legal basis for export"), self.env.cr.savepoint():
            handover.write({"abroad_legal_basis": False})

    def test_a_save_that_fails_uses_up_no_reference(self):
        receiver = self.env["res.partner"].create({"name": "Receiver", "phone": "+86 10 1"})
        Handover = self.env["customer.handover"].with_user(self.handover_user)
        first = Handover.create({"receiver_id": receiver.id}).name
        with self.assertRaises(ValidationError), self.env.cr.savepoint():
            taken = Handover.create({"receiver_id": receiver.id})
            self.assertNotEqual(taken.name, first)
            taken.write({"receiver_abroad": True})
            taken.flush_recordset()
        following = Handover.create({"receiver_id": receiver.id}).name
        self.assertEqual(int(following.rsplit("/", 1)[1]), int(first.rsplit("/", 1)[1]) + 1)

    def test_a_new_handover_is_titled_new_handover_until_saved(self):
        self.assertEqual(self.env["customer.handover"].new({}).display_name, "New Handover")

    def test_the_form_tells_when_the_company_cannot_sign(self):
        receiver = self.env["res.partner"].create({"name": "Receiver", "phone": "+86 10 1"})
        handover = self.env["customer.handover"].with_user(self.handover_user).create({"receiver_id": receiver.id})
        self.assertTrue(handover.signing_key_missing)
        arch = handover.get_view(False, "form")["arch"]
        self.assertIn("has no signing key yet", arch)


@tagged("post_install", "-at_install")
class TestSigningGuides(FormCase):
    """Runs on a started handover whose lines are verified."""

    def test_sign_wizard_offers_the_sides_still_to_sign_with_the_name_filled_and_checks_first(self):
        handover = self._verified()
        self.assertEqual(handover.signature_status, "0 of 2 signed")
        sign = self._sign_form(handover)
        self.assertEqual((sign.side, sign.signer), ("transfer", self.handover_user.name))
        self.assertFalse(sign.problem)
        sign.side = "receiver"
        self.assertEqual(sign.channel, "link", "the receiving party signs from its own link by default")
        self.assertIn("Only handover managers can send a signing link", sign.problem)
        sign.channel = "in_person"
        self.assertEqual(sign.signer, "李代表", "the receiving side's responsible person")
        sign.signer = " "
        self.assertIn("Enter the representative's name", sign.problem)
        sign.side = "transfer"
        sign.signature = SIGNATURE
        sign.save().action_sign()
        self.assertEqual(handover.signature_status, "1 of 2 signed: the receiving party still signs")

        sign = self._sign_form(handover)
        self.assertEqual(sign.remaining_sides, "receiver")
        self.assertEqual(sign.side, "receiver")
        sign.channel = "user"
        self.assertIn("You already signed for the other party", sign.problem)
        sign.channel = "in_person"
        sign.signer = self.handover_user.name
        self.assertIn("already signed for the other party", sign.problem, "told before the signature is drawn")
        sign.signer = "李代表"
        sign.signature = SIGNATURE
        sign.save().action_sign()
        self.assertEqual((handover.state, handover.signature_status), ("signed", "2 of 2 signed: both parties"))
        self.assertEqual(handover.transfer_sign_note, f"Signed in Odoo by {self.handover_user.name}, logged in")
        self.assertEqual(handover.receiver_sign_note, f"Signed in person, witnessed by {self.handover_user.name}")

    def test_the_seal_is_offered_once_both_parties_signed(self):
        arch = self.env["customer.handover"].with_user(self.manager).get_view(False, "form")["arch"]
        self.assertIn("state not in ('signed', 'done') or signing_key_missing", arch)
        self.assertIn("Seal Signed Checklist with Company Key", arch)


@tagged("post_install", "-at_install")
class TestSetupANewcomerFinds(HandoverCase):
    def test_groups_have_a_section_of_their_own_in_the_user_form(self):
        applications = self.env["res.groups"].get_groups_by_application()
        ours = [category for app, _kind, _groups, category in applications
                if app == self.env.ref("customer_handover.module_category_customer_handover")]
        self.assertEqual(ours[0][1], "Data Protection")
        self.assertEqual([kind for app, kind, _groups, _category in applications
                          if app.xml_id == "customer_handover.module_category_customer_handover"], ["selection"])

    def test_settings_link_to_the_addons_configuration(self):
        arch = self.env.ref("customer_handover.res_config_settings_view_form").arch_db
        for action in ("customer_consent_purpose_action", "customer_retention_policy_action",
                       "customer_handover_event_check_action"):
            self.assertIn(f'name="{self.env.ref("customer_handover." + action).id}"', arch)
        self.assertIn('name="action_handover_create_signing_key"', arch)


@tagged("post_install", "-at_install")
class TestPaperRecord(FormCase):
    """The printed handover record: cover, items, signatures, seals, and the signed export's fingerprint."""

    def test_handover_record_prints_signatures_seals_and_the_exports_fingerprint(self):
        officer = self.officer
        self.company_a.with_user(officer).action_handover_create_signing_key()
        handover = self._verified()
        handover.with_user(self.handover_user)._sign("transfer", None, SIGNATURE, channel="user")
        handover.with_user(self.handover_user)._sign("receiver", "李代表", SIGNATURE, channel="in_person")
        action = handover.with_user(self.manager).action_export_checklist()
        export = self.env["customer.handover.export"].browse(action["res_id"])
        self.assertEqual((action["res_model"], action["target"]), ("customer.handover.export", "new"))
        report = self.env.ref("customer_handover.customer_handover_report_record")
        html = self.env["ir.actions.report"].with_user(self.handover_user)._render_qweb_html(
            report.report_name, handover.ids)[0].decode()
        user = self.handover_user.name
        for text in (handover.name, "Eligible A", user, "李代表", "Company seal", export.fingerprint,
                     "data:image/png;base64", "customer-handover-verify", f"Signed in Odoo by {user}, logged in",
                     f"Signed in person, witnessed by {user}"):
            self.assertIn(text, html)
        self.assertNotIn("No consent", html, "excluded customers are not listed as handed over")


@tagged("post_install", "-at_install")
class TestReadersLanguage(FormCase):
    """Texts the addon stores are in the company's language or codes; each reader sees them in their own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("zh_CN")
        cls.env["ir.module.module"]._load_module_terms(["customer_handover"], ["zh_CN"], overwrite=True)
        cls.handover_user.lang = "zh_CN"

    def test_a_chinese_user_stores_reasons_in_the_companys_language_and_reads_reasons_and_notes_in_chinese(self):
        self.assertEqual(self.company_a.partner_id.lang, "en_US")
        handover = self.env["customer.handover"].with_user(self.handover_user).with_context(lang="zh_CN").create(
            {"receiver_id": self.receiver.id, "purpose_ids": [(6, 0, self.purpose_service.ids)]}
        )
        scope = Form(self.env["customer.handover.scope"].with_user(self.handover_user).with_context(
            lang="zh_CN", default_handover_id=handover.id))
        scope.business_domain_ids.add(self.domain)
        self.assertIn("未就接收方的处理目的取得有效同意", scope.preview, "the preview speaks the reader's language")
        scope.save().action_confirm()
        ineligible = handover.excluded_line_ids
        self.assertEqual(ineligible.exclusion_reason, "No valid consent for the receiver's purposes")
        note = handover.message_ids[0]
        self.assertEqual(note_text(note, "zh_CN"), "客户已加入清单 已排除: 0 → 1 清单行: 0 → 3",
                         "the note reads in the reader's language")
        self.assertEqual(note_text(note), "Customers added to the checklist Excluded: 0 → 1 Checklist Lines: 0 → 3")
        chinese = ineligible.with_user(self.handover_user).with_context(lang="zh_CN")
        self.assertEqual(chinese.public_reasons_text, "未就接收方的处理目的取得有效同意")
        english = ineligible.with_user(self.manager).with_context(lang="en_US")
        english.invalidate_recordset(["public_reasons_text"])
        self.assertEqual(english.public_reasons_text, "No valid consent for the receiver's purposes")
        self.assertEqual(handover.with_user(self.handover_user).with_context(lang="zh_CN").signature_status,
                         "已签 0/2")

    def test_a_company_contact_without_language_writes_in_the_databases_default_language(self):
        self.company_a.partner_id.lang = False
        self.env["ir.default"].set("res.partner", "lang", "zh_CN")
        handover = self.env["customer.handover"].with_user(self.manager).with_context(lang="en_US").create(
            {"receiver_id": self.receiver.id, "purpose_ids": [(6, 0, self.purpose_service.ids)]}
        )
        scope = Form(self.env["customer.handover.scope"].with_user(self.manager).with_context(
            lang="en_US", default_handover_id=handover.id))
        scope.business_domain_ids.add(self.domain)
        scope.save().action_confirm()
        self.assertEqual(handover.excluded_line_ids.exclusion_reason, "未就接收方的处理目的取得有效同意",
                         "not the actor's language, nor en_US")


@tagged("post_install", "-at_install")
class TestHandedOverContact(HandoverCase):
    def test_a_handed_over_contact_without_a_retention_policy_says_why(self):
        views = self.env["res.partner"].with_user(self.handover_user).get_views([(False, "form")])
        arch = views["views"]["form"]["arch"]
        alert = etree.fromstring(arch).find(".//group[@name='retention']/div[@name='handed_over_retention']")
        self.assertIsNotNone(alert, "the retention group explains a blank policy on a handed-over contact")
        self.assertIn("no retention period runs here", "".join(alert.itertext()))
        shown = {"handover_id": 1, "retention_policy_id": False}
        self.assertFalse(safe_eval(alert.get("invisible"), shown))
        self.assertTrue(safe_eval(alert.get("invisible"), {**shown, "retention_policy_id": 2}))
        self.assertTrue(safe_eval(alert.get("invisible"), {**shown, "handover_id": False}))
