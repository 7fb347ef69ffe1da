"""Wizards hold uploads, signatures, selections of customers and reasons: each is its user's alone, short-lived,
and emptied once its step is done (docs/evidence.md, "Wizards")."""

import base64
import os

from odoo.exceptions import AccessError
from odoo.tests import HttpCase, tagged

from .common import ACCESS_ERROR, MANAGER, OFFICER, USER, HandoverCase, RpcMixin
from .test_hostile_orm import SIGNATURE, HostileFixture

# About the size of the workbook the issue read through another user's wizard (12.7 kB).
UPLOAD = base64.b64encode(os.urandom(13000)).decode()
WIZARDS = (
    "customer.handover.verify", "customer.handover.scope", "customer.handover.sign", "customer.handover.admit",
    "customer.handover.cancel", "customer.handover.event.check", "customer.handover.pack",
    "customer.handover.import", "customer.handover.import.line", "customer.handover.import.mapping",
)


@tagged("post_install", "-at_install", "customer_handover_hostile")
class TestWizardPrivacy(RpcMixin, HostileFixture, HandoverCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_fixture()
        cls.other_user = cls._new_user("ch_user_2", USER)
        cls.other_manager = cls._new_user("ch_manager_2", MANAGER)
        cls.other_officer = cls._new_user("ch_officer_2", OFFICER)
        cls.draft = cls._new_handover()
        cls.in_progress = cls._handover_at("in_progress")

    def _cases(self):
        """(model, its user, another user of the same groups and company, what the user puts in it)."""
        line = self._line(self.in_progress, self.no_consent)
        return [
            ("customer.handover.verify", self.handover_user, self.other_user,
             {"file": UPLOAD, "filename": "checklist.xlsx"}),
            ("customer.handover.scope", self.handover_user, self.other_user,
             {"handover_id": self.draft.id, "partner_ids": [(6, 0, self.ok.ids)]}),
            ("customer.handover.sign", self.handover_user, self.other_user,
             {"handover_id": self.draft.id, "signer": "王经理", "signature": SIGNATURE.decode()}),
            ("customer.handover.admit", self.officer, self.other_officer,
             {"line_ids": [(6, 0, line.ids)], "justification": "Wang Fang asked for it in person"}),
            ("customer.handover.cancel", self.manager, self.other_manager,
             {"handover_ids": [(6, 0, self.draft.ids)], "reason": "Li Lei withdrew"}),
            ("customer.handover.event.check", self.officer, self.other_officer, {"company_id": self.company_a.id}),
            ("customer.handover.pack", self.manager, self.other_manager,
             {"handover_id": self.draft.id, "encryption": "passphrase"}),
            ("customer.handover.import", self.manager, self.other_manager,
             {"package_file": UPLOAD, "checklist_file": UPLOAD}),
        ]

    def test_each_wizard_is_short_lived(self):
        for model in WIZARDS:
            with self.subTest(model=model):
                declared = [cls.__dict__["_transient_max_hours"] for cls in type(self.env[model]).__mro__
                            if cls.__module__.startswith("odoo.addons.customer_handover")
                            and "_transient_max_hours" in cls.__dict__]
                self.assertTrue(declared, f"{model} keeps its records as long as the server's default")
                self.assertLessEqual(declared[0], 24)

    def test_another_user_reads_nothing_of_a_wizard_over_the_orm(self):
        for model, owner, other, values in self._cases():
            with self.subTest(model=model):
                wizard = self.env[model].with_user(owner).create(values)
                self.env.flush_all()
                self.env.invalidate_all()
                self.assertEqual(wizard.read(["create_uid"])[0]["create_uid"][0], owner.id)
                self.assertFalse(self.env[model].with_user(other).search([("id", "=", wizard.id)]))
                with self.assertRaises(AccessError):
                    wizard.with_user(other).read(list(values))
                with self.assertRaises(AccessError):
                    wizard.with_user(other).write({"create_uid": other.id})

    def test_another_user_reads_nothing_of_a_wizard_over_json_rpc(self):
        for model, owner, other, values in self._cases():
            with self.subTest(model=model):
                created = self._call(owner.login, model, "create", [values])
                self.assertIn("result", created, created.get("error"))
                wizard_id = created["result"]
                found = self._call(other.login, model, "search_read", [[("id", "=", wizard_id)], list(values)])
                self.assertEqual(found.get("result"), [], f"{other.login} read {model} of {owner.login}")
                found = self._call(other.login, model, "search_read", [[], ["id"]])
                self.assertNotIn(wizard_id, [row["id"] for row in found["result"]])
                self._refused(other.login, model, "read", [[wizard_id], list(values)], error=ACCESS_ERROR)
                mine = self._call(owner.login, model, "read", [[wizard_id], ["id"]])
                self.assertEqual(mine.get("result"), [{"id": wizard_id}])

    def test_the_import_uploads_are_files_only_their_user_reads(self):
        """The package and the checklist uploaded to an import are kept in the attachment store, read there as files
        by the steps: another manager reaches them by no path."""
        created = self._call(self.manager.login, "customer.handover.import", "create",
                             [{"package_file": UPLOAD, "checklist_file": UPLOAD}])
        wizard = self.env["customer.handover.import"].browse(created["result"])
        files = self.env["ir.attachment"].search([("res_model", "=", wizard._name), ("res_id", "=", wizard.id),
                                                  ("res_field", "in", ("package_file", "checklist_file"))])
        self.assertEqual(sorted(files.mapped("res_field")), ["checklist_file", "package_file"])
        self.assertTrue(all(files.mapped("store_fname")), "the uploads are files of the attachment store")
        self.assertEqual(files[0].raw, base64.b64decode(UPLOAD))
        with wizard._upload_path("package_file") as path, open(path, "rb") as handle:
            self.assertEqual(handle.read(), base64.b64decode(UPLOAD), "the step reads the upload in place")
        for attachment in files:
            for url in (f"/web/content/{attachment.id}?download=true",
                        f"/web/content/ir.attachment/{attachment.id}/raw",
                        f"/web/content/{wizard._name}/{wizard.id}/{attachment.res_field}"):
                with self.subTest(url=url):
                    self.authenticate(self.other_manager.login, self.other_manager.login)
                    response = self.url_open(url)
                    self.assertIn(response.status_code, (403, 404))
                    self.assertNotIn(base64.b64decode(UPLOAD), response.content)
            self._refused(self.other_manager.login, "ir.attachment", "read", [attachment.ids, ["datas"]])
        found = self._call(self.other_manager.login, "ir.attachment", "search_read",
                           [[("res_model", "=", wizard._name), ("res_id", "=", wizard.id)], ["datas"]],
                           {"context": {"skip_res_field_check": True}})
        self.assertEqual(found.get("result"), [], found)

    def test_the_upload_is_emptied_once_verified(self):
        created = self._call(self.handover_user.login, "customer.handover.verify", "create",
                             [{"file": UPLOAD, "filename": "checklist.xlsx"}])
        self._call(self.handover_user.login, "customer.handover.verify", "action_verify", [[created["result"]]])
        wizard = self.env["customer.handover.verify"].browse(created["result"])
        self.assertEqual(wizard.status, "unreadable")
        self.assertEqual((wizard.file, wizard.filename), (False, False), "the upload outlived its step")

    def test_signatures_selections_and_reasons_are_emptied_once_their_step_is_done(self):
        handover = self._handover_at("verified")
        sign = self.env["customer.handover.sign"].with_user(self.manager).create(
            {"handover_id": handover.id, "signer": "王经理", "signature": SIGNATURE})
        sign.action_sign()
        self.assertTrue(handover.transfer_signature)
        self.assertFalse(sign.signature, "the drawn signature outlived its step")

        scope = self._scope(self._new_handover()).save()
        scope.partner_ids = self.ok
        scope.action_confirm()
        self.assertTrue(scope.handover_id.line_ids)
        self.assertFalse(scope.partner_ids, "the selection of customers outlived its step")

        line = self._line(self.in_progress, self.no_consent)
        admit = self.env["customer.handover.admit"].with_user(self.officer).create(
            {"line_ids": [(6, 0, line.ids)], "justification": "Li Lei asked for it in person"})
        admit.action_admit()
        self.assertEqual(line.admission_justification, "Li Lei asked for it in person")
        self.assertFalse(admit.justification or admit.line_ids, "the admission outlived its step")

        draft = self._new_handover()
        cancel = self.env["customer.handover.cancel"].with_user(self.manager).create(
            {"handover_ids": [(6, 0, draft.ids)], "reason": "Li Lei withdrew"})
        cancel.action_cancel()
        self.assertEqual(draft.state, "cancel")
        self.assertFalse(cancel.reason, "the reason outlived its step")
