import base64
import hashlib
import io
import json
from contextlib import nullcontext
from unittest.mock import patch

from openpyxl import load_workbook

from odoo.addons.customer_handover.models.customer_handover_evidence_mixin import evidence_step
from odoo.addons.customer_handover.tools import checklist as ck
from odoo.addons.customer_handover.tools import transfer_package as tp
from odoo.addons.customer_handover.tools.checklist_verify import verify
from odoo.addons.customer_handover.tools.transfer_package import new_identity
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .common import MANAGER, OFFICER, HandoverCase, note_text
from .package_builder import EVIDENCE, build_package, customer_of
from .test_handover import SIGNATURE


class ImportFixture:
    """A handover signed and exported in company A; company B receives it with its own package key."""

    @classmethod
    def _build_import_fixture(cls):
        cls.company_a.partner_id.email = cls.company_a.partner_id.email or "a@example.com"
        cls.company_b.partner_id.email = "b@example.com"
        cls.company_a.with_user(cls.officer).action_handover_create_signing_key()
        cls.manager_b = cls._new_user("ch_manager_b", MANAGER, company=cls.company_b)
        cls.officer_b = cls._new_user("ch_officer_b", OFFICER, company=cls.company_b)
        cls.user_b2 = cls._new_user("ch_user_b2", "customer_handover.group_handover_user", company=cls.company_b)
        cls.company_b.with_user(cls.officer_b).action_handover_create_package_key()
        cls.recipient = cls.company_b.handover_package_recipient
        cls.fingerprint = cls.company_a.with_user(cls.officer).handover_certificate_fingerprint
        # As package_builder's customers are: the real package and the crafted ones carry the same data.
        domain = cls.env["customer.business.domain"].create({"name": "Imported domain"})
        partners = cls.env["res.partner"].create([
            {"name": name, "email": email, "vat": vat, "phone": phone, "ref": ref, "company_id": cls.company_a.id,
             "business_domain_ids": [(6, 0, domain.ids)], "is_company": True, "relationship_stage": "active",
             "country_id": cls.env.ref("base.cn").id}
            for name, email, vat, phone, ref in (
                ("上海明远科技有限公司", "info@mingyuan.example.cn", "CN91310000MY", "+86 21 5555 0101", "C-001"),
                ("Wang Fang Trading", "Fang.Wang@Example.cn", "", "021-5555-0202", "C-002"),
                ("Li Lei Studio", "", "", "+86 (21) 5555-0303", "C-003"),
            )
        ])
        cls.env["res.partner"].create([
            {"name": f"{partner.name} accounts", "parent_id": partner.id, "type": "invoice", "function": "Accountant",
             "company_id": cls.company_a.id} for partner in partners
        ])
        cls.env["customer.consent"].create([
            {"partner_id": partner.id, "purpose_id": cls.purpose_service.id, "date_given": "2025-03-01",
             "channel": "paper", "lawful_basis": "contract", "company_id": cls.company_a.id,
             "evidence": base64.b64encode(EVIDENCE), "evidence_filename": "form.pdf"}
            for partner in partners
        ])
        receiver = cls.env["res.partner"].create({"name": "Company B", "email": "b@example.com", "is_company": True})
        form = Form(cls.env["customer.handover"].with_user(cls.handover_user))
        form.receiver_id = receiver
        form.purpose_ids.add(cls.purpose_service)
        handover = form.save()
        scope = Form(cls.env["customer.handover.scope"].with_user(cls.handover_user).with_context(
            default_handover_id=handover.id))
        scope.business_domain_ids.add(domain)
        scope.save().action_confirm()
        cls.env["customer.handover.line"].with_user(cls.handover_user).create(
            {"handover_id": handover.id, "name": "Paper files 2024", "line_type": "item"})
        handover.with_user(cls.handover_user).write(
            {"nda_reference": "NDA-1", "nda_date": "2026-11-01", "nda_document": SIGNATURE, "nda_filename": "n.pdf"})
        handover.with_user(cls.manager).action_confirm()
        handover.with_user(cls.manager).action_start()
        handover.line_ids.with_user(cls.handover_user).action_verify()
        handover.with_user(cls.handover_user).action_mark_verified()
        handover.with_user(cls.manager)._sign("transfer", "王经理", SIGNATURE, channel="in_person")
        handover.with_user(cls.manager)._sign("receiver", "Li Lei", SIGNATURE, channel="in_person")
        cls.handover = handover
        cls.partners = partners
        cls.export = cls._export(handover)
        cls.workbook = base64.b64decode(cls.export.attachment_id.sudo().datas)
        # The package the transferring company's own step makes; package_builder crafts the hostile variants.
        package = cls.env["customer.handover.package"].with_user(cls.manager)._create_for(
            handover.with_user(cls.manager), recipient=cls.recipient)
        cls.package = base64.b64decode(package.attachment_id.sudo().datas)

    @classmethod
    def _export(cls, handover):
        return cls.env["customer.handover.export"].with_user(cls.manager)._create_for(handover.with_user(cls.manager))

    def _pin(self):
        return self.env["customer.handover.trusted.signer"].with_user(self.officer_b)._pin(
            self.company_b, self.company_a.name, self.fingerprint)

    def _wizard(self, user=None, package=None, workbook=None, passphrase=None):
        wizard_model = self.env["customer.handover.import"].with_user(user or self.manager_b).with_company(
            self.company_b)
        form = Form(wizard_model)
        form.package_file = base64.b64encode(package or self.package)
        form.checklist_file = base64.b64encode(workbook or self.workbook)
        if passphrase is not None:
            form.decrypt_with = "passphrase"
            form.passphrase = passphrase
        return form.save()

    def _preview(self, user=None, **kwargs):
        wizard = self._wizard(user, **kwargs)
        wizard.action_preview()
        return wizard

    def _import(self, user=None, **kwargs):
        wizard = self._preview(user, **kwargs)
        action = wizard.action_import()
        # the incoming handover keeps what was received; the wizard keeps no upload, decrypted package or preview
        self.assertEqual((wizard.state, wizard.package_file, wizard.checklist_file, wizard.plain_package),
                         ("done", False, False, False))
        self.assertFalse(wizard.line_ids or wizard.mapping_ids)
        return self.env["customer.handover.incoming"].browse(action["res_id"])

    def _imported_partners(self):
        return self.env["res.partner"].sudo().search([("handover_source_reference", "=", self.handover.name)])


@tagged("post_install", "-at_install", "customer_handover_import")
class TestTransferImport(ImportFixture, HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_import_fixture()

    # ------------------------------------------------------------------------------------------ keys and pins

    def test_only_an_officer_creates_the_package_key_and_only_officers_read_it(self):
        with self.assertRaises(AccessError):
            self.company_b.with_user(self.manager_b).action_handover_create_package_key()
        with self.assertRaisesRegex(UserError, "already has a package key"):
            self.company_b.with_user(self.officer_b).action_handover_create_package_key()
        self.assertTrue(self.recipient.startswith("age1"))
        self.assertEqual(self.company_b.with_user(self.manager_b).handover_package_recipient, self.recipient)
        self.env.invalidate_all()
        with self.assertRaises(AccessError):
            self.company_b.with_user(self.manager_b).read(["handover_package_identity"])
        self.assertIn("AGE-SECRET-KEY-1", self.company_b.with_user(self.officer_b).handover_package_identity)

    def test_an_officer_creates_the_package_key_from_the_wizard_before_any_upload(self):
        company = self.env["res.company"].create({"name": "Company C"})
        officer = self._new_user("ch_officer_c", OFFICER, company=company)
        manager = self._new_user("ch_manager_c", MANAGER, company=company)
        wizard = Form(self.env["customer.handover.import"].with_user(manager).with_company(company)).save()
        self.assertFalse(wizard.has_package_key)
        wizard.write({"package_file": base64.b64encode(self.package),
                      "checklist_file": base64.b64encode(self.workbook)})
        with self.assertRaisesRegex(UserError, "has no package key"):
            wizard.action_preview()
        with self.assertRaises(AccessError):
            wizard.action_create_package_key()
        wizard = Form(self.env["customer.handover.import"].with_user(officer).with_company(company)).save()
        wizard.action_create_package_key()
        self.assertTrue(wizard.has_package_key)
        self.assertTrue(wizard.package_recipient.startswith("age1"))

    def test_an_unpinned_signer_is_refused_for_a_manager_and_pinned_by_an_officer(self):
        with self.assertRaisesRegex(UserError, "not pinned for Company B"):
            self._preview()
        wizard = self._preview(self.officer_b)
        self.assertFalse(wizard.signer_pinned)
        self.assertEqual(wizard.fingerprint, self.fingerprint)
        self.assertFalse(wizard.line_ids, "nothing is previewed before the officer confirms the key")
        wizard.confirm_signer = True
        wizard.action_preview()
        self.assertEqual(len(wizard.line_ids), 3)
        self.assertFalse(self.env["customer.handover.trusted.signer"].search([]), "the preview pins nothing")
        wizard.action_import()
        signer = self.env["customer.handover.trusted.signer"].search([("company_id", "=", self.company_b.id)])
        self.assertEqual((signer.fingerprint, signer.pinned_by_id, signer.name),
                         (self.fingerprint, self.officer_b, self.company_a.name))
        with self.assertRaises(AccessError):
            self.env["customer.handover.trusted.signer"].with_user(self.manager_b)._pin(
                self.company_b, "X", self.fingerprint)

    def test_an_officer_previews_ticks_the_pin_and_imports_without_going_round(self):
        wizard = self._preview(self.officer_b)
        form = Form(wizard)
        self.assertFalse(form.signer_pinned)
        form.confirm_signer = True
        wizard = form.save()
        self.assertEqual((wizard.state, wizard.confirm_signer), ("preview", True))
        # Import on the preview that waited for the key: the customers are shown first, nothing is written yet
        self.assertEqual(wizard.action_import()["res_model"], "customer.handover.import")
        self.assertEqual((Form(wizard).state, len(wizard.line_ids)), ("preview", 3))
        self.assertFalse(self.env["customer.handover.incoming"].search([]))
        self.assertFalse(self.env["customer.handover.trusted.signer"].search([]))
        incoming = self.env["customer.handover.incoming"].browse(wizard.action_import()["res_id"])
        self.assertEqual(incoming.created_count, 3)
        self.assertEqual(self.env["customer.handover.trusted.signer"].search([]).fingerprint, self.fingerprint)

    def test_a_package_signed_by_another_key_is_refused(self):
        self._pin()
        key = ck.generate_key()
        certificate = ck.make_self_signed(key, "Impostor", days=30)
        package = build_package(self.export, recipient=self.recipient, signer=(key, certificate))
        with self.assertRaisesRegex(UserError, "not pinned for Company B"):
            self._preview(package=package)
        self.assertFalse(self._imported_partners())

    # ------------------------------------------------------------------------------------------ preview and import

    def test_preview_writes_nothing_and_the_import_creates_customers_with_their_provenance(self):
        self._pin()
        events_before = self.env["customer.handover.event"].sudo().search_count([])
        wizard = self._preview()
        self.assertEqual((wizard.customer_count, wizard.child_count, wizard.consent_count, wizard.item_count),
                         (3, 3, 3, 1))
        self.assertEqual(wizard.line_ids.mapped("decision"), ["create"] * 3)
        self.assertFalse(wizard.mapping_ids.filtered(lambda mapping: mapping.action == "create"))
        self.assertFalse(self._imported_partners(), "the preview creates no contact")
        self.assertEqual(self.env["customer.handover.event"].sudo().search_count([]), events_before)
        incoming = self.env["customer.handover.incoming"].browse(wizard.action_import()["res_id"])
        partners = self._imported_partners()
        self.assertEqual(len(partners), 3)
        self.assertEqual(set(partners.mapped("company_id")), {self.company_b})
        first = partners.filtered(lambda partner: partner.vat == "CN91310000MY")
        self.assertEqual((first.handover_sender, first.handover_source_package, first.handover_incoming_id),
                         (self.company_a.name, 1, incoming))
        self.assertEqual(first.handover_received_on, incoming.received_on.date())
        self.assertEqual((first.relationship_stage, first.sudo().data_sensitivity, first.country_id.code),
                         ("active", "personal", "CN"))
        self.assertEqual(first.business_domain_ids.name, "Imported domain")
        self.assertEqual(first.child_ids.type, "invoice")
        consent = first.consent_ids
        self.assertEqual((consent.purpose_id, consent.state, str(consent.date_given), consent.lawful_basis,
                          consent.channel, consent.company_id),
                         (self.purpose_service, "granted", "2025-03-01", "contract", "paper", self.company_b))
        self.assertEqual(base64.b64decode(consent.sudo().evidence), EVIDENCE)
        self.assertEqual((incoming.created_count, incoming.matched_count, incoming.refused_count,
                          incoming.item_count, incoming.consent_count, incoming.child_count),
                         (3, 0, 0, 1, 3, 3))
        self.assertTrue(incoming.reconciled, incoming.line_ids.mapped("difference"))
        self.assertEqual(incoming.line_ids.mapped("line_number"), [1, 2, 3, 4])
        self.assertEqual(incoming.checklist_sha256, hashlib.sha256(self.workbook).hexdigest())
        self.assertEqual(incoming.fingerprint, self.fingerprint)
        self.assertFalse(wizard.plain_package, "a package for the company's key is never kept decrypted")
        events = self.env["customer.handover.event"].sudo().search([("company_id", "=", self.company_b.id)])
        self.assertTrue({"package_imported", "customers_imported", "consent_recorded", "signer_pinned",
                         "package_key_created"} <= set(events.mapped("event")))
        entry = events.filtered(lambda event: event.event == "package_imported")
        self.assertEqual(json.loads(entry.payload)["fingerprint"], self.fingerprint)
        self.assertNotIn("上海", entry.payload, "the log holds no personal data")

    def test_imported_contacts_arrive_without_a_salesperson_and_without_a_new_record_each(self):
        """A package names no salesperson. Said in the values, Odoo does not build a new record per contact to
        compute it: an import creates contacts by the thousand."""
        self._pin()
        self.partners.sudo().user_id = self.manager  # the sender's salesperson stays with the sender
        wizard = self._preview()
        partner_class = type(self.env["res.partner"])
        made = []

        def new(model, *args, **kwargs):
            made.append(model._name)
            return new.original(model, *args, **kwargs)

        new.original = partner_class.new
        with patch.object(partner_class, "new", new):
            wizard.action_import()
            self.env.flush_all()
        self.assertEqual(made, [])
        partners = self._imported_partners()
        self.assertEqual(len(partners | partners.child_ids), 6)
        self.assertFalse((partners | partners.child_ids).user_id)

    def test_the_preview_reads_no_upload_whole(self):
        """The uploaded files are read where they lie, in chunks: a million customers' checklist and package weigh
        hundreds of MB. Asking whether a file is there reads none of it (Odoo reads a whole file to tell its size)."""
        self._pin()
        wizard = self._wizard()
        wizard.invalidate_recordset()
        attachment_class = type(self.env["ir.attachment"])
        read = []

        def file_read(model, fname, *args, **kwargs):
            read.append(fname)
            return file_read.original(model, fname, *args, **kwargs)

        file_read.original = attachment_class._file_read
        with patch.object(attachment_class, "_file_read", file_read):
            wizard.action_preview()
        self.assertEqual(wizard.state, "preview")
        self.assertEqual(read, [])

    def test_a_received_customer_shows_its_provenance_on_its_tab(self):
        self._pin()
        incoming = self._import()
        partner = self._imported_partners()[0].with_user(self.user_b2)
        form = Form(partner)
        self.assertEqual((form.handover_sender, form.handover_source_reference, form.handover_incoming_id),
                         (self.company_a.name, self.handover.name, incoming))
        self.assertIn('name="handover_source_package"', partner.get_views([(False, "form")])["views"]["form"]["arch"])
        self.assertEqual(Form(incoming.with_user(self.user_b2)).sender, self.company_a.name)

    def test_the_reconciliation_lists_every_difference_with_the_signed_checklist(self):
        self._pin()
        line = self.handover.line_ids.filtered("partner_id")[0]
        stranger = customer_of(9, line)
        stranger["contact"].update(vat="CN-STRANGER", ref="S-9", email="s9@example.cn", phone="")

        def changed(customer):
            if customer["line"] == 2:
                customer["snapshot"]["consent"] = "Marketing communications"

        incoming = self._import(package=build_package(self.export, recipient=self.recipient, change=changed,
                                                      extra=[stranger], skip={3}))
        differences = {line.line_number: (line.outcome, line.difference) for line in incoming.line_ids}
        self.assertEqual(differences, {
            1: ("created", False), 2: ("created", "snapshot_differs"), 3: ("not_delivered", "not_delivered"),
            4: ("received", False), 9: ("created", "not_in_checklist"),
        })
        self.assertEqual((incoming.difference_count, incoming.reconciled), (3, False))

    def test_the_same_package_twice_creates_nothing_twice(self):
        self._pin()
        self._import()
        with self.assertRaisesRegex(UserError, "already imported"):
            self._preview()
        self.assertEqual(len(self._imported_partners()), 3)

    def test_existing_contacts_match_by_vat_reference_email_then_phone(self):
        self._pin()
        existing = self.env["res.partner"].create([
            {"name": "By VAT", "vat": "CN91310000MY", "company_id": self.company_b.id},
            {"name": "By email", "email": "fang.wang@example.cn", "company_id": self.company_b.id},
            {"name": "By phone", "phone": "+8621 5555 0303", "company_id": self.company_b.id},
            {"name": "Other company", "email": "fang.wang@example.cn", "company_id": self.company_a.id},
        ])
        wizard = self._preview()
        matches = {line.line_number: (line.partner_id.name, line.match_key, line.decision) for line in wizard.line_ids}
        self.assertEqual(matches, {1: ("By VAT", "vat", "merge"), 2: ("By email", "email", "merge"),
                                   3: ("By phone", "phone", "merge")})
        self.assertEqual(wizard.line_ids[0].partner_vat, "CN91310000MY", "shown side by side")
        incoming = self.env["customer.handover.incoming"].browse(wizard.action_import()["res_id"])
        self.assertEqual(incoming.matched_count, 3)
        self.assertEqual(existing[0].handover_incoming_id, incoming)
        self.assertEqual(existing[0].consent_ids.purpose_id, self.purpose_service)
        self.assertFalse(existing[3].handover_incoming_id)

    def test_an_officer_decides_conflicts_line_by_line(self):
        self._pin()
        self.env["res.partner"].create({"name": "By VAT", "vat": "CN91310000MY", "company_id": self.company_b.id})
        wizard = self._preview()
        wizard.line_ids[0].decision = "refuse"
        wizard.line_ids[0].reason = "Known duplicate"
        with self.assertRaisesRegex(AccessError, "data-protection officer"):
            wizard.action_import()
        wizard = self._preview(self.officer_b)
        wizard.line_ids[0].write({"decision": "refuse", "reason": "Known duplicate"})
        wizard.line_ids[1].decision = "refuse"
        with self.assertRaisesRegex(UserError, "reason"):
            wizard.action_import()
        wizard.line_ids[1].decision = "create"
        incoming = self.env["customer.handover.incoming"].browse(wizard.action_import()["res_id"])
        line = incoming.line_ids.filtered(lambda line: line.line_number == 1)
        self.assertEqual((line.outcome, line.reason, line.partner_id.id), ("refused", "Known duplicate", False))
        self.assertEqual((incoming.created_count, incoming.refused_count), (2, 1))
        self.assertTrue(incoming.reconciled, "a refused line is accounted for")

    def test_a_decision_forged_by_a_manager_is_refused_at_import(self):
        self._pin()
        unrelated = self.env["res.partner"].create({"name": "Unrelated", "company_id": self.company_b.id})
        wizard = self._preview()
        line = wizard.line_ids[0]
        line.write({"decision": "merge", "partner_id": unrelated.id, "default_decision": "merge"})
        with self.assertRaisesRegex(UserError, "no longer matches"):
            wizard.action_import()
        line.write({"decision": "refuse", "reason": "x", "default_decision": "refuse", "partner_id": False})
        with self.assertRaisesRegex(AccessError, "data-protection officer"):
            wizard.action_import()
        self.assertFalse(self._imported_partners())
        self.assertFalse(unrelated.consent_ids)

    def test_a_passphrase_package_and_the_passphrase_is_never_stored(self):
        self._pin()
        package = build_package(self.export, passphrase="correct horse battery staple")
        with self.assertRaisesRegex(UserError, "passphrase is wrong"):
            self._wizard(package=package, passphrase="wrong")
        with self.assertRaisesRegex(UserError, "encrypted with a passphrase"):
            self._preview(package=package)
        wizard = self._wizard(package=package, passphrase="correct horse battery staple")
        self.assertNotIn("passphrase", self._columns("customer_handover_import"))
        self.assertTrue(wizard.plain_package, "decrypted as the form was saved")
        wizard.action_preview()
        wizard.action_import()
        self.assertEqual(len(self._imported_partners()), 3)
        self.assertFalse(wizard.plain_package, "the decrypted package is dropped once imported")

    def _columns(self, table):
        self.env.cr.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s", [table])
        return {row[0] for row in self.env.cr.fetchall()}

    # ------------------------------------------------------------------------------------------ bad input

    def test_a_package_for_another_key_is_refused(self):
        self._pin()
        _identity, other = new_identity()
        with self.assertRaisesRegex(UserError, "encrypted for another key"):
            self._preview(package=build_package(self.export, recipient=other))

    def test_a_tampered_or_truncated_package_is_refused(self):
        self._pin()
        flipped = bytearray(self.package)
        flipped[-20] ^= 1
        for package in (bytes(flipped), self.package[:-100]):
            with self.assertRaisesRegex(UserError, "cannot be decrypted"):
                self._preview(package=package)
        with self.assertRaisesRegex(UserError, "not a transfer package"):
            self._preview(package=b"PK\x03\x04 not age")
        self.assertFalse(self._imported_partners())

    def test_a_package_of_a_newer_format_version_is_refused(self):
        self._pin()
        newer = tp.VERSION + 1
        with self.assertRaisesRegex(UserError, f"format version {newer}"):
            self._preview(package=build_package(self.export, recipient=self.recipient, manifest={"version": newer}))

    def test_a_superseded_package_and_a_package_for_another_checklist_are_refused(self):
        self._pin()
        later = self._export(self.handover)
        later_workbook = base64.b64decode(later.attachment_id.sudo().datas)
        with self.assertRaisesRegex(UserError, "superseded by export 2"):
            self._preview(workbook=later_workbook)
        self.assertFalse(self._imported_partners())

    def test_duplicate_customers_in_a_package_are_refused(self):
        self._pin()
        line = self.handover.line_ids.filtered("partner_id").sorted(lambda line: (line.sequence, line.id))[0]
        twin = customer_of(9, line)
        package = build_package(self.export, recipient=self.recipient, extra=[twin])
        with self.assertRaisesRegex(UserError, "same customer"):
            self._preview(package=package)

    def test_sensitive_customers_need_an_officer(self):
        self._pin()

        def sensitive(customer):
            customer["classification"]["sensitivity"] = "sensitive"

        package = build_package(self.export, recipient=self.recipient, change=sensitive)
        with self.assertRaisesRegex(UserError, "sensitive personal information"):
            self._preview(package=package)
        # a preview forged without the preview step is refused; forged past that, line by line, at import
        wizard = self._wizard(package=package)
        with self.assertRaises(AccessError):
            wizard.write({"state": "preview", "signer_pinned": True})
        with evidence_step(wizard._name, "state", "signer_pinned"):
            wizard.write({"state": "preview", "signer_pinned": True})
        self.env["customer.handover.import.line"].with_user(self.manager_b).create([
            {"wizard_id": wizard.id, "line_number": number, "decision": "create", "default_decision": "create"}
            for number in (1, 2, 3)
        ])
        with self.assertRaisesRegex(AccessError, "sensitive personal information"):
            wizard.action_import()
        self.assertFalse(self._imported_partners())
        self._import(self.officer_b, package=package)
        self.assertEqual(set(self._imported_partners().mapped("data_sensitivity")), {"sensitive"})

    def test_purposes_and_policies_the_receiver_lacks_are_mapped_or_created_by_an_officer(self):
        self._pin()

        def unknown(customer):
            customer["consents"][0].update(purpose="Loyalty programme", purpose_code="loyalty")
            customer["retention"].update(policy="Five years", policy_code="five_years", period=5, period_unit="year")

        package = build_package(self.export, recipient=self.recipient, change=unknown)
        wizard = self._preview(package=package)
        self.assertEqual(sorted(wizard.mapping_ids.mapped("name")), ["Five years", "Loyalty programme"])
        self.assertEqual(set(wizard.mapping_ids.mapped("action")), {"create"})
        with self.assertRaisesRegex(UserError, "map it to an existing one"):
            wizard.action_import()
        wizard.mapping_ids.filtered(lambda m: m.kind == "purpose").write(
            {"action": "map", "purpose_id": self.purpose_marketing.id})
        wizard.mapping_ids.filtered(lambda m: m.kind == "policy").write(
            {"action": "map", "policy_id": self.policy_customer.id})
        wizard.action_import()
        partner = self._imported_partners()[0]
        self.assertEqual((partner.consent_ids.purpose_id, partner.retention_policy_id),
                         (self.purpose_marketing, self.policy_customer))

    def test_an_officer_creates_the_missing_purpose_and_policy(self):
        self._pin()

        def unknown(customer):
            customer["consents"][0].update(purpose="Loyalty programme", purpose_code="loyalty")
            customer["retention"].update(policy="Five years", policy_code="five_years", period=5, period_unit="year")

        self._import(self.officer_b, package=build_package(self.export, recipient=self.recipient, change=unknown))
        partner = self._imported_partners()[0]
        self.assertEqual((partner.consent_ids.purpose_id.name, partner.consent_ids.purpose_id.code),
                         ("Loyalty programme", "loyalty"))
        self.assertEqual((partner.retention_policy_id.name, partner.retention_policy_id.code,
                          partner.retention_policy_id.period, partner.retention_policy_id.company_id),
                         ("Five years", "five_years", 5, self.company_b))

    def test_a_constraint_failing_in_a_batch_names_its_lines(self):
        self._pin()

        def withdrawn_without_date(customer):
            if customer["line"] == 3:
                customer["consents"][0].update(status="withdrawn", withdrawn_on="")

        wizard = self._preview(package=build_package(self.export, recipient=self.recipient,
                                                     change=withdrawn_without_date))
        with self.assertRaisesRegex(UserError, "Nothing was imported: the package stopped in the lines 1 to 3"):
            wizard.action_import()
        self.assertFalse(self._imported_partners())

    def test_a_failure_part_way_imports_nothing_and_says_where_it_stopped(self):
        self._pin()

        def broken(customer):
            if customer["line"] == 2:
                customer["consents"][0]["channel"] = "pigeon"

        wizard = self._preview(package=build_package(self.export, recipient=self.recipient, change=broken))
        with self.assertRaisesRegex(UserError, "Nothing was imported: the package stopped at line 2"):
            wizard.action_import()
        self.assertFalse(self._imported_partners())
        self.assertFalse(self.env["customer.handover.incoming"].search([]))

    # ------------------------------------------------------------------------------------------ countersign

    def test_the_receiver_countersigns_the_checklist_it_received(self):
        self._pin()
        incoming = self._import()
        with self.assertRaises(AccessError):
            incoming.with_user(self.user_b2).action_countersign()
        self.company_b.with_user(self.officer_b).action_handover_create_signing_key()
        incoming.with_user(self.manager_b).action_countersign()
        self.assertEqual((incoming.state, incoming.countersigner), ("countersigned", self.company_b.name))
        signed = base64.b64decode(incoming.countersigned_attachment_id.sudo().datas)
        result = verify(signed, trusted={self.fingerprint})
        self.assertEqual(result.status, "valid")
        self.assertTrue(result.countersigned)
        with self.assertRaisesRegex(UserError, "already countersigned"):
            incoming.with_user(self.manager_b).action_countersign()
        self.assertIn("package_countersigned", self.env["customer.handover.event"].sudo().search(
            [("company_id", "=", self.company_b.id)]).mapped("event"))

    def test_the_receiver_is_warned_of_its_missing_signing_key_and_an_officer_creates_it_there(self):
        self._pin()
        wizard = Form(self.env["customer.handover.import"].with_user(self.manager_b).with_company(
            self.company_b)).save()
        self.assertTrue(wizard.signing_key_missing, "the import warns before anything is received")
        incoming = self._import().with_user(self.manager_b)
        self.assertTrue(incoming.signing_key_missing)
        with self.assertRaises(AccessError):
            incoming.action_create_signing_key()
        with self.assertRaises(AccessError):
            wizard.action_create_signing_key()
        self.assertFalse(self.officer_b.has_group("base.group_system"), "an officer, not a Settings administrator")
        incoming.with_user(self.officer_b).action_create_signing_key()
        self.env.invalidate_all()
        self.assertFalse(incoming.signing_key_missing)
        self.assertFalse(wizard.signing_key_missing)
        incoming.action_countersign()
        self.assertEqual(incoming.state, "countersigned")

    def test_the_receivers_notes_read_in_each_readers_language_not_the_actors(self):
        self.env["res.lang"]._activate_lang("zh_CN")
        self.env["ir.module.module"]._load_module_terms(["customer_handover"], ["zh_CN"], overwrite=True)
        self.company_b.partner_id.lang = False
        self.env = self.env(context=dict(self.env.context, lang="zh_CN"))  # the actor's language
        self._pin()
        incoming = self._import()
        note = incoming.message_ids[0]
        self.assertIn("Transfer package imported", note_text(note))
        self.assertIn(f"Customers Created: 0 → {incoming.created_count}", note_text(note))
        self.assertIn("传输数据包已导入", note_text(note, "zh_CN"))
        self.company_b.with_user(self.officer_b).action_handover_create_signing_key()
        incoming.with_user(self.manager_b).action_countersign()
        self.assertIn(f"Countersigned By:  → {self.company_b.name}", note_text(incoming.message_ids[0]))

    # ------------------------------------------------------------------------------------------ access

    def test_users_outside_the_managers_cannot_import(self):
        for user in (self.user_b2, self.employee):
            with self.assertRaises(AccessError):
                self.env["customer.handover.import"].with_user(user).create({
                    "package_file": base64.b64encode(self.package), "checklist_file": base64.b64encode(self.workbook),
                })
        with self.assertRaises(AccessError):
            self._preview(self.manager)
        with self.assertRaises(AccessError):
            self.env["customer.handover.incoming"].with_user(self.employee).search([])

    def test_another_company_sees_no_incoming_handover(self):
        self._pin()
        incoming = self._import()
        self.assertFalse(self.env["customer.handover.incoming"].with_user(self.manager).search(
            [("id", "=", incoming.id)]))
        self.assertEqual(self.env["customer.handover.incoming"].with_user(self.user_b2).search(
            [("id", "=", incoming.id)]), incoming)

    # ------------------------------------------------------------------------------------------ evidence

    def test_the_facts_of_an_import_are_refused_to_every_group(self):
        self._pin()
        incoming = self._import()
        partner = self._imported_partners()[0]
        line = incoming.line_ids[0]
        signer = self.env["customer.handover.trusted.signer"].search([])
        for user in (self.user_b2, self.manager_b, self.officer_b):
            for record, values in (
                (incoming, {"reconciled": False}), (incoming, {"state": "countersigned"}),
                (incoming, {"fingerprint": "AB"}), (incoming, {"created_count": 9}),
                (line, {"outcome": "created"}), (line, {"difference": False}),
                (partner, {"handover_sender": "Forged"}), (partner, {"handover_incoming_id": False}),
                (signer, {"fingerprint": "AB"}),
            ):
                with self.subTest(user=user.login, model=record._name, values=values), \
                        self.assertRaises(AccessError):
                    record.with_user(user).write(values)
            with self.assertRaises(AccessError):
                self.env["customer.handover.incoming"].with_user(user).create({"name": "Forged"})
            with self.assertRaises(AccessError):
                self.env["customer.handover.trusted.signer"].with_user(user).create(
                    {"name": "X", "fingerprint": "AB", "company_id": self.company_b.id})
            with self.assertRaises(AccessError):
                self.env["res.partner"].with_user(user).create({"name": "Forged", "handover_sender": "X"})
        with self.assertRaises(AccessError):
            incoming.sudo().write({"reconciled": False})
        with self.assertRaises(AccessError):
            self.env["customer.handover.incoming"].sudo().create({"name": "Forged", "company_id": self.company_b.id})
        with self.assertRaises(AccessError):
            incoming.line_ids.sudo().create({"incoming_id": incoming.id, "outcome": "created"})
        for record in (incoming, line, signer):
            with self.assertRaises(AccessError):
                record.sudo().unlink()
        self.assertTrue(incoming.reconciled)

    # ------------------------------------------------------------------------------------------ batches

    def test_the_queries_of_a_batch_do_not_grow_with_its_customers(self):
        self._pin()
        line = self.handover.line_ids.filtered("partner_id")[0]

        def unique(tag):
            def change(customer):
                number = customer["line"]
                customer["contact"].update(vat=f"{tag}V{number}", ref=f"{tag}R{number}",
                                           email=f"{tag.lower()}{number}@example.cn", phone="")
            return change

        extra = []
        for number in range(10, 16):
            customer = customer_of(number, line)
            unique("P3")(customer)
            extra.append(customer)
        counts = []
        # package 1 warms the caches (rules, defaults, subtypes); packages 2 and 3 are counted
        for package, extras in ((1, []), (2, []), (3, extra)):
            wizard = self._preview(package=build_package(
                self.export, recipient=self.recipient, package=package, change=unique(f"P{package}"), extra=extras))
            self.env.flush_all()
            with self.assertQueryCount(104, flush=False) if package > 1 else nullcontext():  # the warm-up is not pinned
                start = self.cr.sql_log_count
                wizard.action_import()
                self.env.flush_all()
                counts.append(self.cr.sql_log_count - start)
        self.assertEqual(self.env["customer.handover.incoming"].search([], order="id").mapped("created_count"),
                         [3, 3, 9])
        self.assertEqual(counts[1], counts[2], "3 and 9 customers in one batch: the same number of queries")


@tagged("post_install", "-at_install", "customer_handover_import")
class TestImportOfABilingualChineseChecklist(ImportFixture, HandoverCase):
    """The transferring company writes in Chinese with bilingual labels: the receiver verifies, reads and imports."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("zh_CN")
        cls.env["ir.module.module"]._load_module_terms(["customer_handover"], ["zh_CN"], overwrite=True)
        cls.company_a.partner_id.lang = "zh_CN"
        cls.company_a.handover_bilingual_headers = True
        cls._build_import_fixture()

    def test_a_bilingual_chinese_checklist_is_imported_and_reconciled_line_by_line(self):
        book = load_workbook(io.BytesIO(self.workbook), read_only=True)
        try:
            header = next(book.worksheets[1].iter_rows(values_only=True))
        finally:
            book.close()
        self.assertEqual(header[:3], ("序号 / No.", "项目 / Item", "行类型 / Line Type"))
        self._pin()
        incoming = self._import()
        self.assertEqual(incoming.created_count, 3)
        self.assertTrue(incoming.reconciled, incoming.line_ids.mapped("difference"))
        incoming.with_user(self.officer_b).company_id.action_handover_create_signing_key()
        incoming.with_user(self.manager_b).action_countersign()
        book = load_workbook(io.BytesIO(base64.b64decode(incoming.countersigned_attachment_id.sudo().datas)),
                             read_only=True)
        try:
            labels = {row[0]: row[1] for row in book.worksheets[2].iter_rows(values_only=True)}
        finally:
            book.close()
        self.assertEqual(labels["signature.2.name"], labels["signature.1.name"], "labelled as the checklist is")
        self.assertIn(" / Signed by", labels["signature.2.name"])
