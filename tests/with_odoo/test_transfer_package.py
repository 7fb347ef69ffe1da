import base64
import json
import os
import tempfile

from odoo.addons.customer_handover.tools import checklist as ck
from odoo.addons.customer_handover.tools import transfer_package as tp
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged
from odoo.tools import SQL

from .common import HandoverCase, note_text
from .test_handover import SIGNATURE

EVIDENCE = b"%PDF-1.4 signed consent form of Wang Fang"


@tagged("post_install", "-at_install")
class TestTransferPackage(HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a.partner_id.email = cls.company_a.partner_id.email or "a@example.com"
        cls.company_a.with_user(cls.officer).action_handover_create_signing_key()
        cls.receiver_identity, cls.receiver_recipient = tp.new_identity()
        cls.receiver = cls.env["res.partner"].create(
            {"name": "杭州新锦贸易有限公司", "is_company": True, "email": "legal@xinjin.example.cn"}
        )
        cls.domain = cls.env["customer.business.domain"].create({"name": "Package test domain"})
        Partner = cls.env["res.partner"]
        domains = [(6, 0, cls.domain.ids)]
        china = cls.env.ref("base.cn")
        cls.wang = Partner.create({
            "name": "王芳", "ref": "C-001", "email": "wang.fang@example.cn", "phone": "+86 138 0000 0001",
            "street": "南京西路 1 号", "city": "上海", "country_id": china.id,
            "state_id": cls.env["res.country.state"].search([("country_id", "=", china.id)], limit=1).id,
            "business_domain_ids": domains, "lang": "en_US",
        })
        cls.wang_delivery = Partner.create(
            {"name": "王芳 (送货)", "parent_id": cls.wang.id, "type": "delivery", "city": "上海"}
        )
        cls.xinhua = Partner.create(
            {"name": "新华酒店用品", "is_company": True, "vat": "91310000MA1FL0000X", "business_domain_ids": domains}
        )
        cls.no_consent = Partner.create({"name": "Li Lei", "business_domain_ids": domains})
        Consent = cls.env["customer.consent"]
        cls.wang_consent = Consent.create({
            "partner_id": cls.wang.id, "purpose_id": cls.purpose_service.id, "date_given": "2026-01-02",
            "channel": "paper", "evidence": base64.b64encode(EVIDENCE), "evidence_filename": "consent.PDF",
        })
        Consent.create({"partner_id": cls.xinhua.id, "purpose_id": cls.purpose_service.id, "date_given": "2025-05-06",
                        "lawful_basis": "contract"})
        # Consent for a purpose the receiver does not have: it stays with the transferring company.
        Consent.create({"partner_id": cls.xinhua.id, "purpose_id": cls.purpose_marketing.id,
                        "date_given": "2025-05-06"})
        cls.handover = cls._signed_handover()
        cls.export = cls.env["customer.handover.export"].with_user(cls.manager)._create_for(
            cls.handover.with_user(cls.manager)
        )

    @classmethod
    def _signed_handover(cls, domain=None):
        handover = cls.env["customer.handover"].with_user(cls.handover_user).create(
            {"receiver_id": cls.receiver.id, "purpose_ids": [(6, 0, cls.purpose_service.ids)]}
        )
        scope = Form(cls.env["customer.handover.scope"].with_user(cls.handover_user).with_context(
            default_handover_id=handover.id))
        scope.business_domain_ids.add(domain or cls.domain)
        scope.save().action_confirm()
        item = cls.env["customer.handover.line"].with_user(cls.handover_user).create(
            {"handover_id": handover.id, "name": "Paper files, two boxes", "remarks": "boxes 1 and 2"}
        )
        handover.write({"nda_reference": "NDA-9", "nda_date": "2026-11-01", "nda_document": SIGNATURE})
        handover.with_user(cls.manager).action_confirm()
        handover.with_user(cls.manager).action_start()
        (handover.line_ids.filtered(lambda line: line.eligibility == "eligible") | item).with_user(
            cls.handover_user).action_verify()
        handover.with_user(cls.handover_user).action_mark_verified()
        handover.with_user(cls.manager)._sign("transfer", "王经理", SIGNATURE, channel="in_person")
        handover.with_user(cls.manager)._sign("receiver", "李代表", SIGNATURE, channel="in_person")
        return handover

    def _make(self, user=None, **values):
        form = Form(self.env["customer.handover.pack"].with_user(user or self.manager).with_context(
            default_handover_id=self.handover.id))
        if "recipient" in values:
            values = {"encryption": "recipient", **values}
        for name, value in values.items():
            setattr(form, name, value)
        wizard = form.save()
        action = wizard.action_make()
        return wizard.with_context(action["context"]), wizard.package_id

    def _open(self, package, folder, **options):
        path = os.path.join(folder, "package.age")
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(package.attachment_id.sudo().datas))
        return tp.open_package(path, out=os.path.join(folder, "out"), **options)

    def _checklist_file(self, folder, export=None):
        path = os.path.join(folder, "checklist.xlsx")
        with open(path, "wb") as handle:
            handle.write(base64.b64decode((export or self.export).attachment_id.sudo().datas))
        return path

    # --------------------------------------------------------------------------------------------- contents

    def test_a_package_to_the_receivers_key_carries_the_verified_customers_and_opens_offline(self):
        _wizard, package = self._make(recipient=f" {self.receiver_recipient}\n")
        self.assertEqual(self.handover.receiver_recipient, self.receiver_recipient)
        self.assertEqual(package.recipient_fingerprint, tp.recipient_fingerprint(self.receiver_recipient)[1])
        self.assertEqual((package.number, package.kind, package.encryption, package.export_id),
                         (1, "transfer", "recipient", self.export))
        self.assertEqual((package.customer_count, package.child_count, package.consent_count, package.evidence_count,
                          package.item_count), (2, 1, 2, 1, 1))
        with tempfile.TemporaryDirectory() as folder:
            result = self._open(package, folder, identity=self.receiver_identity,
                                fingerprint=self.export.fingerprint, checklist=self._checklist_file(folder))
            self.assertEqual(result.status, "valid", result.to_dict())
            self.assertEqual((result.handover, result.package, result.export), (self.handover.name, 1, 1))
            with open(os.path.join(folder, "out", "data.json"), encoding="utf-8") as handle:
                data = json.load(handle)
            customers = {customer["contact"]["name"]: customer for customer in data["customers"]}
            self.assertEqual(set(customers), {"王芳", "新华酒店用品"}, "the ineligible customer stays here")
            wang = customers["王芳"]
            line = self.handover.line_ids.filtered(lambda line: line.partner_id == self.wang)
            self.assertEqual(wang["snapshot"]["contact"], line.snapshot_contact)
            self.assertEqual((wang["contact"]["country"], wang["contact"]["kind"], wang["contact"]["ref"]),
                             ("CN", "individual", "C-001"))
            self.assertEqual([child["type"] for child in wang["children"]], ["delivery"])
            self.assertEqual(wang["classification"]["domains"], ["Package test domain"])
            [consent] = wang["consents"]
            self.assertEqual((consent["purpose"], consent["given_on"], consent["channel"], consent["status"]),
                             ("Customer service", "2026-01-02", "paper", "granted"))
            [evidence] = consent["evidence"]
            self.assertRegex(evidence, r"^evidence/[0-9a-f]{64}\.pdf$")
            with open(os.path.join(folder, "out", evidence), "rb") as handle:
                self.assertEqual(handle.read(), EVIDENCE)
            xinhua = customers["新华酒店用品"]
            self.assertEqual([consent["purpose"] for consent in xinhua["consents"]], ["Customer service"],
                             "consents for purposes the receiver lacks stay with the transferring company")
            self.assertEqual(xinhua["consents"][0]["lawful_basis"], "contract")
            self.assertEqual(xinhua["contact"]["kind"], "organisation")
            self.assertEqual(data["items"], [{"line": data["items"][0]["line"], "name": "Paper files, two boxes",
                                              "kind": "item", "status": "verified", "remarks": "boxes 1 and 2"}])
            self.assertEqual(data["handover"]["reference"], self.handover.name)
            self.assertEqual(data["handover"]["purposes"], ["Customer service"])
            self.assertEqual(data["handover"]["kind"], "transfer")
            numbers = sorted([customer["line"] for customer in data["customers"]] + [data["items"][0]["line"]])
            self.assertEqual(len(set(numbers)), 3)
        backup = self.env["customer.handover.package"].search([("handover_id", "=", self.handover.id)]) - package
        self.assertEqual((backup.kind, backup.number), ("backup", 1), "the scope was backed up before it left")
        self.assertEqual(self.wang.with_user(self.manager).handover_package_ids, package | backup)
        note = note_text(self.handover.message_ids[0])
        self.assertIn("encrypted to the receiver's key", note)
        self.assertIn(f"Recipient Fingerprint (SHA-256):  → {package.recipient_fingerprint}", note)
        self.assertTrue(self.env["customer.handover.event"].search(
            [("event", "=", "transfer_package_created"), ("res_id", "=", package.id)]))

    def test_a_passphrase_is_shown_once_and_stored_nowhere(self):
        wizard, package = self._make(encryption="passphrase")
        passphrase = wizard.passphrase
        self.assertRegex(passphrase, r"^([0-9A-Z]{5}-){5}[0-9A-Z]{5}$")
        self.assertEqual(package.encryption, "passphrase")
        self.assertFalse(package.recipient)
        wizard.invalidate_recordset()
        self.assertFalse(wizard.with_context(customer_handover_passphrase=None).passphrase,
                         "a later read shows nothing")
        self.env.flush_all()
        for table, column in (("customer_handover_pack", "recipient"), ("mail_message", "body"),
                              ("customer_handover_event", "payload"), ("customer_handover_package", "recipient")):
            self.env.cr.execute(SQL("SELECT count(*) FROM %s WHERE %s::text LIKE %s", SQL.identifier(table),
                                    SQL.identifier(column), f"%{passphrase}%"))
            self.assertEqual(self.env.cr.fetchone()[0], 0, table)
        with tempfile.TemporaryDirectory() as folder:
            wrong = self._open(package, folder, passphrase="not it")
            self.assertEqual(wrong.status, "unreadable")
            self.assertFalse(os.path.exists(os.path.join(folder, "out")))
        with tempfile.TemporaryDirectory() as folder:
            result = self._open(package, folder, passphrase=passphrase, fingerprint=self.export.fingerprint)
            self.assertEqual(result.status, "valid", result.to_dict())
        self.assertIn("one-time passphrase", note_text(self.handover.message_ids[0]))

    def test_a_package_of_a_superseded_export_is_superseded(self):
        _wizard, package = self._make(recipient=self.receiver_recipient)
        newer = self.env["customer.handover.export"].with_user(self.manager)._create_for(
            self.handover.with_user(self.manager))
        self.assertEqual(package.state, "superseded")
        with self.assertRaisesRegex(UserError, "superseded"):
            package.with_user(self.manager).action_download()
        with tempfile.TemporaryDirectory() as folder:
            result = self._open(package, folder, identity=self.receiver_identity, fingerprint=self.export.fingerprint,
                                checklist=self._checklist_file(folder, newer))
            self.assertEqual(result.status, "invalid")
            self.assertEqual([problem.code for problem in result.problems], ["superseded"])
        _wizard, second = self._make(recipient=self.receiver_recipient)
        self.assertEqual((second.number, second.export_id, second.state), (2, newer, "current"))

    def test_a_backup_is_encrypted_to_the_company_and_kept_once(self):
        backup = self.handover.with_user(self.manager)._ensure_backup()
        self.assertEqual((backup.kind, backup.encryption, backup.customer_count), ("backup", "company", 2))
        self.assertEqual(self.handover.with_user(self.manager)._ensure_backup(), backup)
        identity = self.company_a.sudo().handover_package_identity
        self.assertEqual(backup.recipient, self.company_a.handover_package_recipient)
        with tempfile.TemporaryDirectory() as folder:
            result = self._open(backup, folder, identity=identity, fingerprint=self.export.fingerprint)
            self.assertEqual(result.status, "valid", result.to_dict())
            with open(os.path.join(folder, "out", "data.json"), encoding="utf-8") as handle:
                self.assertEqual(json.load(handle)["handover"]["kind"], "backup")
        with tempfile.TemporaryDirectory() as folder:
            stranger = self._open(backup, folder, identity=self.receiver_identity)
            self.assertEqual([problem.code for problem in stranger.problems], ["wrong_key"])

    def test_reading_the_customers_costs_the_same_queries_for_two_or_twelve(self):
        domain = self.env["customer.business.domain"].create({"name": "Twelve customers"})
        customers = self.env["res.partner"].create([
            {"name": f"Customer {n}", "business_domain_ids": [(6, 0, domain.ids)],
             "child_ids": [(0, 0, {"name": f"Contact {n}", "type": "invoice"})]} for n in range(12)])
        self.env["customer.consent"].create([
            {"partner_id": customer.id, "purpose_id": self.purpose_service.id, "date_given": "2026-01-01",
             "evidence": base64.b64encode(b"form %d" % n), "evidence_filename": "form.pdf"}
            for n, customer in enumerate(customers)])
        larger = self._signed_handover(domain)
        counts = []
        for handover in (self.handover, larger):
            with tempfile.TemporaryDirectory() as folder:
                writer = tp.PackageWriter(os.path.join(folder, "p.age"), "H", "C", 1, 1, "0" * 64,
                                          recipient=self.receiver_recipient)
                with writer:
                    self.env.flush_all()
                    self.env.invalidate_all()
                    list(handover.with_user(self.manager)._package_customers(writer))  # warm-up: the registry's caches
                    self.env.invalidate_all()
                    with self.assertQueryCount(13, flush=False):
                        before = self.env.cr.sql_log_count
                        read = list(handover.with_user(self.manager)._package_customers(writer))
                        counts.append(self.env.cr.sql_log_count - before)
                    self.assertEqual(len(read), 2 if handover == self.handover else 12)
        self.assertEqual(counts[0], counts[1], "queries grow with the number of customers")

    # ------------------------------------------------------------------------------------------ bad input

    def test_a_wrong_key_or_an_unsigned_handover_is_refused_and_nothing_is_made(self):
        with self.assertRaisesRegex(UserError, "not an age public key"):
            self._make(recipient="age1thisisnotakey")
        draft = self.env["customer.handover"].with_user(self.handover_user).create(
            {"receiver_id": self.receiver.id, "purpose_ids": [(6, 0, self.purpose_service.ids)]})
        with self.assertRaisesRegex(UserError, "not signed"):
            self.env["customer.handover.package"].with_user(self.manager)._create_for(
                draft.with_user(self.manager), recipient=self.receiver_recipient)
        self.assertFalse(self.env["customer.handover.package"].search([]))
        self.assertFalse(self.handover.receiver_recipient)

    # ---------------------------------------------------------------------------------------------- access

    def test_only_managers_make_read_or_download_packages(self):
        _wizard, package = self._make(recipient=self.receiver_recipient)
        for user in (self.handover_user, self.employee, self.user_b):
            with self.assertRaises(AccessError):
                self._make(user=user, recipient=self.receiver_recipient)
            with self.assertRaises(AccessError):
                package.with_user(user).read(["number"])
            with self.assertRaises(AccessError):
                package.attachment_id.with_user(user).read(["datas"])
            with self.assertRaises(AccessError):
                self.env["customer.handover.package"].with_user(user)._create_for(
                    self.handover.with_user(user), recipient=self.receiver_recipient)
        kinds = sorted(self.env["customer.handover.package"].search([]).mapped("kind"))
        self.assertEqual(kinds, ["backup", "transfer"])

    def test_package_facts_are_refused_to_raw_create_and_write_by_every_group(self):
        _wizard, package = self._make(recipient=self.receiver_recipient)
        _other, other_recipient = tp.new_identity()
        for user in (self.handover_user, self.manager, self.officer):
            with self.assertRaises(AccessError):
                package.with_user(user).write({"recipient": other_recipient})
            with self.assertRaises(AccessError):
                package.with_user(user).write({"partner_ids": [(5, 0, 0)]})
            with self.assertRaises(AccessError):
                self.env["customer.handover.package"].with_user(user).create(
                    {"handover_id": self.handover.id, "number": 9, "export_id": self.export.id,
                     "created_on": "2026-01-01", "user_id": user.id, "encryption": "passphrase"})
            with self.assertRaises(UserError):
                self.handover.with_user(user).write({"receiver_recipient": other_recipient})
            with self.assertRaises(AccessError):
                self.no_consent.with_user(user).write({"handover_package_ids": [(4, package.id)]})
            with self.assertRaises(UserError):
                package.with_user(user).unlink()
        package.invalidate_recordset()
        self.assertEqual((package.recipient, package.partner_ids), (self.receiver_recipient, self.wang | self.xinhua))

    def test_only_an_officer_creates_the_company_package_key_once(self):
        with self.assertRaises(AccessError):
            self.company_a.with_user(self.manager).action_handover_create_package_key()
        with self.assertRaises(AccessError):
            self.company_a.with_user(self.manager).read(["handover_package_identity"])
        self.company_a.with_user(self.officer).action_handover_create_package_key()
        recipient = self.company_a.handover_package_recipient
        self.assertTrue(recipient.startswith("age1"))
        with self.assertRaisesRegex(UserError, "not replaced"):
            self.company_a.with_user(self.officer).action_handover_create_package_key()
        self.assertTrue(ck.normalise_fingerprint(tp.recipient_fingerprint(recipient)[1]))
