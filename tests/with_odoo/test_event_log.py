import base64

from odoo.addons.customer_handover.tools import checklist as ck
from odoo.addons.customer_handover.tools.checklist_verify import verify
from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tools import SQL

from .common import HandoverCase

SIGNATURE = base64.b64encode(
    base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
)


@tagged("post_install", "-at_install")
class TestEventLog(HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a.partner_id.email = cls.company_a.partner_id.email or "a@example.com"
        cls.company_a.with_user(cls.officer).action_handover_create_signing_key()
        cls.Event = cls.env["customer.handover.event"]
        cls.receiver = cls.env["res.partner"].create({"name": "Receiver Co.", "is_company": True,
                                                      "email": "legal@receiver.example.cn"})

    def _log(self, after=0):
        # What the chaining after each commit does; a TransactionCase never commits.
        self.Event._chain_pending()
        return self.Event.search([("company_id", "=", self.company_a.id), ("sequence", ">", after)],
                                 order="sequence")

    def _head(self):
        return self._log()[-1:].sequence or 0

    def _handover_to_signed(self):
        handover = self.env["customer.handover"].with_user(self.handover_user).create(
            {"receiver_id": self.receiver.id, "reason": "shop_transfer"})
        lines = self.env["customer.handover.line"].with_user(self.handover_user).create(
            [{"handover_id": handover.id, "name": f"Paper file {number}"} for number in range(3)]
        )
        handover.with_user(self.handover_user).write(
            {"nda_reference": "NDA-1", "nda_date": "2026-11-01", "nda_document": base64.b64encode(b"%PDF")})
        handover.with_user(self.manager).action_confirm()
        handover.with_user(self.manager).action_start()
        lines.with_user(self.handover_user).action_verify()
        handover.with_user(self.handover_user).action_mark_verified()
        handover.with_user(self.manager)._sign("transfer", "王经理", SIGNATURE, channel="in_person")
        handover.with_user(self.manager)._sign("receiver", "Li Lei", SIGNATURE, channel="in_person")
        self.Event._chain_pending()
        return handover, lines

    def test_every_step_appends_its_entry_in_order(self):
        start = self._head()
        handover, lines = self._handover_to_signed()
        export = self.env["customer.handover.export"].with_user(self.manager)._create_for(
            handover.with_user(self.manager))
        export.with_user(self.handover_user)._download_attachment()
        handover.with_user(self.manager).action_done()
        entries = self._log(start)
        self.assertEqual(entries.mapped("event"), [
            "handover_created", "item_added", "handover_confirmed", "handover_started", "lines_checked",
            "checklist_all_verified", "handover_signed", "handover_signed", "export_created", "chain_sealed",
            "export_downloaded", "handover_done",
        ])
        self.assertEqual(entries.mapped("sequence"), list(range(start + 1, start + 13)))
        self.assertEqual(entries[4].user_id, self.handover_user, "the entry names who verified the lines")
        self.assertIn(f'"records":{lines.ids}'.replace(" ", ""), entries[4].payload)
        self.assertEqual(entries[6].payload, '{"channel":"in_person","side":"transfer"}')
        self.assertNotIn("王经理", "".join(entries.mapped("payload")), "the log keeps ids, not names")
        checker, problem = self.Event.with_user(self.officer)._check_chain(self.company_a)
        self.assertIsNone(problem)
        self.assertGreaterEqual(checker.seals, 1)

    def test_consent_changes_are_logged(self):
        start = self._head()
        partner = self.env["res.partner"].create({"name": "Consenting"})
        consent = self.env["customer.consent"].with_user(self.handover_user).create(
            {"partner_id": partner.id, "purpose_id": self.purpose_marketing.id, "date_given": "2026-01-05"})
        consent.with_user(self.handover_user).action_withdraw()
        entries = self._log(start)
        self.assertEqual(entries.mapped("event"), ["consent_recorded", "consent_changed"])
        self.assertEqual(entries.mapped("res_id"), [consent.id, consent.id])
        self.assertEqual(entries[1].payload, '{"from":"granted","state":"withdrawn"}')

    def test_the_log_is_read_by_officers_of_its_company_only(self):
        self._handover_to_signed()
        self.assertTrue(self.Event.with_user(self.officer).search_count([]))
        for user in (self.handover_user, self.manager, self.user_b):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.Event.with_user(user).search_count([])
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.Event.with_user(user)._check_chain(self.company_a)

    def test_an_entry_changed_or_removed_in_sql_is_named_by_the_check(self):
        self._handover_to_signed()
        entries = self._log()
        middle = entries[len(entries) // 2]
        sequence = middle.sequence
        self.env.flush_all()
        self.env.cr.execute(SQL("UPDATE customer_handover_event SET payload = %s WHERE id = %s", "{}", middle.id))
        _checker, problem = self.Event.with_user(self.officer)._check_chain(self.company_a)
        self.assertEqual((problem.sequence, problem.code), (sequence, "changed"))
        self.assertIn(str(sequence), self.Event.with_user(self.officer)._problem_text(problem))

        self.env.cr.execute(SQL("DELETE FROM customer_handover_event WHERE id = %s", middle.id))
        self.env.invalidate_all()
        _checker, problem = self.Event.with_user(self.officer)._check_chain(self.company_a)
        self.assertEqual((problem.sequence, problem.code), (sequence, "missing"))

    def test_the_signed_export_of_the_log_verifies_offline_and_names_a_changed_entry(self):
        self._handover_to_signed()
        attachment = self.Event.with_user(self.officer)._export_log(self.company_a)
        fingerprint = self.company_a.with_user(self.officer).handover_certificate_fingerprint
        self.assertEqual(self._log()[-1].event, "log_exported", "the export itself is logged")
        data = self.Event.with_user(self.officer)._download_log_export(attachment.id).raw
        result = verify(data, trusted={ck.normalise_fingerprint(fingerprint)})
        self.assertEqual(result.status, "valid", [finding.message for finding in result.findings])
        self.assertEqual(self._log()[-1].event, "log_downloaded", "so is its download")

        victim = self._log()[3]
        self.env.flush_all()
        self.env.cr.execute(SQL("UPDATE customer_handover_event SET user_id = %s WHERE id = %s",
                                self.officer.id, victim.id))
        self.env.invalidate_all()
        attachment = self.Event.with_user(self.officer)._export_log(self.company_a)
        data = self.Event.with_user(self.officer)._download_log_export(attachment.id).raw
        result = verify(data, trusted={ck.normalise_fingerprint(fingerprint)})
        self.assertEqual(result.status, "invalid")
        self.assertIn(f"entry {victim.sequence} was changed", result.findings[-1].message)

    def test_entries_of_the_codes_renamed_still_display_and_verify(self):
        handover, _lines = self._handover_to_signed()
        self.Event._append([
            {"company_id": self.company_a.id, "event": "handover_verified", "res_model": handover._name,
             "res_id": handover.id, "payload": {}},
            {"company_id": self.company_a.id, "event": "checklist_verified", "res_model": False, "res_id": False,
             "payload": {"status": "valid"}},
        ])
        labels = dict(self.Event.with_user(self.officer).fields_get(["event"])["event"]["selection"])
        self.assertEqual([labels[code] for code in self._log()[-2:].mapped("event")],
                         ["Checklist verified", "Checklist workbook verified"])
        _checker, problem = self.Event.with_user(self.officer)._check_chain(self.company_a)
        self.assertIsNone(problem)
        attachment = self.Event.with_user(self.officer)._export_log(self.company_a)
        fingerprint = self.company_a.with_user(self.officer).handover_certificate_fingerprint
        data = self.Event.with_user(self.officer)._download_log_export(attachment.id).raw
        result = verify(data, trusted={ck.normalise_fingerprint(fingerprint)})
        self.assertEqual(result.status, "valid", [finding.message for finding in result.findings])

    def test_the_daily_job_seals_only_chains_that_grew(self):
        self._handover_to_signed()
        self.Event._cron_seal()
        head = self._log()[-1]
        self.assertEqual(head.event, "chain_sealed")
        self.Event._cron_seal()
        self.assertEqual(self._log()[-1], head, "an unchanged chain is not sealed twice")

    def test_appending_costs_the_same_queries_whatever_the_batch(self):
        counts = []
        for size in (5, 400):
            entries = [{"company_id": self.company_a.id, "event": "lines_checked", "payload": {"records": [n]}}
                       for n in range(size)]
            self.env.flush_all()
            with self.assertQueryCount(3, flush=False):  # counted inside: entering it may read the user (a query)
                before = self.env.cr.sql_log_count
                self.Event._append(entries)
                self.env.flush_all()
                counts.append(self.env.cr.sql_log_count - before)
        self.assertEqual(counts[0], counts[1], f"queries grew with the batch: {counts}")

    def test_the_verify_wizard_checks_an_exported_log_and_names_the_changed_entry(self):
        self._handover_to_signed()
        log = self.Event.with_user(self.officer)
        data = base64.b64decode(log._export_log(self.company_a).datas)
        wizard = self.env["customer.handover.verify"].with_user(self.officer).create(
            {"file": base64.b64encode(data)})
        wizard.action_verify()
        self.assertEqual(wizard.status, "valid", wizard.summary)
        self.assertEqual(self._log()[-1].event, "workbook_verified", "the upload and its result are logged")
        self.assertIn('"status":"valid"', self._log()[-1].payload)

        victim = self._log()[2]
        self.env.flush_all()
        self.env.cr.execute(SQL("UPDATE customer_handover_event SET event = 'handover_done' WHERE id = %s",
                                victim.id))
        self.env.invalidate_all()
        data = base64.b64decode(log._export_log(self.company_a).datas)
        wizard = self.env["customer.handover.verify"].with_user(self.officer).create(
            {"file": base64.b64encode(data)})
        wizard.action_verify()
        self.assertEqual(wizard.status, "invalid")
        self.assertIn(f"Entry {victim.sequence} was changed after it was logged.", wizard.summary)

        other = self.env["customer.handover.verify"].with_user(self.user_b).create({"file": base64.b64encode(data)})
        other.action_verify()
        self.assertNotEqual(other.status, "valid", "another company's log is not vouched for by its keys")

    def test_a_pending_entry_is_shown_pending_until_the_job_chains_it(self):
        self._log()
        entry = self.Event._append([{"company_id": self.company_a.id, "event": "lines_checked", "payload": {}}])
        self.assertFalse(entry.sequence or entry.hash, "the step chained its own entry")
        check = self.env["customer.handover.event.check"].with_user(self.officer).create(
            {"company_id": self.company_a.id})
        check.action_check()
        self.assertEqual(check.status, "intact", "a pending entry broke the check")
        self.assertIn("1 entries are pending", check.summary)

        self.Event._cron_chain()  # the job, for entries whose chaining after the commit did not run
        entry.invalidate_recordset()
        self.assertEqual((entry.sequence, entry.hash_version), (self._log()[-1].sequence, 1))
        check.action_check()
        self.assertNotIn("pending", check.summary)

    def test_chaining_costs_the_same_queries_whatever_the_number_of_entries(self):
        counts = []
        for size in (5, 400):
            self.Event._append([{"company_id": self.company_a.id, "event": "lines_checked", "payload": {"n": n}}
                                for n in range(size)])
            self.env.flush_all()
            before = self.env.cr.sql_log_count
            self.assertEqual(self.Event._chain_pending([self.company_a.id]), size)
            counts.append(self.env.cr.sql_log_count - before)
        self.assertEqual(counts[0], counts[1], f"queries grew with the entries: {counts}")

    def test_an_entry_of_a_hash_version_unknown_here_is_named_not_called_changed(self):
        self.Event._append([{"company_id": self.company_a.id, "event": "lines_checked", "payload": {}}])
        victim = self._log()[-1]
        self.env.flush_all()
        self.env.cr.execute(SQL("UPDATE customer_handover_event SET hash_version = 2 WHERE id = %s", victim.id))
        self.env.invalidate_all()
        _checker, problem = self.Event.with_user(self.officer)._check_chain(self.company_a)
        self.assertEqual((problem.sequence, problem.code), (victim.sequence, "version"))
        self.assertIn("hash version", self.Event.with_user(self.officer)._problem_text(problem))

    def test_a_seal_whose_key_went_away_before_its_chaining_is_dropped_not_left_pending(self):
        self._log()
        seal = self.Event._seal(self.company_a)
        self.assertTrue(seal)
        self.company_a.sudo().handover_certificate_id = False
        with self.assertLogs("odoo.addons.customer_handover.models.customer_handover_event", "WARNING"):
            self.Event._chain_pending()
        self.assertFalse(seal.exists())
        self.assertFalse(self.Event.search_count([("sequence", "=", False)]))
        self.assertIsNone(self.Event.with_user(self.officer)._check_chain(self.company_a)[1])
