"""Hostile tests over JSON-RPC: what a user sends from outside the web client, logged in with a password.

A refused attempt on evidence rolls the request back and is still logged, by a transaction of its own.
"""

import json

from odoo.tests import HttpCase, new_test_user, tagged

from .common import ACCESS_ERROR, HandoverCase, RpcMixin
from .test_hostile_orm import PAST, HostileFixture

# Values sent by the attacks: none of them may reach the log.
FORGED = "FORGED-7731"


@tagged("post_install", "-at_install", "customer_handover_hostile")
class TestHostileRpc(RpcMixin, HostileFixture, HandoverCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_fixture()
        cls.portal = new_test_user(cls.env, login="ch_portal", groups="base.group_portal")
        cls.handover = cls._handover_at("in_progress")
        cls.export = cls.env["customer.handover.export"].with_user(cls.manager)._create_for(
            cls._handover_at("signed").with_user(cls.manager))

    # ------------------------------------------------------------------------------------------ helpers

    def _last_entry(self):
        return self.env["customer.handover.event"].search([], order="id desc", limit=1)

    def assertRefusalLogged(self, before, user, model, operation, fields):
        """The log gained an ``evidence_refused`` entry for this attempt, naming the fields, not the values."""
        entry = self._last_entry()
        self.assertGreater(entry.id, before.id, "the refused attempt was not logged")
        self.assertEqual((entry.event, entry.user_id, entry.res_model), ("evidence_refused", user, model))
        payload = json.loads(entry.payload)
        self.assertEqual((payload["operation"], payload["fields"]), (operation, sorted(fields)))
        self.assertNotIn(FORGED, entry.payload, "a value sent by the attacker went into the log")

    def _stored(self, records, names):
        self.env.invalidate_all()
        return records.with_env(self.env).read(names)

    # ------------------------------------------------------------------------------------------ class 1

    def test_step_fields_are_refused_and_logged(self):
        line = self._line(self.handover, self.ok)
        entry = self._events(company_id=self.company_a.id)[:1]
        attacks = [
            (self.handover_user, self.handover, {"state": "done", "name": FORGED}),
            (self.manager, self.handover, {"transfer_signer": FORGED, "transfer_signed_on": PAST}),
            (self.officer, line, {"state": "verified", "verified_by_id": self.officer.id, "verified_on": PAST,
                                  "snapshot_consent": FORGED}),
            (self.handover_user, line, {"scope_run": 99, "to_verify": False}),
            (self.admin, self.handover, {"date_done": "2020-01-02", "cancel_reason": FORGED}),
            (self.manager, self.export, {"fingerprint": FORGED, "countersigner": FORGED}),
            (self.officer, entry, {"payload": FORGED}),
            (self.admin, entry, {"sequence": 10**6, "hash": FORGED, "hash_version": 2}),
            (self.manager, self.held, {"retention_status": "active", "handover_id": self.handover.id}),
        ]
        for user, record, values in attacks:
            with self.subTest(user=user.login, model=record._name, fields=sorted(values)):
                before, stored = self._last_entry(), self._stored(record, list(values))
                self._refused(user.login, record._name, "write", [record.ids, values], fields=values)
                self.assertEqual(self._stored(record, list(values)), stored)
                self.assertRefusalLogged(before, user, record._name, "write", values)

    def test_creating_past_the_steps_is_refused_and_logged(self):
        draft = self._handover_at("draft")
        attacks = [
            (self.handover_user, "customer.handover", {"receiver_id": self.receiver.id, "state": "done",
                                                       "transfer_signer": FORGED}, ["state", "transfer_signer"]),
            (self.handover_user, "customer.handover.line", {"handover_id": draft.id, "name": FORGED,
                                                            "partner_id": self.held.id, "line_type": "customer"},
             ["line_type", "partner_id"]),
            (self.manager, "customer.handover.export", {"handover_id": draft.id, "number": 9, "signature": FORGED},
             []),
            (self.officer, "customer.handover.event", {"company_id": self.company_a.id, "payload": FORGED}, []),
        ]
        for user, model, values, fields in attacks:
            with self.subTest(user=user.login, model=model):
                # the log of the refusal is the only entry an attempt on the log may add
                domain = [("event", "!=", "evidence_refused")] if model == "customer.handover.event" else []
                before, count = self._last_entry(), self.env[model].search_count(domain)
                self._refused(user.login, model, "create", [values], fields=fields)
                self.assertEqual(self.env[model].search_count(domain), count)
                self.assertRefusalLogged(before, user, model, "create", fields)

    def test_defaults_in_the_request_context_forge_nothing(self):
        context = {"default_state": "done", "default_name": FORGED, "default_transfer_signer": FORGED,
                   "default_transfer_signed_on": PAST}
        answer = self._call(self.handover_user.login, "customer.handover", "create",
                            [{"receiver_id": self.receiver.id}], {"context": context})
        if "error" in answer:
            self.assertEqual(answer["error"]["data"]["name"], ACCESS_ERROR)
            return
        created = self.env["customer.handover"].browse(answer["result"])
        self.assertEqual((created.state, created.transfer_signer, created.transfer_signed_on), ("draft", False, False),
                         "a default in the request's context set the state and a signature")
        self.assertNotEqual(created.name, FORGED)

    def test_lines_are_not_deleted_and_the_attempt_is_logged(self):
        line = self._line(self.handover, self.ok)
        for user in (self.manager, self.officer, self.admin):
            with self.subTest(user=user.login):
                before = self._last_entry()
                self._refused(user.login, line._name, "unlink", [line.ids])
                self.assertTrue(line.exists())
                self.assertRefusalLogged(before, user, line._name, "unlink", [])

    def test_a_signed_handover_refuses_and_logs_changes_to_its_steps(self):
        handover = self._handover_at("signed_once")
        before = self._last_entry()
        self._refused(self.manager.login, handover._name, "write", [handover.ids, {"state": "done"}],
                      error="odoo.exceptions.UserError")
        self.assertEqual(handover.state, "verified")
        self.assertRefusalLogged(before, self.manager, handover._name, "write", ["state"])

    # ------------------------------------------------------------------------------------------ class 3

    def test_records_stay_in_their_company(self):
        line = self._line(self.handover, self.ok)
        consent = self.ok.consent_ids[:1]
        for user, record in ((self.handover_user, self.handover), (self.manager_ab, line),
                             (self.manager_ab, self.export), (self.handover_user, consent)):
            with self.subTest(user=user.login, model=record._name):
                before = self._last_entry()
                self._refused(user.login, record._name, "write", [record.ids, {"company_id": self.company_b.id}],
                              fields=["company_id"])
                self.assertEqual(record.with_env(self.env).company_id, self.company_a)
                self.assertRefusalLogged(before, user, record._name, "write", ["company_id"])

    def test_company_b_reads_nothing_of_company_a(self):
        for model, records in (("customer.handover", self.handover), ("customer.handover.line", self.handover.line_ids),
                               ("customer.handover.export", self.export)):
            with self.subTest(model=model):
                found = self._call(self.user_b.login, model, "search_read", [[("id", "in", records.ids)], ["id"]])
                self.assertEqual(found.get("result"), [])
                self._refused(self.user_b.login, model, "read", [records.ids, ["company_id"]])
        found = self._call(self.officer_b.login, "customer.handover.event", "search_read",
                           [[("company_id", "=", self.company_a.id)], ["payload"]])
        self.assertEqual(found.get("result"), [])

    def test_the_scope_adds_no_customer_of_company_b(self):
        handover = self._new_handover()
        answer = self._call(self.handover_user.login, "customer.handover.scope", "create",
                            [{"handover_id": handover.id, "partner_ids": [(6, 0, (self.customer_b | self.ok).ids)]}])
        self._call(self.handover_user.login, "customer.handover.scope", "action_confirm", [[answer["result"]]])
        self.assertEqual(handover.line_ids.partner_id, self.ok)

    # ------------------------------------------------------------------------------------------ class 4

    def test_officer_only_facts_are_not_told(self):
        held_line = self._line(self.handover, self.held)
        for user in (self.handover_user, self.manager):
            calls = [
                ("res.partner", "read", [self.held.ids, ["legal_hold"]], {}),
                ("res.partner", "search_count", [[("data_sensitivity", "=", "sensitive")]], {}),
                ("res.partner", "read_group", [[], ["legal_hold"], ["legal_hold"]], {}),
                ("res.partner", "onchange", [[], {}, [], {"name": {}, "data_sensitivity": {}}], {}),
                ("res.partner", "create", [{"name": FORGED, "data_sensitivity": "ordinary"}], {}),
                ("customer.handover.line", "read", [held_line.ids, ["ineligibility_reasons"]], {}),
                ("customer.handover.line", "web_search_read",
                 [[("ineligibility_reasons", "ilike", "legal_hold")]], {"specification": {"name": {}}}),
                ("customer.consent", "create", [{"partner_id": self.no_consent.id, "date_given": "2026-01-01",
                                                 "purpose_id": self.purpose_marketing.id, "evidence": "c2lnbmVk"}], {}),
            ]
            for model, method, args, kwargs in calls:
                with self.subTest(user=user.login, model=model, method=method):
                    self._refused(user.login, model, method, args, kwargs)
            with self.subTest(user=user.login, method="the line as the user reads it"):
                shown = self._call(user.login, held_line._name, "read", [held_line.ids, []])["result"][0]
                self.assertEqual(shown["public_reasons"], "held_back")
                text = json.dumps(shown, ensure_ascii=False).lower()
                for secret in ("legal_hold", "legal hold", "sensitive", "court order"):
                    self.assertNotIn(secret, text)
            with self.subTest(user=user.login, method="default_get"):
                defaults = self._call(user.login, "res.partner", "default_get",
                                      [["name", "data_sensitivity", "legal_hold"]])["result"]
                self.assertFalse({"data_sensitivity", "legal_hold"} & set(defaults))
            with self.subTest(user=user.login, method="a default in the context"):
                created = self._call(user.login, "res.partner", "create", [{"name": f"Defaults {user.login}"}],
                                     {"context": {"default_data_sensitivity": "ordinary"}})["result"]
                partner = self.env["res.partner"].browse(created)
                self.assertEqual(partner.data_sensitivity, self.company_a.handover_default_sensitivity)

    # ------------------------------------------------------------------------------------------ classes 5 and 6

    def test_only_officers_read_the_log_and_nobody_writes_it(self):
        for login in (self.handover_user.login, self.manager.login, self.employee.login, self.portal.login):
            with self.subTest(user=login):
                self._refused(login, "customer.handover.event", "search_read", [[], ["payload"]])
        entries = self._call(self.officer.login, "customer.handover.event", "search_read",
                             [[("company_id", "=", self.company_a.id)], ["event"]])["result"]
        self.assertIn("handover_started", {entry["event"] for entry in entries})
        entry = self._events(company_id=self.company_a.id)[:1]
        for login in (self.officer.login, self.admin.login):
            with self.subTest(user=login, method="unlink"):
                self._refused(login, entry._name, "unlink", [entry.ids])
                self.assertTrue(entry.exists())
        self.env["customer.handover.event"]._chain_pending()  # what follows each commit; this test never commits
        checker, problem = self.env["customer.handover.event"].with_user(self.officer)._check_chain(self.company_a)
        self.assertIsNone(problem, problem and problem.message)
        self.assertTrue(checker.count)

    def test_a_portal_user_reads_nothing(self):
        records = {"customer.handover": self.handover, "customer.handover.line": self.handover.line_ids,
                   "customer.handover.export": self.export,
                   "customer.handover.event": self._events(company_id=self.company_a.id)[:3]}
        for model, found in records.items():
            for method, args in (("search_read", [[], ["id"]]), ("read", [found.ids, ["id"]]),
                                 ("search_count", [[]])):
                with self.subTest(model=model, method=method):
                    self._refused(self.portal.login, model, method, args)

    def test_transfer_packages_are_neither_forged_nor_read_outside_their_step(self):
        signed = self.export.handover_id
        package = self.env["customer.handover.package"].with_user(self.manager)._create_for(
            signed.with_user(self.manager), passphrase=FORGED + "-pass")
        for login in (self.handover_user.login, self.employee.login, self.portal.login):
            answer = self._call(login, "customer.handover.package", "read", [package.ids, ["recipient", "number"]])
            self.assertIn("error", answer, f"{login} read a transfer package")
            answer = self._call(login, "customer.handover", "action_open_package_wizard", [signed.ids])
            self.assertIn("error", answer, f"{login} opened the package dialog")
        for login in (self.manager.login, self.officer.login):
            self._refused(login, "customer.handover.package", "write", [package.ids, {"recipient": FORGED}],
                          fields=["recipient"])
            self._refused(login, "customer.handover.package", "create", [{
                "handover_id": signed.id, "number": 7, "export_id": self.export.id, "created_on": PAST,
                "user_id": self.manager.id, "encryption": "passphrase"}])
            self._refused(login, "res.partner", "write",
                          [self.no_consent.ids, {"handover_package_ids": [[4, package.id]]}],
                          fields=["handover_package_ids"])
        package.invalidate_recordset()
        self.assertEqual(package.encryption, "passphrase")
        self.assertNotIn(FORGED, self.env["customer.handover.package"].search([]).mapped("recipient"))

    def test_an_unsupported_search_on_consents_is_a_clear_error(self):
        domain = [("valid_consent_purpose_ids", "child_of", self.purpose_marketing.ids)]
        message = self._refused(self.handover_user.login, "res.partner", "search_read", [domain, ["id"]],
                                error="odoo.exceptions.UserError")
        self.assertIn("child_of", message)
        self.assertNotIn("Traceback", message)
