"""The import attacked over JSON-RPC: what a user sends from outside the web client, logged in with a password."""

import base64

from odoo.tests import HttpCase, tagged

from .common import HandoverCase, RpcMixin
from .test_transfer_import import ImportFixture


@tagged("post_install", "-at_install", "customer_handover_hostile")
class TestTransferImportRpc(RpcMixin, ImportFixture, HandoverCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_import_fixture()
        cls.env["customer.handover.trusted.signer"].with_user(cls.officer_b)._pin(
            cls.company_b, cls.company_a.name, cls.fingerprint)

    def test_users_outside_the_managers_cannot_open_or_import_a_package_over_rpc(self):
        values = {"package_file": base64.b64encode(self.package).decode(),
                  "checklist_file": base64.b64encode(self.workbook).decode()}
        for login in ("ch_user_b2", "ch_employee"):
            self._refused(login, "customer.handover.import", "create", [values])
        wizard = self._wizard()
        self._refused("ch_user_b2", "customer.handover.import", "action_preview", [wizard.ids])
        self._refused("ch_user_b2", "customer.handover.import", "action_import", [wizard.ids])
        self.assertFalse(self._imported_partners())

    def test_the_facts_of_an_import_are_refused_over_rpc(self):
        incoming = self._import()
        partner = self._imported_partners()[0]
        message = self._refused("ch_manager_b", "customer.handover.incoming", "write",
                                [incoming.ids, {"reconciled": False, "difference_count": 0}])
        self.assertIn("Reconciled", message)
        self._refused("ch_officer_b", "res.partner", "write", [partner.ids, {"handover_sender": "Forged"}])
        self._refused("ch_officer_b", "customer.handover.incoming", "create", [{"name": "Forged"}])
        self._refused("ch_manager_b", "customer.handover.incoming.line", "write",
                      [incoming.line_ids[:1].ids, {"outcome": "refused"}])
        self._refused("ch_employee", "customer.handover.incoming", "search_read", [[]])
        self.assertTrue(incoming.reconciled)
        self.assertEqual(partner.handover_sender, self.company_a.name)
        # the package is still imported once: a second import over RPC is refused with its reason
        wizard = self._wizard()
        answer = self._call("ch_manager_b", "customer.handover.import", "action_preview", [wizard.ids])
        self.assertIn("already imported", answer["error"]["data"]["message"])

    def test_only_an_officer_creates_the_receivers_signing_key_over_rpc(self):
        incoming = self._import()
        self._refused("ch_manager_b", "customer.handover.incoming", "action_create_signing_key", [incoming.ids])
        self.assertTrue(incoming.signing_key_missing)
        answer = self._call("ch_officer_b", "customer.handover.incoming", "action_create_signing_key", [incoming.ids])
        self.assertNotIn("error", answer)
        self.assertFalse(incoming.signing_key_missing)
