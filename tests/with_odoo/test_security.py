from lxml import etree

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, new_test_user, tagged

from .common import MANAGER, OFFICER, USER, HandoverCase

MODELS = ("customer.business.domain", "customer.consent.purpose", "customer.retention.policy", "customer.consent")
# What each user may do on each model: read, write, create, unlink.
EXPECTED = {
    "employee": dict.fromkeys(MODELS, ""),
    "handover_user": {
        "customer.business.domain": "r",
        "customer.consent.purpose": "r",
        "customer.retention.policy": "r",
        "customer.consent": "rwc",
    },
    "manager": {
        "customer.business.domain": "rwc",
        "customer.consent.purpose": "r",
        "customer.retention.policy": "r",
        "customer.consent": "rwc",
    },
    "officer": dict.fromkeys(MODELS, "rwcu"),
}
OFFICER_PARTNER_FIELDS = ("data_sensitivity", "legal_hold", "legal_hold_reason")
ADDON_PARTNER_FIELDS = (
    "customer_type",
    "relationship_stage",
    "business_domain_ids",
    "consent_ids",
    "valid_consent_purpose_ids",
    "retention_policy_id",
    "retention_end_date",
    "retention_status",
    "last_review_date",
)


@tagged("post_install", "-at_install")
class TestSecurity(HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env["res.partner"].create({"name": "Shared customer"})
        cls.consent_a = cls.env["customer.consent"].create(
            {"partner_id": cls.partner.id, "purpose_id": cls.purpose_marketing.id, "date_given": "2025-01-01"}
        )
        cls.consent_b = cls.env["customer.consent"].create(
            {
                "partner_id": cls.partner.id,
                "purpose_id": cls.purpose_service.id,
                "date_given": "2025-01-01",
                "company_id": cls.company_b.id,
            }
        )

    def _sample(self, model):
        self.samples = getattr(self, "samples", 0) + 1
        values = {
            "customer.business.domain": {"name": f"Hotels {self.samples}"},
            "customer.consent.purpose": {"name": f"Surveys {self.samples}"},
            "customer.retention.policy": {"name": f"Two years {self.samples}", "period": 2},
            "customer.consent": {
                "partner_id": self.env["res.partner"].create({"name": f"Customer {self.samples}"}).id,
                "purpose_id": self.purpose_marketing.id,
                "date_given": "2025-02-01",
            },
        }[model]
        return self.env[model].create(values)

    def test_groups_form_one_hierarchy_in_one_category(self):
        category = self.env.ref("customer_handover.module_category_customer_handover")
        user, manager, officer = (self.env.ref(xmlid) for xmlid in (USER, MANAGER, OFFICER))
        self.assertEqual((user | manager | officer).category_id, category)
        self.assertIn(user, manager.implied_ids)
        self.assertIn(manager, officer.implied_ids)
        self.assertTrue(self.officer.has_group(USER))
        self.assertFalse(self.manager.has_group(OFFICER))
        self.assertFalse(self.handover_user.has_group(MANAGER))
        self.assertTrue(self.env.ref("base.user_admin").has_group(OFFICER))

    def test_model_access_is_least_privilege(self):
        for login, rights in EXPECTED.items():
            user = getattr(self, login)
            for model, allowed in rights.items():
                with self.subTest(user=login, model=model):
                    record = self._sample(model)
                    self.env.invalidate_all()
                    as_user = record.with_user(user)
                    for letter, action in (
                        ("r", lambda r: r.read(["display_name"])),
                        ("w", lambda r: r.write({})),
                        ("c", lambda r, m=model: self._create_as(r, m)),
                        ("u", lambda r: r.unlink()),
                    ):
                        if letter in allowed:
                            action(as_user)
                        else:
                            with self.assertRaises(AccessError, msg=f"{login} may not {letter} {model}"):
                                action(as_user)

    def _create_as(self, records, model):
        values = records.sudo().copy_data()[0]  # sudo: copy_data of a record made by the test itself
        if model == "customer.consent":
            values.update(purpose_id=self.purpose_service.id, partner_id=self.env["res.partner"].create(
                {"name": f"Copy for {records.env.user.login}"}).id)
        if "name" in values:
            values["name"] = f"{values['name']} ({records.env.user.login})"
        return records.env[model].create(values)

    def test_officer_only_partner_fields(self):
        for user in (self.handover_user, self.manager):
            partner = self.partner.with_user(user)
            for field in OFFICER_PARTNER_FIELDS:
                with self.subTest(user=user.login, field=field):
                    self.env.invalidate_all()
                    with self.assertRaisesRegex(AccessError, field):
                        partner.read([field])
                    with self.assertRaisesRegex(AccessError, field):
                        partner.search([(field, "!=", False)])
            with self.assertRaisesRegex(AccessError, "legal_hold"):
                partner.write({"legal_hold": True, "legal_hold_reason": "Court order 12"})
            with self.assertRaisesRegex(AccessError, "data_sensitivity"):
                partner.write({"data_sensitivity": "sensitive"})
            partner.write({"relationship_stage": "active"})
        partner = self.partner.with_user(self.officer)
        partner.write({"legal_hold": True, "legal_hold_reason": "Court order 12", "data_sensitivity": "sensitive"})
        self.env.invalidate_all()
        self.assertEqual(partner.read(["data_sensitivity", "legal_hold"])[0]["data_sensitivity"], "sensitive")
        self.assertEqual(partner.retention_status, "active", "a hold is not told through the retention status")

    def test_officer_only_fields_are_neither_set_nor_told_on_create(self):
        sensitive = self.env["res.partner"].create({"name": "Sensitive one", "data_sensitivity": "sensitive"})
        for user in (self.employee, self.handover_user, self.manager):
            Partner = self.env["res.partner"].with_user(user)
            with self.subTest(user=user.login):
                with self.assertRaisesRegex(AccessError, "data_sensitivity"):
                    Partner.create({"name": "Chosen", "data_sensitivity": "ordinary"})
                with self.assertRaisesRegex(AccessError, "legal_hold"):
                    Partner.create({"name": "Held", "legal_hold": True, "legal_hold_reason": "Court order 1"})
                self.assertNotIn("data_sensitivity", Partner.default_get(["data_sensitivity", "name"]))
                created = Partner.with_context(default_data_sensitivity="ordinary").create({"name": "Plain"})
                self.assertEqual(created.sudo().data_sensitivity, "personal", "the company default, not the context's")
                copy = sensitive.with_user(user).copy()
                self.assertEqual(copy.sudo().data_sensitivity, "sensitive", "a copy keeps what the original holds")
                with self.assertRaisesRegex(AccessError, "data_sensitivity"):
                    sensitive.with_user(user).copy({"data_sensitivity": "ordinary"})

    def test_consent_evidence_is_officer_only(self):
        self.consent_a.with_user(self.officer).write({"evidence": b"c2lnbmVk", "evidence_filename": "form.pdf"})
        attachment = self.env["ir.attachment"].search(
            [("res_model", "=", "customer.consent"), ("res_id", "=", self.consent_a.id), ("res_field", "=", "evidence")]
        )
        self.assertEqual(len(attachment), 1)
        self.env.invalidate_all()
        for user in (self.handover_user, self.manager):
            with self.subTest(user=user.login):
                with self.assertRaisesRegex(AccessError, "evidence"):
                    self.consent_a.with_user(user).read(["evidence"])
                with self.assertRaises(AccessError):
                    attachment.with_user(user).read(["datas"])
                with self.assertRaisesRegex(AccessError, "evidence"):
                    self.consent_a.with_user(user).write({"evidence": b"Zm9yZ2Vk"})
                self.consent_a.with_user(user).write({"note": "Checked the paper form"})
        self.assertTrue(self.consent_a.with_user(self.officer).read(["evidence"])[0]["evidence"])
        self.assertTrue(attachment.with_user(self.officer).read(["datas"])[0]["datas"])

    def test_fields_and_tab_invisible_outside_the_groups(self):
        employee_fields = self.env["res.partner"].with_user(self.employee).fields_get()
        for field in ADDON_PARTNER_FIELDS + OFFICER_PARTNER_FIELDS:
            self.assertNotIn(field, employee_fields)
        user_fields = self.env["res.partner"].with_user(self.handover_user).fields_get()
        self.assertIn("retention_status", user_fields)
        self.assertNotIn("legal_hold", user_fields)
        with self.assertRaises(AccessError):
            self.partner.with_user(self.employee).read(["retention_status"])

        def form_arch(user):
            views = self.env["res.partner"].with_user(user).get_views([(False, "form")])
            return etree.fromstring(views["views"]["form"]["arch"])

        self.assertFalse(form_arch(self.employee).xpath("//page[@name='data_protection']"))
        user_page = form_arch(self.handover_user).xpath("//page[@name='data_protection']")
        self.assertTrue(user_page)
        self.assertFalse(user_page[0].xpath(".//field[@name='legal_hold']"))
        self.assertTrue(form_arch(self.officer).xpath("//page[@name='data_protection']//field[@name='legal_hold']"))

    def test_contacts_keep_working_for_users_outside_the_groups(self):
        with Form(self.env["res.partner"].with_user(self.employee)) as form:
            form.name = "Walk-in customer"
        partner = form.save()
        self.assertEqual(partner.sudo().relationship_stage, "prospect")  # sudo: read back what the defaults set
        self.assertEqual(partner.sudo().customer_type, "individual")

    def test_company_a_neither_finds_nor_reads_company_b_consents(self):
        self.env.invalidate_all()
        consents_a = self.env["customer.consent"].with_user(self.handover_user)
        self.assertEqual(consents_a.search([("partner_id", "=", self.partner.id)]), self.consent_a)
        with self.assertRaises(AccessError):
            self.consent_b.with_user(self.handover_user).read(["state"])
        consents_b = self.env["customer.consent"].with_user(self.user_b)
        self.assertEqual(consents_b.search([("partner_id", "=", self.partner.id)]), self.consent_b)
        with self.assertRaises(AccessError):
            self.consent_a.with_user(self.user_b).read(["state"])

    def test_shared_partner_shows_each_company_its_own_consents(self):
        self.env.invalidate_all()
        seen_by_a = self.partner.with_user(self.handover_user)
        self.assertEqual(seen_by_a.consent_ids, self.consent_a)
        self.assertEqual(seen_by_a.valid_consent_purpose_ids, self.purpose_marketing)
        self.assertEqual(seen_by_a.consent_summary, self.purpose_marketing.name)
        self.env.invalidate_all()  # one cache serves every user in a test; a request has its own
        seen_by_b = self.partner.with_user(self.user_b).with_company(self.company_b)
        self.assertEqual(seen_by_b.consent_ids, self.consent_b)
        self.assertEqual(seen_by_b.valid_consent_purpose_ids, self.purpose_service)
        found_by_a = self.env["res.partner"].with_user(self.handover_user).search(
            [("valid_consent_purpose_ids", "=", self.purpose_service.id), ("id", "=", self.partner.id)]
        )
        self.assertFalse(found_by_a, "company A found a partner through company B's consent")

    def test_company_specific_purposes_and_policies(self):
        purpose_b = self.env["customer.consent.purpose"].create({"name": "B only", "company_id": self.company_b.id})
        policy_b = self.env["customer.retention.policy"].create(
            {"name": "B only", "period": 1, "company_id": self.company_b.id}
        )
        self.env.invalidate_all()
        for model, record in (("customer.consent.purpose", purpose_b), ("customer.retention.policy", policy_b)):
            with self.subTest(model=model):
                self.assertNotIn(record, self.env[model].with_user(self.handover_user).search([]))
                self.assertIn(record, self.env[model].with_user(self.user_b).search([]))
                self.assertIn(self.purpose_marketing if model.endswith("purpose") else self.policy_customer,
                              self.env[model].with_user(self.user_b).search([]))

    def test_a_batch_of_consents_is_company_checked_as_each_one_is(self):
        """The company check runs once per company for a batch: one foreign purpose among many is still refused."""
        purpose_b = self.env["customer.consent.purpose"].create({"name": "B only", "company_id": self.company_b.id})
        partners = self.env["res.partner"].create([{"name": f"Batch customer {number}"} for number in range(4)])
        Consent = self.env["customer.consent"]
        values = [{"partner_id": partner.id, "purpose_id": self.purpose_marketing.id, "date_given": "2024-01-01",
                   "company_id": self.env.company.id} for partner in partners]
        for purpose, position in ((purpose_b, 2), (purpose_b, 0)):
            with self.subTest(position=position), self.assertRaisesRegex(UserError, "Incompatible companies"), \
                    self.env.cr.savepoint():
                Consent.create([{**vals, "purpose_id": purpose.id} if index == position else vals
                                for index, vals in enumerate(values)])
        created = Consent.create(values)
        self.assertEqual(len(created), 4)
        with self.assertRaisesRegex(UserError, "Incompatible companies"), self.env.cr.savepoint():
            created[1:3].write({"purpose_id": purpose_b.id})

    def test_settings_are_for_officers(self):
        admin_only = new_test_user(self.env, login="ch_sysadmin", groups="base.group_system")
        settings_fields = self.env["res.config.settings"].with_user(admin_only).fields_get()
        self.assertNotIn("handover_default_sensitivity", settings_fields)
        admin_officer = new_test_user(self.env, login="ch_sysofficer", groups=f"base.group_system,{OFFICER}")
        with Form(self.env["res.config.settings"].with_user(admin_officer)) as settings:
            settings.handover_default_sensitivity = "sensitive"
            settings.handover_default_retention_policy_id = self.policy_customer
            settings.handover_retention_due_soon_days = 45
        settings.save().execute()
        self.assertEqual(self.env.company.handover_default_sensitivity, "sensitive")
        self.assertEqual(self.env.company.handover_default_retention_policy_id, self.policy_customer)
        self.assertEqual(self.env["ir.config_parameter"].get_param("customer_handover.retention_due_soon_days"), "45")

    def test_menus_follow_the_groups(self):
        root = self.env.ref("customer_handover.customer_handover_menu_root")
        config = self.env.ref("customer_handover.customer_handover_menu_config")

        def visible(user):
            return self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()

        self.assertNotIn(root.id, visible(self.employee))
        self.assertIn(root.id, visible(self.handover_user))
        self.assertNotIn(config.id, visible(self.manager))
        self.assertIn(config.id, visible(self.officer))

    def test_retention_job_runs_as_root(self):
        cron = self.env.ref("customer_handover.ir_cron_update_retention_status")
        self.assertEqual(cron.user_id, self.env.ref("base.user_root"))
        self.assertTrue(cron.active)

    def test_a_checklist_holds_only_customers_of_its_company_even_from_its_own_step(self):
        from odoo.addons.customer_handover.models.customer_handover_evidence_mixin import evidence_step

        receiver = self.env["res.partner"].create({"name": "Receiver", "email": "r@example.cn"})
        handover = self.env["customer.handover"].create({"receiver_id": receiver.id})
        foreign = self.env["res.partner"].create({"name": "B's customer", "company_id": self.company_b.id})
        shared = self.env["res.partner"].create({"name": "Shared customer"})
        Line = self.env["customer.handover.line"]
        with evidence_step(Line._name, "partner_id", "line_type"):
            Line.create({"handover_id": handover.id, "name": "Shared", "line_type": "customer",
                         "partner_id": shared.id})
            with self.assertRaisesRegex(UserError, "holds only customers of"), self.env.cr.savepoint():
                Line.create({"handover_id": handover.id, "name": "Foreign", "line_type": "customer",
                             "partner_id": foreign.id})
        self.env.invalidate_all()
        self.assertEqual(Line.search([("handover_id", "=", handover.id)]).partner_id, shared)
