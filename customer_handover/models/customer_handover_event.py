import base64
import functools
import hashlib
import logging
import tempfile
from datetime import timezone

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import SQL, split_every

from ..tools import checklist as ck
from ..tools import event_log
from ..tools.checklist_xlsx import ChecklistWriter
from .handover_access import OFFICER, has_group_in_company

_logger = logging.getLogger(__name__)

# Serialises the chaining of one company's entries: (this class of lock, company id).
CHAIN_LOCK = 0x43484556
# Attempts of the chaining after a commit before it leaves the entries to the job (a concurrent chaining won).
CHAIN_ATTEMPTS = 3
BATCH = 1000
EVENTS = [
    ("handover_created", "Handover created"),
    ("handover_confirmed", "Handover confirmed"),
    ("handover_started", "Handover started"),
    ("checklist_all_verified", "Handover checklist verified"),
    ("handover_signed", "Handover signed by a party"),
    ("handover_done", "Handover completed"),
    ("handover_cancelled", "Handover cancelled"),
    ("handover_redrafted", "Handover reset to draft"),
    ("handover_deleted", "Handover deleted"),
    ("lines_added", "Customers added to a checklist"),
    ("scope_undone", "Selection of customers undone"),
    ("item_added", "Item added to a checklist"),
    ("lines_checked", "Checklist lines verified, missing, rejected or reset"),
    ("pending_verified", "Pending checklist lines verified together"),
    ("lines_excluded", "Checklist lines excluded"),
    ("lines_included", "Checklist lines included again"),
    ("lines_admitted", "Ineligible customers admitted"),
    ("customers_reviewed", "Customers reviewed for accuracy"),
    ("customer_moved", "Customers moved inside the database"),
    ("consent_recorded", "Consent recorded"),
    ("consent_changed", "Consent status changed"),
    ("export_created", "Signed checklist exported"),
    ("export_downloaded", "Signed checklist downloaded"),
    ("export_countersigned", "Countersignature recorded"),
    ("workbook_verified", "Uploaded workbook verified"),
    ("receiver_key_recorded", "Receiver's package key recorded"),
    ("transfer_package_created", "Transfer package made"),
    ("backup_package_created", "Backup package made"),
    ("package_downloaded", "Transfer package downloaded"),
    ("customers_packaged", "Customers carried by a package"),
    ("package_key_created", "Company package key created"),
    ("log_exported", "Event log exported"),
    ("log_downloaded", "Event log export downloaded"),
    ("evidence_refused", "Refused attempt on evidence"),
    ("evidence_refused_repeated", "Refused attempt on evidence repeated"),
    ("evidence_restored", "Evidence restored from its signed export"),
    ("signer_pinned", "Sender's key pinned"),
    ("package_imported", "Transfer package imported"),
    ("customers_imported", "Customers imported from a package"),
    ("package_countersigned", "Received checklist countersigned"),
    ("received_checklist_downloaded", "Received checklist downloaded"),
    (event_log.SEAL_EVENT, "Chain sealed"),
    ("job_started", "Background step started"),
    ("job_done", "Background step done"),
    ("job_failed", "Background step stopped on an error"),
    ("job_continued", "Background step continued without a failed record"),
    ("job_cancelled", "Background step cancelled and undone"),
    # Codes no step writes any more (now checklist_all_verified and workbook_verified), kept for older logs:
    # an entry is evidence, so it keeps its code, and still displays and verifies.
    ("handover_verified", "Checklist verified"),
    ("checklist_verified", "Checklist workbook verified"),
    ("sign_link_sent", "Signing link sent"),
    ("sign_link_cancelled", "Signing link replaced or withdrawn"),
    ("sign_code_sent", "Signing code sent"),
    ("sign_code_accepted", "Signing code accepted"),
    ("sign_code_refused", "Wrong signing code refused"),
    ("evidence_destroyed", "Evidence files destroyed, their digests kept"),
    ("handover_records_restricted", "Handover record restricted to officers"),
    ("handover_records_destroyed", "Handover record destroyed at the end of its retention"),
    ("handover_packages_destroyed", "Handover packages destroyed at the end of their retention"),
    ("data_request_received", "Customer's data request received"),
    ("data_request_started", "Customer's data request taken in hand"),
    ("data_request_forwarded", "Customer's data request forwarded to the receiver"),
    ("data_request_done", "Customer's data request done"),
    ("data_request_refused", "Customer's data request refused"),
    ("data_request_copy_read", "Copy of a customer's data downloaded or mailed"),
    ("notices_planned", "Customer notices planned"),
    ("notices_started", "Customer notices started"),
    ("notices_refused", "Planned customer notices refused"),
    ("notices_queued", "Customer notices queued"),
    ("notices_resent", "Bounced customer notices sent again"),
    ("notice_sent", "Customer notice sent"),
    ("notice_bounced", "Customer notice bounced"),
    ("notice_letters_printed", "Letter list of customer notices downloaded"),
    ("notice_letter_posted", "Customer notice letters posted"),
    ("notice_told_otherwise", "Customer told another way"),
    ("destruction_requested", "Destruction of customers requested"),
    ("destruction_approved", "Destruction of customers approved"),
    ("destruction_refused", "Destruction of customers refused"),
    ("destruction_proposed", "Destruction of customers proposed"),
    ("customers_destroyed", "Customers destroyed"),
    ("customers_restricted", "Customers restricted instead of destroyed"),
    ("destruction_done", "Destruction run done, certificate signed"),
    ("destruction_certificate_downloaded", "Destruction certificate downloaded"),
]


class CustomerHandoverEvent(models.Model):
    _name = "customer.handover.event"
    _description = "Handover Event Log Entry"
    _inherit = ["customer.handover.evidence.mixin"]
    _order = "company_id, sequence desc"
    _rec_name = "sequence"
    _evidence_create = True
    _evidence_fields = (
        "company_id", "sequence", "logged_at", "user_id", "event", "res_model", "res_id", "payload",
        "previous_hash", "hash", "hash_version",
    )

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True, ondelete="restrict")
    sequence = fields.Integer(readonly=True, help="Empty while the entry is pending: it is chained moments after its "
                              "step commits.")
    logged_at = fields.Datetime(required=True, readonly=True)
    user_id = fields.Many2one("res.users", string="By", readonly=True, ondelete="restrict")
    event = fields.Selection(EVENTS, required=True, readonly=True)
    res_model = fields.Char(string="Model", readonly=True)
    res_id = fields.Integer(string="Record", readonly=True)
    payload = fields.Text(readonly=True, help="Record ids, states and digests: never a customer's personal data.")
    previous_hash = fields.Char(readonly=True)
    hash = fields.Char(readonly=True)
    hash_version = fields.Integer(
        readonly=True, default=event_log.HASH_VERSION,
        help="Which texts the hash covers, and how: entries keep the version they were chained with.")

    _sql_constraints = [
        ("sequence_unique", "UNIQUE (company_id, sequence)", "Each entry of a company's log has its own number."),
    ]

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        self._refuse_evidence([], "unlink")

    @api.model
    def _append(self, entries, uid=None):
        """Append ``entries`` (dicts: company_id, event, res_model, res_id, payload) to their companies' logs.

        Callers are the steps, after their own access and state checks: the log itself is written by the
        system. The entries are written pending (no sequence, no hash) in the step's transaction, without the
        chain's lock, so a step of any length blocks no one; they are chained moments after it commits, in a
        transaction of their own (``_chain_pending``), and vanish with it if it rolls back. One statement,
        whatever the number of entries.
        """
        if not entries:
            return self
        uid = uid or self.env.uid
        moment = fields.Datetime.to_datetime(self.env.cr.now()).replace(microsecond=0)
        logged_at = fields.Datetime.to_string(moment)
        rows = [SQL(
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", entry["company_id"], logged_at, uid, entry["event"],
            entry.get("res_model") or None, entry.get("res_id") or None, _pending_payload(entry),
            event_log.HASH_VERSION, uid, moment, uid, moment,
        ) for entry in entries]
        # Nobody writes the log by their own rights, so it is not the ORM's create: the calling step checked the
        # user's rights. Ids follow the entries' order, which the chaining keeps.
        self.env.cr.execute(SQL(
            "INSERT INTO customer_handover_event (company_id, logged_at, user_id, event, res_model, res_id, payload, "
            "hash_version, create_uid, create_date, write_uid, write_date) VALUES %s RETURNING id",
            SQL(", ").join(rows),
        ))
        ids = [row[0] for row in self.env.cr.fetchall()]
        self._chain_after_commit({entry["company_id"] for entry in entries})
        return self.browse(ids)

    @api.model
    def _append_for(self, records, event, payload=None, company=None):
        """Log ``event`` on ``records``: one entry per company (``company`` if given) and batch of records."""
        by_company = {}
        if company:
            by_company[company.id] = records.ids
        else:
            for record in records:
                company_ids = record._event_company_ids() or self.env.company.ids
                by_company.setdefault(company_ids[0], []).append(record.id)
        entries = []
        for company_id, ids in by_company.items():
            for batch in split_every(BATCH, ids):
                entries.append({
                    "company_id": company_id,
                    "event": event,
                    "res_model": records._name,
                    "res_id": batch[0] if len(batch) == 1 else False,
                    "payload": {**(payload or {}), **({"records": list(batch)} if len(batch) > 1 else {})},
                })
        return self._append(entries)

    @api.model
    def _seal(self, company):
        """Ask for a seal of ``company``'s chain, signed with its key over the head before it when it is chained,
        after the repeats of refusals counted until then.

        Returns the pending seal, or False without a usable key.
        """
        # sudo: the signing key is an officer's setting; sealing is done by the system for every step.
        if not company.sudo().handover_certificate_id.is_valid:
            return False
        return self._append([{"company_id": company.id, "event": event_log.SEAL_EVENT, "payload": None}])

    @api.model
    def _cron_seal(self):
        """Seal every company's log that grew since its last seal; the seals are chained once the job commits."""
        log = self.sudo()  # sudo: a system job over every company's log
        self.env["customer.handover.event.refusal"].sudo()._append_repeats()
        for (company,) in log._read_group([], ["company_id"]):
            last = log.search([("company_id", "=", company.id)], order="id desc", limit=1)
            if last.event != event_log.SEAL_EVENT and not self._seal(company):
                _logger.warning("The event log of company %s is not sealed: it has no valid signing key.", company.id)

    @api.model
    def _cron_chain(self):
        """Chain the entries left pending: those whose chaining after their commit did not run or failed."""
        self.sudo()._chain_pending()  # sudo: a system job over every company's log

    @api.model
    def _chain_pending(self, company_ids=None):
        """Chain the pending entries this transaction sees (of ``company_ids``, or all), in the order of their ids.

        Holds each company's lock for the few statements this takes; its callers commit right after (the
        chaining after a step's commit, the job). A pending seal is signed here, over the head before it.
        Returns the number of entries chained.
        """
        self.flush_model()
        self.env.cr.execute(SQL(
            "SELECT DISTINCT company_id FROM customer_handover_event WHERE sequence IS NULL %s ORDER BY company_id",
            SQL("AND company_id IN %s", tuple(company_ids)) if company_ids else SQL(),
        ))
        chained = sum(self._chain_company(company_id) for (company_id,) in self.env.cr.fetchall())
        self.invalidate_model(["sequence", "previous_hash", "hash", "payload"])
        return chained

    def _chain_company(self, company_id):
        cr = self.env.cr
        cr.execute(SQL("SELECT pg_advisory_xact_lock(%s, %s)", CHAIN_LOCK, company_id))
        pending = self._pending_rows(SQL("company_id = %s", company_id))
        cr.execute(SQL(
            "SELECT sequence, hash FROM customer_handover_event WHERE company_id = %s AND sequence IS NOT NULL "
            "ORDER BY sequence DESC LIMIT 1", company_id,
        ))
        sequence, previous = cr.fetchone() or (0, event_log.GENESIS)
        sign, rows, unsigned = None, [], []

        def link(entry_id, logged_at, user_id, event, res_model, res_id, payload):
            nonlocal sequence, previous
            sequence += 1
            digest = event_log.entry_hash(previous, _entry_texts({
                "sequence": sequence, "company_id": company_id, "logged_at": logged_at, "user_id": user_id,
                "event": event, "res_model": res_model, "res_id": res_id, "payload": payload,
            }))
            rows.append(SQL("(%s, %s, %s, %s, %s)", entry_id, sequence, previous, digest, payload))
            previous = digest

        for entry_id, logged_at, user_id, event, res_model, res_id, payload in pending:
            if event == event_log.SEAL_EVENT and payload is None:
                sign = sign or self._seal_signer(company_id)
                if not sign:
                    unsigned.append(entry_id)
                    continue
                # The refusals counted until now go into the chain before the seal, which covers them; counted
                # here, under the lock that serialises the counter, not in a step's transaction.
                repeats = self.env["customer.handover.event.refusal"]._append_repeats([company_id])
                for row in self._pending_rows(SQL("id IN %s", tuple(repeats.ids))) if repeats else []:
                    link(*row)
                payload = event_log.payload_text(sign(sequence, previous))
            link(entry_id, logged_at, user_id, event, res_model, res_id, payload)
        if unsigned:
            # A seal asked for while the key was valid, whose key expired or was removed since: nothing to sign with.
            _logger.warning("A seal of the event log of company %s was dropped: it has no valid signing key.",
                            company_id)
            cr.execute(SQL("DELETE FROM customer_handover_event WHERE id IN %s", tuple(unsigned)))
        if rows:
            cr.execute(SQL(
                "UPDATE customer_handover_event AS entry SET sequence = chained.sequence, "
                "previous_hash = chained.previous_hash, hash = chained.hash, payload = chained.payload "
                "FROM (VALUES %s) AS chained(id, sequence, previous_hash, hash, payload) WHERE entry.id = chained.id",
                SQL(", ").join(rows),
            ))
        return len(rows)

    def _pending_rows(self, where):
        """The texts of the pending entries ``where`` says, by id; locked, so that a transaction whose snapshot
        predates a concurrent chaining fails here (and is retried) rather than chaining them twice."""
        self.env.cr.execute(SQL(
            "SELECT id, logged_at, user_id, event, res_model, res_id, payload FROM customer_handover_event "
            "WHERE %s AND sequence IS NULL ORDER BY id FOR UPDATE", where,
        ))
        return self.env.cr.fetchall()

    def _seal_signer(self, company_id):
        """A function signing a head of ``company_id``'s chain with its key, or None without a usable key."""
        # sudo: the chaining is the system's; the company's key signs the seals it was asked for
        certificate = self.env["res.company"].sudo().browse(company_id).handover_certificate_id
        if not certificate.is_valid:
            return None
        try:
            key, cert = certificate._handover_signing_material()
        except UserError:  # a key removed or unreadable: the seal goes as when the key is gone, the chain goes on
            return None
        fingerprint = ck.fingerprint(cert)
        return lambda head, head_hash: event_log.seal(key, fingerprint, company_id, head, head_hash)

    def _chain_after_commit(self, company_ids):
        """Chain ``company_ids``' pending entries in a short transaction of its own once this one commits."""
        postcommit = self.env.cr.postcommit
        companies = postcommit.data.setdefault("customer_handover.event.chain", set())
        if not companies:
            postcommit.add(functools.partial(_chain_committed, self.env.registry, companies))
        companies.update(company_ids)

    @api.model
    def _pending_count(self, company):
        """How many of ``company``'s entries wait to be chained (an officer's question, as the check)."""
        self._check_officer(company)
        # sudo: the officer was checked above
        return self.sudo().search_count([("company_id", "=", company.id), ("sequence", "=", False)])

    @api.model
    def _check_chain(self, company):
        """Check ``company``'s chained entries: ``(checker, problem or None)``, reading entries in batches.

        Pending entries are not part of the chain yet: ``_pending_count`` counts them.
        """
        self._check_officer(company)
        self.flush_model()
        checker = event_log.ChainChecker(company.id, self._known_certificates(company))
        for batch_ids in split_every(BATCH * 5, self._chained_ids(company)):
            if self._feed_entries(checker, batch_ids):
                return checker, checker.problem
        return checker, None

    def _check_officer(self, company, export=False):
        if not has_group_in_company(self.env, OFFICER, company):
            if export:
                raise AccessError(self.env._("Only a data-protection officer of %(company)s can export its event "
                                             "log.", company=company.name))
            raise AccessError(self.env._("Only a data-protection officer of %(company)s can check its event log.",
                                         company=company.name))

    def _feed_entries(self, checker, ids):
        """Feed the entries ``ids``, in that order (the chain's), to ``checker``, as stored: one query. The first
        problem, or None. An entry removed since its id was taken is skipped: the next one names the gap."""
        self.env.cr.execute(SQL(
            "SELECT id, sequence, company_id, logged_at, user_id, event, res_model, res_id, payload, previous_hash, "
            "hash, hash_version FROM customer_handover_event WHERE id = ANY(%s)", list(ids),
        ))
        rows = {row[0]: row for row in self.env.cr.fetchall()}
        for entry_id in ids:
            row = rows.get(entry_id)
            if row is None:
                continue
            values = dict(zip(("sequence", "company_id", "logged_at", "user_id", "event", "res_model", "res_id",
                               "payload"), row[1:9], strict=True))
            if checker.feed(_entry_texts(values), row[9], row[10], row[11]):
                return checker.problem
        return None

    @api.model
    def _check_result(self, checker, company):
        """What a check found, as codes and figures (shown in each reader's language, logged as is)."""
        state = checker.state()
        return {key: state[key] for key in ("count", "seals", "unchecked_seals", "problem")} | {
            "pending": self._pending_count(company)}

    @api.model
    def _check_result_text(self, result):
        """A check's ``result`` (``_check_result``) in the user's language: the first broken entry, or intact."""
        if result["problem"]:
            sequence, code, expected = result["problem"]
            summary = self._problem_text(event_log.ChainProblem(sequence, code, expected))
        else:
            summary = self.env._(
                "%(count)s entries, %(seals)s seals (%(unchecked)s made with a key no longer in the certificate "
                "store): the chain is intact.",
                count=result["count"], seals=result["seals"], unchecked=result["unchecked_seals"],
            )
        if result["pending"]:
            summary += "\n" + self.env._(
                "%(pending)s entries are pending: they are chained moments after their step commits, and checked "
                "then.", pending=result["pending"],
            )
        return summary

    # ------------------------------------------------------------------------------------------ in the background

    @api.model
    def _chained_count(self, company):
        """How many entries ``company``'s chain holds, by its head's number: what decides the background."""
        self.flush_model()
        self.env.cr.execute(SQL("SELECT max(sequence) FROM customer_handover_event WHERE company_id = %s",
                                company.id))
        return self.env.cr.fetchone()[0] or 0

    @api.model
    def _check_in_background(self, company):
        """Queue the check of ``company``'s chain when it holds more entries than the threshold; else False.

        Its batches check the entries chained when it starts, in the chain's order, each batch carrying on from what
        the one before kept (``ChainChecker.state``); a broken entry ends it at once.
        """
        self._check_officer(company)
        Job = self.env["customer.handover.job"]
        if self._chained_count(company) <= Job._threshold():
            return False
        return Job._start(company, "log_check", SQL(
            "SELECT id FROM customer_handover_event WHERE company_id = %s AND sequence IS NOT NULL ORDER BY sequence",
            company.id,
        ), params={"name": company.name})

    @api.model
    def _export_in_background(self, company):
        """Queue the signed export of ``company``'s log when it holds more entries than the threshold; else False.

        One call of the cron writes the whole file (``FILE_KINDS``), kept with its ``log_exported`` entry when that
        call commits, or not at all.
        """
        self._check_officer(company, export=True)
        # sudo: whether the company can sign is checked before queueing; the key itself is not read
        if not company.sudo().handover_certificate_id.is_valid:
            raise UserError(self.env._("%(company)s has no valid signing key: a data-protection officer creates one "
                                       "first.", company=company.name))
        Job = self.env["customer.handover.job"]
        count = self._chained_count(company)
        if count <= Job._threshold():
            return False
        return Job._start(company, "log_export", SQL("SELECT %s", company.id), params={"name": company.name},
                          total=count)

    @api.model
    def _job_log_check_batch(self, job, ids):
        """Check these entries, going on from what the batches before found; a broken entry settles the check."""
        company = job.company_id
        self._check_officer(company)
        state = job.params.get("checker")
        certificates = self._known_certificates(company)
        checker = (event_log.ChainChecker.resume(state, certificates) if state
                   else event_log.ChainChecker(company.id, certificates))
        if not checker.problem:
            self._feed_entries(checker, ids)
        job._keep({"checker": checker.state(), "settled": bool(checker.problem)})

    @api.model
    def _job_log_check_undo(self, job, ids):
        """A check changes nothing: a cancelled one has nothing to undo."""

    @api.model
    def _job_log_check_done(self, job):
        """Keep the check's result: the job's ``done`` entry logs it, and its user is told."""
        state = job.params.get("checker") or event_log.ChainChecker(job.company_id.id).state()
        job._keep({"result": self._check_result(event_log.ChainChecker.resume(state), job.company_id)})

    @api.model
    def _job_log_check_outcome(self, job):
        return self.env._("Checking the event log of %(company)s: %(result)s", company=job.company_id.name,
                          result=self._check_result_text(job.params["result"]))

    @api.model
    def _job_log_export_batch(self, job, company_ids):
        """The background export: the whole signed workbook, its rows reported to the job as they are written."""
        attachment = self._export_log(self.env["res.company"].browse(company_ids), job=job)
        job._keep({"attachment": attachment.id})

    @api.model
    def _known_certificates(self, company):
        """The company's signing certificates by fingerprint: seals made with them are checked."""
        # sudo: certificates are readable by administrators; only their public part is used here
        certificates = self.env["certificate.certificate"].sudo().with_context(active_test=False).search(
            [("company_id", "=", company.id), ("pem_certificate", "!=", False)]
        )
        known = {}
        for certificate in certificates:
            try:
                cert = ck.load_certificate(base64.b64decode(certificate.with_context(bin_size=False).pem_certificate))
            except (ck.ChecklistError, ValueError):
                continue
            known[ck.fingerprint(cert)] = cert
        return known

    @api.model
    def _export_log(self, company, job=None):
        """Seal ``company``'s chain and export the whole log as a signed workbook; returns the attachment.

        ``job``: the background step that writes it, told how many rows are written, a batch's size at a time.
        """
        self._check_officer(company, export=True)
        # sudo: the signing key is an officer's setting; the user is an officer of this company (checked above)
        key, cert = company.sudo().handover_certificate_id._handover_signing_material()
        self._seal(company)
        ids = self._chained_ids(company)
        if not ids:
            raise UserError(self.env._("The event log of %(company)s has no chained entry yet: entries are chained "
                                       "moments after their step; export it again in a moment.",
                                       company=company.name))
        log = self.sudo()  # sudo: the officer was checked above; the log is read by its own ids
        head = log.browse(ids[-1])
        now = fields.Datetime.now()
        signed_at = ck.utc_timestamp(now.replace(tzinfo=timezone.utc))
        labels = {**self.env["customer.handover.export"]._checklist_labels(),
                  "sheet_names": [self.env._("Cover"), self.env._("Event log"), self.env._("Signatures")],
                  "title": self.env._("Customer handover event log")}
        with tempfile.TemporaryFile() as output:
            writer = ChecklistWriter(output, labels["sheet_names"], labels)
            writer.write_cover(labels["cover_header"], [
                [self.env._("Company"), company.name],
                [self.env._("Entries"), str(len(ids))],
                [self.env._("Head entry"), str(head.sequence)],
                [self.env._("Head hash (SHA-256)"), head.hash],
                [self.env._("Exported by"), self.env.user.name],
                [self.env._("Entries pending, chained after this export"), str(self._pending_count(company))],
            ])
            names = [self._fields[name]._description_string(self.env) for name in (
                "sequence", "company_id", "logged_at", "user_id", "event", "res_model", "res_id", "payload",
                "previous_hash", "hash", "hash_version")]
            writer.start_checklist(names, [8, 8, 20, 8, 22, 26, 10, 60, 20, 20, 8])
            every, rows = job._batch_size() if job else 0, 0
            for batch_ids in split_every(BATCH * 5, ids):
                batch = log.browse(batch_ids)
                batch.invalidate_recordset()  # what is stored is exported, not what this transaction remembers
                for entry in batch:
                    writer.write_row([*_entry_texts(entry), entry.previous_hash, entry.hash, str(entry.hash_version)])
                    rows += 1
                    if every and rows % every == 0:
                        job._file_progress(rows)
                batch.invalidate_recordset()
            rows = writer.manifest(self.env._("Event log"), head.sequence, company.name, signed_at,
                                   ck.EVENT_LOG_FORMAT)
            rows += ck.signature_rows(labels, 1, "transferring", company.name, signed_at, cert, key, rows)
            writer.close(rows)
            output.seek(0)
            data = output.read()
        # An evidence file of the company that no user reads directly: its log_exported entry, which only the
        # company's officers read, leads to it, and downloading it is a step that logs each download.
        attachment = self.env["ir.attachment"]._keep_handover_evidence([{
            "name": f"event-log-{company.id}-{head.sequence}-signed.xlsx",
            "raw": data,
            "res_model": "res.company",
            "res_id": company.id,
            "company_id": company.id,
            "mimetype": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }])
        self._append([{"company_id": company.id, "event": "log_exported", "res_model": "ir.attachment",
                       "res_id": attachment.id,
                       "payload": {"head": head.sequence, "digest": hashlib.sha256(data).hexdigest()}}])
        return attachment

    @api.model
    def _download_log_export(self, attachment_id):
        """The signed export of a log ``attachment_id``, for an officer of its company; the download is logged."""
        entry = self.search([("event", "=", "log_exported"), ("res_model", "=", "ir.attachment"),
                             ("res_id", "=", attachment_id)], limit=1) if self.env.user.has_group(OFFICER) else self
        if not entry or entry.company_id not in self.env.user.company_ids:
            raise AccessError(self.env._("Only a data-protection officer of its company can download an export of "
                                         "the event log."))
        self._append([{"company_id": entry.company_id.id, "event": "log_downloaded", "res_model": "ir.attachment",
                       "res_id": attachment_id, "payload": {"export": entry.sequence}}])
        # sudo: nobody reads the log's exports directly; the user was checked as an officer of its company above
        return self.env["ir.attachment"].sudo().browse(attachment_id)

    def _chained_ids(self, company):
        """The ids of ``company``'s chained entries, in the chain's order."""
        self.flush_model()
        self.env.cr.execute(SQL(
            "SELECT id FROM customer_handover_event WHERE company_id = %s AND sequence IS NOT NULL ORDER BY sequence",
            company.id,
        ))
        return [row[0] for row in self.env.cr.fetchall()]

    def _problem_text(self, problem):
        """A chain problem in the user's language, naming the entry."""
        texts = {
            "missing": self.env._("Entry %(sequence)s is missing: the next entry present is %(expected)s."),
            "order": self.env._("Entry %(sequence)s is out of order or belongs to another company."),
            "link": self.env._("Entry %(sequence)s does not follow the entry before it: an entry before it was "
                               "changed, removed or inserted."),
            "changed": self.env._("Entry %(sequence)s was changed after it was logged."),
            "seal": self.env._("Entry %(sequence)s is a seal that does not match the chain before it, or its "
                               "signature is not valid."),
            "version": self.env._("Entry %(sequence)s has a hash version this Odoo does not know: update the "
                                  "addon to check it."),
        }
        return texts[problem.code] % {"sequence": problem.sequence, "expected": problem.expected}


def _entry_texts(entry):
    """An entry's texts in ``event_log.ENTRY_FIELDS`` order, from a record or a dict of values."""
    get = entry.get if isinstance(entry, dict) else entry.__getitem__
    user = get("user_id")
    company = get("company_id")
    moment = get("logged_at")
    return [
        str(get("sequence")),
        str(company if isinstance(company, int) else company.id),
        moment if isinstance(moment, str) else fields.Datetime.to_string(moment),
        "" if not user else str(user if isinstance(user, int) else user.id),
        get("event"),
        get("res_model") or "",
        str(get("res_id") or ""),
        get("payload") or "",
    ]



def _pending_payload(entry):
    """The payload's text; None for a seal asked for, whose payload is its signature, made when it is chained."""
    if entry["event"] == event_log.SEAL_EVENT and entry.get("payload") is None:
        return None
    return event_log.payload_text(entry.get("payload"))


def _chain_committed(registry, company_ids):
    """Chain ``company_ids``' committed entries in a transaction of its own; the job takes what is left."""
    for _attempt in range(CHAIN_ATTEMPTS):
        try:
            with registry.cursor() as cr:
                if not registry.in_test_mode():
                    # Each statement sees what committed before it: the head is read once the lock is granted.
                    cr.execute(SQL("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"))
                api.Environment(cr, SUPERUSER_ID, {})["customer.handover.event"]._chain_pending(sorted(company_ids))
            return
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            continue
        except Exception:  # the step committed: its entries wait for the job rather than fail it
            _logger.warning("The event log entries of companies %s could not be chained yet.", sorted(company_ids),
                            exc_info=True)
            return
