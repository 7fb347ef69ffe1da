"""Background files: the signed export and the packages of a large handover, built whole by the cron or not at all."""

import base64
import io
import json
import os
import tempfile
from unittest.mock import patch

from openpyxl import load_workbook

from odoo.addons.customer_handover.models.customer_handover_job import BATCH_PARAM, THRESHOLD_PARAM
from odoo.addons.customer_handover.tools import transfer_package as tp
from odoo.addons.customer_handover.tools.checklist_verify import verify
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged
from odoo.tools import SQL

from .common import HandoverCase, RpcMixin
from .test_handover import SIGNATURE


class Kill(BaseException):
    """The process dies in the middle of the file: no ``except Exception`` sees it, nothing of its call is kept."""


class FileFixture(HandoverCase, HttpCase):
    """In the test mode of HttpCase, the transaction a file step opens to send its progress is the test's own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 3)
        cls.env["ir.config_parameter"].set_param(BATCH_PARAM, 2)
        cls.company_a.partner_id.email = cls.company_a.partner_id.email or "a@example.com"
        cls.company_a.with_user(cls.officer).action_handover_create_signing_key()
        cls.receiver = cls.env["res.partner"].create({"name": "Receiver Co.", "is_company": True, "phone": "+86 21 1"})
        cls.domain = cls.env["customer.business.domain"].create({"name": "Background file domain"})
        cls.customers = cls.env["res.partner"].create(
            [{"name": f"File customer {i:02d}", "business_domain_ids": [(6, 0, cls.domain.ids)]} for i in range(6)])
        cls.env["customer.consent"].create(
            [{"partner_id": customer.id, "purpose_id": cls.purpose_service.id, "date_given": "2026-01-01"}
             for customer in cls.customers])
        cls.handover = cls._signed_handover()

    @classmethod
    def _signed_handover(cls):
        handover = cls.env["customer.handover"].with_user(cls.handover_user).create(
            {"receiver_id": cls.receiver.id, "purpose_ids": [(6, 0, cls.purpose_service.ids)]})
        cls.env["customer.handover.scope"].with_user(cls.handover_user).create(
            {"handover_id": handover.id, "partner_ids": [(6, 0, cls.customers[:3].ids)]}).action_confirm()
        cls.env["customer.handover.line"].with_user(cls.handover_user).create(
            {"handover_id": handover.id, "name": "Paper files", "remarks": "box 1"})
        handover.write({"nda_reference": "NDA-7", "nda_date": "2026-11-01", "nda_document": SIGNATURE})
        handover.with_user(cls.manager).action_confirm()
        handover.with_user(cls.manager).action_start()
        handover.line_ids.with_user(cls.handover_user).action_verify()
        handover.with_user(cls.handover_user).action_mark_verified()
        handover.with_user(cls.manager)._sign("transfer", "Wang", SIGNATURE, channel="in_person")
        handover.with_user(cls.manager)._sign("receiver", "Li", SIGNATURE, channel="in_person")
        return handover

    def _run(self):
        """Call the cron until no job is left to run; returns how many calls did work."""
        Job = self.env["customer.handover.job"]
        for calls in range(20):
            if not Job.search_count([("state", "in", ("queued", "running", "cancelling"))]):
                return calls
            Job._cron_run()
        raise AssertionError("the job did not end")

    def _exports(self, handover=None):
        return self.env["customer.handover.export"].search([("handover_id", "=", (handover or self.handover).id)])

    def _bytes(self, attachment):
        return base64.b64decode(attachment.sudo().datas)

    def _checklist_rows(self, data):
        """The checklist sheet's rows as read back from the workbook."""
        sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[1]
        return [list(row) for row in sheet.iter_rows(values_only=True)]

    def _bus(self, notification_type):
        stored = self.env["bus.bus"].sudo().search([], order="id").mapped("message")
        waiting = [value["message"] for value in self.env.cr.precommit.data.get("bus.bus.values", [])]
        messages = [json.loads(message) for message in stored + waiting]
        return [message["payload"] for message in messages if message["type"] == notification_type]

    def _kill_after_rows(self, rows):
        """Patch the export so that its process dies once ``rows`` rows of its file are written."""
        model = type(self.env["customer.handover.export"])
        original = model._checklist_export_rows

        def rows_then_kill(export, handover):
            for index, row in enumerate(original(export, handover), start=1):
                if index > rows:
                    raise Kill
                yield row

        return patch.object(model, "_checklist_export_rows", rows_then_kill)


@tagged("post_install", "-at_install", "customer_handover_background")
class TestBackgroundExport(FileFixture):
    def test_a_small_checklist_is_exported_at_once_as_before(self):
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 100)
        action = self.handover.with_user(self.manager).action_export_checklist()
        self.assertEqual(action["res_model"], "customer.handover.export")
        self.assertFalse(self.handover.job_ids, "four lines do not wait for the background")
        self.assertEqual(self._exports().ids, [action["res_id"]])

    def test_a_large_checklist_is_exported_in_the_background_and_verifies_as_the_synchronous_one(self):
        action = self.handover.with_user(self.manager).action_export_checklist()
        self.assertEqual(action["tag"], "display_notification")
        job = self.handover.job_ids
        self.assertEqual((job.kind, job.state, job.total, job.user_id), ("export", "queued", 4, self.manager))
        self.assertFalse(self._exports(), "the request only queues the export")
        self.assertEqual(self._run(), 1, "the whole file in one call")
        self.assertEqual((job.state, job.done_count), ("done", 4), job.error)
        background = self._exports()
        self.assertEqual((len(background), background.number, background.user_id, background.line_count),
                         (1, 1, self.manager, 4))
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 100)
        synchronous = self.env["customer.handover.export"].browse(
            self.handover.with_user(self.manager).action_export_checklist()["res_id"])
        for export in (background, synchronous):
            data = self._bytes(export.attachment_id)
            result = verify(data, trusted={export.fingerprint},
                            detached=self._bytes(export.signature_attachment_id))
            self.assertEqual(result.status, "valid", result.to_dict())
            self.assertEqual((result.manifest["export"], result.manifest["checklist.rows"]), (str(export.number), "5"),
                             "the export's number; the header and 4 lines")
        self.assertEqual(self._checklist_rows(self._bytes(background.attachment_id)),
                         self._checklist_rows(self._bytes(synchronous.attachment_id)),
                         "the same checklist rows, digests included")
        self.assertEqual(background.state, "superseded")
        entries = self.env["customer.handover.event"].search(
            [("event", "=", "export_created"), ("res_id", "=", background.id)])
        self.assertEqual((len(entries), entries.user_id), (1, self.manager), "logged once, as who asked for it")
        done = [payload for payload in self._bus("simple_notification") if payload["title"] == "Signed export"]
        self.assertIn("is done: 4 records", done[-1]["message"])

    def test_lines_are_read_in_batches_in_the_checklists_order(self):
        lines = self.handover.line_ids
        self.env.cr.execute(SQL("UPDATE customer_handover_line SET sequence = CASE WHEN id = %s THEN NULL "
                                "WHEN id = %s THEN 1 ELSE 5 END WHERE handover_id = %s",
                                lines[0].id, lines[-1].id, self.handover.id))
        lines.invalidate_recordset()
        domain = [("handover_id", "=", self.handover.id)]
        expected = self.env["customer.handover.line"].search(domain, order="sequence, id").ids
        self.assertEqual(expected[0], lines[-1].id)
        self.assertEqual(expected[-1], lines[0].id, "a line without a sequence comes last")
        for size in (1, 2, 3, 4, 5):
            batches = list(self.env["customer.handover.line"]._id_batches(domain, size))
            self.assertEqual([line_id for batch in batches for line_id in batch], expected, f"batches of {size}")
            self.assertTrue(all(len(batch) <= size for batch in batches))

    def test_a_crash_in_the_middle_of_the_file_keeps_nothing_and_a_rerun_makes_one_export(self):
        self.handover.with_user(self.manager).action_export_checklist()
        job = self.handover.job_ids
        attachments = self.env["ir.attachment"].sudo().search_count([("res_model", "=", "customer.handover.export")])
        self.env.flush_all()
        with self._kill_after_rows(3), self.assertRaises(Kill), self.env.cr.savepoint():
            self.env["customer.handover.job"]._cron_run()
        self.env.invalidate_all()
        self.assertFalse(self._exports(), "no export of a half-written file")
        self.assertEqual(
            self.env["ir.attachment"].sudo().search_count([("res_model", "=", "customer.handover.export")]),
            attachments, "no file either")
        self.assertEqual((job.state, job.done_count), ("queued", 0), "the step waits to start again")
        self.assertEqual(self._run(), 1)
        export = self._exports()
        self.assertEqual((len(export), export.number, job.state), (1, 1, "done"), "exactly one export")
        self.assertEqual(verify(self._bytes(export.attachment_id), trusted={export.fingerprint}).status, "valid")

    def test_a_failing_export_stops_the_step_with_its_reason_and_keeps_nothing(self):
        self.handover.with_user(self.manager).action_export_checklist()
        job = self.handover.job_ids
        # The signing key is gone by the time the cron runs: the step stops, saying why.
        self.env.cr.execute(SQL("UPDATE res_company SET handover_certificate_id = NULL WHERE id = %s",
                                self.company_a.id))
        self.company_a.invalidate_recordset()
        self._run()
        self.assertEqual((job.state, job.failed_res_id), ("failed", 0))
        self.assertTrue(job.error, "the reason is kept for the user")
        self.assertFalse(self._exports())
        job.with_user(self.manager).action_cancel()
        self._run()
        self.assertEqual(job.state, "cancelled")
        self.assertFalse(self._exports())

    def test_one_export_at_a_time(self):
        self.handover.with_user(self.manager).action_export_checklist()
        busy = "is busy: Signed export runs in the background"
        with self.assertRaisesRegex(UserError, busy):
            self.handover.with_user(self.manager).action_export_checklist()
        with self.assertRaisesRegex(UserError, busy):
            self.env["customer.handover.export"].with_user(self.manager)._create_for(
                self.handover.with_user(self.manager))
        with self.assertRaisesRegex(UserError, busy):
            self.handover.with_user(self.manager).action_cancel()
        self._run()
        self.assertEqual(len(self._exports()), 1)
        self.handover.with_user(self.manager).action_export_checklist()  # once done, the next one may start
        self._run()
        self.assertEqual(self._exports().mapped("number"), [2, 1])

    def test_progress_figures_as_the_rows_are_written(self):
        self.handover.with_user(self.manager).action_export_checklist()
        job = self.handover.job_ids
        self.assertEqual(self.handover.active_job_text, "Signed export: 0 of 4 (0%)")
        cron = self.env.ref("customer_handover.ir_cron_handover_jobs")
        cron, progress = cron._add_progress()
        seen = []
        original = type(job)._file_progress

        def notify_and_record(self_job, rows):
            original(self_job, rows)
            seen.append((progress.done, progress.remaining))

        with patch.object(type(job), "_file_progress", notify_and_record):
            self.env["customer.handover.job"].with_context(cron.env.context)._cron_run()
        self.assertEqual(seen, [(2, 2), (4, 0)], "the cron hears each batch of rows (2 here) as it is written")
        sent = [payload for payload in self._bus("customer_handover/job") if payload["job_id"] == job.id]
        self.assertEqual([(payload["done"], payload["total"], payload["state"]) for payload in sent],
                         [(2, 4, "running"), (4, 4, "running"), (4, 4, "done")])
        self.assertEqual(sent[0]["text"], "Signed export: 2 of 4 (50%)")
        self.assertEqual(sent[0]["percent"], 50.0)


@tagged("post_install", "-at_install", "customer_handover_background")
class TestBackgroundPackage(FileFixture):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.identity, cls.recipient = tp.new_identity()

    def _make(self, user=None, **values):
        wizard = self.env["customer.handover.pack"].with_user(user or self.manager).create(
            {"handover_id": self.handover.id, "encryption": "recipient", "recipient": self.recipient, **values})
        return wizard.action_make()

    def _packages(self, kind):
        return self.env["customer.handover.package"].search([("handover_id", "=", self.handover.id),
                                                             ("kind", "=", kind)])

    def _kill_after_customers(self, count):
        """Patch the packages so that the process dies once ``count`` customers are written, over all files."""
        model = type(self.env["customer.handover"])
        original = model._package_customers
        written = []

        def customers_then_kill(handover, writer):
            for customer in original(handover, writer):
                if len(written) >= count:
                    raise Kill
                written.append(customer)
                yield customer

        return patch.object(model, "_package_customers", customers_then_kill)

    def test_a_large_package_is_made_in_the_background_with_its_backup_and_export(self):
        action = self._make()
        self.assertEqual(action["tag"], "display_notification")
        job = self.handover.job_ids
        self.assertEqual((job.kind, job.state, job.total, job.params), ("package", "queued", 4,
                                                                          {"recipient": self.recipient}))
        self.assertEqual(self.handover.receiver_recipient, self.recipient, "the receiver's key, recorded by its step")
        self.assertFalse(self._packages("transfer") or self._packages("backup") or self._exports())
        self.assertEqual(self._run(), 1)
        self.assertEqual((job.state, job.done_count), ("done", 4), job.error)
        package, backup, export = self._packages("transfer"), self._packages("backup"), self._exports()
        self.assertEqual((len(package), len(backup), len(export)), (1, 1, 1))
        self.assertEqual((package.user_id, package.export_id, package.customer_count, package.item_count),
                         (self.manager, export, 3, 1))
        with tempfile.TemporaryDirectory() as folder:
            path, checklist = os.path.join(folder, "package.age"), os.path.join(folder, "checklist.xlsx")
            with open(path, "wb") as handle:
                handle.write(self._bytes(package.attachment_id))
            with open(checklist, "wb") as handle:
                handle.write(self._bytes(export.attachment_id))
            result = tp.open_package(path, out=os.path.join(folder, "out"), identity=self.identity,
                                     fingerprint=export.fingerprint, checklist=checklist)
            self.assertEqual(result.status, "valid", result.to_dict())
            with open(os.path.join(folder, "out", "data.json"), encoding="utf-8") as handle:
                data = json.load(handle)
        self.assertEqual(sorted(customer["contact"]["name"] for customer in data["customers"]),
                         self.customers[:3].mapped("name"))
        self.assertEqual([item["line"] for item in data["items"]], [4], "the item's number on the checklist")
        self.assertEqual(verify(self._bytes(export.attachment_id), trusted={export.fingerprint}).status, "valid")

    def test_a_passphrase_package_above_the_threshold_is_refused(self):
        with self.assertRaisesRegex(UserError, "Encrypt it to the receiver's public key"):
            self._make(encryption="passphrase")
        self.assertFalse(self.handover.job_ids)

    def test_a_crash_in_the_middle_of_the_package_keeps_nothing_and_a_rerun_makes_one(self):
        self._make()
        job = self.handover.job_ids
        self.env.flush_all()
        # The backup's three customers are written, then the package's first: the process dies.
        with self._kill_after_customers(4), self.assertRaises(Kill), self.env.cr.savepoint():
            self.env["customer.handover.job"]._cron_run()
        self.env.invalidate_all()
        self.assertFalse(self._packages("transfer") or self._packages("backup") or self._exports(),
                         "neither the package, nor its backup, nor its export is half-kept")
        self.assertEqual(job.state, "queued")
        self.assertEqual(self._run(), 1)
        self.assertEqual((len(self._packages("transfer")), len(self._packages("backup")), len(self._exports())),
                         (1, 1, 1), "exactly one of each")

    def test_one_package_at_a_time(self):
        self._make()
        busy = "is busy: Transfer package runs in the background"
        with self.assertRaisesRegex(UserError, busy):
            self._make()
        with self.assertRaisesRegex(UserError, busy):
            self.handover.with_user(self.manager).action_export_checklist()
        with self.assertRaisesRegex(UserError, busy):
            self.env["customer.handover.package"].with_user(self.manager)._create_for(
                self.handover.with_user(self.manager), recipient=self.recipient)
        self._run()
        self._make()
        self._run()
        self.assertEqual(self._packages("transfer").mapped("number"), [2, 1])
        self.assertEqual(len(self._packages("backup")), 1, "the backup is kept once")

    def test_package_progress_as_the_customers_are_written(self):
        self._make()
        job = self.handover.job_ids
        self._run()
        sent = [(payload["done"], payload["state"]) for payload in self._bus("customer_handover/job")
                if payload["job_id"] == job.id]
        self.assertEqual(sent, [(2, "running"), (4, "done")],
                         "every second customer (the batch size here), by its line's number; then the end")


@tagged("post_install", "-at_install", "customer_handover_background")
class TestBackgroundFileAccess(RpcMixin, FileFixture):
    def test_restricted_users_start_no_export(self):
        for user in (self.employee, self.handover_user, self.user_b):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.handover.with_user(user).action_export_checklist()
        for user in (self.handover_user, self.user_b):
            answer = self._call(user.login, "customer.handover", "action_export_checklist", [self.handover.ids])
            self.assertEqual(answer["error"]["data"]["name"], "odoo.exceptions.AccessError", answer)
        answer = self._call(self.manager.login, "customer.handover.export", "_start_for", [self.handover.id])
        self.assertIn("error", answer, "a private method")
        self.assertFalse(self.handover.job_ids)
        answer = self._call(self.manager.login, "customer.handover", "action_export_checklist", [self.handover.ids])
        self.assertEqual(answer["result"]["tag"], "display_notification", answer)
        self.assertEqual(self.handover.job_ids.kind, "export")

    def test_restricted_users_start_no_package(self):
        _identity, recipient = tp.new_identity()
        values = {"handover_id": self.handover.id, "encryption": "recipient", "recipient": recipient}
        for user in (self.employee, self.handover_user, self.user_b):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.env["customer.handover.pack"].with_user(user).create(values).action_make()
        for user in (self.handover_user, self.user_b):
            created = self._call(user.login, "customer.handover.pack", "create", [values])
            if "result" in created:
                answer = self._call(user.login, "customer.handover.pack", "action_make", [[created["result"]]])
            else:
                answer = created
            self.assertEqual(answer["error"]["data"]["name"], "odoo.exceptions.AccessError", answer)
        answer = self._call(self.manager.login, "customer.handover.package", "_start_for",
                            [self.handover.id, recipient])
        self.assertIn("error", answer, "a private method")
        self.assertFalse(self.handover.job_ids)
        created = self._call(self.manager.login, "customer.handover.pack", "create", [values])
        answer = self._call(self.manager.login, "customer.handover.pack", "action_make", [[created["result"]]])
        self.assertEqual(answer["result"]["tag"], "display_notification", answer)
        self.assertEqual(self.handover.job_ids.kind, "package")
