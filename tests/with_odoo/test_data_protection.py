from contextlib import contextmanager
from datetime import date
from unittest.mock import patch

from dateutil.relativedelta import relativedelta
from freezegun import freeze_time

from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from .common import HandoverCase

DUE_SOON_PARAM = "customer_handover.retention_due_soon_days"


@tagged("post_install", "-at_install")
class TestDataProtection(HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Partner = cls.env["res.partner"].with_user(cls.handover_user)
        cls.env["ir.config_parameter"].set_param(DUE_SOON_PARAM, 30)

    def _policy(self, period, unit, start):
        return self.env["customer.retention.policy"].create(
            {"name": f"{period} {unit} from {start}", "period": period, "period_unit": unit, "period_start": start}
        )

    def test_classification_defaults_from_partner_and_company(self):
        self.company_a.sudo().write(
            {
                "handover_default_relationship_stage": "active",
                "handover_default_sensitivity": "sensitive",
                "handover_default_retention_policy_id": self.policy_customer.id,
            }
        )
        person = self.Partner.create({"name": "周杰"})
        company = self.Partner.create({"name": "杭州印务有限公司", "is_company": True})
        self.assertEqual(person.customer_type, "individual")
        self.assertEqual(company.customer_type, "organisation")
        self.assertEqual(person.relationship_stage, "active")
        self.assertEqual(person.retention_policy_id, self.policy_customer)
        self.assertEqual(person.with_user(self.officer).data_sensitivity, "sensitive")
        company.customer_type = "individual"
        self.assertEqual(company.customer_type, "individual", "the type defaults from the partner but can be set")

    def test_new_contacts_are_inserted_with_their_classification(self):
        """An import creates contacts by the thousand: where the values a contact is created with decide its
        classification, it goes into the INSERT and no UPDATE follows; otherwise the computes fill it. Either way
        it holds what the computes give."""
        computed = ("customer_type", "relationship_end_date", "retention_end_date", "retention_status")
        plain = [{"name": f"Imported {number}"} for number in range(3)] + [{"name": "Imported Ltd", "is_company": True}]
        queries = []
        with contextmanager(self._patchExecute)(queries):
            created = self.Partner.create(plain)
            self.env.flush_all()
        updates = [query for query in queries if query.lstrip().startswith('UPDATE "res_partner"')]
        self.assertEqual([name for query in updates for name in computed if f'"{name}"' in query], [])
        self.assertEqual(created.mapped("customer_type"), ["individual"] * 3 + ["organisation"])

        policy = self._policy(3, "year", "creation")
        self.company_a.sudo().write({"handover_default_retention_policy_id": policy.id})
        kept = self.Partner.create([{"name": "Kept"}, {"name": "Former", "relationship_stage": "former"}])
        self.assertEqual(kept.mapped("retention_end_date"), [date.today() + relativedelta(years=3)] * 2)
        self.assertEqual(kept.mapped("relationship_end_date"), [False, date.today()])

        everyone = created | kept
        self.env.flush_all()
        everyone.invalidate_recordset()
        stored = {name: everyone.mapped(name) for name in computed}
        self.assertEqual(set(stored["retention_status"]), {"active"})
        for name in computed:
            self.env.add_to_compute(everyone._fields[name], everyone)
        everyone._recompute_recordset()
        self.assertEqual({name: everyone.mapped(name) for name in computed}, stored)

    def test_new_contacts_ask_who_reads_what_once_per_create(self):
        """An import creates contacts by the thousand: the fields the user may not read are asked once per call.

        Odoo computes each new contact's salesperson as superuser and asks its defaults one contact at a time.
        """
        partners = type(self.Partner)
        asked = []

        def hidden_fields(model):
            asked.append(model.env.su)
            return hidden_fields.original(model)

        hidden_fields.original = partners._hidden_fields
        with patch.object(partners, "_hidden_fields", hidden_fields):
            self.Partner.create([{"name": "Imported alone"}])
            once = len(asked)
            created = self.Partner.create([{"name": f"Imported {number}"} for number in range(20)])
        self.assertEqual(len(asked) - once, once, "asked as often for twenty contacts as for one")
        default = self.Partner.env.company.sudo().handover_default_sensitivity
        self.assertEqual(created.with_user(self.officer).mapped("data_sensitivity"), [default] * 20)

    def test_relationship_end_date_follows_the_stage(self):
        partner = self.Partner.create({"name": "Former", "relationship_stage": "active"})
        self.assertFalse(partner.relationship_end_date)
        with freeze_time("2026-03-10"):
            partner.relationship_stage = "former"
            self.assertEqual(partner.relationship_end_date, date(2026, 3, 10))
        partner.relationship_stage = "active"
        self.assertFalse(partner.relationship_end_date)

    def test_retention_end_date_for_each_start_and_unit(self):
        partner = self.Partner.create({"name": "Counted", "relationship_stage": "former"})
        created = partner.create_date.date()  # set by the database clock, which freezegun does not reach
        partner.write({"relationship_end_date": "2024-01-31"})
        partner._mark_reviewed("2025-06-30")
        self.env["customer.consent"].create(
            [
                {"partner_id": partner.id, "purpose_id": self.purpose_marketing.id, "state": "withdrawn",
                 "date_given": "2023-01-01", "date_withdrawn": "2025-08-31"},
                {"partner_id": partner.id, "purpose_id": self.purpose_service.id, "state": "withdrawn",
                 "date_given": "2023-01-01", "date_withdrawn": "2024-02-01"},
            ]
        )
        cases = [
            (3, "year", "relationship_end", date(2027, 1, 31)),
            (1, "month", "relationship_end", date(2024, 2, 29)),
            (45, "day", "relationship_end", date(2024, 3, 16)),
            (2, "year", "creation", created + relativedelta(years=2)),
            (1, "year", "last_review", date(2026, 6, 30)),
            (6, "month", "consent_withdrawal", date(2026, 2, 28)),
        ]
        for period, unit, start, expected in cases:
            with self.subTest(period=period, unit=unit, start=start):
                partner.retention_policy_id = self._policy(period, unit, start)
                self.assertEqual(partner.retention_end_date, expected)
        partner.retention_policy_id = False
        self.assertFalse(partner.retention_end_date)

    def test_withdrawal_clock_stops_while_a_consent_is_granted(self):
        partner = self.Partner.create(
            {"name": "Came back", "retention_policy_id": self._policy(6, "month", "consent_withdrawal").id}
        )
        Consent = self.env["customer.consent"].with_user(self.handover_user)
        Consent.create({"partner_id": partner.id, "purpose_id": self.purpose_marketing.id, "state": "withdrawn",
                        "date_given": "2025-01-01", "date_withdrawn": "2025-03-01"})
        self.assertEqual(partner.retention_end_date, date(2025, 9, 1))
        renewed = Consent.create(
            {"partner_id": partner.id, "purpose_id": self.purpose_marketing.id, "date_given": "2026-01-10"}
        )
        self.assertFalse(partner.retention_end_date, "a customer who consents again is kept")
        renewed.write({"state": "withdrawn", "date_withdrawn": "2026-02-01"})
        self.assertEqual(partner.retention_end_date, date(2026, 8, 1))

    def test_retention_end_date_follows_policy_changes(self):
        policy = self._policy(1, "year", "last_review")
        partner = self.Partner.create({"name": "Reviewed", "retention_policy_id": policy.id})
        self.assertFalse(partner.retention_end_date, "no review yet, so nothing to count from")
        partner._mark_reviewed("2025-05-01")
        self.assertEqual(partner.retention_end_date, date(2026, 5, 1))
        policy.period = 2
        self.assertEqual(partner.retention_end_date, date(2027, 5, 1))

    @freeze_time("2026-11-23")
    def test_retention_status(self):
        policy = self._policy(1, "year", "relationship_end")
        statuses = {}
        for name, ended in (("active", "2026-06-01"), ("due_soon", "2025-12-10"), ("expired", "2025-11-23")):
            statuses[name] = self.Partner.create(
                {"name": name, "relationship_stage": "former", "relationship_end_date": ended,
                 "retention_policy_id": policy.id}
            )
        for expected, partner in statuses.items():
            self.assertEqual(partner.retention_status, expected)
        held = statuses["expired"].with_user(self.officer)
        held.write({"legal_hold": True, "legal_hold_reason": "Litigation 2026-17"})
        self.assertEqual(held.retention_status, "expired", "a hold keeps the record and tells nobody else")
        held.legal_hold = False
        self.assertEqual(held.retention_status, "expired")

    def test_daily_job_moves_statuses_on(self):
        policy = self._policy(1, "year", "relationship_end")
        with freeze_time("2026-01-01"):
            partners = self.Partner.create(
                [
                    {"name": f"Ends {day}", "relationship_stage": "former", "retention_policy_id": policy.id,
                     "relationship_end_date": f"2026-03-{day:02d}"}
                    for day in (1, 10)
                ]
            )
            untouched = self.Partner.create({"name": "No policy"})
            self.assertEqual(partners.mapped("retention_status"), ["active", "active"])
        with freeze_time("2027-02-15"):
            self.assertGreaterEqual(self.env["res.partner"]._cron_update_retention_status(), 2)
            self.env.invalidate_all()
            self.assertEqual(partners.mapped("retention_status"), ["due_soon", "due_soon"])
        with freeze_time("2027-03-05"):
            self.assertGreaterEqual(self.env["res.partner"]._cron_update_retention_status(), 1)
            self.env.invalidate_all()
            self.assertEqual(partners.mapped("retention_status"), ["expired", "due_soon"])
            self.assertEqual(self.env["res.partner"]._cron_update_retention_status(), 0, "nothing is stale any more")
        self.assertEqual(untouched.retention_status, "active")

    def test_daily_job_queries_do_not_grow_with_the_batch(self):
        policy = self._policy(1, "year", "relationship_end")

        def stale(count):
            with freeze_time("2026-01-01"):
                return self.Partner.create(
                    [{"name": f"Stale {i}", "relationship_stage": "former", "retention_policy_id": policy.id,
                      "relationship_end_date": "2026-01-01"} for i in range(count)]
                )

        counts = []
        with freeze_time("2027-06-01"):
            self.env["res.partner"]._cron_update_retention_status()  # bring every other record up to date
        for size in (10, 60):
            partners = stale(size)
            self.env.flush_all()
            with freeze_time("2027-06-01"):
                with self.assertQueryCount(2, flush=False):
                    before = self.env.cr.sql_log_count
                    self.assertEqual(self.env["res.partner"]._cron_update_retention_status(batch_size=100), size)
                    counts.append(self.env.cr.sql_log_count - before)
                self.env.invalidate_all()
                self.assertEqual(set(partners.mapped("retention_status")), {"expired"})
        self.assertEqual(counts[0], counts[1], f"queries per batch grew with its size: {counts}")

    def test_consent_summary_and_search(self):
        both, marketing_only, withdrawn, none = self.Partner.create(
            [{"name": name} for name in ("Both", "Marketing only", "Withdrawn", "None")]
        )
        Consent = self.env["customer.consent"].with_user(self.handover_user)
        Consent.create(
            [
                {"partner_id": both.id, "purpose_id": self.purpose_marketing.id, "date_given": "2026-01-01"},
                {"partner_id": both.id, "purpose_id": self.purpose_service.id, "date_given": "2026-01-01"},
                {"partner_id": marketing_only.id, "purpose_id": self.purpose_marketing.id, "date_given": "2026-01-01"},
                {"partner_id": marketing_only.id, "purpose_id": self.purpose_service.id, "state": "refused"},
                {"partner_id": withdrawn.id, "purpose_id": self.purpose_marketing.id, "state": "withdrawn",
                 "date_given": "2026-01-01", "date_withdrawn": "2026-02-01"},
            ]
        )
        self.assertEqual(both.valid_consent_purpose_ids, self.purpose_marketing | self.purpose_service)
        self.assertEqual(marketing_only.valid_consent_purpose_ids, self.purpose_marketing)
        self.assertFalse(withdrawn.valid_consent_purpose_ids)
        self.assertIn(self.purpose_marketing.name, both.consent_summary)
        self.assertFalse(none.consent_summary)
        # read for many contacts at once (a checklist's snapshots), each summary is its own, in a constant number
        # of queries
        partners = (both | marketing_only | withdrawn | none).with_user(self.handover_user)
        alone = []
        for partner in partners:
            self.env.invalidate_all()
            alone.append(partner.consent_summary)
        self.assertEqual(alone, [f"{self.purpose_marketing.name}, {self.purpose_service.name}"
                                 if self.purpose_marketing.sequence <= self.purpose_service.sequence else
                                 f"{self.purpose_service.name}, {self.purpose_marketing.name}",
                                 self.purpose_marketing.name, "", ""])
        more = self.Partner.create([{"name": f"Many {number}"} for number in range(12)])
        Consent.create([{"partner_id": partner.id, "purpose_id": purpose.id, "date_given": "2026-01-01"}
                        for partner in more for purpose in (self.purpose_marketing, self.purpose_service)])
        counts = []
        for group in (partners, partners | more.with_user(self.handover_user)):
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            summaries = group.mapped(lambda partner: partner.consent_summary or "")
            counts.append(self.env.cr.sql_log_count - before)
            self.assertEqual(summaries[:4], alone)
            self.assertEqual(set(summaries[4:]), set(alone[:1]) if summaries[4:] else set())
        self.assertEqual(counts[0], counts[1], f"queries grew with the number of contacts: {counts}")
        mine = [("id", "in", (both | marketing_only | withdrawn | none).ids)]
        cases = [
            (("=", self.purpose_service.id), both),
            (("in", self.purpose_marketing.ids), both | marketing_only),
            (("ilike", self.purpose_marketing.name[:6]), both | marketing_only),
            (("=", False), withdrawn | none),
            (("!=", False), both | marketing_only),
            (("not in", self.purpose_service.ids), marketing_only | withdrawn | none),
        ]
        for (operator, value), expected in cases:
            with self.subTest(operator=operator, value=value):
                found = self.Partner.search([*mine, ("valid_consent_purpose_ids", operator, value)])
                self.assertEqual(found, expected)

    def test_valid_consents_refuse_an_operator_they_cannot_search_with_a_clear_error(self):
        given, none = self.Partner.create([{"name": "Given"}, {"name": "None"}])
        self.env["customer.consent"].with_user(self.handover_user).create(
            {"partner_id": given.id, "purpose_id": self.purpose_marketing.id, "date_given": "2026-01-01"})
        mine = [("id", "in", (given | none).ids)]
        self.assertEqual(self.Partner.search([*mine, ("valid_consent_purpose_ids", "not any",
                                                       [("id", "=", self.purpose_marketing.id)])]),
                         none, "not any: no granted consent for such a purpose, none at all included")
        for operator in ("child_of", "parent_of"):
            with self.subTest(operator=operator), self.assertRaisesRegex(UserError, operator):
                self.Partner.search([*mine, ("valid_consent_purpose_ids", operator, self.purpose_marketing.ids)])

    def test_withdraw_and_review_actions(self):
        partner = self.Partner.create({"name": "Acts"})
        consent = self.env["customer.consent"].with_user(self.handover_user).create(
            {"partner_id": partner.id, "purpose_id": self.purpose_marketing.id, "date_given": "2026-01-05"}
        )
        with freeze_time("2026-04-01"):
            consent.action_withdraw()
            partner.action_mark_reviewed()
        self.assertEqual((consent.state, consent.date_withdrawn), ("withdrawn", date(2026, 4, 1)))
        self.assertEqual(partner.last_review_date, date(2026, 4, 1))
        self.assertEqual(partner.last_reviewed_by_id, self.handover_user)
        self.assertFalse(partner.valid_consent_purpose_ids)

    def test_partner_form_keeps_classification_and_consents(self):
        domain = self.env["customer.business.domain"].create({"name": "Linen rental"})
        with Form(self.env["res.partner"].with_user(self.handover_user)) as form:
            form.name = "锦江酒店"
            form.company_type = "company"
            form.relationship_stage = "active"
            form.business_domain_ids.add(domain)
            form.retention_policy_id = self.policy_customer
            with form.consent_ids.new() as line:
                line.purpose_id = self.purpose_service
                line.date_given = date(2026, 2, 1)
        partner = form.save()
        self.assertEqual(partner.customer_type, "organisation")
        self.assertEqual(partner.business_domain_ids, domain)
        self.assertEqual(partner.consent_ids.purpose_id, self.purpose_service)
        self.assertEqual(partner.consent_ids.company_id, self.company_a)
        self.assertEqual(partner.valid_consent_purpose_ids, self.purpose_service)

    @freeze_time("2026-11-23")
    def test_search_filters_and_group_bys(self):
        policy = self._policy(1, "year", "relationship_end")
        expired, due = self.Partner.create(
            [
                {"name": "Expired", "relationship_stage": "former", "relationship_end_date": "2025-01-01",
                 "retention_policy_id": policy.id},
                {"name": "Due", "relationship_stage": "former", "relationship_end_date": "2025-12-01",
                 "retention_policy_id": policy.id},
            ]
        )
        arch = self.Partner.get_views([(False, "search")])["views"]["search"]["arch"]
        for name in ("filter_retention_expired", "filter_retention_due_soon", "filter_no_consent",
                     "group_retention_status", "group_relationship_stage"):
            self.assertIn(f'name="{name}"', arch)
        found = self.Partner.search([("retention_status", "=", "expired"), ("id", "in", (expired | due).ids)])
        self.assertEqual(found, expired)
        mine = [("id", "in", (expired | due).ids)]
        statuses = dict(self.Partner._read_group(mine, ["retention_status"], ["__count"]))
        self.assertEqual(statuses, {"expired": 1, "due_soon": 1})
        stages = dict(self.Partner._read_group(mine, ["relationship_stage"], ["__count"]))
        self.assertEqual(stages, {"former": 2})
