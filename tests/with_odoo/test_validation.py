from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import HandoverCase


@tagged("post_install", "-at_install")
class TestValidation(HandoverCase):
    """Bad input is refused with a message that says what to fix, and nothing saved is lost."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env["res.partner"].create({"name": "张伟"})
        cls.Consent = cls.env["customer.consent"].with_user(cls.handover_user)
        cls.consent = cls.Consent.create(
            {"partner_id": cls.partner.id, "purpose_id": cls.purpose_marketing.id, "date_given": "2026-03-01"}
        )

    def assertRefused(self, message, records, values):
        """Writing values on records raises a ValidationError matching message and changes nothing."""
        before = records.read(list(values))
        with self.assertRaisesRegex(ValidationError, message), self.env.cr.savepoint():
            records.write(values)
            records.flush_recordset()
        self.env.invalidate_all()
        self.assertEqual(records.read(list(values)), before)

    def assertCreateRefused(self, message, model, values):
        """Creating a record of values raises a ValidationError matching message and leaves no record behind."""
        count = model.search_count([])
        with self.assertRaisesRegex(ValidationError, message), self.env.cr.savepoint():
            model.create(values)
        self.assertEqual(model.search_count([]), count)

    def test_withdrawal_before_the_consent(self):
        message = "cannot be withdrawn on 2026-02-01, before it was given on 2026-03-01"
        self.assertRefused(message, self.consent, {"state": "withdrawn", "date_withdrawn": "2026-02-01"})
        self.assertCreateRefused(
            "correct one of the two dates",
            self.Consent,
            {"partner_id": self.partner.id, "purpose_id": self.purpose_service.id, "state": "withdrawn",
             "date_given": "2026-03-01", "date_withdrawn": "2026-01-01"},
        )

    def test_withdrawal_date_only_on_withdrawn_consents(self):
        self.assertRefused("Only a withdrawn consent has a withdrawal date", self.consent,
                           {"date_withdrawn": "2026-04-01"})
        self.consent.write({"state": "withdrawn", "date_withdrawn": "2026-04-01"})
        self.assertRefused("or record the consent as withdrawn", self.consent, {"state": "granted"})

    def test_dates_that_a_state_needs(self):
        self.assertRefused("Enter the date 张伟 withdrew consent", self.consent, {"state": "withdrawn"})
        self.assertRefused("Enter the date 张伟 gave consent", self.consent, {"date_given": False})
        refused = self.Consent.create(
            {"partner_id": self.partner.id, "purpose_id": self.purpose_service.id, "state": "refused"}
        )
        self.assertFalse(refused.date_given, "a refusal needs no date of consent")

    def test_duplicate_granted_consent(self):
        self.assertCreateRefused(
            "already has a granted consent for “Marketing communications”",
            self.Consent,
            {"partner_id": self.partner.id, "purpose_id": self.purpose_marketing.id, "date_given": "2026-04-01"},
        )
        refused = self.Consent.create(
            {"partner_id": self.partner.id, "purpose_id": self.purpose_marketing.id, "state": "refused"}
        )
        self.assertRefused("update or withdraw that consent", refused, {"state": "granted", "date_given": "2026-05-01"})
        other_company = self.env["customer.consent"].with_user(self.user_b).create(
            {"partner_id": self.partner.id, "purpose_id": self.purpose_marketing.id, "date_given": "2026-04-01"}
        )
        self.assertEqual(other_company.company_id, self.company_b, "each company keeps its own consent")
        self.consent.action_withdraw()
        renewed = self.Consent.create(
            {"partner_id": self.partner.id, "purpose_id": self.purpose_marketing.id, "date_given": "2026-06-01"}
        )
        self.assertEqual(renewed.state, "granted", "consent given again after a withdrawal is a new record")

    def test_retention_period_must_be_positive(self):
        Policy = self.env["customer.retention.policy"].with_user(self.officer)
        for period in (0, -3):
            with self.subTest(period=period):
                self.assertCreateRefused("must be a positive number", Policy, {"name": "Never", "period": period})
                self.assertRefused("enter a period greater than zero", self.policy_customer.with_user(self.officer),
                                   {"period": period})

    def test_legal_hold_needs_a_reason(self):
        partner = self.partner.with_user(self.officer)
        for reason in (False, "   "):
            with self.subTest(reason=reason):
                self.assertRefused("needs a reason", partner, {"legal_hold": True, "legal_hold_reason": reason})
        partner.write({"legal_hold": True, "legal_hold_reason": "Audit by the tax bureau"})
        self.assertRefused("needs a reason", partner, {"legal_hold_reason": ""})
        self.assertTrue(partner.legal_hold)

    def test_messages_reach_chinese_users_in_chinese(self):
        self.env["res.lang"]._activate_lang("zh_CN")
        self.env["ir.module.module"]._load_module_terms(["customer_handover"], ["zh_CN"], overwrite=True)
        self.officer.lang = "zh_CN"
        partner = self.partner.with_user(self.officer).with_context(lang="zh_CN")
        self.assertRefused("法律保全需要原因", partner, {"legal_hold": True, "legal_hold_reason": False})
        labels = self.env["res.partner"].with_user(self.officer).with_context(lang="zh_CN").fields_get(["legal_hold"])
        self.assertEqual(labels["legal_hold"]["string"], "法律保全")
