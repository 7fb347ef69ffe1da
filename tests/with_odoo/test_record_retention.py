import hashlib
import json
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta
from lxml import etree

from odoo import fields
from odoo.addons.customer_handover.tools import transfer_package as tp
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged
from odoo.tools import SQL
from odoo.tools.safe_eval import safe_eval

from . import test_transfer_package
from .common import HandoverCase, RpcMixin

DATES = ("packages_destroy_date", "records_restrict_date", "records_destroy_date")


class Crash(Exception):
    """The process stopping half-way through a batch, before its commit."""


class RetentionFixture:
    """Completed handovers of company A, each with a signed export, a transfer package and a backup."""

    # The signed handover of the package tests (its class is not imported here: it would run twice).
    _signed_handover = test_transfer_package.TestTransferPackage.__dict__["_signed_handover"]

    @classmethod
    def _build_retention_fixture(cls):
        cls.company_a.partner_id.email = cls.company_a.partner_id.email or "a@example.com"
        cls.company_a.with_user(cls.officer).action_handover_create_signing_key()
        cls.receiver = cls.env["res.partner"].create({"name": "Receiver Co.", "is_company": True,
                                                      "email": "legal@receiver.example.cn"})
        cls.domain = cls.env["customer.business.domain"].create({"name": "Retention test domain"})
        cls.wang = cls.env["res.partner"].create({
            "name": "王芳", "email": "wang.fang@example.cn", "business_domain_ids": [(6, 0, cls.domain.ids)]})
        cls.env["customer.consent"].create({"partner_id": cls.wang.id, "purpose_id": cls.purpose_service.id,
                                            "date_given": "2026-01-02"})
        cls.Handover = cls.env["customer.handover"]
        cls.Event = cls.env["customer.handover.event"]

    def _completed(self, days_ago):
        """A handover signed, exported, packaged (transfer and backup) and completed ``days_ago`` days ago."""
        handover = self._signed_handover()
        manager = handover.with_user(self.manager)
        self.env["customer.handover.export"].with_user(self.manager)._create_for(manager)
        _identity, recipient = tp.new_identity()
        self.env["customer.handover.package"].with_user(self.manager)._create_for(manager, recipient=recipient)
        manager._ensure_backup()
        manager.action_done()
        self.env.flush_all()
        # Time passing: the completion date is a step's fact, moved back here as the calendar would.
        self.env.cr.execute(SQL("UPDATE customer_handover SET date_done = %s WHERE id = %s",
                                date.today() - timedelta(days=days_ago), handover.id))
        handover.invalidate_recordset(["date_done"])
        for name in DATES:
            self.env.add_to_compute(handover._fields[name], handover)
        handover.flush_recordset()
        return self.Handover.browse(handover.id)

    def _files(self, handover):
        """{attachment: its content} of the handover's packages and signed exports."""
        packages = self.env["customer.handover.package"].sudo().search([("handover_id", "=", handover.id)])
        exports = self.env["customer.handover.export"].sudo().search([("handover_id", "=", handover.id)])
        package_files = packages.attachment_id
        export_files = exports.attachment_id | exports.signature_attachment_id
        self.assertEqual(len(package_files), 2, "a transfer package and a backup")
        return ({file: file.raw for file in package_files.sudo()}, {file: file.raw for file in export_files.sudo()})

    def _events(self, event):
        return self.Event.sudo().search([("event", "=", event)])

    def _run(self, batch_size=100):
        return self.Handover._cron_destroy_expired_records(batch_size=batch_size)


@tagged("post_install", "-at_install")
class TestRecordRetention(RetentionFixture, HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_retention_fixture()

    def assertDestroyed(self, files, reason):
        for file, content in files.items():
            file.invalidate_recordset()
            self.assertEqual((file.raw or b"", file.file_size), (b"", 0), file.name)
            self.assertEqual(file.handover_destroyed_sha256, hashlib.sha256(content).hexdigest(), file.name)
            self.assertEqual(file.handover_destroyed_reason, reason)
            self.assertTrue(file.handover_destroyed_on and file.handover_evidence)

    def assertKept(self, files):
        for file, content in files.items():
            file.invalidate_recordset()
            self.assertEqual(file.raw, content, file.name)
            self.assertFalse(file.handover_destroyed_on or file.handover_destroyed_sha256)

    def test_a_handover_past_its_retention_loses_packages_then_record_keeping_their_digests(self):
        handover = self._completed(days_ago=3 * 366)
        packages, exports = self._files(handover)
        line = handover.line_ids.filtered(lambda line: line.partner_id == self.wang)
        self.assertIn("wang.fang@example.cn", line.sudo().snapshot_contact)
        self.assertEqual(self._run(), 3, "packages destroyed, record restricted, record destroyed")
        self.assertDestroyed(packages, "package_retention")
        self.assertDestroyed(exports, "record_retention")
        line.invalidate_recordset()
        self.assertEqual((line.name, line.snapshot_contact, line.snapshot_ref), ("—", False, False))
        self.assertEqual(line.state, "verified", "what was done stays; who it was done for goes")
        item = handover.line_ids.filtered(lambda line: line.line_type == "item")
        self.assertEqual((item.name, item.remarks), ("Paper files, two boxes", False))
        self.assertTrue(handover.packages_destroyed_on and handover.records_destroyed_on)
        logged = self._events("evidence_destroyed")
        digests = {}
        for entry in logged:
            self.assertNotIn("wang", entry.payload.lower())
            digests.update(json.loads(entry.payload)["digests"])
        self.assertEqual(digests, {str(file.id): hashlib.sha256(content).hexdigest()
                                   for file, content in {**packages, **exports}.items()})
        self.assertEqual(len(self._events("handover_records_destroyed")), 1)
        package = self.env["customer.handover.package"].with_user(self.manager).search(
            [("handover_id", "=", handover.id)], limit=1)
        with self.assertRaisesRegex(UserError, "destroyed at the end of its retention"):
            package.action_download()
        export = self.env["customer.handover.export"].with_user(self.officer).search(
            [("handover_id", "=", handover.id)])
        with self.assertRaisesRegex(UserError, "destroyed at the end of their retention"):
            export.action_download()
        with self.assertRaisesRegex(UserError, "destroyed at the end of their retention"):
            self.env["customer.handover.export"].with_user(self.manager)._create_for(handover.with_user(self.manager))
        self.assertEqual(self._run(), 0, "nothing is destroyed twice")
        self.assertEqual(len(self._events("handover_records_destroyed")), 1)

    def test_before_its_retention_nothing_is_touched(self):
        handover = self._completed(days_ago=0)
        packages, exports = self._files(handover)
        self.assertEqual(handover.packages_destroy_date, date.today() + timedelta(days=30))
        self.assertEqual(handover.records_destroy_date, date.today() + relativedelta(years=3))
        self.assertEqual(self._run(), 0)
        self.assertKept({**packages, **exports})
        self.assertFalse(handover.packages_destroyed_on or handover.records_restricted_on)

    def test_after_the_restriction_delay_only_officers_read_the_record(self):
        handover = self._completed(days_ago=100)
        packages, exports = self._files(handover)
        self.assertEqual(self._run(), 2, "packages destroyed and record restricted, the record kept")
        self.assertDestroyed(packages, "package_retention")
        self.assertKept(exports)
        with self.assertRaisesRegex(UserError, "destroyed at the end of their retention"):
            self.env["customer.handover.package"].with_user(self.manager)._create_for(
                handover.with_user(self.manager), recipient=tp.new_identity()[1])
        self.env.invalidate_all()
        for model in ("customer.handover.line", "customer.handover.export"):
            domain = [("handover_id", "=", handover.id)]
            self.assertTrue(self.env[model].with_user(self.officer).search(domain))
            for user in (self.manager, self.handover_user):
                self.assertFalse(self.env[model].with_user(user).search(domain), f"{model} as {user.login}")
                with self.assertRaises(AccessError):
                    self.env[model].with_user(user).browse(self.env[model].sudo().search(domain).ids).read(["id"])

    def test_the_destruction_step_is_refused_to_non_officers_and_to_raw_writes(self):
        handover = self._completed(days_ago=0)
        packages, _exports = self._files(handover)
        file = next(iter(packages))
        for user in (self.manager, self.handover_user):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                file.with_user(user)._destroy_handover_evidence("package_retention", self.company_a)
        for values in ({"handover_destroyed_sha256": "0" * 64}, {"handover_destroyed_on": fields.Datetime.now()},
                       {"raw": b""}):
            with self.subTest(values=values), self.assertRaises(AccessError):
                file.sudo().write(values)
        with self.assertRaises(AccessError):
            self.env["ir.attachment"].sudo().create({"name": "forged", "handover_destroyed_reason": "record_retention"})
        with self.assertRaises(UserError):  # refused and logged, as any change to a signed handover
            handover.sudo().write({"records_destroyed_on": fields.Datetime.now()})
        self.assertKept(packages)
        destroyed = file.with_user(self.officer)._destroy_handover_evidence("package_retention", self.company_a)
        self.assertEqual(destroyed, file)
        self.assertDestroyed({file: packages[file]}, "package_retention")
        with self.assertRaises(AccessError):
            file.sudo().write({"raw": b"restored"})

    def test_a_run_stopped_half_way_resumes_without_doing_anything_twice(self):
        first, second = self._completed(days_ago=40), self._completed(days_ago=40)
        files = {**self._files(first)[0], **self._files(second)[0]}
        with self.assertRaises(Crash), self.env.cr.savepoint():
            self._run()
            raise Crash
        self.env.invalidate_all()
        self.assertKept(files)
        self.assertFalse(any((first | second).mapped("packages_destroyed_on")))
        self.assertEqual(self._run(batch_size=1), 1, "one handover's packages per call")
        self.assertTrue(first.packages_destroyed_on and not second.packages_destroyed_on)
        self.assertEqual(self._run(batch_size=1), 1)
        self.assertEqual(self._run(batch_size=1), 0)
        self.assertDestroyed(files, "package_retention")
        self.assertEqual(len(self._events("handover_packages_destroyed")), 2)
        self.assertEqual(len(self._events("evidence_destroyed")), 2, "one entry per handover's batch, none twice")

    def test_a_handover_whose_background_step_runs_waits_for_the_next_run(self):
        handover = self._completed(days_ago=40)
        packages, _exports = self._files(handover)
        job = self.env["customer.handover.package"].with_user(self.manager)._start_for(
            handover.with_user(self.manager), tp.new_identity()[1])
        self.assertEqual(job.state, "queued")
        self.assertEqual(self._run(), 0)
        self.assertKept(packages)

    def test_a_batch_costs_the_same_queries_whatever_its_size(self):
        handovers = [self._completed(days_ago=3 * 366) for _index in range(4)]
        counts = []
        for batch in (handovers[:1], handovers[1:]):
            # Only this batch is due: every other handover's days are moved out of this run's reach.
            self.env.flush_all()
            far, past = date.today() + timedelta(days=9999), date.today() - timedelta(days=1)
            for ids, day in ((self.Handover.sudo().search([]).ids, far), ([handover.id for handover in batch], past)):
                self.env.cr.execute(SQL("UPDATE customer_handover SET packages_destroy_date = %s, "
                                        "records_restrict_date = %s, records_destroy_date = %s WHERE id = ANY(%s)",
                                        day, day, day, ids))
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            self.assertEqual(self._run(batch_size=len(batch)), 3 * len(batch))
            self.env.flush_all()
            counts.append(self.env.cr.sql_log_count - before)
        self.assertEqual(counts[0], counts[1], f"queries grew with the batch: {counts}")
        with self.assertQueryCount(counts[0]):
            self.env.invalidate_all()
            self._run()  # nothing due: a run over nothing costs no more than a batch

    def test_an_officer_sees_the_destructions_coming_in_the_next_30_days(self):
        self.company_a.sudo().handover_package_retention_days = 60
        coming, later = self._completed(days_ago=40), self._completed(days_ago=0)
        arch = etree.fromstring(self.env.ref("customer_handover.customer_handover_view_search_retention").arch)
        text = arch.xpath("//filter[@name='filter_destruction_coming']")[0].get("domain")
        domain = safe_eval(text, {"context_today": lambda: fields.Date.context_today(self.Handover),
                                  "relativedelta": relativedelta})
        found = self.Handover.with_user(self.officer).search(domain)
        self.assertIn(coming, found)
        self.assertNotIn(later, found)
        self.assertEqual(coming.packages_destroy_date, date.today() + timedelta(days=20))
        action = self.env.ref("customer_handover.customer_handover_action_destruction_coming")
        self.assertIn("filter_destruction_coming", action.context)
        menu = self.env.ref("customer_handover.customer_handover_destruction_coming_menu")
        self.assertEqual(menu.groups_id, self.env.ref("customer_handover.group_data_protection_officer"))


@tagged("post_install", "-at_install", "customer_handover_hostile")
class TestRecordRetentionRpc(RpcMixin, RetentionFixture, HandoverCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_retention_fixture()

    def test_a_restricted_record_and_the_destruction_step_over_rpc(self):
        handover = self._completed(days_ago=100)
        self.Handover._cron_destroy_expired_records()
        line_ids = handover.line_ids.ids
        domain = [["handover_id", "=", handover.id]]
        answer = self._call("ch_manager", "customer.handover.line", "search_read", [domain, ["name"]])
        self.assertEqual(answer["result"], [], "a manager finds no line of a restricted record")
        self._refused("ch_manager", "customer.handover.line", "read", [line_ids, ["snapshot_contact"]])
        answer = self._call("ch_manager", "customer.handover.export", "search_read", [domain, ["number"]])
        self.assertEqual(answer["result"], [], "nor an export")
        answer = self._call("ch_officer", "customer.handover.line", "search_read", [domain, ["name"]])
        self.assertEqual(len(answer["result"]), len(line_ids))
        package_file = self.env["customer.handover.package"].search([("handover_id", "=", handover.id)]).attachment_id
        self._refused("ch_officer", "ir.attachment", "_destroy_handover_evidence",
                      [package_file[:1].ids, "package_retention", self.company_a.id])
        self._refused("ch_officer", "ir.attachment", "write",
                      [package_file[:1].ids, {"handover_destroyed_sha256": "0" * 64}])
        self._refused("ch_officer", "customer.handover", "write",
                      [handover.ids, {"records_destroyed_on": "2030-01-01 00:00:00"}],
                      error="odoo.exceptions.UserError")
        package_file.invalidate_recordset()
        self.assertEqual(len(set(package_file.mapped("handover_destroyed_sha256"))), 2, "the digests kept as they were")
        self.assertFalse(handover.records_destroyed_on)
