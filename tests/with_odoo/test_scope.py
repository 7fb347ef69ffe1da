"""A scope that cannot surprise: customers only by default, a condition asked for, counts that list, undo."""

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, tagged

from .common import HandoverCase, note_text


@tagged("post_install", "-at_install")
class TestScope(HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.receiver = cls.env["res.partner"].create({"name": "Receiver Co.", "is_company": True, "phone": "+86 21 1"})
        cls.domain = cls.env["customer.business.domain"].create({"name": "Scope test domain"})
        Partner = cls.env["res.partner"]
        tagged_with = {"business_domain_ids": [(6, 0, cls.domain.ids)]}
        cls.customer = Partner.create({"name": "Scope customer", **tagged_with})
        cls.no_consent = Partner.create({"name": "Scope no consent", **tagged_with})
        cls.colleague = Partner.create({"name": "Own staff", "parent_id": cls.company_a.partner_id.id, **tagged_with})
        cls.branch = Partner.create(
            {"name": "Own branch", "is_company": True, "parent_id": cls.company_a.partner_id.id})
        cls.branch_staff = Partner.create({"name": "Branch staff", "parent_id": cls.branch.id, **tagged_with})
        cls.manager.partner_id.business_domain_ids = cls.domain
        cls.env["customer.consent"].create(
            {"partner_id": cls.customer.id, "purpose_id": cls.purpose_service.id, "date_given": "2026-01-01"}
        )
        cls.handover = cls.env["customer.handover"].with_user(cls.handover_user).create(
            {"receiver_id": cls.receiver.id, "purpose_ids": [(6, 0, cls.purpose_service.ids)]}
        )

    def _scope(self, **values):
        form = Form(self.env["customer.handover.scope"].with_user(self.handover_user).with_context(
            default_handover_id=self.handover.id))
        for name, value in values.items():
            setattr(form, name, value)
        return form

    def test_customers_only_by_default_and_the_preview_counts_list_their_contacts(self):
        form = self._scope()
        form.business_domain_ids.add(self.domain)
        self.assertTrue(form.customers_only)
        self.assertEqual((form.total_count, form.eligible_count, form.ineligible_count), (2, 1, 1))
        self.assertEqual(form.left_out_count, 3, "the company's own contacts and the user are left out")
        form.show_partners = "left_out"
        self.assertEqual(set(form.shown_partner_ids.ids),
                         {self.colleague.id, self.branch_staff.id, self.manager.partner_id.id},
                         "a person under a branch of the company is the company's own too")
        form.show_partners = "no_consent"
        self.assertEqual(form.shown_partner_ids.ids, self.no_consent.ids)
        wizard = form.save()
        action = wizard.with_context(show="eligible").action_show_partners()
        self.assertEqual((action["res_id"], action["target"]), (wizard.id, "new"), "the wizard stays open")
        self.assertEqual(wizard.shown_partner_ids, self.customer)
        form = self._scope(customers_only=False)
        form.business_domain_ids.add(self.domain)
        self.assertEqual(form.total_count, 3, "users come back; the transferring company's own people never do")

    def test_no_condition_needs_every_customer_ticked(self):
        wizard = self._scope().save()
        self.assertFalse(wizard.has_condition)
        with self.assertRaisesRegex(UserError, "No condition is set"):
            wizard.action_confirm()
        self.assertFalse(self.handover.line_ids)
        wizard.select_all = True
        wizard.action_confirm()
        self.assertIn(self.customer, self.handover.line_ids.partner_id)
        self.assertNotIn(self.colleague, self.handover.line_ids.partner_id)
        self.assertNotIn(self.branch_staff, self.handover.line_ids.partner_id)
        self.assertNotIn(self.manager.partner_id, self.handover.line_ids.partner_id)

    def test_undo_the_last_selection_before_confirmation(self):
        form = self._scope()
        form.business_domain_ids.add(self.domain)
        form.save().action_confirm()
        lines = self.handover.line_ids
        self.assertEqual(set(lines.mapped("scope_run")), {1})
        self.assertTrue(self.handover.can_undo_scope)
        self.handover.with_user(self.handover_user).action_undo_scope()
        self.assertTrue(all(lines.mapped("excluded")), "undone lines leave the checklist by exclusion, never deletion")
        self.assertEqual(set(lines.mapped("scope_run")), {-1})
        undone = lines.filtered(lambda line: line.partner_id == self.customer)
        self.assertEqual(undone.exclusion_reason, "Selection of customers undone before confirmation")
        self.assertFalse(self.handover.can_undo_scope)
        entry = self.env["customer.handover.event"].search([("event", "=", "scope_undone")], limit=1)
        self.assertIn('"run":1', entry.payload)
        self.assertIn("Selection of customers undone", note_text(self.handover.message_ids[0]))
        with self.assertRaisesRegex(UserError, "no selection of customers to undo"):
            self.handover.with_user(self.handover_user).action_undo_scope()

        form = self._scope()
        form.business_domain_ids.add(self.domain)
        self.assertEqual(form.total_count, 2, "an undone selection's customers may be selected again")
        form.save().action_confirm()
        self.assertEqual(self.handover.scope_run_count, 2)
        self.handover.with_user(self.manager).action_confirm()
        self.assertFalse(self.handover.can_undo_scope)
        with self.assertRaisesRegex(UserError, "this step needs it to be Draft"):
            self.handover.with_user(self.handover_user).action_undo_scope()

    def test_selecting_again_after_undo_brings_the_undone_line_back(self):
        handover = self.handover.with_user(self.handover_user)
        form = self._scope()
        form.business_domain_ids.add(self.domain)
        form.save().action_confirm()
        first = {line.partner_id: line for line in handover.line_ids}
        self.customer.email = "new@scope.example.cn"
        handover.action_undo_scope()
        self.assertFalse(handover.excluded_line_ids, "an undone selection's lines are not exclusions")
        self.assertEqual((handover.line_count, handover.excluded_count), (0, 0))

        self.env["customer.handover.scope"].with_user(self.handover_user).create(
            {"handover_id": handover.id, "partner_ids": self.customer.ids}).action_confirm()
        line = first[self.customer]
        self.assertEqual(handover.line_ids.filtered(lambda line: line.partner_id == self.customer), line,
                         "the customer's undone line comes back, not a second one")
        self.assertEqual((line.scope_run, line.excluded, line.exclusion_reason), (2, False, False))
        self.assertIn("new@scope.example.cn", line.snapshot_contact, "the snapshot is taken again")
        self.assertEqual(handover.checklist_line_ids, line)
        self.assertFalse(handover.excluded_line_ids, "the customer left undone stays off the Excluded tab")
        entry = self.env["customer.handover.event"].search(
            [("event", "=", "lines_added"), ("res_id", "=", line.id)], order="id desc", limit=1)
        self.assertIn('"run":2', entry.payload)

        form = self._scope()
        form.business_domain_ids.add(self.domain)
        form.save().action_confirm()
        self.assertEqual(handover.line_ids, first[self.customer] | first[self.no_consent], "one line per customer")
        self.assertEqual(handover.excluded_line_ids, first[self.no_consent])
        self.assertIn("consent", first[self.no_consent].exclusion_reason)
        rows = list(self.env["customer.handover.export"].with_user(self.handover_user)._checklist_export_rows(handover))
        names = [cell for row in rows for cell in row if cell in ("Scope customer", "Scope no consent")]
        self.assertEqual(sorted(names), ["Scope customer", "Scope no consent"], "the workbook lists each once")


@tagged("post_install", "-at_install")
class TestInsertedLines(HandoverCase):
    """Select Customers puts a batch of customers on the checklist in one INSERT (``_insert_lines``): each line
    holds what ``create()`` gives it, and the INSERT refuses what ``create()`` refuses."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        receiver = cls.env["res.partner"].create({"name": "Receiver Co.", "is_company": True, "phone": "+86 21 1"})
        cls.handover = cls.env["customer.handover"].with_user(cls.handover_user).create(
            {"receiver_id": receiver.id, "purpose_ids": [(6, 0, cls.purpose_service.ids)]})
        cls.sold, cls.held, cls.plain = cls.env["res.partner"].create([
            {"name": "With a salesperson", "user_id": cls.manager.id}, {"name": "Held back"}, {"name": "Plain"}])

    def _values(self, partner, **values):
        return {"handover_id": self.handover.id, "line_type": "customer", "partner_id": partner.id,
                "name": partner.name, "snapshot_contact": f"{partner.name} · Shanghai", "scope_run": 1, **values}

    def _stored(self, line):
        # create()'s recompute of the related columns writes the lines again as the superuser: the insert keeps
        # their author as the last writer too
        skip = {"id", "create_date", "write_date", "write_uid"}
        line = line.sudo()  # officer-only columns too
        return {name: line[name] for name, field in line._fields.items() if field.store and name not in skip
                and field.type not in ("one2many", "many2many")}

    def test_an_inserted_line_is_the_line_create_makes(self):
        from odoo.addons.customer_handover.models.customer_handover_evidence_mixin import evidence_step
        from odoo.addons.customer_handover.wizard.customer_handover_scope import LINE_STEP_FIELDS

        Line = self.env["customer.handover.line"].with_user(self.handover_user)
        ineligible = {"eligibility": "ineligible", "ineligibility_reasons": "legal_hold",
                      "public_reasons": "held_back", "excluded": True, "exclusion_reason": "Held back"}
        values = [self._values(self.sold), self._values(self.held, **ineligible), self._values(self.plain)]
        self.assertFalse(self.handover.line_ids)  # read, hence cached: the insert must not leave it stale
        with evidence_step(Line._name, *LINE_STEP_FIELDS, "name", "exclusion_reason"):
            inserted = Line._insert_lines(values)
            self.assertEqual(self.handover.line_ids, inserted, "the handover's cached lines learn of the insert")
            self.assertEqual(self.handover.line_count, 3)
            created = Line.create([{**vals, "scope_run": 2} for vals in values])
        self.env.invalidate_all()
        for new, old in zip(inserted, created, strict=True):
            self.assertEqual({**self._stored(new), "scope_run": 2}, self._stored(old))
        self.assertEqual(inserted.mapped("to_verify"), [True, False, True])
        self.assertEqual(inserted[0].salesperson_id, self.manager)
        self.assertEqual(inserted.company_id, self.handover.company_id)
        self.assertEqual(inserted.create_uid, self.handover_user)
        self.assertEqual(self.sold.handover_line_ids, inserted[0] | created[0])

    def test_the_insert_refuses_what_create_refuses(self):
        from odoo.addons.customer_handover.models.customer_handover_evidence_mixin import evidence_step
        from odoo.addons.customer_handover.wizard.customer_handover_scope import LINE_STEP_FIELDS

        Line = self.env["customer.handover.line"]
        # outside its step: refused as create() refuses it, naming the fields (and logged, as the mixin logs)
        with self.assertRaisesRegex(AccessError, "are recorded by their step"), self.env.cr.savepoint():
            Line.with_user(self.handover_user)._insert_lines([self._values(self.plain)])
        with evidence_step(Line._name, *LINE_STEP_FIELDS, "name", "exclusion_reason"):
            with self.assertRaises(AccessError), self.env.cr.savepoint():
                Line.with_user(self.employee)._insert_lines([self._values(self.plain)])
            with self.assertRaisesRegex(ValidationError, "excluded"), self.env.cr.savepoint():
                Line.with_user(self.handover_user)._insert_lines([self._values(self.plain, excluded=True)])
            foreign = self.env["res.partner"].create({"name": "B's customer", "company_id": self.company_b.id})
            with self.assertRaisesRegex(UserError, "holds only customers of"), self.env.cr.savepoint():
                Line.with_user(self.handover_user)._insert_lines([self._values(foreign)])
            # a user of another company, with the same groups there: the record rules refuse the lines
            with self.assertRaises(AccessError), self.env.cr.savepoint():
                Line.with_user(self.user_b)._insert_lines([self._values(self.plain)])
        self.env.invalidate_all()
        self.assertFalse(Line.sudo().search([("handover_id", "=", self.handover.id)]))
        # an item added by hand, outside the scope step: logged as create() logs it
        item = Line.with_user(self.handover_user)._insert_lines([{"handover_id": self.handover.id, "name": "Box"}])
        self.assertEqual(item.line_type, "item")
        self.assertTrue(self.env["customer.handover.event"].search(
            [("event", "=", "item_added"), ("res_model", "=", Line._name), ("res_id", "=", item.id)]))
