"""What an import does to a customer that matches an existing contact: the merge rules, codes, phones."""

from odoo.addons.customer_handover.tools import transfer_package as tp
from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import HandoverCase
from .package_builder import build_package
from .test_transfer_import import ImportFixture


class Version1Writer(tp.PackageWriter):
    """A package as version 1 of the format wrote it: names only, no codes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.manifest["version"] = 1

    def add_customer(self, customer):
        for consent in customer["consents"]:
            del consent["purpose_code"]
        del customer["retention"]["policy_code"]
        del customer["classification"]["domain_codes"]
        super().add_customer(customer)

    def _data_chunks(self):
        for chunk in super()._data_chunks():
            yield chunk.replace(b'],"version":2}\n', b'],"version":1}\n')


@tagged("post_install", "-at_install", "customer_handover_import")
class TestTransferMerge(ImportFixture, HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_import_fixture()
        cls.domain_b = cls.env["customer.business.domain"].create({"name": "Hotels of B"})
        cls.policy_prospect = cls.env.ref("customer_handover.retention_policy_prospect")
        cls.policy_marketing = cls.env.ref("customer_handover.retention_policy_marketing")

    def _existing(self, **values):
        """A contact of company B that line 1 of the package matches, by its VAT."""
        return self.env["res.partner"].create({
            "name": "Mingyuan (B)", "vat": "CN91310000MY", "email": "old@mingyuan.example.cn", "street": "B Road 1",
            "company_id": self.company_b.id, "data_sensitivity": "ordinary", **values,
        })

    def _package(self, **retention):
        def change(customer):
            if customer["line"] == 1:
                customer["retention"].update(retention)
        return build_package(self.export, recipient=self.recipient, change=change)

    # ------------------------------------------------------------------------------------------ merge rules

    def test_the_stricter_sensitivity_wins(self):
        self._pin()
        ordinary, sensitive = self._existing(), self._existing(vat=False, email="info@mingyuan.example.cn",
                                                               data_sensitivity="sensitive")
        self.assertEqual(self._preview().line_ids[0].partner_id, ordinary)
        self._import()
        self.assertEqual(ordinary.data_sensitivity, "personal", "the package's personal beats ordinary")
        ordinary.data_sensitivity = "sensitive"
        ordinary.vat = False
        ordinary.email = False
        self._import(package=build_package(self.export, recipient=self.recipient, package=2))
        self.assertEqual(sensitive.handover_source_package, 2)
        self.assertEqual(sensitive.data_sensitivity, "sensitive", "a sensitive contact stays sensitive")

    def test_a_legal_hold_is_kept_with_its_reason(self):
        self._pin()
        held = self._existing(legal_hold=True, legal_hold_reason="Lawsuit 2025")
        self._import()
        self.assertEqual((held.legal_hold, held.legal_hold_reason), (True, "Lawsuit 2025"))
        held.vat = False
        free = self._existing(email="other@example.cn")
        package = build_package(self.export, recipient=self.recipient, package=2,
                                change=lambda customer: customer["retention"].update(
                                    legal_hold=True, legal_hold_reason="Tax audit"))
        self._import(package=package)
        self.assertEqual((free.legal_hold, free.legal_hold_reason), (True, "Tax audit"), "the sender's hold arrives")
        free.vat = False
        held.vat = "CN91310000MY"
        package = build_package(self.export, recipient=self.recipient, package=3,
                                change=lambda customer: customer["retention"].update(
                                    legal_hold=True, legal_hold_reason="Tax audit"))
        self._import(package=package)
        self.assertEqual(held.legal_hold_reason, "Lawsuit 2025\nTax audit", "both holds' reasons are kept")

    def test_the_shorter_retention_wins_unless_a_hold_applies(self):
        self._pin()
        existing = self._existing(retention_policy_id=self.policy_customer.id)
        self._import(package=self._package(policy="Marketing contacts", policy_code="marketing", period=6,
                                           period_unit="month"))
        self.assertEqual(existing.retention_policy_id, self.policy_marketing, "6 months is shorter than 3 years")
        existing.write({"retention_policy_id": self.policy_prospect.id, "legal_hold": True,
                        "legal_hold_reason": "Lawsuit"})
        package = build_package(self.export, recipient=self.recipient, package=2, change=lambda customer: customer[
            "retention"].update(policy="Customers", policy_code="customer", period=3, period_unit="year"))
        self._import(package=package)
        self.assertEqual(existing.retention_policy_id, self.policy_customer, "under a hold the longer one is kept")
        existing.retention_policy_id = self.policy_marketing
        package = build_package(self.export, recipient=self.recipient, package=3, change=lambda customer: customer[
            "retention"].update(policy="Customers", policy_code="customer", period=3, period_unit="year"))
        existing.legal_hold = False
        self._import(package=package)
        self.assertEqual(existing.retention_policy_id, self.policy_marketing, "without a hold the shorter stays")

    def test_business_domains_are_added(self):
        self._pin()
        existing = self._existing(business_domain_ids=[(6, 0, self.domain_b.ids)])
        self._import()
        self.assertEqual(set(existing.business_domain_ids.mapped("name")), {"Hotels of B", "Imported domain"})

    def test_contact_data_is_kept_unless_an_officer_takes_the_package_values(self):
        self._pin()
        existing = self._existing()
        self._import()
        self.assertEqual((existing.name, existing.email, existing.street),
                         ("Mingyuan (B)", "old@mingyuan.example.cn", "B Road 1"))
        wizard = self._preview(package=build_package(self.export, recipient=self.recipient, package=2))
        self.assertEqual(wizard.line_ids[0].contact_choice, "keep")
        wizard.line_ids[0].contact_choice = "package"
        with self.assertRaisesRegex(AccessError, "data-protection officer"):
            wizard.action_import()
        wizard = self._preview(self.officer_b, package=build_package(self.export, recipient=self.recipient,
                                                                    package=2))
        wizard.line_ids[0].contact_choice = "package"
        wizard.action_import()
        self.assertEqual((existing.name, existing.email, existing.city), (
            "上海明远科技有限公司", "info@mingyuan.example.cn", "Shanghai"), "the package's values, as chosen")
        self.assertEqual(existing.street, "B Road 1", "a value the package leaves empty is never erased")

    # ------------------------------------------------------------------------------------------ codes

    def test_purposes_policies_and_domains_renamed_on_either_side_match_by_code(self):
        self._pin()
        self.env["customer.business.domain"].search([("code", "=", "imported_domain")]).name = "Renamed domain"
        self.policy_customer.with_context(lang="en_US").name = "Clients: three years"

        def renamed(customer):
            customer["consents"][0]["purpose"] = "Client care"
            customer["retention"].update(policy="Customers (renamed)", policy_code="customer", period=3)

        wizard = self._preview(package=build_package(self.export, recipient=self.recipient, change=renamed))
        self.assertEqual(set(wizard.mapping_ids.mapped("action")), {"map"})
        self.assertEqual(wizard.mapping_ids.filtered(lambda m: m.kind == "purpose").purpose_id, self.purpose_service)
        wizard.action_import()
        partner = self._imported_partners()[0]
        self.assertEqual((partner.consent_ids.purpose_id, partner.retention_policy_id),
                         (self.purpose_service, self.policy_customer))
        self.assertEqual(partner.business_domain_ids.mapped("name"), ["Renamed domain"])
        self.assertFalse(self.env["customer.business.domain"].search([("name", "=", "Imported domain")]))

    def test_a_version_1_package_is_matched_by_english_name(self):
        self._pin()
        package = build_package(self.export, recipient=self.recipient, writer=Version1Writer)
        wizard = self._preview(package=package)
        self.assertEqual(wizard.mapping_ids.filtered(lambda m: m.kind == "purpose").mapped(
            lambda m: (m.name, m.code, m.purpose_id)), [("Customer service", False, self.purpose_service)])
        wizard.action_import()
        partner = self._imported_partners()[0]
        self.assertEqual(partner.consent_ids.purpose_id, self.purpose_service)
        self.assertEqual(partner.business_domain_ids.mapped("code"), ["imported_domain"])

    # ------------------------------------------------------------------------------------------ phones

    def test_an_international_phone_matches_the_national_one_in_the_company_country(self):
        self._pin()
        self.company_b.country_id = self.env.ref("base.cn")
        existing = self.env["res.partner"].create({"name": "By phone", "phone": "13800138000",
                                                   "company_id": self.company_b.id})

        def mobile(customer):
            if customer["line"] == 3:
                customer["contact"].update(phone="+86 138 0013 8000", country="")

        wizard = self._preview(package=build_package(self.export, recipient=self.recipient, change=mobile))
        line = wizard.line_ids.filtered(lambda line: line.line_number == 3)
        self.assertEqual((line.partner_id, line.match_key), (existing, "phone"))
