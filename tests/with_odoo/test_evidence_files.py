"""Evidence files: never deleted, changed or renamed, by anyone; the served ones are read through their step only.

The files of one handover signed, exported, packaged and imported by company B, with its log exported, attacked
by each group of both companies over the ORM, JSON-RPC and /web/content.
"""

import base64
import importlib.util
import json
from pathlib import Path

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, HttpCase, new_test_user, tagged
from odoo.tools import SQL

from .common import HandoverCase, RpcMixin
from .test_transfer_import import ImportFixture

FORGED = base64.b64encode(b"FORGED-5521").decode()
MIGRATION = (Path(__file__).resolve().parents[2] / "customer_handover" / "migrations" / "18.0.1.2.0"
             / "post-10-evidence-files.py")


class EvidenceFilesFixture(ImportFixture):
    @classmethod
    def _build_evidence_files(cls):
        cls._build_import_fixture()
        cls.admin = cls.env.ref("base.user_admin")
        cls.portal = new_test_user(cls.env, login="ch_portal", groups="base.group_portal")
        cls.package_record = cls.env["customer.handover.package"].search([("handover_id", "=", cls.handover.id),
                                                                          ("kind", "=", "transfer")])
        cls.env["customer.handover.trusted.signer"].with_user(cls.officer_b)._pin(
            cls.company_b, cls.company_a.name, cls.fingerprint)
        form = Form(cls.env["customer.handover.import"].with_user(cls.manager_b).with_company(cls.company_b))
        form.package_file = base64.b64encode(cls.package)
        form.checklist_file = base64.b64encode(cls.workbook)
        wizard = form.save()
        wizard.action_preview()
        cls.incoming = cls.env["customer.handover.incoming"].browse(wizard.action_import()["res_id"])
        cls.company_b.with_user(cls.officer_b).action_handover_create_signing_key()
        cls.incoming.with_user(cls.manager_b).action_countersign()
        countersigned = cls.incoming.countersigned_attachment_id.sudo()
        cls.export.with_user(cls.manager)._record_countersignature(
            countersigned.raw, cls.company_b.name, cls.incoming.countersign_fingerprint)
        cls.env["customer.handover.event"]._chain_pending()  # what follows each commit; this test never commits
        cls.log_file = cls.env["customer.handover.event"].with_user(cls.officer)._export_log(cls.company_a)
        cls.consent = cls.env["customer.consent"].search([("partner_id", "=", cls.partners[0].id)])
        Attachment = cls.env["ir.attachment"]
        cls.served = {
            "signed workbook": cls.export.attachment_id,
            "signature file": cls.export.signature_attachment_id,
            "countersigned workbook": cls.export.countersigned_attachment_id,
            "package": cls.package_record.attachment_id,
            "log export": cls.log_file,
            "checklist received": cls.incoming.checklist_attachment_id,
            "checklist countersigned": cls.incoming.countersigned_attachment_id,
        }
        cls.files = {
            **cls.served,
            "agreement": Attachment.search([("res_model", "=", "customer.handover"), ("res_id", "=", cls.handover.id),
                                            ("res_field", "=", "nda_document")]),
            "consent evidence": Attachment.search([("res_model", "=", "customer.consent"),
                                                   ("res_id", "=", cls.consent.id), ("res_field", "=", "evidence")]),
        }

    def _state(self, attachment):
        """What an attacker may not change: the file's content, name and place."""
        self.env.flush_all()
        self.env.invalidate_all()
        attachment = attachment.sudo()
        return attachment.exists() and (attachment.checksum, attachment.name, attachment.res_model,
                                        attachment.res_id, attachment.res_field)


@tagged("post_install", "-at_install", "customer_handover_evidence_files")
class TestEvidenceFilesOrm(EvidenceFilesFixture, HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_evidence_files()

    def test_no_user_deletes_changes_or_renames_an_evidence_file(self):
        attacks = {
            "unlink": lambda attachment: attachment.unlink(),
            "write": lambda attachment: attachment.write({"datas": FORGED}),
            "rename": lambda attachment: attachment.write({"name": "forged.xlsx"}),
            "move": lambda attachment: attachment.write({"res_model": "res.partner", "res_id": self.partners[0].id}),
        }
        users = {"user": self.handover_user, "manager": self.manager, "officer": self.officer, "admin": self.admin,
                 "company B's manager": self.manager_b, "company B's officer": self.officer_b}
        for label, attachment in self.files.items():
            before = self._state(attachment)
            for who, user in users.items():
                for name, attack in attacks.items():
                    with self.subTest(file=label, user=who, attack=name), self.assertRaises(AccessError):
                        attack(attachment.with_user(user))
            for name, attack in attacks.items():
                with self.subTest(file=label, user="superuser", attack=name), \
                        self.assertRaisesRegex(AccessError, "cannot be"):
                    attack(attachment.sudo())
            self.assertEqual(self._state(attachment), before, label)

    def test_the_records_refuse_to_replace_or_clear_their_evidence_files(self):
        agreement, evidence = self.files["agreement"], self.files["consent evidence"]
        before = (self._state(agreement), self._state(evidence))
        # a signed handover is frozen (UserError, of which AccessError is one): its agreement was evidence before
        for values in ({"nda_document": FORGED}, {"nda_document": False}):
            with self.subTest(values=values), self.assertRaises(UserError):
                self.handover.sudo().write(values)
        for user in (self.officer, self.env.user):
            for values in ({"evidence": FORGED}, {"evidence": False}):
                with self.subTest(user=user.login, values=values), self.assertRaises(AccessError):
                    self.consent.with_user(user).write(values)
        for attachments in (self.env["ir.attachment"].with_user(self.officer), self.env["ir.attachment"].sudo()):
            for slot in ({"res_model": "customer.handover", "res_id": self.handover.id, "res_field": "nda_document"},
                         {"res_model": "customer.consent", "res_id": self.consent.id, "res_field": "evidence"}):
                with self.subTest(user=attachments.env.uid, slot=slot["res_field"]), self.assertRaises(AccessError):
                    attachments.create({"name": "forged", "datas": FORGED, **slot})
        self.assertEqual((self._state(agreement), self._state(evidence)), before)
        self.assertEqual(base64.b64decode(self.consent.sudo().evidence), self.files["consent evidence"].sudo().raw)

    def test_an_agreement_is_replaced_until_the_handover_starts_and_new_evidence_is_recorded(self):
        handover = self.env["customer.handover"].with_user(self.handover_user).create(
            {"receiver_id": self.handover.receiver_id.id, "purpose_ids": [(6, 0, self.purpose_service.ids)]})
        self.env["customer.handover.line"].with_user(self.handover_user).create(
            {"handover_id": handover.id, "name": "Paper files 2025", "line_type": "item"})
        handover.write({"nda_reference": "NDA-2", "nda_date": "2026-11-01", "nda_filename": "nda.pdf",
                        "nda_document": base64.b64encode(b"first draft")})
        handover.with_user(self.manager).action_confirm()
        handover.write({"nda_document": base64.b64encode(b"signed agreement")})
        self.assertEqual(base64.b64decode(handover.nda_document), b"signed agreement")
        handover.with_user(self.manager).action_start()
        for user in (self.handover_user, self.manager, self.officer):
            for value in (base64.b64encode(b"another agreement"), False):
                with self.subTest(user=user.login, value=value), self.assertRaises(AccessError):
                    handover.with_user(user).write({"nda_document": value})
        handover.invalidate_recordset()
        self.assertEqual(base64.b64decode(handover.nda_document), b"signed agreement")
        # a consent without evidence receives its first file; that file is evidence from then on
        consent = self.env["customer.consent"].create({"partner_id": self.partners[1].id,
                                                       "purpose_id": self.purpose_marketing.id,
                                                       "date_given": "2025-01-01", "company_id": self.company_a.id})
        consent.with_user(self.officer).write({"evidence": base64.b64encode(b"paper form")})
        attachment = self.env["ir.attachment"].search([("res_model", "=", consent._name), ("res_id", "=", consent.id),
                                                       ("res_field", "=", "evidence")])
        self.assertEqual(attachment.handover_evidence, "kept")
        with self.assertRaises(AccessError):
            consent.with_user(self.officer).write({"evidence": base64.b64encode(b"another form")})

    def test_the_migration_moves_and_marks_the_files_of_18_0_1_1_without_changing_them(self):
        files = self.files
        before = {label: self._state(attachment)[0] for label, attachment in files.items()}
        message = self.handover.message_ids[:1]
        # The layout 18.0.1.1 left: exports' files on the handover and in its chatter, nothing marked.
        self.env.cr.execute(SQL(
            "UPDATE ir_attachment SET res_model = 'customer.handover', res_id = %s WHERE id = ANY(%s)",
            self.handover.id, [files[label].id for label in ("signed workbook", "signature file",
                                                             "countersigned workbook")],
        ))
        self.env.cr.execute(SQL("UPDATE ir_attachment SET res_field = 'file' WHERE id = %s", files["package"].id))
        self.env.cr.execute(SQL("UPDATE ir_attachment SET handover_evidence = NULL WHERE id = ANY(%s)",
                                [attachment.id for attachment in files.values()]))
        self.env.cr.execute(SQL("INSERT INTO message_attachment_rel (message_id, attachment_id) VALUES (%s, %s)",
                                message.id, files["signed workbook"].id))
        spec = importlib.util.spec_from_file_location("post_10_evidence_files", MIGRATION)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        migration.migrate(self.env.cr, "18.0.1.1.0")
        self.env.invalidate_all()
        for label, attachment in files.items():
            with self.subTest(file=label):
                attachment = attachment.sudo()
                self.assertEqual(attachment.handover_evidence, "served" if label in self.served else "kept")
                self.assertEqual(attachment.checksum, before[label], "the migration changed an evidence file")
        self.assertEqual((files["signed workbook"].sudo().res_model, files["signed workbook"].sudo().res_id),
                         ("customer.handover.export", self.export.id))
        self.assertFalse(files["package"].sudo().res_field)
        self.assertFalse(message.attachment_ids)


@tagged("post_install", "-at_install", "customer_handover_evidence_files", "customer_handover_hostile")
class TestEvidenceFilesRpc(RpcMixin, EvidenceFilesFixture, HandoverCase, HttpCase):
    """What a user sends from outside the web client: /web/dataset/call_kw and /web/content, with a password."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_evidence_files()
        cls.logins = ("ch_user", "ch_manager", "ch_officer", "admin", "ch_manager_b", "ch_officer_b")

    def _last_entry(self):
        return self.env["customer.handover.event"].search([], order="id desc", limit=1)

    def _get(self, login, url):
        self.env.flush_all()
        self.authenticate(login, login)
        return self.url_open(url)

    def test_no_user_deletes_changes_or_renames_an_evidence_file_and_each_attempt_is_logged(self):
        attacks = (("unlink", [], "unlink", []), ("write", [{"datas": FORGED}], "write", ["datas"]),
                   ("write", [{"name": "forged.xlsx"}], "write", ["name"]))
        for label, attachment in self.files.items():
            before = self._state(attachment)
            for login in self.logins:
                user = self.env["res.users"].search([("login", "=", login)])
                for method, args, operation, fields in attacks:
                    with self.subTest(file=label, user=login, attack=args or method):
                        last = self._last_entry()
                        self._refused(login, "ir.attachment", method, [attachment.ids, *args])
                        entry = self._last_entry()
                        self.assertGreater(entry.id, last.id, "the refused attempt was not logged")
                        self.assertEqual((entry.event, entry.user_id, entry.res_model, entry.res_id),
                                         ("evidence_refused", user, "ir.attachment", attachment.id))
                        payload = json.loads(entry.payload)
                        self.assertEqual((payload["operation"], payload["fields"]), (operation, fields))
                        self.assertNotIn("forged", entry.payload.lower())
            self.assertEqual(self._state(attachment), before, label)

    def test_the_owning_records_refuse_to_replace_their_evidence_files(self):
        before = self._state(self.files["agreement"])
        for login in ("ch_manager", "admin"):
            self._refused(login, "customer.handover", "write", [self.handover.ids, {"nda_document": FORGED}],
                          error="odoo.exceptions.UserError")
        self._refused("ch_officer", "customer.consent", "write", [self.consent.ids, {"evidence": FORGED}])
        self._refused("admin", "ir.attachment", "create", [{
            "name": "forged", "datas": FORGED, "res_model": "customer.consent", "res_id": self.consent.id,
            "res_field": "evidence"}])
        self.assertEqual(self._state(self.files["agreement"]), before)
        self.assertEqual(base64.b64decode(self.consent.sudo().evidence), self.files["consent evidence"].sudo().raw)

    def test_served_files_are_out_of_reach_of_every_other_path(self):
        for label, attachment in self.served.items():
            content = attachment.sudo().raw
            for login in (*self.logins, "ch_employee", "ch_user_b2", "ch_portal"):
                with self.subTest(file=label, user=login):
                    for url in (f"/web/content/{attachment.id}?download=true",
                                f"/web/content?model=ir.attachment&id={attachment.id}&field=datas&download=true",
                                f"/web/content/ir.attachment/{attachment.id}/raw"):
                        response = self._get(login, url)
                        self.assertNotEqual(response.status_code, 200, url)
                        self.assertNotIn(content, response.content, url)
                    if login == "ch_portal":
                        continue
                    answer = self._call(login, "ir.attachment", "search_read",
                                        [[("id", "=", attachment.id)], ["name", "datas"]])
                    self.assertEqual(answer.get("result"), [], answer)
                    self._refused(login, "ir.attachment", "read", [attachment.ids, ["datas"]])
        # the handover's chatter and attachment box list none of them, to any reader
        for login in ("ch_user", "admin"):
            answer = self._call(login, "ir.attachment", "search_read", [[("res_model", "=", "customer.handover"),
                                                                         ("res_id", "=", self.handover.id)], ["id"]])
            found = {row["id"] for row in answer["result"]}
            self.assertFalse(found & {attachment.id for attachment in self.served.values()}, login)
        self.assertFalse(self.handover.message_ids.attachment_ids & self.export.attachment_id)

    def test_the_checked_routes_serve_the_files_and_log_each_download(self):
        Event = self.env["customer.handover.event"]

        def downloads(event, record):
            return Event.search_count([("event", "=", event), ("res_id", "=", record.id)])

        for kind, attachment in (("workbook", self.export.countersigned_attachment_id),
                                 ("signed", self.export.attachment_id),
                                 ("signature", self.export.signature_attachment_id)):
            url = f"/customer_handover/export/{self.export.id}/download?file={kind}"
            for count in (1, 2):
                with self.subTest(file=kind, download=count):
                    response = self._get("ch_user", url)
                    self.assertEqual(response.content, attachment.sudo().raw)
                    entry = Event.search([("event", "=", "export_downloaded")], order="id desc", limit=1)
                    self.assertEqual(json.loads(entry.payload)["file"], kind)
            for login in ("ch_employee", "ch_manager_b", "ch_portal"):
                self.assertNotIn(attachment.sudo().raw, self._get(login, url).content, login)
        self.assertEqual(downloads("export_downloaded", self.export), 6, "each download, one entry")
        url = self._call("ch_user", "customer.handover.export", "action_download", [self.export.ids])["result"]["url"]
        self.assertEqual(self._get("ch_user", url).content, self.export.countersigned_attachment_id.sudo().raw)

        received = self.incoming.countersigned_attachment_id.sudo().raw
        url = self._call("ch_user_b2", "customer.handover.incoming", "action_download_countersigned",
                         [self.incoming.ids])["result"]["url"]
        self.assertEqual(self._get("ch_user_b2", url).content, received)
        self.assertEqual(downloads("received_checklist_downloaded", self.incoming), 1)
        for login in ("ch_user", "ch_manager", "ch_portal"):
            self.assertNotIn(received, self._get(login, url).content, login)

        log = self.log_file.sudo().raw
        answer = self._call("ch_officer", "customer.handover.event.check", "create", [{}])
        url = self._call("ch_officer", "customer.handover.event.check", "action_export", [[answer["result"]]])
        url = url["result"]["url"]
        exported = self.env["customer.handover.event.check"].browse(answer["result"]).attachment_id
        self.assertEqual(self._get("ch_officer", url).content, exported.sudo().raw)
        url = f"/customer_handover/log/{self.log_file.id}/download"
        self.assertEqual(self._get("ch_officer", url).content, log)
        self.assertEqual(downloads("log_downloaded", self.log_file), 1)
        for login in ("ch_manager", "ch_user", "ch_officer_b"):
            self.assertNotIn(log, self._get(login, url).content, login)
        self.assertEqual(downloads("log_downloaded", self.log_file), 1, "a refused download logs no download")

    def test_new_chatter_files_are_still_added_and_deleted_by_their_author(self):
        answer = self._call("ch_user", "ir.attachment", "create", [{
            "name": "minutes.txt", "datas": base64.b64encode(b"minutes").decode(), "res_model": "customer.handover",
            "res_id": self.handover.id}])
        attachment_id = answer["result"]
        posted = self._call("ch_user", "customer.handover", "message_post", [self.handover.ids],
                            {"body": "Minutes of the meeting", "attachment_ids": [attachment_id]})
        self.assertIn("result", posted, posted)
        self.assertEqual(self._get("ch_user", f"/web/content/{attachment_id}").content, b"minutes")
        self.assertTrue(self._call("ch_user", "ir.attachment", "write",
                                   [[attachment_id], {"name": "minutes-final.txt"}])["result"])
        self.assertTrue(self._call("ch_user", "ir.attachment", "unlink", [[attachment_id]])["result"])
        self.assertFalse(self.env["ir.attachment"].browse(attachment_id).exists())
