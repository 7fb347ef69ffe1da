"""Migrations never change a fact of the procedure; the one that did is repaired from the signed exports
(docs/evidence.md, "Migrations")."""

import hashlib
import importlib.util
import json
from pathlib import Path

from odoo.addons.customer_handover.tools.checklist_verify import verify
from odoo.tests import tagged
from odoo.tools import SQL

from .common import HandoverCase
from .test_destruction import DestructionCase
from .test_hostile_orm import HostileFixture

MIGRATIONS = Path(__file__).resolve().parents[2] / "customer_handover" / "migrations"


def _migration(version, name):
    spec = importlib.util.spec_from_file_location(f"migration_{name}", MIGRATIONS / version / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@tagged("post_install", "-at_install")
class TestMigrations(HostileFixture, HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_fixture()
        cls.handover = cls._handover_at("signed")
        cls.export = cls.env["customer.handover.export"].with_user(cls.manager)._create_for(
            cls.handover.with_user(cls.manager))

    def _set(self, line, column, value):
        """What the migration to 18.0.1.1.0 did: a value changed in SQL, behind the ORM."""
        self.env.flush_all()
        self.env.cr.execute(SQL("UPDATE customer_handover_line SET %s = %s WHERE id = %s",
                                SQL.identifier(column), value, line.id))
        self.env.invalidate_all()

    def test_the_repair_restores_signed_values_and_logs_each_restoration(self):
        kept, excluded = self._line(self.handover, self.ok), self._line(self.handover, self.held)
        self.assertTrue(kept.snapshot_retention and excluded.excluded and excluded.exclusion_reason)
        signed = {line.id: (line.snapshot_retention, line.exclusion_reason) for line in self.handover.line_ids}
        self._set(kept, "snapshot_retention", "Held back by the data-protection officer")
        self._set(excluded, "exclusion_reason", "Rewritten by a migration")
        last = self.env["customer.handover.event"].search([], order="id desc", limit=1)

        _migration("18.0.1.2.0", "post-20-restore-snapshots.py").migrate(self.env.cr, "18.0.1.1.0")

        self.env.invalidate_all()
        self.assertEqual({line.id: (line.snapshot_retention, line.exclusion_reason)
                          for line in self.handover.line_ids}, signed)
        entries = self.env["customer.handover.event"].search([("id", ">", last.id)], order="id")
        self.assertEqual([(entry.event, entry.res_id, json.loads(entry.payload)["fields"]) for entry in entries], [
            ("evidence_restored", line.id, [column]) for line, column in sorted(
                [(kept, "snapshot_retention"), (excluded, "exclusion_reason")], key=lambda pair: pair[0].sequence)
        ])
        self.assertEqual(json.loads(entries[0].payload)["export"], self.export.id)

        _migration("18.0.1.2.0", "post-20-restore-snapshots.py").migrate(self.env.cr, "18.0.1.1.0")
        self.assertEqual(self.env["customer.handover.event"].search_count([("id", ">", entries[-1].id)]), 0,
                         "a second run restored or logged again")

    def test_the_migration_to_1_1_leaves_the_facts_and_the_lines_show_them_coarsened(self):
        line = self._line(self.handover, self.held)
        self._set(line, "snapshot_retention", "On legal hold")
        self._set(line, "exclusion_reason", "Under legal hold")
        _migration("18.0.1.1.0", "post-migrate.py").migrate(self.env.cr, "18.0.1.0.0")
        self.env.invalidate_all()
        self.assertEqual((line.snapshot_retention, line.exclusion_reason), ("On legal hold", "Under legal hold"))
        shown = line.with_user(self.handover_user)
        self.assertEqual((shown.retention_shown, shown.exclusion_reason_shown),
                         ("Held back by the data-protection officer",) * 2)
        self.assertEqual(line.with_user(self.officer).retention_shown, "On legal hold")

    def test_entries_logged_before_hash_versions_keep_their_hash_and_still_verify(self):
        log = self.env["customer.handover.event"]
        log._chain_pending()  # the entries of the signed handover and its export, sealed
        self.env.flush_all()
        query = SQL("SELECT id, sequence, previous_hash, hash, payload FROM customer_handover_event ORDER BY id")
        self.env.cr.execute(query)
        before = self.env.cr.fetchall()
        self.assertTrue(before)
        # What a database of 18.0.1.2.0 holds: the log without its hash versions.
        self.env.cr.execute(SQL("ALTER TABLE customer_handover_event DROP COLUMN hash_version"))

        _migration("18.0.1.2.1", "pre-10-hash-version.py").migrate(self.env.cr, "18.0.1.2.0")

        self.env.invalidate_all()
        self.env.cr.execute(query)
        self.assertEqual(self.env.cr.fetchall(), before, "the migration changed an entry")
        self.env.cr.execute(SQL("SELECT DISTINCT hash_version FROM customer_handover_event"))
        self.assertEqual(self.env.cr.fetchall(), [(1,)])
        checker, problem = log.with_user(self.officer)._check_chain(self.company_a)
        self.assertIsNone(problem, problem and problem.message)
        self.assertEqual(checker.count, len(before))
        self.assertGreaterEqual(checker.seals, 1)



@tagged("post_install", "-at_install", "customer_handover_destruction")
class TestCertificateMigration(DestructionCase):
    """18.0.1.2.1 kept a destruction certificate in the binary field certificate_file; 18.0.1.2.2 serves that file.

    tests/install/test_upgrade.py upgrades a database of 18.0.1.2.1 itself; here, what it left is made again in SQL.
    """

    NAME = "DR-2026-0001 certificate, as named.xlsx"

    def _as_kept_by_1_2_1(self):
        """A run's certificate as 18.0.1.2.1 left it: in the binary field's place, marked kept, named on the request."""
        request = self._request(self._customer())
        request.with_user(self.officer_2).action_approve()
        self._run()
        self.assertEqual(request.state, "done")
        attachment = request.sudo().certificate_attachment_id
        self.env.flush_all()
        self.env.cr.execute(SQL("ALTER TABLE customer_destruction_request ADD COLUMN certificate_filename varchar"))
        self.env.cr.execute(SQL("UPDATE customer_destruction_request SET certificate_attachment_id = NULL, "
                                "certificate_filename = %s WHERE id = %s", self.NAME, request.id))
        # the binary field's attachment took the company of whoever ran the step (the cron's): not the request's
        self.env.cr.execute(SQL("UPDATE ir_attachment SET res_field = 'certificate_file', name = 'certificate_file', "
                                "handover_evidence = 'kept', company_id = %s WHERE id = %s",
                                self.company_b.id, attachment.id))
        self.env.invalidate_all()
        return request, attachment

    def _rows(self, request, attachment):
        """The attachment's and the request's rows, as the database holds them."""
        self.env.flush_all()
        self.env.cr.execute(SQL("SELECT * FROM ir_attachment WHERE id = %s", attachment.id))
        file = self.env.cr.dictfetchone()
        self.env.cr.execute(SQL("SELECT * FROM customer_destruction_request WHERE id = %s", request.id))
        return file, self.env.cr.dictfetchone()

    def _migrate(self):
        _migration("18.0.1.2.2", "post-10-destruction-certificates.py").migrate(self.env.cr, "18.0.1.2.1")
        self.env.invalidate_all()

    def test_the_certificate_kept_in_the_field_becomes_the_same_file_served_by_its_request(self):
        request, attachment = self._as_kept_by_1_2_1()
        file, kept = self._rows(request, attachment)
        last = self.env["customer.handover.event"].search([], order="id desc", limit=1)

        self._migrate()

        moved, now = self._rows(request, attachment)
        self.assertEqual(request.certificate_attachment_id, attachment)
        self.assertEqual({key: moved[key] for key in ("name", "res_field", "company_id", "handover_evidence")},
                         {"name": self.NAME, "res_field": None, "company_id": request.company_id.id,
                          "handover_evidence": "served"})
        changed = {"name", "res_field", "company_id", "handover_evidence"}
        self.assertEqual({key: value for key, value in moved.items() if key not in changed},
                         {key: value for key, value in file.items() if key not in changed},
                         "the migration changed the file itself")
        self.assertEqual({key: value for key, value in now.items() if key != "certificate_attachment_id"},
                         {key: value for key, value in kept.items() if key != "certificate_attachment_id"},
                         "the migration changed a fact of the request")
        self.assertFalse(self.env["customer.handover.event"].search([("id", ">", last.id)]), "it logs nothing")
        self.assertFalse(self.env["ir.attachment"].with_user(self.officer).with_context(skip_res_field_check=True)
                         .search([("res_model", "=", request._name), ("res_id", "=", request.id)]))

        data = request.with_user(self.officer)._certificate_attachment().raw
        self.assertEqual(hashlib.sha256(data).hexdigest(), request.certificate_sha256)
        self.assertEqual(verify(data, trusted={request.certificate_fingerprint}).status, "valid")
        self.assertEqual(self.env["customer.handover.event"].search([("id", ">", last.id)]).mapped("event"),
                         ["destruction_certificate_downloaded"])

        self._migrate()
        self.assertEqual(self._rows(request, attachment), (moved, now), "a second run changed something")

    def test_a_file_that_is_not_the_signed_certificate_is_left_where_it_is(self):
        request, attachment = self._as_kept_by_1_2_1()
        self.env.cr.execute(SQL("UPDATE customer_destruction_request SET certificate_sha256 = %s WHERE id = %s",
                                "0" * 64, request.id))
        self.env.invalidate_all()
        before = self._rows(request, attachment)

        with self.assertLogs("migration_post-10-destruction-certificates.py", "WARNING") as logged:
            self._migrate()

        self.assertEqual(self._rows(request, attachment), before)
        self.assertFalse(request.certificate_attachment_id)
        self.assertIn(f"file {attachment.id} is not its signed certificate", logged.output[0])
        self.assertIn(f"{request.name}: none of its kept files is its signed certificate", logged.output[1])

    def test_a_done_request_whose_file_is_not_marked_kept_is_named(self):
        """An attachment 18.0.1.2.1 did not mark as kept is not taken: nothing says it is the run's certificate."""
        request, attachment = self._as_kept_by_1_2_1()
        self.env.cr.execute(SQL("UPDATE ir_attachment SET handover_evidence = NULL WHERE id = %s", attachment.id))
        self.env.invalidate_all()
        before = self._rows(request, attachment)

        with self.assertLogs("migration_post-10-destruction-certificates.py", "WARNING") as logged:
            self._migrate()

        self.assertEqual(self._rows(request, attachment), before, "the migration changed something")
        self.assertEqual(logged.output, [
            f"WARNING:migration_post-10-destruction-certificates.py:Destruction request {request.name}: none of its "
            f"kept files is its signed certificate (SHA-256 {request.certificate_sha256}); its download stays "
            "refused until the file is restored."])
