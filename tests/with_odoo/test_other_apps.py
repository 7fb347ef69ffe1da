from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import HandoverCase

# Fields of base that stand for another module's restricted partner field, such as account's credit_limit:
# Odoo's own tests restrict a field the same way (base's test_ir_attachment, test_res_users).
OTHER_MODULE_FIELDS = ("ref", "function")


@tagged("post_install", "-at_install")
class TestOtherModulesPartnerFields(HandoverCase):
    """The addon guards its own partner fields only: another module's fields behave as in plain Odoo."""

    def setUp(self):
        super().setUp()
        partner_fields = self.env.registry["res.partner"]._fields
        for name in OTHER_MODULE_FIELDS:
            self.patch(partner_fields[name], "groups", "base.group_system")

    def test_a_hidden_field_of_another_module_is_created_as_odoo_creates_it(self):
        for user in (self.employee, self.handover_user, self.manager, self.officer):
            Partner = self.env["res.partner"].with_user(user)
            with self.subTest(user=user.login):
                self.assertFalse(Partner._fields["ref"].is_accessible(Partner.env), "the user may not read ref")
                self.assertEqual(Partner.with_context(default_function="From the context").default_get(["function"]),
                                 {"function": "From the context"})
                created = Partner.with_context(default_function="From the context").create(
                    {"name": f"Credit {user.login}", "ref": "R-1"})
                stored = created.sudo()
                self.assertEqual((stored.ref, stored.function), ("R-1", "From the context"))
                copy = created.copy({"ref": "R-2"})
                self.assertEqual((copy.sudo().ref, copy.sudo().function), ("R-2", "From the context"))

    def test_the_addon_still_guards_its_own_fields_beside_them(self):
        self.env.company.handover_default_sensitivity = "sensitive"
        for user in (self.employee, self.handover_user, self.manager):
            Partner = self.env["res.partner"].with_user(user)
            with self.subTest(user=user.login):
                with self.assertRaisesRegex(AccessError, "data_sensitivity"):
                    Partner.create({"name": "Chosen", "ref": "R-3", "data_sensitivity": "ordinary"})
                created = Partner.with_context(default_data_sensitivity="ordinary", default_ref="R-4").create(
                    {"name": f"Defaults {user.login}"})
                self.assertEqual((created.sudo().data_sensitivity, created.sudo().ref), ("sensitive", "R-4"))
