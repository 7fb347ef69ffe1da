"""An import above the threshold runs in the background: staged batch by batch, shown at once, undone on cancel."""

import base64
import gc
import math
from unittest.mock import patch

from odoo.addons.customer_handover.models import customer_handover_incoming_background as incoming_background
from odoo.addons.customer_handover.models.customer_handover_job import BATCH_PARAM, THRESHOLD_PARAM
from odoo.addons.customer_handover.tools import transfer_package as tp
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged
from odoo.tools import SQL, mute_logger

from .common import HandoverCase, RpcMixin
from .package_builder import build_package
from .test_background_steps import Crash
from .test_transfer_import import ImportFixture

# Customers the package adds to the three of the signed handover: 14 in all, over a threshold of 5.
EXTRA = 11
BATCH = 4


class Rollback(Exception):
    """Undo what a block did: the synchronous import, to compare the background one with it."""


def extra_customer(number):
    return {
        "line": 100 + number,
        "snapshot": {"ref": "", "contact": "", "classification": "", "consent": "", "retention": ""},
        "contact": {"ref": f"BG-{number:03d}", "name": f"Background import {number:03d}", "kind": "individual",
                    "function": "", "street": f"{number} Nanjing Road", "street2": "", "zip": "", "city": "Shanghai",
                    "state": "", "country": "CN", "email": f"bg{number:03d}@example.cn", "phone": "", "mobile": "",
                    "vat": "", "lang": "en_US"},
        "children": [{"ref": "", "name": f"Background import {number:03d} billing", "kind": "individual",
                      "function": "", "street": "", "street2": "", "zip": "", "city": "", "state": "",
                      "country": "", "email": "", "phone": "", "mobile": "", "vat": "", "lang": "",
                      "type": "invoice"}],
        "classification": {"customer_type": "individual", "stage": "active", "relationship_ended_on": "",
                           "domains": ["Imported domain"], "domain_codes": ["imported_domain"],
                           "sensitivity": "personal"},
        "consents": [{"purpose": "Customer service", "purpose_code": "customer_service", "status": "granted",
                      "given_on": "2025-03-01", "withdrawn_on": "", "channel": "paper", "lawful_basis": "contract",
                      "evidence": []}],
        "retention": {"policy": "", "policy_code": "", "period": 0, "period_unit": "year",
                      "period_start": "relationship_end", "end_date": "", "legal_hold": False,
                      "legal_hold_reason": ""},
    }


class BackgroundImportFixture(ImportFixture):
    @classmethod
    def _build_background_fixture(cls):
        cls._build_import_fixture()
        cls.env["customer.handover.trusted.signer"].with_user(cls.officer_b)._pin(
            cls.company_b, cls.company_a.name, cls.fingerprint)
        cls.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 5)
        cls.env["ir.config_parameter"].set_param(BATCH_PARAM, BATCH)
        # an existing contact of the receiving company the package's customer 5 matches (by email): merged
        cls.existing = cls.env["res.partner"].create({
            "name": "Existing customer", "email": "bg005@example.cn", "company_id": cls.company_b.id,
            "street": "Old street"})
        cls.big_package = build_package(cls.export, recipient=cls.recipient,
                                        extra=[extra_customer(number) for number in range(EXTRA)])

    def _emails(self):
        return [f"bg{number:03d}@example.cn" for number in range(EXTRA)]

    def _visible(self, user=None):
        """The package's contacts a user of the receiving company sees: the matched one only, until the end."""
        return self.env["res.partner"].with_user(user or self.manager_b).with_company(self.company_b).search(
            [("email", "in", self._emails())])

    def _previewed(self, user=None, package=None):
        """A package above the threshold previewed: queued by the request, then its job run as the cron runs it."""
        wizard = self._preview(user, package=package or self.big_package)
        self.assertEqual((wizard.state, wizard.background), ("previewing", True))
        self._run()
        self.assertEqual(wizard.state, "preview")
        return wizard

    def _start(self, package=None, user=None):
        wizard = self._previewed(user, package=package)
        wizard.action_import()
        return wizard.incoming_id, wizard.incoming_id.job_ids

    def _run(self):
        Job = self.env["customer.handover.job"]
        for calls in range(100):
            if not Job.search_count([("state", "in", ("queued", "running", "cancelling"))]):
                return calls
            Job._cron_run()
        raise AssertionError("the job did not end")

    def _result(self, incoming):
        """What an import did, comparable between two imports of the same package."""
        self.env.invalidate_all()
        partners = self.env["res.partner"].sudo().with_context(active_test=False).search(
            [("handover_incoming_id", "=", incoming.id)])
        children = partners.child_ids
        consents = self.env["customer.consent"].sudo().search([("partner_id", "in", (partners | children).ids)])
        return {
            "counts": incoming.read(["customer_count", "created_count", "matched_count", "refused_count",
                                     "child_count", "consent_count", "evidence_count", "item_count",
                                     "difference_count", "reconciled", "state"])[0] | {"id": 0},
            "lines": sorted((line.line_number, line.kind, line.outcome, line.difference, line.name,
                             line.partner_id.name) for line in incoming.line_ids),
            "partners": sorted((p.name, p.email, p.street, p.active, p.data_sensitivity, p.handover_sender,
                                tuple(sorted(p.child_ids.mapped("name")))) for p in partners),
            "consents": sorted((c.partner_id.name, c.purpose_id.id, c.state, bool(c.evidence)) for c in consents),
            "checklist": bool(incoming.checklist_attachment_id),
        }


@tagged("post_install", "-at_install", "customer_handover_background", "customer_handover_import",
        "is_query_count")
class TestBackgroundImport(BackgroundImportFixture, HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_background_fixture()

    def test_a_small_package_is_imported_at_once_as_before(self):
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 2000)
        incoming = self._import(package=self.big_package)
        self.assertEqual(incoming.state, "imported")
        self.assertFalse(incoming.job_ids)
        self.assertEqual(len(self._visible()), EXTRA)

    def test_batches_of_the_import_and_the_same_result_as_at_once(self):
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 2000)
        try:
            with self.env.cr.savepoint():
                expected = self._result(self._import(package=self.big_package))
                raise Rollback
        except Rollback:
            self.env.invalidate_all()
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 5)
        existing = self.existing.read(["name", "street", "handover_incoming_id"])
        incoming, job = self._start()
        customers = 3 + EXTRA
        self.assertEqual((incoming.state, job.kind, job.total), ("importing", "import", customers))
        # the form shows the running import; conflicting steps are refused
        self.assertEqual(incoming.active_job_id, job)
        with self.assertRaisesRegex(UserError, "still being imported"):
            incoming.with_user(self.manager_b).action_countersign()
        calls, queries = 0, []
        while job.state != "done":
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            self.env["customer.handover.job"]._cron_run()
            self.env.flush_all()
            queries.append(self.env.cr.sql_log_count - before)
            calls += 1
            if job.state != "done":
                self.assertFalse(self._visible() - self.existing, "nothing staged is visible before the end")
                self.assertEqual(self.existing.read(["name", "street", "handover_incoming_id"]), existing,
                                 "the matched contact is changed by the last step only")
                self.assertFalse(self.env["customer.consent"].with_user(self.manager_b).with_company(
                    self.company_b).search([("partner_id.email", "in", self._emails())]))
        self.assertEqual(calls, math.ceil(customers / BATCH))
        # a batch's queries are bounded whatever it holds (the test below: whatever its size); the last one ends
        # the step, merging into the matched contact and showing every contact staged
        self.assertLess(max(queries[:-1]), 100, f"queries per batch: {queries}")
        self.assertEqual(self._result(incoming), expected)
        self.assertEqual(len(self._visible()), EXTRA)
        self.assertEqual(self.existing.street, "Old street", "the officer kept the existing contact's data")
        self.assertEqual(self.existing.handover_incoming_id, incoming)

    def test_the_last_step_finds_the_lines_not_delivered_in_the_previews_rows(self):
        """The last step reconciles the checklist's lines no batch imported from the rows the preview read from the
        signed checklist, not from the workbook again (a million rows: 50 s of its one call)."""
        package = build_package(self.export, recipient=self.recipient, skip=(2,),
                                extra=[extra_customer(number) for number in range(EXTRA)])
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 2000)
        try:
            with self.env.cr.savepoint():
                expected = self._result(self._import(package=package))
                raise Rollback
        except Rollback:
            self.env.invalidate_all()
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 5)
        wizard = self._previewed(package=package)
        self.assertTrue(wizard._step_attachment("checklist_rows"))
        wizard.action_import()
        with patch.object(incoming_background, "checklist_rows", side_effect=AssertionError("the workbook read")):
            self._run()
        result = self._result(wizard.incoming_id)
        self.assertIn((2, False, "not_delivered", "not_delivered"),
                      [line[:4] for line in result["lines"]])
        self.assertEqual(result, expected)
        self.assertFalse(wizard._step_attachment("checklist_rows"), "the rows outlived the import")

    def test_the_batches_read_the_decrypted_package_as_a_file(self):
        """Each batch opens the decrypted package in the attachment store and reads only what it needs: neither its
        time nor its memory grows with the package (reading it whole in every batch made an import quadratic)."""
        wizard = self._previewed()
        wizard.action_import()
        attachment = self.env["ir.attachment"].sudo().search([
            ("res_model", "=", wizard._name), ("res_field", "=", "plain_package"), ("res_id", "=", wizard.id)])
        self.assertTrue(attachment.store_fname, "the decrypted package is a file of the attachment store")
        with wizard._plain_archive() as archive:
            self.assertEqual(archive.filename, attachment._full_path(attachment.store_fname),
                             "opened from its file, not read into memory")
            self.assertIn(tp.DATA, archive.namelist())
        self._run()
        self.assertEqual(wizard.incoming_id.state, "imported")
        self.assertFalse(attachment.exists(), "the decrypted package goes once the import has ended")

    def test_queries_per_batch_do_not_grow_with_the_batch(self):
        extra = [extra_customer(number) for number in range(EXTRA, EXTRA + 50)]
        package = build_package(self.export, recipient=self.recipient, extra=extra)
        _incoming, job = self._start(package=package)
        # the batches' environment, held: Odoo reuses it while it lives, and reads its companies once (else whether a
        # batch reads them again depends on when Python collects it)
        batch_env = job._as_user().env  # noqa: F841
        counts = []
        for size in (5, 10):
            self.env["ir.config_parameter"].set_param(BATCH_PARAM, size)
            for warm in (True, True, False):  # a changed setting empties the caches of rights and rules
                self.env.flush_all()
                self.env.invalidate_all()
                # what the earlier tests left for Python's collector goes now, not in the middle of one batch and
                # not the other (an environment collected there is built again, reading its companies once more)
                gc.collect()
                before = self.env.cr.sql_log_count
                self.env["customer.handover.job"]._cron_run()
                self.env.flush_all()
                if not warm:
                    counts.append(self.env.cr.sql_log_count - before)
        self.assertEqual(job.done_count, 45)
        self.assertEqual(counts[0], counts[1], f"queries grew with the batch: {counts}")

    def test_a_failing_customer_leaves_nothing_and_cancel_removes_what_was_staged(self):
        extra = [extra_customer(number) for number in range(EXTRA)]
        extra[7]["retention"]["legal_hold"] = True  # a legal hold without its reason: refused by a constraint
        package = build_package(self.export, recipient=self.recipient, extra=extra)
        consents = self.env["customer.consent"].sudo().search_count([])
        incoming, job = self._start(package=package)
        with mute_logger("odoo.addons.customer_handover.models.customer_handover_job", "odoo.sql_db"):
            self._run()
        self.assertEqual(job.state, "failed")
        self.assertIn("Background import 007", job.error, "the customer is named")
        self.assertEqual(incoming.active_job_error, job.error)
        self.assertEqual(job.done_count, 10, "the customers before it are staged")
        staged = self.env["res.partner"].sudo().with_context(active_test=False).search(
            [("handover_staging_incoming_id", "=", incoming.id)])
        self.assertTrue(staged)
        self.assertFalse(self._visible() - self.existing, "nothing staged is visible")
        incoming.with_user(self.manager_b).action_job_cancel()
        self._run()
        self.assertEqual(job.state, "cancelled")
        self.assertFalse(incoming.exists(), "the incoming handover of a cancelled import goes")
        self.assertFalse(staged.exists(), "every staged contact is removed")
        self.assertEqual(self.env["customer.consent"].sudo().search_count([]), consents)
        self.assertEqual((self.existing.street, self.existing.handover_incoming_id.id), ("Old street", False))
        # nothing kept: the package may be imported again
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 2000)
        extra[7]["retention"]["legal_hold_reason"] = "Court order 7"
        again = self._import(package=build_package(self.export, recipient=self.recipient, extra=extra))
        self.assertEqual(len(self._visible()), EXTRA)
        self.assertEqual(again.state, "imported")

    def test_continue_without_that_customer(self):
        extra = [extra_customer(number) for number in range(EXTRA)]
        extra[7]["retention"]["legal_hold"] = True
        package = build_package(self.export, recipient=self.recipient, extra=extra)
        incoming, job = self._start(package=package)
        with mute_logger("odoo.addons.customer_handover.models.customer_handover_job", "odoo.sql_db"):
            self._run()
        incoming.with_user(self.manager_b).action_job_continue()
        self._run()
        self.assertEqual((job.state, job.skipped_count, incoming.state), ("done", 1, "imported"))
        self.assertEqual(len(self._visible()), EXTRA - 1)
        self.assertNotIn("bg007@example.cn", self._visible().mapped("email"))

    def test_a_crash_in_the_middle_resumes_and_imports_each_customer_once(self):
        incoming, job = self._start()
        self.env["customer.handover.job"]._cron_run()
        self.assertEqual(job.done_count, BATCH)
        self.env.flush_all()
        with self.assertRaises(Crash), self.env.cr.savepoint():
            self.env["customer.handover.job"]._cron_run()
            self.env.flush_all()
            raise Crash
        self.env.invalidate_all()
        self.assertEqual(job.done_count, BATCH, "the killed batch's progress went with its work")
        self._run()
        self.assertEqual(job.state, "done", job.error)
        numbers = incoming.line_ids.filtered(lambda line: line.kind == "customer").mapped("line_number")
        self.assertEqual(len(numbers), 3 + EXTRA)
        self.assertEqual(len(set(numbers)), len(numbers), "each customer once")
        self.assertEqual(sorted(self._visible().mapped("email")), sorted(self._emails()))

    def test_the_autovacuum_keeps_the_preview_of_a_running_import(self):
        incoming, job = self._start()
        wizard = self.env["customer.handover.import"].browse(job.params["wizard"])
        for table in ("customer_handover_import", "customer_handover_import_line"):
            self.env.cr.execute(SQL("UPDATE %s SET write_date = now() - interval '2 hours'", SQL.identifier(table)))
        self.env.invalidate_all()
        self.env["customer.handover.import.line"]._transient_vacuum()
        self.env["customer.handover.import"]._transient_vacuum()
        self.assertTrue(wizard.exists())
        self.assertEqual(len(wizard.line_ids), job.total)
        self._run()
        self.assertEqual(incoming.state, "imported")

    def test_the_same_package_is_not_imported_twice_while_it_runs(self):
        self._start()
        with self.assertRaisesRegex(UserError, "already imported"):
            self._preview(package=self.big_package)


@tagged("post_install", "-at_install", "customer_handover_background", "customer_handover_hostile")
class TestBackgroundImportRpc(RpcMixin, BackgroundImportFixture, HandoverCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_background_fixture()

    def test_restricted_users_neither_start_nor_decide_an_import_over_rpc(self):
        wizard = self._wizard(package=self.big_package)
        self._refused("ch_user_b2", "customer.handover.import", "action_preview", [wizard.ids])
        wizard.action_preview()
        self._run()
        self._refused("ch_user_b2", "customer.handover.import", "action_import", [wizard.ids])
        self.assertFalse(wizard.incoming_id)
        # a forged customer in the preview is refused: the batches import what the package says only
        self._refused("ch_manager_b", "customer.handover.import.line", "write",
                      [wizard.line_ids[:1].ids, {"payload": {"customer": {"line": 1}}}])
        wizard.action_import()
        incoming, job = wizard.incoming_id, wizard.incoming_id.job_ids
        self._refused("ch_user_b2", "customer.handover.incoming", "action_job_cancel", [incoming.ids])
        self._refused("ch_employee", "customer.handover.incoming", "action_job_cancel", [incoming.ids])
        self._refused("ch_officer_b", "customer.handover.job", "write", [job.ids, {"state": "done"}])
        self._refused("ch_officer_b", "res.partner", "write",
                      [self.existing.ids, {"handover_staging_incoming_id": incoming.id}])
        self.assertEqual((job.state, self.existing.handover_staging_incoming_id.id), ("queued", False))
        self._run()
        self.assertEqual((job.state, incoming.state), ("done", "imported"))

    def test_staging_is_refused_to_the_orm_whoever_calls(self):
        incoming, _job = self._start()
        for env in (self.env(user=self.manager_b), self.env(user=self.officer_b), self.env):  # the superuser too
            with self.subTest(user=env.user.login):
                with self.assertRaises(AccessError):
                    self.existing.with_env(env).sudo().write({"handover_staging_incoming_id": incoming.id})
                with self.assertRaises(AccessError):
                    incoming.with_env(env).sudo().unlink()
                with self.assertRaises(AccessError):
                    self.env["res.partner"].with_env(env).sudo().create(
                        {"name": "Forged", "handover_staging_incoming_id": incoming.id})
        self.assertTrue(incoming.exists())
        self.assertFalse(self.existing.handover_staging_incoming_id)

    def test_the_running_import_is_refused_to_other_companies(self):
        _incoming, job = self._start()
        with self.assertRaises(AccessError):
            job.with_user(self.manager).action_cancel()
        self.assertEqual(job.state, "queued")

    def test_a_package_too_large_for_a_request_is_read_back(self):
        incoming, _job = self._start()
        self._run()
        data = base64.b64decode(incoming.checklist_attachment_id.sudo().datas)
        self.assertEqual(data, self.workbook)
