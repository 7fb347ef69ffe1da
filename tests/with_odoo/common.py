"""Shared fixtures of the Odoo suite: restricted users made for the test, never the superuser."""

from odoo.tests.common import TransactionCase, new_test_user

USER = "customer_handover.group_handover_user"
MANAGER = "customer_handover.group_handover_manager"
OFFICER = "customer_handover.group_data_protection_officer"


class HandoverCase(TransactionCase):
    """Two companies; in company A a contacts user outside the addon's groups and one user per group."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a = cls.env.company
        cls.company_b = cls.env["res.company"].create({"name": "Company B"})
        cls.employee = cls._new_user("ch_employee", "base.group_user,base.group_partner_manager")
        cls.handover_user = cls._new_user("ch_user", USER)
        cls.manager = cls._new_user("ch_manager", MANAGER)
        cls.officer = cls._new_user("ch_officer", OFFICER)
        cls.user_b = cls._new_user("ch_user_b", USER, company=cls.company_b)
        cls.purpose_marketing = cls.env.ref("customer_handover.consent_purpose_marketing")
        cls.purpose_service = cls.env.ref("customer_handover.consent_purpose_customer_service")
        cls.policy_customer = cls.env.ref("customer_handover.retention_policy_customer")

    @classmethod
    def _new_user(cls, login, groups, company=None):
        company = company or cls.company_a
        return new_test_user(
            cls.env,
            login=login,
            groups=groups,
            company_id=company.id,
            company_ids=[(6, 0, company.ids)],
        )
