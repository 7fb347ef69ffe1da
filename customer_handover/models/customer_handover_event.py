import base64
import hashlib
import logging
import tempfile
from datetime import timezone

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL, split_every

from ..tools import checklist as ck
from ..tools import event_log
from ..tools.checklist_xlsx import ChecklistWriter
from .handover_access import OFFICER, has_group_in_company

_logger = logging.getLogger(__name__)

# Serialises appends to one company's chain: (this class of lock, company id).
CHAIN_LOCK = 0x43484556
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
    # Codes no step writes any more (now checklist_all_verified and workbook_verified), kept for older logs:
    # an entry is evidence, so it keeps its code, and still displays and verifies.
    ("handover_verified", "Checklist verified"),
    ("checklist_verified", "Checklist workbook verified"),
    ("sign_link_sent", "Signing link sent"),
    ("sign_link_cancelled", "Signing link replaced or withdrawn"),
    ("sign_code_sent", "Signing code sent"),
    ("sign_code_accepted", "Signing code accepted"),
    ("sign_code_refused", "Wrong signing code refused"),
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
        "previous_hash", "hash",
    )

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True, ondelete="restrict")
    sequence = fields.Integer(required=True, readonly=True)
    logged_at = fields.Datetime(required=True, readonly=True)
    user_id = fields.Many2one("res.users", string="By", readonly=True, ondelete="restrict")
    event = fields.Selection(EVENTS, required=True, readonly=True)
    res_model = fields.Char(string="Model", readonly=True)
    res_id = fields.Integer(string="Record", readonly=True)
    payload = fields.Text(readonly=True, help="Record ids, states and digests: never a customer's personal data.")
    previous_hash = fields.Char(readonly=True)
    hash = fields.Char(readonly=True)

    _sql_constraints = [
        ("sequence_unique", "UNIQUE (company_id, sequence)", "Each entry of a company's log has its own number."),
    ]

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        self._refuse_evidence([], "unlink")

    @api.model
    def _append(self, entries, uid=None):
        """Append ``entries`` (dicts: company_id, event, res_model, res_id, payload) to their companies' chains.

        Callers are the steps, after their own access and state checks: the log itself is written by
        the system. Costs a constant number of queries per company, whatever the number of entries.
        """
        if not entries:
            return self
        uid = uid or self.env.uid
        moment = fields.Datetime.to_datetime(self.env.cr.now()).replace(microsecond=0)
        logged_at = fields.Datetime.to_string(moment)
        by_company = {}
        for entry in entries:
            by_company.setdefault(entry["company_id"], []).append(entry)
        self.flush_model()
        ids = []
        for company_id, items in by_company.items():
            self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(%s, %s)", CHAIN_LOCK, company_id))
            self.env.cr.execute(SQL(
                "SELECT sequence, hash FROM customer_handover_event WHERE company_id = %s "
                "ORDER BY sequence DESC LIMIT 1", company_id,
            ))
            sequence, previous = self.env.cr.fetchone() or (0, event_log.GENESIS)
            rows = []
            for item in items:
                sequence += 1
                values = {
                    "company_id": company_id,
                    "sequence": sequence,
                    "logged_at": logged_at,
                    "user_id": uid,
                    "event": item["event"],
                    "res_model": item.get("res_model") or None,
                    "res_id": item.get("res_id") or None,
                    "payload": event_log.payload_text(item.get("payload")),
                }
                digest = event_log.entry_hash(previous, _entry_texts(values))
                rows.append(SQL(
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", *values.values(), previous, digest,
                    uid, moment, uid, moment,
                ))
                previous = digest
            # One statement per company, whatever the number of entries. Nobody writes the log by their own
            # rights, so it is not the ORM's create: the calling step checked the user's rights.
            self.env.cr.execute(SQL(
                "INSERT INTO customer_handover_event (company_id, sequence, logged_at, user_id, event, res_model, "
                "res_id, payload, previous_hash, hash, create_uid, create_date, write_uid, write_date) "
                "VALUES %s RETURNING id", SQL(", ").join(rows),
            ))
            ids.extend(row[0] for row in self.env.cr.fetchall())
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
        """Sign the head of ``company``'s chain with its key and append the seal; False without a usable key."""
        # sudo: the signing key is an officer's setting; sealing is done by the system for every step.
        # sudo: the counted repeats of refusals are the system's; the seal covers them too
        self.env["customer.handover.event.refusal"].sudo()._append_repeats(company.ids)
        certificate = company.sudo().handover_certificate_id
        if not certificate.is_valid:
            return False
        key, cert = certificate._handover_signing_material()
        self.flush_model()
        self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(%s, %s)", CHAIN_LOCK, company.id))
        self.env.cr.execute(SQL(
            "SELECT sequence, hash FROM customer_handover_event WHERE company_id = %s ORDER BY sequence DESC LIMIT 1",
            company.id,
        ))
        head = self.env.cr.fetchone()
        if not head:
            return False
        payload = event_log.seal(key, ck.fingerprint(cert), company.id, head[0], head[1])
        return self._append([{"company_id": company.id, "event": event_log.SEAL_EVENT, "payload": payload}])

    @api.model
    def _cron_seal(self):
        """Seal every company's chain that grew since its last seal."""
        log = self.sudo()  # sudo: a system job over every company's log
        self.env["customer.handover.event.refusal"].sudo()._append_repeats()
        for (company,) in log._read_group([], ["company_id"]):
            last = log.search([("company_id", "=", company.id)], limit=1)
            if last.event != event_log.SEAL_EVENT and not self._seal(company):
                _logger.warning("The event log of company %s is not sealed: it has no valid signing key.", company.id)

    @api.model
    def _check_chain(self, company):
        """Check ``company``'s whole chain: ``(checker, problem or None)``, reading entries in batches."""
        if not has_group_in_company(self.env, OFFICER, company):
            raise AccessError(self.env._("Only a data-protection officer of %(company)s can check its event log.",
                                         company=company.name))
        self.flush_model()
        checker = event_log.ChainChecker(company.id, self._known_certificates(company))
        self.env.cr.execute(SQL(
            "SELECT id FROM customer_handover_event WHERE company_id = %s ORDER BY sequence", company.id,
        ))
        ids = [row[0] for row in self.env.cr.fetchall()]
        # sudo: the officer was checked above; the log is read by its own ids, batch by batch
        log = self.sudo()
        for batch_ids in split_every(BATCH * 5, ids):
            batch = log.browse(batch_ids)
            batch.invalidate_recordset()  # what is stored is checked, not what this transaction remembers
            for entry in batch:
                if checker.feed(_entry_texts(entry), entry.previous_hash, entry.hash):
                    return checker, checker.problem
            batch.invalidate_recordset()
        return checker, None

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
    def _export_log(self, company):
        """Seal ``company``'s chain and export the whole log as a signed workbook; returns the attachment."""
        if not has_group_in_company(self.env, OFFICER, company):
            raise AccessError(self.env._("Only a data-protection officer of %(company)s can export its event log.",
                                         company=company.name))
        # sudo: the signing key is an officer's setting; the user is an officer of this company (checked above)
        key, cert = company.sudo().handover_certificate_id._handover_signing_material()
        self._seal(company)
        self.flush_model()
        self.env.cr.execute(SQL(
            "SELECT id FROM customer_handover_event WHERE company_id = %s ORDER BY sequence", company.id,
        ))
        ids = [row[0] for row in self.env.cr.fetchall()]
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
            ])
            names = [self._fields[name]._description_string(self.env) for name in (
                "sequence", "company_id", "logged_at", "user_id", "event", "res_model", "res_id", "payload",
                "previous_hash", "hash")]
            writer.start_checklist(names, [8, 8, 20, 8, 22, 26, 10, 60, 20, 20])
            for batch_ids in split_every(BATCH * 5, ids):
                batch = log.browse(batch_ids)
                batch.invalidate_recordset()  # what is stored is exported, not what this transaction remembers
                for entry in batch:
                    writer.write_row([*_entry_texts(entry), entry.previous_hash, entry.hash])
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
        str(user if isinstance(user, int) else (user.id or "")),
        get("event"),
        get("res_model") or "",
        str(get("res_id") or ""),
        get("payload") or "",
    ]

