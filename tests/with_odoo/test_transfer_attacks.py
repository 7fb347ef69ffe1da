"""The transfer path (packages, backups, moves, imports) attacked by a hostile user of each group."""

import base64
import json

from odoo.addons.customer_handover.tools.transfer_package import new_identity
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, HttpCase, tagged
from odoo.tools import SQL

from .common import MANAGER, OFFICER, HandoverCase, RpcMixin
from .package_builder import build_package
from .test_transfer_import import ImportFixture
from .test_transfer_move import TestTransferMove


@tagged("post_install", "-at_install", "customer_handover_hostile")
class TestTransferAttacks(ImportFixture, HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_import_fixture()
        cls.manager_b2 = cls._new_user("ch_manager_b2", MANAGER, company=cls.company_b)
        cls.officer_b2 = cls._new_user("ch_officer_b2", OFFICER, company=cls.company_b)
        cls.portal = cls._new_user("ch_portal", "base.group_portal")
        cls.transfer_package = cls.env["customer.handover.package"].search(
            [("handover_id", "=", cls.handover.id), ("kind", "=", "transfer")])

    # ------------------------------------------------------------------------------------- packages

    def test_nobody_but_an_officer_reads_the_company_package_key(self):
        for user in (self.employee, self.handover_user, self.manager_b, self.user_b2, self.portal):
            with self.assertRaises(AccessError, msg=user.login):
                self.company_b.with_user(user).read(["handover_package_identity"])
            with self.assertRaises(AccessError, msg=user.login):
                self.company_b.with_user(user).search([("handover_package_identity", "!=", False)])
        with self.assertRaises(AccessError):
            self.company_b.with_user(self.officer).read(["handover_package_identity"])

    def test_a_pack_wizard_of_another_companys_handover_makes_nothing_and_records_no_key(self):
        _identity, recipient = new_identity()
        before = self.handover.receiver_recipient
        count = self.env["customer.handover.package"].search_count([])
        for user in (self.manager_b, self.handover_user, self.employee):
            with self.assertRaises(AccessError, msg=user.login):
                wizard = self.env["customer.handover.pack"].with_user(user).create(
                    {"handover_id": self.handover.id, "encryption": "recipient", "recipient": recipient})
                wizard.action_make()
        self.handover.invalidate_recordset()
        self.assertEqual(self.handover.receiver_recipient, before)
        self.assertEqual(self.env["customer.handover.package"].search_count([]), count)

    def test_a_completed_move_of_another_companys_handover_is_refused(self):
        for user in (self.manager_b, self.handover_user):
            with self.assertRaises(AccessError, msg=user.login):
                self.handover.with_user(user).action_done()
        self.assertEqual(self.handover.state, "signed")

    def test_partner_side_writes_of_package_move_and_provenance_facts_are_refused(self):
        partner = self.partners[0]
        incoming = self.env["customer.handover.incoming"]
        facts = {
            "handover_package_ids": [(4, self.transfer_package.id)],
            "moved_from_company_id": self.company_b.id,
            "moved_from_user_id": self.manager_b.id,
            "moved_on": "2026-01-01 00:00:00",
            "moved_by_id": self.manager.id,
            "handover_sender": "Forged Ltd",
            "handover_source_reference": "HO-FORGED",
            "handover_source_package": 7,
            "handover_received_on": "2026-01-01",
        }
        for user in (self.handover_user, self.manager, self.officer, self.env.ref("base.user_root")):
            for name, value in facts.items():
                with self.assertRaises(AccessError, msg=f"{user.login} {name}"):
                    partner.with_user(user).write({name: value})
                with self.assertRaises(AccessError, msg=f"{user.login} {name}"):
                    self.env["res.partner"].with_user(user).create({"name": "Forged", name: value})
            with self.assertRaises(AccessError, msg=user.login):
                partner.with_user(user).write({"handover_package_ids": [(5, 0, 0)]})
            with self.assertRaises(AccessError, msg=user.login):
                self.transfer_package.with_user(user).write({"partner_ids": [(4, self.partners[1].id)]})
            created = self.env["res.partner"].with_user(user).with_context(
                **{f"default_{name}": value for name, value in facts.items() if name != "handover_package_ids"},
                default_handover_incoming_id=incoming.search([], limit=1).id or False,
            ).create({"name": "Defaults only"})
            self.assertFalse(created.sudo().moved_from_company_id or created.sudo().handover_sender
                             or created.sudo().handover_incoming_id, user.login)
        partner.invalidate_recordset()
        self.assertFalse(partner.sudo().moved_from_company_id or partner.sudo().handover_sender)
        self.assertEqual(partner.sudo().handover_package_ids.filtered(lambda p: p.kind == "transfer"),
                         self.transfer_package)

    def test_one2many_commands_forge_no_package_or_reconciliation_line(self):
        self._pin()
        incoming = self._import()
        draft = self.env["customer.handover"].with_user(self.handover_user).create(
            {"receiver_id": self.company_b.partner_id.id})
        line = incoming.line_ids[:1]
        for user in (self.manager_b, self.officer_b, self.env.ref("base.user_root")):
            with self.assertRaises(UserError, msg=user.login):
                incoming.with_user(user).write({"line_ids": [(0, 0, {"line_number": 99, "outcome": "created"})]})
            with self.assertRaises(UserError, msg=user.login):
                incoming.with_user(user).write({"line_ids": [(1, line.id, {"outcome": "refused"})]})
            with self.assertRaises(UserError, msg=user.login):
                incoming.with_user(user).write({"line_ids": [(2, line.id)]})
        for user in (self.manager, self.officer, self.env.ref("base.user_root")):
            with self.assertRaises(UserError, msg=user.login):
                draft.with_user(user).write({"package_ids": [(0, 0, {
                    "number": 5, "export_id": self.export.id, "created_on": "2026-01-01", "user_id": user.id,
                    "encryption": "passphrase"})]})
            with self.assertRaises(UserError, msg=user.login):
                draft.with_user(user).write({"package_ids": [(4, self.transfer_package.id)]})
        self.assertEqual(self.transfer_package.handover_id, self.handover)
        self.assertEqual(line.outcome, "created")
        self.assertFalse(draft.sudo().package_ids)

    def test_a_consent_cannot_carry_a_customer_to_another_company(self):
        consent = self.partners[0].consent_ids[:1]
        for user in (self.handover_user, self.manager, self.officer):
            with self.assertRaises(AccessError, msg=user.login):
                consent.with_user(user).write({"company_id": self.company_b.id})
            with self.assertRaises(AccessError, msg=user.login):
                consent.with_user(user).write({"partner_id": self.partners[1].id})

    # --------------------------------------------------------------------------------------- imports

    def test_another_users_import_wizard_its_decrypted_package_and_its_lines_stay_its_own(self):
        self._pin()
        package = build_package(self.export, passphrase="correct horse battery staple")
        wizard = self._wizard(user=self.officer_b, package=package, passphrase="correct horse battery staple")
        wizard.action_preview()
        self.assertTrue(wizard.plain_package)
        for user in (self.manager_b2, self.officer_b2, self.manager):
            self.env.invalidate_all()
            with self.assertRaises(AccessError, msg=user.login):
                wizard.with_user(user).read(["plain_package"])
            with self.assertRaises(AccessError, msg=user.login):
                wizard.line_ids.with_user(user).read(["name", "email", "vat"])
            with self.assertRaises(AccessError, msg=user.login):
                wizard.mapping_ids.with_user(user).read(["name"])
            with self.assertRaises(AccessError, msg=user.login):
                wizard.with_user(user).action_import()
            self.assertFalse(self.env["customer.handover.import.line"].with_user(user).search(
                [("wizard_id", "=", wizard.id)]), user.login)

    def test_another_managers_pack_wizard_stays_its_own(self):
        other_manager = self._new_user("ch_manager_a2", MANAGER)
        pack = Form(self.env["customer.handover.pack"].with_user(self.manager).with_context(
            default_handover_id=self.handover.id)).save()
        self.env.invalidate_all()
        with self.assertRaises(AccessError):
            pack.with_user(other_manager).read(["recipient", "package_id"])
        with self.assertRaises(AccessError):
            pack.with_user(other_manager).action_make()
        self.assertFalse(self.env["customer.handover.pack"].with_user(other_manager).search([("id", "=", pack.id)]))

    def test_the_import_wizard_facts_are_set_by_its_steps_only(self):
        self._pin()
        wizard = self._preview()
        forged = {
            "plain_package": base64.b64encode(b"PK forged"),
            "checklist_rows": base64.b64encode(b"1\t[\"Forged\", \"00\", false]\n"),
            "customer_lines": base64.b64encode(b"forged"),
            "state": "preview",
            "signer_pinned": True,
            "fingerprint": "AB:CD",
            "sender": "Forged Ltd",
            "handover_reference": "HO-FORGED",
            "package_number": 9,
            "export_number": 9,
            "incoming_id": 1,
        }
        for user in (self.manager_b, self.officer_b):
            for name, value in forged.items():
                with self.assertRaises(AccessError, msg=f"{user.login} {name}"):
                    wizard.with_user(user).write({name: value})
                with self.assertRaises(AccessError, msg=f"{user.login} {name}"):
                    self.env["customer.handover.import"].with_user(user).with_company(self.company_b).create(
                        {name: value})

    def test_an_officer_cannot_skip_pinning_the_sender_by_forging_signer_pinned(self):
        wizard = self._wizard(user=self.officer_b)
        wizard.action_preview()
        self.assertFalse(wizard.signer_pinned)
        with self.assertRaises(AccessError):
            wizard.write({"signer_pinned": True})
        wizard.confirm_signer = True
        wizard.action_preview()
        wizard.action_import()
        self.assertEqual(len(self._imported_partners()), 3)
        pinned = self.env["customer.handover.trusted.signer"].search([("company_id", "=", self.company_b.id)])
        self.assertEqual(pinned.mapped("fingerprint"), [self.fingerprint], "the import pinned the key it trusted")

    def test_the_package_file_recorded_is_the_package_imported(self):
        self._pin()
        other = build_package(self.export, recipient=self.recipient, package=5)
        wizard = self._preview()
        # a forged decrypted content, or another package file after the preview, is not what gets recorded
        with self.assertRaises(AccessError):
            wizard.write({"plain_package": base64.b64encode(b"x")})
        wizard.write({"package_file": base64.b64encode(other)})
        with self.assertRaisesRegex(UserError, "Preview"):
            wizard.action_import()

    def test_a_preview_line_pointing_at_another_companys_contact_tells_nothing_of_it(self):
        secret = self.partners[1]  # a contact of company A, invisible to company B
        wizard = self.env["customer.handover.import"].with_user(self.manager_b).with_company(self.company_b).create({})
        line = self.env["customer.handover.import.line"].with_user(self.manager_b).create(
            {"wizard_id": wizard.id, "line_number": 1, "partner_id": secret.id, "decision": "create"})
        self.env.invalidate_all()
        with self.assertRaises(AccessError):
            line.read(["partner_email", "partner_phone", "partner_vat"])

    def test_an_import_into_another_company_is_refused(self):
        self._pin()
        for user in (self.manager, self.officer):
            with self.assertRaises(AccessError, msg=user.login):
                wizard = self.env["customer.handover.import"].with_user(user).create({
                    "company_id": self.company_b.id, "package_file": base64.b64encode(self.package),
                    "checklist_file": base64.b64encode(self.workbook)})
                wizard.action_preview()
        self.assertFalse(self._imported_partners())

    def test_a_mapping_to_another_companys_purpose_imports_nothing(self):
        self._pin()
        theirs = self.env["customer.consent.purpose"].create({"name": "Company A only", "company_id":
                                                              self.company_a.id})
        foreign_policy = self.env["customer.retention.policy"].create(
            {"name": "Company A policy", "company_id": self.company_a.id, "period": 1})
        wizard = self._preview()
        for mapping in wizard.mapping_ids:
            with self.assertRaises(UserError):
                mapping.write({"action": "map", "purpose_id": theirs.id, "policy_id": foreign_policy.id})
                wizard.action_import()
        self.assertFalse(self._imported_partners())
        self.assertFalse(self.env["customer.handover.incoming"].search([("company_id", "=", self.company_b.id)]))

    def test_users_outside_the_managers_call_no_import_step(self):
        self._pin()
        wizard = self._preview()
        for user in (self.user_b2, self.employee, self.portal, self.handover_user):
            for method in ("action_preview", "action_import", "action_create_package_key"):
                with self.assertRaises(AccessError, msg=f"{user.login} {method}"):
                    getattr(wizard.with_user(user), method)()
        self.assertFalse(self._imported_partners())

    def _tables_holding(self, text):
        """Every (table, column) of the database whose text holds ``text``."""
        self.env.flush_all()
        self.env.cr.execute("""
            SELECT c.table_name, c.column_name FROM information_schema.columns c
              JOIN information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema
             WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
               AND c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea')""")
        found = []
        for table, column in self.env.cr.fetchall():
            self.env.cr.execute(SQL("SELECT 1 FROM %s WHERE position(%s IN %s::text) > 0 LIMIT 1",
                                    SQL.identifier(table), text, SQL.identifier(column)))
            if self.env.cr.fetchone():
                found.append((table, column))
        return found

    def test_a_passphrase_is_stored_in_no_table_after_the_package_and_its_import(self):
        self._pin()
        self._export(self.handover)  # the package below delivers the current export
        form = Form(self.env["customer.handover.pack"].with_user(self.manager).with_context(
            default_handover_id=self.handover.id))
        form.encryption = "passphrase"
        pack = form.save()
        action = pack.action_make()
        passphrase = pack.with_context(action["context"]).passphrase
        self.assertTrue(passphrase)
        self.assertFalse(pack.with_context(customer_handover_passphrase="injected").with_user(self.manager_b2)
                         .search([]), "another user finds no pack wizard")
        package = base64.b64decode(pack.package_id.attachment_id.sudo().datas)
        export = pack.package_id.export_id
        wizard = self._wizard(package=package, workbook=base64.b64decode(export.attachment_id.sudo().datas),
                              passphrase=passphrase)
        wizard.action_preview()
        wizard.action_import()
        self.assertIn(("customer_handover_incoming", "sender"), self._tables_holding(self.company_a.name),
                      "the search finds what is stored")
        self.assertEqual(self._tables_holding(passphrase), [])
        self.assertEqual(self._tables_holding(passphrase.encode().hex()), [])

    def test_a_superseded_package_is_not_downloaded(self):
        newer = self._export(self.handover)
        self.assertEqual(self.transfer_package.state, "superseded")
        with self.assertRaisesRegex(UserError, "superseded"):
            self.transfer_package.with_user(self.manager).action_download()
        pack = Form(self.env["customer.handover.pack"].with_user(self.manager).with_context(
            default_handover_id=self.handover.id)).save()
        pack.write({"package_id": self.transfer_package.id})
        with self.assertRaisesRegex(UserError, "superseded"):
            pack.action_download()
        self.assertEqual(newer.state, "current")


@tagged("post_install", "-at_install", "customer_handover_hostile")
class TestTransferAttacksRpc(RpcMixin, ImportFixture, HandoverCase, HttpCase):
    """What a user sends from outside the web client: /web/content and /web/dataset/call_kw, with a password."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_import_fixture()
        cls.portal = cls._new_user("ch_portal", "base.group_portal")
        cls.transfer_package = cls.env["customer.handover.package"].search(
            [("handover_id", "=", cls.handover.id), ("kind", "=", "transfer")])

    def _download(self, login, attachment):
        self.env.flush_all()
        self.authenticate(login, login)
        return self.url_open(f"/web/content/{attachment.id}?download=true")

    def test_nobody_but_the_companys_managers_reads_or_finds_a_package_or_its_file(self):
        attachment = self.transfer_package.attachment_id
        for login in ("ch_employee", "ch_user", "ch_user_b", "ch_manager_b", "ch_officer_b", "ch_portal"):
            response = self._download(login, attachment)
            self.assertNotEqual(response.status_code, 200, login)
            self.assertNotIn(self.package, response.content, login)
            if login == "ch_portal":
                continue
            self._refused(login, "ir.attachment", "read", [attachment.ids, ["datas"]])
            answer = self._call(login, "ir.attachment", "search_read",
                                [[("res_model", "=", "customer.handover.package")], ["datas"]])
            self.assertEqual(answer.get("result"), [], login)
            self._refused(login, "customer.handover.package", "read", [self.transfer_package.ids, ["number"]])
            self._refused(login, "customer.handover.package", "action_download", [self.transfer_package.ids])
        # the company's managers download it through its step only, which logs each download
        response = self._download("ch_manager", attachment)
        self.assertNotEqual(response.status_code, 200)
        self.assertNotIn(self.package, response.content)
        answer = self._call("ch_manager", "ir.attachment", "search_read",
                            [[("res_model", "=", "customer.handover.package")], ["datas"]])
        self.assertEqual(answer.get("result"), [])
        url = self._call("ch_manager", "customer.handover.package", "action_download",
                         [self.transfer_package.ids])["result"]["url"]
        for login in ("ch_manager_b", "ch_user", "ch_employee"):
            self.authenticate(login, login)
            self.assertNotIn(self.package, self.url_open(url).content, login)
        self.authenticate("ch_manager", "ch_manager")
        self.assertEqual(self.url_open(url).content, self.package)
        events = self.env["customer.handover.event"].search(
            [("event", "=", "package_downloaded"), ("res_id", "=", self.transfer_package.id)])
        self.assertEqual(len(events), 1, "one download, one entry")
        # the package's form still opens, its file's name included (technical features)
        answer = self._call("ch_manager", "customer.handover.package", "web_read", [self.transfer_package.ids],
                            {"specification": {"number": {}, "attachment_id": {"fields": {"display_name": {}}}}})
        self.assertEqual(answer["result"][0]["number"], self.transfer_package.number, answer)

    def test_a_superseded_package_is_downloaded_by_no_route(self):
        url = self._call("ch_manager", "customer.handover.package", "action_download",
                         [self.transfer_package.ids])["result"]["url"]
        self._export(self.handover)
        self.assertEqual(self.transfer_package.state, "superseded")
        self.authenticate("ch_manager", "ch_manager")
        for address in (url, f"/web/content/{self.transfer_package.attachment_id.id}?download=true",
                        f"/web/content/customer.handover.package/{self.transfer_package.id}/file"):
            response = self.url_open(address)
            self.assertNotEqual(response.status_code, 200, address)
            self.assertNotIn(self.package, response.content, address)
        self.assertFalse(self.env["customer.handover.event"].search(
            [("event", "=", "package_downloaded"), ("res_id", "=", self.transfer_package.id)]))

    def test_the_package_key_and_the_wizard_facts_are_refused_over_rpc(self):
        for login in ("ch_manager_b", "ch_user_b2", "ch_employee", "ch_manager"):
            self._refused(login, "res.company", "read", [self.company_b.ids, ["handover_package_identity"]])
        values = {"package_file": base64.b64encode(self.package).decode(),
                  "checklist_file": base64.b64encode(self.workbook).decode()}
        for forged in ({"plain_package": base64.b64encode(b"PK").decode()}, {"state": "preview"},
                       {"signer_pinned": True}, {"fingerprint": "AB:CD"}):
            message = self._refused("ch_manager_b", "customer.handover.import", "create", [{**values, **forged}],
                                    {"context": {"allowed_company_ids": self.company_b.ids}})
            self.assertIn("recorded by their step", message)
        # a passphrase sent in the context, or a default of a fact, sets and leaks nothing
        answer = self._call("ch_manager_b", "customer.handover.import", "create", [values], {"context": {
            "allowed_company_ids": self.company_b.ids, "customer_handover_passphrase": "x",
            "default_state": "preview", "default_signer_pinned": True, "default_plain_package": "UEs=",
            "tracking_disable": True}})
        wizard = self.env["customer.handover.import"].browse(answer["result"])
        self.assertEqual((wizard.state, wizard.signer_pinned, wizard.plain_package), ("upload", False, False))

    def test_a_customers_move_and_provenance_are_refused_over_rpc_to_every_group(self):
        partner = self.partners[0]
        forged = {
            "moved_from_company_id": self.company_b.id, "moved_from_user_id": self.manager_b.id,
            "moved_on": "2026-01-01 00:00:00", "moved_by_id": self.manager_b.id, "handover_sender": "FORGED",
            "handover_source_reference": "FORGED", "handover_source_package": 9, "handover_received_on": "2026-01-01",
        }
        for login in (self.handover_user.login, self.manager.login, self.officer.login):
            for name, value in forged.items():
                self._refused(login, "res.partner", "write", [partner.ids, {name: value}], fields=[name])
            self._refused(login, "res.partner", "create", [{"name": "Forged customer", **forged}])
        partner.invalidate_recordset()
        self.assertFalse(partner.sudo().moved_from_company_id or partner.sudo().handover_sender)
        self.assertFalse(self.env["res.partner"].sudo().search([("name", "=", "Forged customer")]))

    def test_the_steps_of_another_companys_records_are_refused_over_rpc(self):
        self.env["customer.handover.trusted.signer"].with_user(self.officer_b)._pin(
            self.company_b, self.company_a.name, self.fingerprint)
        incoming = self._import()
        for method in ("action_countersign", "action_download_countersigned", "action_view_partners"):
            self._refused("ch_manager", "customer.handover.incoming", method, [incoming.ids])
        self._refused("ch_user_b", "customer.handover.export", "action_download", [self.export.ids])
        self._refused("ch_manager_b", "customer.handover", "action_done", [self.handover.ids])
        self._refused("ch_manager_b", "customer.handover", "action_open_package_wizard", [self.handover.ids])
        self._refused("ch_officer_b", "customer.handover.trusted.signer", "create", [{
            "company_id": self.company_b.id, "name": "Forged", "fingerprint": "AB:CD", "pinned_by_id": 1,
            "pinned_on": "2026-01-01 00:00:00"}])
        self._refused("ch_officer", "res.company", "action_handover_create_package_key", [self.company_b.ids])
        self.assertEqual(incoming.state, "imported")
        self.assertEqual(self.handover.state, "signed")

    def test_a_pack_wizard_defaulted_to_another_companys_handover_tells_nothing_of_it(self):
        self.handover.with_user(self.manager)._set_receiver_recipient(self.recipient)
        answer = self._call("ch_manager_b", "customer.handover.pack", "default_get",
                            [["encryption", "recipient", "handover_id"]],
                            {"context": {"default_handover_id": self.handover.id}})
        self.assertNotIn(self.recipient, json.dumps(answer))


@tagged("post_install", "-at_install", "customer_handover_hostile")
class TestTransferMoveAttacks(HandoverCase):
    """A company move done: what the transferring company may still do with the customers that left it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.receiver_b = cls.company_b.partner_id
        cls.receiver_b.email = "legal@company-b.example.cn"
        cls.seller_a = cls._new_user("ch_seller_a", "base.group_user")
        cls.follower = cls.env["res.partner"].create({"name": "Outside adviser", "email": "adviser@example.com"})
        cls.company_a.with_user(cls.officer).action_handover_create_signing_key()

    _customers = TestTransferMove._customers
    _signed = TestTransferMove._signed

    def test_customers_moved_to_another_company_leave_in_no_package_of_the_former_one(self):
        customers = self._customers(2)
        handover = self._signed(customers)
        handover.with_user(self.manager).action_done()
        officer_b = self._new_user("ch_officer_b", OFFICER, company=self.company_b)
        # what the receiving company knows of its customers afterwards is its own
        customers[0].with_user(officer_b).write({"legal_hold": True, "legal_hold_reason": "Company B's own case",
                                                  "email": "new-address@company-b.example.cn"})
        self.assertEqual(customers[0].company_id, self.company_b)
        count = self.env["customer.handover.package"].search_count([])
        form = Form(self.env["customer.handover.pack"].with_user(self.manager).with_context(
            default_handover_id=handover.id))
        form.encryption = "passphrase"
        with self.assertRaises(AccessError):
            form.save().action_make()
        self.assertEqual(self.env["customer.handover.package"].search_count([]), count)
