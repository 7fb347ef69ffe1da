"""The preview of a package above the threshold runs in the background: checked whole once, then its customers in
bounded batches, with progress; the request only reads the manifest; Import waits for the end."""

import base64
import zipfile
from unittest.mock import patch

import psycopg2

from odoo.addons.customer_handover.models.customer_handover_job import BATCH_PARAM, THRESHOLD_PARAM
from odoo.addons.customer_handover.tools import transfer_package as tp
from odoo.addons.customer_handover.wizard import customer_handover_import_background as background
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tools import SQL, mute_logger

from .common import HandoverCase
from .package_builder import build_package
from .test_background_import import BATCH, EXTRA, BackgroundImportFixture, Rollback, extra_customer
from .test_background_steps import Crash

JOB_LOGGER = "odoo.addons.customer_handover.models.customer_handover_job"


class MiscountingWriter(tp.PackageWriter):
    """A package whose signed manifest counts one consent more than data.json holds: its manifest reads well, only
    the whole check finds it."""

    def close(self, key, certificate):
        self.counts["consents"] += 1
        return super().close(key, certificate)


@tagged("post_install", "-at_install", "customer_handover_background", "customer_handover_import",
        "is_query_count")
class TestBackgroundPreview(BackgroundImportFixture, HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_background_fixture()

    def _job(self, wizard):
        return self.env["customer.handover.job"].search(
            [("kind", "=", "preview"), ("company_id", "=", self.company_b.id)], order="id desc", limit=1).filtered(
            lambda job: job.params["wizard"] == wizard.id)

    def _preview_figures(self, wizard):
        """What a preview shows, comparable between the preview at once and the one in the background."""
        self.env.invalidate_all()
        return {
            "facts": wizard.read(["customer_count", "match_count", "child_count", "consent_count", "evidence_count",
                                  "item_count", "sender", "fingerprint", "state"])[0] | {"id": 0},
            "lines": [(line.line_number, line.name, line.vat, line.ref, line.email, line.phone, line.sensitive,
                       line.consent_count, line.child_count, line.partner_id.id, line.match_key, line.decision)
                      for line in wizard.line_ids],
            "mappings": [(mapping.kind, mapping.name, mapping.code, mapping.action, mapping.purpose_id.id,
                          mapping.policy_id.id) for mapping in wizard.mapping_ids],
        }

    def test_a_small_package_is_previewed_at_once(self):
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 2000)
        wizard = self._preview(package=self.big_package)
        self.assertEqual((wizard.state, wizard.background), ("preview", False))
        self.assertEqual(len(wizard.line_ids), 3 + EXTRA)
        self.assertFalse(self._job(wizard))
        self.assertFalse(wizard.line_ids.filtered("payload"), "a preview at once keeps no customer for a job")

    def test_batches_progress_and_the_same_preview_as_at_once(self):
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 2000)
        try:
            with self.env.cr.savepoint():
                expected = self._preview_figures(self._preview(package=self.big_package))
                raise Rollback
        except Rollback:
            self.env.invalidate_all()
        self.env["ir.config_parameter"].set_param(THRESHOLD_PARAM, 5)
        wizard = self._preview(package=self.big_package)
        job = self._job(wizard)
        customers = 3 + EXTRA
        # the request read the manifest and queued the step: no line yet, Import refused
        self.assertEqual((wizard.state, wizard.customer_count, wizard.sender), ("previewing", customers,
                                                                                  self.company_a.name))
        self.assertEqual((job.kind, job.state, job.total, job.user_id), ("preview", "queued", customers,
                                                                         self.manager_b))
        self.assertFalse(wizard.line_ids)
        self.assertEqual(wizard.active_job_id, job)
        with self.assertRaisesRegex(UserError, "runs in the background"):
            wizard.action_import()
        self.assertFalse(wizard.incoming_id)
        Job = self.env["customer.handover.job"]
        # the first call checks the whole package, and makes no line; it keeps the checklist's rows, read once
        Job._cron_run()
        self.assertEqual((job.state, job.done_count, len(wizard.line_ids)), ("running", 0, 0))
        rows = wizard._step_attachment("checklist_rows")
        with rows._open_content() as handle:
            self.assertEqual([int(line.split(b"\t")[0]) for line in handle][:3], [1, 2, 3])
        done, read_to = [], []
        while job.state == "running":
            Job._cron_run()
            self.env.invalidate_all()
            done.append((job.done_count, len(wizard.line_ids)))
            read_to.append(job.params.get("rows_next", [0])[0])
            if job.state == "running":
                self.assertEqual(wizard.active_job_text,
                                 f"Previewing the package: {job.done_count} of {customers} "
                                 f"({int(100 * job.done_count / customers)}%)")
                self.assertEqual(wizard.active_job_progress, round(100.0 * job.done_count / customers, 1))
        self.assertEqual(done, [(4, 4), (8, 8), (12, 12), (14, 14)], "one bounded batch per call")
        # each batch read the rows file up to its own last line, from where the one before stopped
        self.assertEqual(read_to[:-1], [max(wizard.line_ids.sorted("id")[:count].mapped("line_number"))
                                        for count, _lines in done[:-1]])
        self.assertTrue(wizard._step_attachment("checklist_rows"), "the rows are kept for the import's last step")
        self.assertFalse(wizard._step_attachment("customer_lines"), "the customers outlived the preview")
        self.assertEqual(job.state, "done")
        self.assertFalse(wizard.active_job_id)
        self.assertEqual(self._preview_figures(wizard), expected)
        # each line keeps the customer and its row of the signed checklist, which the import's batches read
        first = wizard.line_ids[0]
        self.assertEqual(first.payload["customer"]["line"], first.line_number)
        self.assertEqual(first.payload["row"][0], first.name)
        self.assertFalse(wizard.line_ids[-1].payload["row"], "a customer the checklist does not list has no row")
        events = self.env["customer.handover.event"].sudo().search(
            [("res_model", "=", "customer.handover.job"), ("res_id", "=", job.id)])
        self.assertEqual(set(events.mapped("event")), {"job_started", "job_done"})
        wizard.action_import()
        self._run()
        self.assertEqual(wizard.incoming_id.state, "imported")
        self.assertEqual(len(self._visible()), EXTRA)

    def test_each_batch_reads_its_own_blocks_not_the_packages_data(self):
        """data.json is compressed whole in the package: a batch that reached its customers there decompressed every
        customer before them, and a million customers' preview slowed with each batch. The first call keeps the
        customers in blocks compressed one by one; each batch reads from the block where the one before stopped."""
        wizard = self._preview(package=self.big_package)
        job = self._job(wizard)
        Job = self.env["customer.handover.job"]
        opened, kept = [], []

        def open_member(archive, name, *args, **kwargs):
            opened.append(getattr(name, "filename", name))
            return open_member.original(archive, name, *args, **kwargs)

        open_member.original = zipfile.ZipFile.open
        with patch.object(background, "PREVIEW_BLOCK_LINES", 3):
            Job._cron_run()  # the whole check, and the customers kept in blocks of 3
            self.assertTrue(wizard._step_attachment("customer_lines"))
            with patch.object(zipfile.ZipFile, "open", open_member):
                while job.state == "running":
                    Job._cron_run()
                    self.env.invalidate_all()
                    kept.append(job.params["next"][0])
        self.assertEqual(opened, [], "a batch read the package's data")
        # batches of 4 in blocks of 3: each starts in the block that holds its first customer
        self.assertEqual(list(dict.fromkeys(kept)), [4, 7, 13, 15])
        self.assertEqual(wizard.line_ids.mapped("line_number"), sorted(wizard.line_ids.mapped("line_number")))
        self.assertEqual(len(wizard.line_ids), 3 + EXTRA)
        self.assertFalse(wizard._step_attachment("customer_lines"), "the customers outlived the preview")

    def test_a_batch_looks_for_duplicates_without_walking_the_earlier_lines(self):
        """A batch looks for its customers among the lines the batches before it made. Asked for the first match by
        line number, PostgreSQL walked the number index of every earlier line in order, a cost growing with each
        batch (0.4 s a batch at 1,000,000 customers): the lines found are now sorted on their own."""
        size = 200  # the planner walks the index for batches of a few hundred customers, not of a few
        extra = [extra_customer(number) for number in range(EXTRA, EXTRA + 2 * size)]
        wizard = self._preview(package=build_package(self.export, recipient=self.recipient, extra=extra))
        job = self._job(wizard)
        self.env["ir.config_parameter"].set_param(BATCH_PARAM, size)
        Job = self.env["customer.handover.job"]
        Job._cron_run()  # the whole check
        Job._cron_run()  # the first batch
        earlier = 20_000
        # as if earlier batches of a big package had made these lines, with the planner's statistics up to date
        self.env.cr.execute(SQL(
            "INSERT INTO customer_handover_import_line (wizard_id, decision, contact_choice, line_number, ref) "
            "SELECT %s, 'create', 'keep', 100000 + n, 'EARLIER' || n FROM generate_series(1, %s) AS n",
            wizard.id, earlier,
        ))
        self.env.cr.execute(SQL("ANALYZE customer_handover_import_line"))
        index_read = SQL("pg_stat_get_xact_tuples_returned(%s::regclass)",
                         "customer_handover_import_line__line_number_index")
        self.env.cr.execute(SQL("SELECT %s", index_read))
        before = self.env.cr.fetchone()[0]
        Job._cron_run()
        self.env.cr.execute(SQL("SELECT %s", index_read))
        self.assertLess(self.env.cr.fetchone()[0] - before, earlier, "the batch walked the earlier lines")
        self.assertEqual(job.done_count, 2 * size)

    def test_queries_per_batch_do_not_grow_with_the_batch(self):
        extra = [extra_customer(number) for number in range(EXTRA, EXTRA + 50)]
        wizard = self._preview(package=build_package(self.export, recipient=self.recipient, extra=extra))
        job = self._job(wizard)
        batch_env = job._as_user().env  # noqa: F841 (held, as in test_background_import)
        counts = []
        for size in (5, 10):
            self.env["ir.config_parameter"].set_param(BATCH_PARAM, size)
            for warm in (True, True, False):  # a changed setting empties the caches of rights and rules
                self.env.flush_all()
                self.env.invalidate_all()
                before = self.env.cr.sql_log_count
                self.env["customer.handover.job"]._cron_run()
                self.env.flush_all()
                if not warm:
                    counts.append(self.env.cr.sql_log_count - before)
        self.assertEqual(job.done_count, 40, "the first call checked the package")
        self.assertEqual(counts[0], counts[1], f"queries grew with the batch: {counts}")

    def test_a_crash_in_the_middle_resumes_and_previews_each_customer_once(self):
        wizard = self._preview(package=self.big_package)
        job = self._job(wizard)
        Job = self.env["customer.handover.job"]
        Job._cron_run()
        Job._cron_run()
        self.assertEqual(job.done_count, BATCH)
        self.env.flush_all()
        with self.assertRaises(Crash), self.env.cr.savepoint():
            Job._cron_run()
            self.env.flush_all()
            raise Crash
        self.env.invalidate_all()
        self.assertEqual((job.done_count, len(wizard.line_ids)), (BATCH, BATCH),
                         "the killed batch's lines went with its progress")
        self._run()
        self.assertEqual((job.state, wizard.state), ("done", "preview"))
        numbers = wizard.line_ids.mapped("line_number")
        self.assertEqual(len(numbers), 3 + EXTRA)
        self.assertEqual(len(set(numbers)), len(numbers), "each customer once")

    def test_a_batch_that_raises_stops_on_the_customer_then_continues_without_it(self):
        extra = [extra_customer(number) for number in range(EXTRA)]
        extra[6]["contact"]["ref"] = extra[2]["contact"]["ref"]  # the same customer twice, in two batches
        wizard = self._preview(package=build_package(self.export, recipient=self.recipient, extra=extra))
        job = self._job(wizard)
        with mute_logger(JOB_LOGGER):
            self._run()
        self.assertEqual(job.state, "failed")
        self.assertIn("Customer 10 of the package", job.error)
        self.assertIn("Lines 102 and 106 of the package are the same customer", job.error)
        self.assertEqual(wizard.active_job_error, job.error)
        self.assertEqual((job.done_count, len(wizard.line_ids)), (9, 9), "the customers before it are previewed")
        with self.assertRaisesRegex(UserError, "runs in the background"):
            wizard.action_import()
        wizard.with_user(self.manager_b).action_job_continue()
        self._run()
        self.assertEqual((job.state, job.skipped_count, wizard.state), ("done", 1, "preview"))
        self.assertNotIn(106, wizard.line_ids.mapped("line_number"))
        self.assertEqual(len(wizard.line_ids), 3 + EXTRA - 1)

    def test_cancel_removes_the_lines_and_the_package_can_be_previewed_again(self):
        wizard = self._preview(package=self.big_package)
        job = self._job(wizard)
        Job = self.env["customer.handover.job"]
        for _call in range(3):
            Job._cron_run()
        self.assertEqual(len(wizard.line_ids), 2 * BATCH)
        wizard.with_user(self.manager_b).action_job_cancel()
        self.assertEqual(job.state, "cancelling")
        self._run()
        self.assertEqual((job.state, wizard.state), ("cancelled", "upload"))
        self.assertFalse(wizard.line_ids)
        wizard.action_preview()
        self._run()
        self.assertEqual((wizard.state, len(wizard.line_ids)), ("preview", 3 + EXTRA))

    def test_a_package_that_reads_well_but_miscounts_is_refused_by_the_check(self):
        wizard = self._preview(package=build_package(self.export, recipient=self.recipient, writer=MiscountingWriter,
                                                     extra=[extra_customer(number) for number in range(EXTRA)]))
        job = self._job(wizard)
        self.assertEqual(wizard.state, "previewing", "the request read the manifest only")
        with mute_logger(JOB_LOGGER):
            self._run()
        self.assertEqual((job.state, job.failed_res_id, job.done_count), ("failed", 0, 0))
        self.assertIn("changed after it was signed", job.error)
        self.assertFalse(wizard.line_ids)
        wizard.with_user(self.manager_b).action_job_cancel()
        self._run()
        self.assertEqual(wizard.state, "upload")

    def test_a_preview_starts_once(self):
        wizard = self._preview(package=self.big_package)
        job = self._job(wizard)
        with self.assertRaisesRegex(UserError, "runs in the background"):
            wizard.action_preview()
        with self.assertRaisesRegex(UserError, "runs in the background"):
            wizard.write({"checklist_file": wizard.checklist_file})
        # whatever the timing, the database holds one active preview per wizard
        with self.assertRaises(psycopg2.IntegrityError), mute_logger("odoo.sql_db"), self.env.cr.savepoint():
            self.env.cr.execute(SQL(
                "INSERT INTO customer_handover_job (kind, state, company_id, params, create_date, write_date) "
                "SELECT kind, 'queued', company_id, params, now(), now() FROM customer_handover_job WHERE id = %s",
                job.id))
        self._run()
        self.assertEqual(self.env["customer.handover.job"].search_count(
            [("kind", "=", "preview"), ("company_id", "=", self.company_b.id)]), 1)

    def test_the_preview_is_private_to_its_user(self):
        wizard = self._preview(package=self.big_package)
        job = self._job(wizard)
        other = self._new_user("ch_manager_b2", "customer_handover.group_handover_manager", company=self.company_b)
        with self.assertRaises(AccessError):
            wizard.with_user(other).read(["state", "active_job_text"])
        with self.assertRaises(AccessError):
            job.with_user(other).action_cancel()
        with self.assertRaises(AccessError):
            job.with_user(self.manager).action_cancel()
        self.assertEqual(job.state, "queued")
        self._run()
        self.assertEqual(job.state, "done")

    def test_another_package_is_previewed_again_from_the_start(self):
        wizard = self._previewed()
        self.assertTrue(wizard.line_ids)
        # another upload: the lines of the package before are no preview of this one, and Import is refused
        wizard.write({"package_file": base64.b64encode(self.package)})
        self.assertEqual((wizard.state, wizard.background, len(wizard.line_ids)), ("upload", False, 0))
        with self.assertRaisesRegex(UserError, "Preview the package before importing it"):
            wizard.action_import()
        self.assertFalse(wizard.incoming_id)
