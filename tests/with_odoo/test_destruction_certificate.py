import base64
import io
from datetime import datetime

from openpyxl import load_workbook

from odoo.addons.customer_handover.tools import checklist as ck
from odoo.addons.customer_handover.tools import destruction_certificate as dc
from odoo.addons.customer_handover.tools.checklist_verify import verify
from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import HandoverCase


@tagged("post_install", "-at_install")
class TestDestructionCertificate(HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a.with_user(cls.officer).action_handover_create_signing_key()
        cls.partner = cls.env["res.partner"].create({
            "name": "Zhang Wei", "email": "Zhang.Wei@Example.cn", "phone": "138 0013 8000",
            "country_id": cls.env.ref("base.cn").id,
        })

    def _certificate(self, user=None):
        company = self.company_a.with_user(user or self.officer)
        masked = company._handover_masked_identity(self.partner)
        header = {"request": "DR/0001", "run": 1, "basis": "Retention expired", "requested_by": "Officer One",
                  "approved_by": "Officer Two", "started": datetime(2026, 12, 1, 2, 0),
                  "ended": datetime(2026, 12, 1, 2, 5), "customers": 1, "counts": {"res.partner": 1}}
        rows = [{"initials": masked.initials, "email_hash": masked.email_hash, "phone_hash": masked.phone_hash,
                 "categories": ["Contact"], "basis": "Retention expired", "counts": {"res.partner": 1},
                 "destroyed_on": datetime(2026, 12, 1, 2, 1)}]
        return company._handover_destruction_certificate(header, rows)

    def test_an_officer_signs_a_certificate_with_the_company_key_that_verifies_offline(self):
        signed = self._certificate()
        fingerprint = self.company_a.with_user(self.officer).handover_certificate_fingerprint
        self.assertEqual(signed["fingerprint"], ck.normalise_fingerprint(fingerprint))
        result = verify(signed["data"], trusted={signed["fingerprint"]})
        self.assertEqual(result.status, "valid", [finding.message for finding in result.findings])
        self.assertEqual((result.manifest["format"], result.manifest["company"]),
                         (ck.DESTRUCTION_CERTIFICATE_FORMAT, self.company_a.name))
        read = dc.read_certificate(io.BytesIO(signed["data"]))
        self.assertEqual((read.cover["started"], read.rows[0]["destroyed_on"]),
                         ("2026-12-01T02:00:00Z", "2026-12-01T02:01:00Z"))
        workbook = load_workbook(io.BytesIO(signed["data"]), read_only=True)
        text = str([list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets])
        workbook.close()
        self.assertNotIn("Zhang", text)
        self.assertNotIn("zhang.wei@example.cn", text)
        masked = dc.MaskedIdentity(read.rows[0]["initials"], read.rows[0]["email_hash"], read.rows[0]["phone_hash"])
        key = self.company_a._handover_identity_key()
        self.assertEqual(masked.initials, "Z.W.")
        self.assertTrue(dc.identity_matches(key, masked, email="zhang.wei@example.cn"))
        self.assertTrue(dc.identity_matches(key, masked, phone="+86 13800138000"))
        self.assertNotEqual(key, self.company_b._handover_identity_key(), "each company has its own key")

    def test_the_verify_dialog_vouches_for_its_companys_certificate_only(self):
        signed = self._certificate()
        wizard = self.env["customer.handover.verify"].with_user(self.officer).create(
            {"file": base64.b64encode(signed["data"])})
        wizard.action_verify()
        self.assertEqual(wizard.status, "valid", wizard.summary)
        self.assertIn("Destruction certificate of", wizard.summary)
        other = self.env["customer.handover.verify"].with_user(self.user_b).create(
            {"file": base64.b64encode(signed["data"])})
        other.action_verify()
        self.assertEqual(other.status, "unknown_key")
        self.assertIn("not signed with a key of your companies", other.summary)

    def test_only_an_officer_of_the_company_signs_one(self):
        for user in (self.manager, self.handover_user, self.employee, self.user_b):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self._certificate(user)
