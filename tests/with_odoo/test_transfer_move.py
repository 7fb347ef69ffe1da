"""A handover to a company of the same database, or to another team, moves the customers instead of copying them."""

import base64
from contextlib import nullcontext

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, tagged

from .common import MANAGER, USER, HandoverCase

SIGNATURE = base64.b64encode(
    base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
)
NDA = {"nda_reference": "NDA-2026-07", "nda_date": "2026-11-01", "nda_document": SIGNATURE, "nda_filename": "nda.pdf"}
MOVE_FIELDS = ("moved_from_company_id", "moved_from_user_id", "moved_on", "moved_by_id")


class MoveCase(HandoverCase):
    """Customers of company A with salespeople, contacts, followers and activities, and handovers of them signed."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.receiver_b = cls.company_b.partner_id
        cls.receiver_b.email = "legal@company-b.example.cn"
        cls.seller_a = cls._new_user("ch_seller_a", "base.group_user")
        cls.seller_a2 = cls._new_user("ch_seller_a2", USER)
        cls.manager_b = cls._new_user("ch_manager_b", MANAGER, company=cls.company_b)
        cls.follower = cls.env["res.partner"].create({"name": "Outside adviser", "email": "adviser@example.com"})
        cls.team = cls.env["res.partner"].create({"name": "East sales team", "email": "east@example.com"})
        # The move keeps a signed backup of the customers first.
        cls.company_a.with_user(cls.officer).action_handover_create_signing_key()

    def _customers(self, count, prefix="Shop customer", company=None, with_consent=True):
        """Customers of company A with a salesperson, a child contact, followers and an open activity each."""
        Partner = self.env["res.partner"].with_context(tracking_disable=True)
        company_id = (company or self.company_a).id
        customers = Partner.create([{"name": f"{prefix} {i}", "company_id": company_id, "user_id": self.seller_a.id,
                                     "is_company": True} for i in range(count)])
        Partner.create([{"name": f"{customer.name} contact", "parent_id": customer.id, "type": "contact"}
                        for customer in customers])
        if with_consent:
            self.env["customer.consent"].create([
                {"partner_id": customer.id, "purpose_id": self.purpose_service.id, "date_given": "2026-01-01"}
                for customer in customers
            ])
        customers.message_subscribe(partner_ids=(self.seller_a.partner_id | self.employee.partner_id
                                                 | self.follower).ids)
        self.env["mail.activity"].create([{
            "res_model_id": self.env["ir.model"]._get_id("res.partner"), "res_id": customer.id,
            "activity_type_id": self.env.ref("mail.mail_activity_data_todo").id, "user_id": self.seller_a.id,
            "summary": "Call back",
        } for customer in customers])
        return customers

    def _signed(self, customers, receiver=None, receiver_user=None, reason="shop_transfer"):
        """A handover of ``customers`` driven by its steps, as restricted users, up to signed."""
        form = Form(self.env["customer.handover"].with_user(self.handover_user))
        form.receiver_id = receiver or self.receiver_b
        form.reason = reason
        form.purpose_ids.add(self.purpose_service)
        form.receiver_user_id = receiver_user or self.user_b
        handover = form.save()
        Form(self.env["customer.handover.scope"].with_user(self.handover_user).with_context(
            active_model="res.partner", active_ids=customers.ids, default_handover_id=handover.id,
        )).save().action_confirm()
        handover.write(NDA)
        handover.with_user(self.manager).action_confirm()
        handover.with_user(self.manager).action_start()
        handover.line_ids.with_user(self.handover_user).action_verify()
        handover.with_user(self.handover_user).action_mark_verified()
        handover._sign("transfer", "王经理", SIGNATURE, channel="in_person")
        handover._sign("receiver", "李代表", SIGNATURE, channel="in_person")
        self.assertEqual(handover.state, "signed")
        return handover

    def _followers(self, partner):
        return self.env["mail.followers"].search([("res_model", "=", "res.partner"), ("res_id", "=", partner.id)])

    def _activities(self, partners):
        return self.env["mail.activity"].search([("res_model", "=", "res.partner"), ("res_id", "in", partners.ids)])


@tagged("post_install", "-at_install")
class TestTransferMove(MoveCase):
    def test_sister_company_receives_the_customers(self):
        customers = self._customers(2)
        shop, contact = customers[0], customers[0].child_ids
        handover = self._signed(customers)
        self.assertEqual(handover.transfer_mode, "company")
        handover.with_user(self.manager).action_done()
        self.assertEqual(handover.state, "done")
        backup = self.env["customer.handover.package"].search([("handover_id", "=", handover.id)])
        self.assertEqual((backup.kind, backup.customer_count), ("backup", 2), "a backup was kept before the move")

        moved = customers | customers.child_ids
        self.assertEqual(set(moved.mapped("company_id")), {self.company_b}, "customers and contacts changed company")
        self.assertEqual(set(moved.mapped("user_id")), {self.user_b})
        self.assertEqual(set(moved.mapped("moved_from_company_id")), {self.company_a})
        self.assertEqual(set(moved.mapped("moved_from_user_id")), {self.seller_a})
        self.assertEqual(set(moved.mapped("moved_by_id")), {self.manager})
        self.assertTrue(all(moved.mapped("moved_on")))
        self.assertEqual(shop.handover_id, handover)
        self.assertTrue(shop.active, "a move never archives")
        self.assertEqual(set(customers.consent_ids.mapped("company_id")), {self.company_b})
        self.assertEqual(self._followers(shop).partner_id, self.follower | self.user_b.partner_id,
                         "company A's users stop following, the receiving user follows, outsiders stay")
        self.assertEqual(set(self._activities(customers).mapped("user_id")), {self.user_b})

        self.env.invalidate_all()
        for user in (self.handover_user, self.seller_a, self.manager):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                shop.with_user(user).read(["name"])
        with self.assertRaises(AccessError):
            contact.with_user(self.handover_user).read(["name"])
        as_b = shop.with_user(self.user_b)
        self.assertEqual(as_b.name, "Shop customer 0")
        self.assertEqual(as_b.consent_ids.purpose_id, self.purpose_service, "the receiving company reads the consents")
        self.assertEqual(as_b.moved_from_company_id, self.company_a)
        self.assertEqual(as_b.child_ids, contact.with_user(self.user_b))
        spec = {name: {"fields": {"display_name": {}}} for name in ("handover_id", *MOVE_FIELDS) if name != "moved_on"}
        values = as_b.web_read({**spec, "moved_on": {}})[0]
        self.assertEqual(values["moved_from_company_id"]["display_name"], self.company_a.name,
                         "the receiving company opens the customer and reads where it came from")
        self.assertEqual(values["moved_from_user_id"]["id"], self.seller_a.id)

        entries = self.env["customer.handover.event"].search([("event", "=", "customer_moved")])
        self.assertEqual(set(entries.mapped("company_id")), {self.company_a, self.company_b},
                         "both companies' logs record the move")
        self.assertIn(f'"handover":{handover.id}', entries[0].payload)
        views = self.env["res.partner"].with_user(self.user_b).get_views([(False, "form")])
        self.assertIn('name="moved_from_user_id"', views["views"]["form"]["arch"])

    def test_team_handover_moves_salesperson_followers_and_activities_only(self):
        customers = self._customers(2)
        handover = self._signed(customers, receiver=self.team, receiver_user=self.seller_a2, reason="team_handover")
        self.assertEqual(handover.transfer_mode, "team")
        handover.with_user(self.manager).action_done()
        moved = customers | customers.child_ids
        self.assertEqual(set(moved.mapped("company_id")), {self.company_a}, "a team handover keeps the company")
        self.assertEqual(set(moved.mapped("user_id")), {self.seller_a2})
        self.assertEqual(set(moved.mapped("moved_from_user_id")), {self.seller_a})
        self.assertEqual(set(customers.consent_ids.mapped("company_id")), {self.company_a})
        self.assertEqual(self._followers(customers[0]).partner_id,
                         self.employee.partner_id | self.follower | self.seller_a2.partner_id,
                         "the former salesperson stops following; colleagues of the same company stay")
        self.assertEqual(set(self._activities(customers).mapped("user_id")), {self.seller_a2})
        self.assertEqual(customers[0].with_user(self.handover_user).name, "Shop customer 0")

    def test_unmapped_purposes_and_policies_refuse_before_anything_moves(self):
        loyalty = self.env["customer.consent.purpose"].create({"name": "Loyalty programme",
                                                               "company_id": self.company_a.id})
        policy = self.env["customer.retention.policy"].create({"name": "Shop records", "company_id": self.company_a.id})
        customers = self._customers(1)
        shop = customers
        shop.retention_policy_id = policy
        self.env["customer.consent"].create({"partner_id": shop.id, "purpose_id": loyalty.id,
                                             "date_given": "2026-01-01"})
        handover = self._signed(customers)
        followers = self._followers(shop).partner_id
        with self.assertRaises(UserError) as caught:
            handover.with_user(self.manager).action_done()
        self.assertIn("Loyalty programme", str(caught.exception))
        self.assertIn("Shop records", str(caught.exception))
        self.env.invalidate_all()
        self.assertEqual(handover.state, "signed")
        self.assertEqual(shop.company_id, self.company_a, "nothing moved")
        self.assertFalse(shop.moved_on)
        self.assertEqual(set(shop.consent_ids.mapped("company_id")), {self.company_a})
        self.assertEqual(self._followers(shop).partner_id, followers)
        self.assertEqual(set(self._activities(shop).mapped("user_id")), {self.seller_a})

        loyalty_b = self.env["customer.consent.purpose"].create({"name": "Loyalty programme",
                                                                 "company_id": self.company_b.id})
        shared = self.env["customer.retention.policy"].create({"name": "Shop records", "period": 5})
        handover.with_user(self.manager).action_done()
        self.assertEqual(shop.company_id, self.company_b)
        self.assertEqual(shop.retention_policy_id, shared, "a shared policy of the same name takes over")
        self.assertEqual(set(shop.consent_ids.purpose_id), {self.purpose_service, loyalty_b})

    def test_purposes_and_policies_renamed_on_either_side_still_map_by_their_code(self):
        loyalty = self.env["customer.consent.purpose"].create({"name": "Loyalty programme", "code": "loyalty",
                                                               "company_id": self.company_a.id})
        policy = self.env["customer.retention.policy"].create({"name": "Shop records", "code": "shop",
                                                               "company_id": self.company_a.id})
        loyalty_b = self.env["customer.consent.purpose"].create({"name": "Loyalty programme", "code": "loyalty",
                                                                 "company_id": self.company_b.id})
        policy_b = self.env["customer.retention.policy"].create({"name": "Shop records", "code": "shop",
                                                                 "company_id": self.company_b.id})
        shop = self._customers(1)
        shop.retention_policy_id = policy
        self.env["customer.consent"].create({"partner_id": shop.id, "purpose_id": loyalty.id,
                                             "date_given": "2026-01-01"})
        handover = self._signed(shop)
        # the transferring company renames its purpose, the receiving company its policy: the codes stay
        loyalty.name = "Members' club"
        policy_b.name = "Records of the shops"
        handover.with_user(self.manager).action_done()
        self.assertEqual(shop.company_id, self.company_b)
        self.assertEqual(shop.retention_policy_id, policy_b)
        self.assertEqual(set(shop.consent_ids.purpose_id), {self.purpose_service, loyalty_b})

    def test_only_managers_complete_a_move(self):
        customers = self._customers(1)
        handover = self._signed(customers)
        for user in (self.handover_user, self.user_b, self.employee):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                handover.with_user(user).action_done()
        self.assertEqual(customers.company_id, self.company_a)
        self.assertFalse(customers.moved_on)

    def test_receiving_user_must_belong_to_the_receiving_company(self):
        form = Form(self.env["customer.handover"].with_user(self.handover_user))
        form.receiver_id = self.receiver_b
        form.purpose_ids.add(self.purpose_service)
        form.receiver_user_id = self.seller_a2
        with self.assertRaises(ValidationError):
            form.save()
        form.receiver_user_id = self.user_b
        self.assertEqual(form.transfer_mode, "company")
        handover = form.save()
        with self.assertRaises(ValidationError, msg="archiving makes no sense for customers that move"):
            handover.write({"archive_customers": True})
        self.assertFalse(handover.archive_customers)

    def test_a_move_needs_its_receiving_user_before_signing(self):
        customers = self._customers(1)
        handover = self.env["customer.handover"].with_user(self.handover_user).create(
            {"receiver_id": self.receiver_b.id, "purpose_ids": [(6, 0, self.purpose_service.ids)]})
        Form(self.env["customer.handover.scope"].with_user(self.handover_user).with_context(
            active_model="res.partner", active_ids=customers.ids, default_handover_id=handover.id,
        )).save().action_confirm()
        handover.write(NDA)
        handover.with_user(self.manager).action_confirm()
        handover.with_user(self.manager).action_start()
        handover.line_ids.action_verify()
        handover.action_mark_verified()
        with self.assertRaisesRegex(UserError, "receiving responsible user"):
            handover._sign("transfer", "王经理", SIGNATURE, channel="in_person")

    def test_move_evidence_is_refused_to_every_user(self):
        customer = self._customers(1, with_consent=False)
        forged = {"moved_from_company_id": self.company_b.id, "moved_from_user_id": self.seller_a.id,
                  "moved_on": "2020-01-02 03:04:05", "moved_by_id": self.manager.id}
        for user in (self.handover_user, self.manager, self.officer):
            for name, value in forged.items():
                with self.subTest(user=user.login, field=name), self.assertRaises(AccessError) as caught:
                    customer.with_user(user).write({name: value})
                label = customer._fields[name]._description_string(self.env)
                self.assertIn(label, str(caught.exception))
            with self.subTest(user=user.login, attack="create"), self.assertRaises(AccessError):
                self.env["res.partner"].with_user(user).create({"name": "Forged", **forged})
        self.env.invalidate_all()
        self.assertFalse(any(customer[name] for name in forged), "nothing was written")
        consent = self.env["customer.consent"].create(
            {"partner_id": customer.id, "purpose_id": self.purpose_service.id, "date_given": "2026-01-01"})
        with self.assertRaises(AccessError):
            consent.with_user(self.officer).write({"company_id": self.company_b.id})

    def test_move_queries_do_not_grow_with_the_customers(self):
        counts = []
        for size in (1, 4, 16):  # the first move warms the caches of access rights and rules
            customers = self._customers(size, prefix=f"Bulk {size}")
            handover = self._signed(customers)
            self.env.flush_all()
            self.env.invalidate_all()
            handover = handover.with_user(self.manager).browse(handover.id)
            # 110 + 2: completing checks twice that no background step runs (before the move, and in its step);
            # the export's cover reads both drawn signatures (two queries each) to hash them
            with self.assertQueryCount(114, flush=False) if size > 1 else nullcontext():  # the warm-up is not pinned
                before = self.env.cr.sql_log_count
                handover.action_done()
                self.env.flush_all()
                counts.append(self.env.cr.sql_log_count - before)
            self.assertEqual(set((customers | customers.child_ids).mapped("company_id")), {self.company_b})
        self.assertEqual(counts[1], counts[2], f"the move's queries grew with the customers: {counts}")
