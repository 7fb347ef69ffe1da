"""Migrations never change a fact of the procedure; the one that did is repaired from the signed exports
(docs/evidence.md, "Migrations")."""

import importlib.util
import json
from pathlib import Path

from odoo.tests import tagged
from odoo.tools import SQL

from .common import HandoverCase
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
