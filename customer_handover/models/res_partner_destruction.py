import logging
from collections import Counter, defaultdict

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL

from ..tools import destruction_certificate as dc
from .customer_destruction_record import CATEGORIES
from .handover_access import OFFICER, has_group_in_company
from .res_partner import ResPartner as BasePartner

_logger = logging.getLogger(__name__)

DESTRUCTION_STATES = [("restricted", "Restricted"), ("destroyed", "Destroyed")]
DESTRUCTION_FACTS = ("handover_destruction_state", "handover_destroyed_on", "handover_restricted_until")
# The contact's columns that identify a person, cleared by a run (those that exist: modules add some).
PERSONAL_COLUMNS = (
    "email", "email_normalized", "phone", "mobile", "phone_sanitized", "street", "street2", "zip", "city",
    "state_id", "country_id", "vat", "ref", "company_registry", "website", "comment", "function", "title",
    "barcode", "company_name", "commercial_company_name", "partner_latitude", "partner_longitude",
    "legal_hold_reason", "signup_token", "additional_info",
)
# The documents that keep a contact for a legal duty (model, contact columns, date column): its contact is
# restricted until the date plus the company's accounting retention, not destroyed.
KEEPERS = (("account.move", ("partner_id", "commercial_partner_id"), "date"),)
# The records hanging on a contact whose chatter, followers, activities and attachments go with it.
HANGING = ("res.partner", "customer.consent", "customer.handover.notice")


class ResPartner(models.Model):
    """Destroying customers: one background batch scrubs a set of contacts and everything hanging on them.

    Set-based: every statement covers the whole batch (``id = ANY(...)``), so a batch costs the same number of
    queries whatever its size. A contact stays as an archived placeholder flagged destroyed rather than being
    deleted: the event log, the destruction record and other documents name it by id, and a delete would cascade
    into other modules' records that must stay.
    """

    _inherit = "res.partner"
    _evidence_fields = (*BasePartner._evidence_fields, *DESTRUCTION_FACTS)

    handover_destruction_state = fields.Selection(
        DESTRUCTION_STATES, string="Destruction", readonly=True, copy=False, index="btree_not_null",
        help="Restricted: another document keeps the contact for a legal duty; only officers see it until it may "
        "be destroyed. Destroyed: its personal data were replaced by a placeholder.",
    )
    handover_destroyed_on = fields.Datetime(string="Destroyed On", readonly=True, copy=False)
    handover_restricted_until = fields.Date(
        string="May Be Destroyed From", readonly=True, copy=False,
        groups="customer_handover.group_data_protection_officer",
        help="The end of the legal duty that keeps this restricted contact.",
    )

    def action_propose_destruction(self):
        """An officer's proposal: a draft destruction request of these customers, opened to choose its basis."""
        request = self.env["customer.destruction.request"].create({
            "partner_ids": [fields.Command.set(self.ids)], "basis": "other"})
        return {"type": "ir.actions.act_window", "res_model": request._name, "res_id": request.id,
                "view_mode": "form", "target": "current"}

    # ------------------------------------------------------------------------------------------ the job's steps

    @api.model
    def _job_destroy_batch(self, job, ids):
        """Destroy the customers ``ids`` of ``job``'s request and their child contacts, set-based.

        Customers already destroyed are left alone, so a batch run again destroys nothing twice; a contact another
        document keeps (an invoice during its accounting retention) is restricted instead.
        """
        request = job.destruction_request_id
        if not has_group_in_company(self.env, OFFICER, request.company_id):
            raise AccessError(self.env._("Only a data-protection officer runs a destruction."))
        now = fields.Datetime.now()
        tree = self._destruction_tree(ids)
        if not tree:
            return
        restricted = self._destruction_restrict(tree, request.company_id)
        tree = {pid: root for pid, root in tree.items() if root not in restricted}
        if not tree:
            return
        all_ids = list(tree)
        identities = self._destruction_identities(sorted(set(tree.values())), request.company_id)
        counts = defaultdict(Counter)
        for model, per_partner in self._destruction_scrub(tree, request, now).items():
            for partner_id, count in per_partner.items():
                counts[tree[partner_id]][model] += count
        records = []
        for root, masked in identities.items():
            categories = [c for c in CATEGORIES if c != "child_contacts" or counts[root].get("res.partner", 0) > 1]
            records.append({
                "request_id": request.id, "company_id": request.company_id.id, "partner_id": root,
                "initials": masked.initials, "email_hash": masked.email_hash or False,
                "phone_hash": masked.phone_hash or False, "categories": ",".join(categories),
                "basis": request.basis, "requested_by_id": request.requested_by_id.id,
                "approved_by_id": request.approved_by_id.id, "destroyed_on": now, "counts": dict(counts[root]),
                "job_id": job.id,
            })
        self.env["customer.destruction.record"]._write_run(records)
        self.env.invalidate_all()
        self.env["customer.handover.event"]._append_for(
            self.browse(sorted(identities)), "customers_destroyed", {"request": request.id, "contacts": len(all_ids)},
            request.company_id)

    @api.model
    def _job_destroy_undo(self, job, ids):
        """Nothing to undo: a destruction cannot be undone (the job refuses to be cancelled)."""

    @api.model
    def _job_destroy_done(self, job):
        job.destruction_request_id._job_destroyed(job)

    # ------------------------------------------------------------------------------------------ helpers

    @api.model
    def _destruction_tree(self, ids):
        """{contact id: its customer's id} for ``ids`` not destroyed yet nor on legal hold, and their child contacts,
        locked."""
        rows = self.env.execute_query(SQL(
            """WITH RECURSIVE tree(id, root) AS (
                   SELECT id, id FROM res_partner WHERE id = ANY(%s)
                      AND handover_destruction_state IS DISTINCT FROM 'destroyed'
                      -- a legal hold placed after the approval still holds
                      AND NOT COALESCE(legal_hold, FALSE)
                   UNION ALL
                   SELECT c.id, tree.root FROM res_partner c JOIN tree ON c.parent_id = tree.id
                    WHERE c.handover_destruction_state IS DISTINCT FROM 'destroyed')
               SELECT tree.id, tree.root FROM tree JOIN res_partner p ON p.id = tree.id ORDER BY tree.id
                  FOR UPDATE OF p""",
            list(ids),
        ))
        return dict(rows)

    @api.model
    def _destruction_restrict(self, tree, company):
        """Restrict the customers another document keeps (with their contacts); returns their ids."""
        # sudo: the accounting retention is an officer's setting, read for the run of an officer
        years = company.sudo().handover_accounting_retention_years
        keep = {}
        for model, columns, date_column in KEEPERS:
            if model not in self.env:
                continue
            table = self.env[model]._table
            for column in columns:
                rows = self.env.execute_query(SQL(
                    "SELECT %s, max(%s) FROM %s WHERE %s = ANY(%s) GROUP BY 1", SQL.identifier(column),
                    SQL.identifier(date_column), SQL.identifier(table), SQL.identifier(column), list(tree),
                ))
                for partner_id, date in rows:
                    root = tree[partner_id]
                    until = (date or fields.Date.today()) + relativedelta(years=years)
                    keep[root] = max(keep.get(root, until), until)
        if not keep:
            return set()
        ids = [pid for pid, root in tree.items() if root in keep]
        self.env.execute_query(SQL(
            """UPDATE res_partner SET handover_destruction_state = 'restricted',
                      handover_restricted_until = roots.until
                 FROM unnest(%s::int[], %s::int[]) AS data(id, root)
                 JOIN unnest(%s::int[], %s::date[]) AS roots(root, until) ON roots.root = data.root
                WHERE res_partner.id = data.id""",
            ids, [tree[pid] for pid in ids], list(keep), list(keep.values()),
        ))
        self.browse(ids).invalidate_recordset(DESTRUCTION_FACTS)
        self.env["customer.handover.event"]._append_for(self.browse(sorted(keep)), "customers_restricted", {},
                                                        company)
        return set(keep)

    @api.model
    def _destruction_identities(self, roots, company):
        """{customer id: its masked identity}, read in one query."""
        rows = self.env.execute_query(SQL(
            """SELECT p.id, p.name, p.email, COALESCE(NULLIF(p.phone, ''), p.mobile), c.phone_code
                 FROM res_partner p LEFT JOIN res_country c ON c.id = p.country_id WHERE p.id = ANY(%s)""",
            roots,
        ))
        key = company._handover_identity_key()
        fallback = str(company.country_id.phone_code or "")
        return {pid: dc.masked_identity(key, name or "", email or "", phone or "",
                                        str(code or "") or fallback) for pid, name, email, phone, code in rows}

    @api.model
    def _destruction_scrub(self, tree, request, now):
        """Destroy what identifies the contacts of ``tree`` and what hangs on them; returns
        {model: Counter(contact id: records)}. A constant number of statements, whatever the batch's size."""
        ids = list(tree)
        execute = self.env.execute_query
        counts = defaultdict(Counter)
        consents = dict(execute(SQL("SELECT id, partner_id FROM customer_consent WHERE partner_id = ANY(%s)", ids)))
        notices = dict(execute(SQL(
            "SELECT id, partner_id FROM customer_handover_notice WHERE partner_id = ANY(%s)", ids)))
        owner = {("res.partner", pid): pid for pid in ids}
        owner.update({("customer.consent", cid): pid for cid, pid in consents.items()})
        owner.update({("customer.handover.notice", nid): pid for nid, pid in notices.items()})
        targets = [(model, res_ids) for model, res_ids in (
            ("res.partner", ids), ("customer.consent", list(consents)),
            ("customer.handover.notice", list(notices))) if res_ids]

        def on(alias, model_col, id_col):
            return SQL(" OR ").join(
                SQL("(%s = %s AND %s = ANY(%s))", SQL.identifier(alias, model_col), model,
                    SQL.identifier(alias, id_col), res_ids) for model, res_ids in targets)

        def tally(model, rows):
            for res_model, res_id in rows:
                counts[model][owner[(res_model, res_id)]] += 1

        # the chatter of the contacts, their consents and notices: tracking values, notifications, mails, messages
        tally("mail.tracking.value", execute(SQL(
            "DELETE FROM mail_tracking_value t USING mail_message m WHERE t.mail_message_id = m.id AND (%s) "
            "RETURNING m.model, m.res_id", on("m", "model", "res_id"))))
        tally("mail.notification", execute(SQL(
            "DELETE FROM mail_notification n USING mail_message m WHERE n.mail_message_id = m.id AND (%s) "
            "RETURNING m.model, m.res_id", on("m", "model", "res_id"))))
        tally("mail.mail", execute(SQL(
            "DELETE FROM mail_mail mm USING mail_message m WHERE mm.mail_message_id = m.id AND (%s) "
            "RETURNING m.model, m.res_id", on("m", "model", "res_id"))))
        attached = execute(SQL(
            "DELETE FROM message_attachment_rel r USING mail_message m WHERE r.message_id = m.id AND (%s) "
            "RETURNING r.attachment_id", on("m", "model", "res_id")))
        tally("mail.message", execute(SQL(
            "DELETE FROM mail_message m WHERE %s RETURNING m.model, m.res_id", on("m", "model", "res_id"))))
        # what reaches the contacts on other records: notifications, queued mails, recipients, authorship
        for (pid,) in execute(SQL(
                "DELETE FROM mail_notification WHERE res_partner_id = ANY(%s) RETURNING res_partner_id", ids)):
            counts["mail.notification"][pid] += 1
        mails = execute(SQL(
            """SELECT DISTINCT r.mail_mail_id, r.res_partner_id FROM mail_mail_res_partner_rel r
                WHERE r.res_partner_id = ANY(%s)""", ids))
        emails = execute(SQL(
            "SELECT id, email_normalized FROM res_partner WHERE id = ANY(%s) AND email_normalized IS NOT NULL", ids))
        if emails:
            mails += execute(SQL(
                """SELECT mm.id, e.pid FROM mail_mail mm
                     JOIN unnest(%s::int[], %s::varchar[]) AS e(pid, pattern) ON mm.email_to ILIKE e.pattern""",
                [pid for pid, _email in emails], [f"%{_escape_like(email)}%" for _pid, email in emails]))
        if mails:
            execute(SQL("DELETE FROM mail_mail WHERE id = ANY(%s)", list({mail_id for mail_id, _pid in mails})))
            for _mail_id, pid in mails:
                counts["mail.mail"][pid] += 1
        execute(SQL("DELETE FROM mail_message_res_partner_rel WHERE res_partner_id = ANY(%s)", ids))
        execute(SQL("UPDATE mail_message SET email_from = NULL, reply_to = NULL WHERE author_id = ANY(%s)", ids))
        placeholder = self._destruction_placeholder(request.company_id)
        # tracking values of other records that name the contacts (a many2one to a contact keeps its name)
        execute(SQL(
            """UPDATE mail_tracking_value t
                  SET old_value_char = CASE WHEN t.old_value_integer = ANY(%(ids)s) THEN %(text)s
                                            ELSE t.old_value_char END,
                      new_value_char = CASE WHEN t.new_value_integer = ANY(%(ids)s) THEN %(text)s
                                            ELSE t.new_value_char END
                 FROM ir_model_fields f
                WHERE f.id = t.field_id AND f.relation = 'res.partner'
                  AND (t.old_value_integer = ANY(%(ids)s) OR t.new_value_integer = ANY(%(ids)s))""",
            ids=ids, text=placeholder))
        for pid, res_model, res_id in execute(SQL(
                "DELETE FROM mail_followers f WHERE f.partner_id = ANY(%s) OR (%s) "
                "RETURNING f.partner_id, f.res_model, f.res_id", ids, on("f", "res_model", "res_id"))):
            counts["mail.followers"][pid if pid in tree else owner[(res_model, res_id)]] += 1
        tally("mail.activity", execute(SQL(
            "DELETE FROM mail_activity a WHERE %s RETURNING a.res_model, a.res_id", on("a", "res_model", "res_id"))))
        files = execute(SQL(
            "DELETE FROM ir_attachment a WHERE (%s) OR a.id = ANY(%s) RETURNING a.res_model, a.res_id, a.store_fname",
            on("a", "res_model", "res_id"), [row[0] for row in attached]))
        attachment = self.env["ir.attachment"]
        for res_model, res_id, store_fname in files:
            if (res_model, res_id) in owner:
                counts["ir.attachment"][owner[(res_model, res_id)]] += 1
            if store_fname:
                # Marked only: Odoo's garbage collection removes the file after the commit, if nothing shares it.
                attachment._file_delete(store_fname)
        for (pid,) in execute(SQL("DELETE FROM res_partner_bank WHERE partner_id = ANY(%s) RETURNING partner_id",
                                  ids)):
            counts["res.partner.bank"][pid] += 1
        for (pid,) in execute(SQL(
                "UPDATE customer_consent SET note = NULL, evidence_filename = NULL WHERE id = ANY(%s) "
                "RETURNING partner_id", list(consents))):
            counts["customer.consent"][pid] += 1
        for (pid,) in execute(SQL(
                "UPDATE customer_handover_notice SET email = NULL, told_note = NULL WHERE id = ANY(%s) "
                "RETURNING partner_id", list(notices))):
            counts["customer.handover.notice"][pid] += 1
        columns = [name for name in PERSONAL_COLUMNS if name in self._fields and self._fields[name].store]
        for (pid,) in execute(SQL(
                "UPDATE res_partner SET name = %s, complete_name = %s, %s, active = FALSE, "
                "handover_destruction_state = 'destroyed', handover_destroyed_on = %s WHERE id = ANY(%s) "
                "RETURNING id",
                placeholder, placeholder, SQL(", ").join(SQL("%s = NULL", SQL.identifier(name)) for name in columns),
                now, ids)):
            counts["res.partner"][pid] += 1
        return counts

    @api.model
    def _destruction_placeholder(self, company):
        """The neutral name a destroyed contact keeps, in the company's language."""
        return company.with_env(company._handover_lang_env()).env._("Destroyed contact")


def _escape_like(text):
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
