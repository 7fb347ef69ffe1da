import hashlib
import json
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from ..tools import event_log
from .customer_handover_event import CHAIN_LOCK

# Repeats of one refusal within this window after its logged entry are counted, not appended one by one.
REPEAT_WINDOW = timedelta(minutes=1)
REPEATED_EVENT = "evidence_refused_repeated"


class CustomerHandoverEventRefusal(models.Model):
    """The repeats of a refused attempt not yet in the event log: one row per attempt (actor, company, model,
    records, operation, fields) and window.

    The first refusal of a window is appended at once; its repeats within ``REPEAT_WINDOW`` only count here,
    and are appended as one ``evidence_refused_repeated`` entry with their count at the next refusal after
    the window, or when the chain is sealed. The log keeps every refusal counted without one user flooding it.
    Written by the system only, in the transaction that logs the refusal; ids are plain integers, so the
    count of an actor or company created by the refused request itself cannot fail on a missing row.
    """

    _name = "customer.handover.event.refusal"
    _description = "Repeated Refusals Awaiting Their Log Entry"
    _log_access = False

    key = fields.Char(required=True, readonly=True, help="SHA-256 of the refused attempt's actor, company and entry.")
    company_id = fields.Integer(required=True, readonly=True)
    user_id = fields.Integer(required=True, readonly=True)
    res_model = fields.Char(string="Model", readonly=True)
    res_id = fields.Integer(string="Record", readonly=True)
    payload = fields.Text(readonly=True)
    window_start = fields.Datetime(required=True, readonly=True)
    last_at = fields.Datetime(readonly=True)
    repeats = fields.Integer(readonly=True, help="Refusals counted since the window's entry, not yet in the log.")

    _sql_constraints = [("key_unique", "UNIQUE (key)", "One row per refused attempt.")]

    @api.model
    def _record(self, entry, uid):
        """Log the refused attempt ``entry`` by ``uid``: appended, or counted when it repeats within the window."""
        log = self.env["customer.handover.event"]
        # Serialised per company (the chain's lock, held by the chaining for milliseconds): two requests never both
        # open a window.
        self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(%s, %s)", CHAIN_LOCK, entry["company_id"]))
        now = fields.Datetime.to_datetime(self.env.cr.now()).replace(microsecond=0)
        key = _key(entry, uid)
        row = self.search([("key", "=", key)])
        if row and now - row.window_start < REPEAT_WINDOW:
            row.write({"repeats": row.repeats + 1, "last_at": now})
            return
        log._append([*row._repeated_entries(), entry], uid=uid)
        values = {"window_start": now, "last_at": now, "repeats": 0}
        if row:
            row.write(values)
        else:
            self.create({"key": key, "company_id": entry["company_id"], "user_id": uid,
                         "res_model": entry.get("res_model") or False, "res_id": entry.get("res_id") or 0,
                         "payload": event_log.payload_text(entry.get("payload")), **values})

    @api.model
    def _append_repeats(self, company_ids=None):
        """Append the counted repeats of refusals (in ``company_ids``, or all) to the logs; forget closed windows.

        Returns the entries appended.
        """
        rows = self.search([("company_id", "in", company_ids)] if company_ids is not None else [], order="id")
        entries = self.env["customer.handover.event"]
        for uid in sorted(set(rows.filtered("repeats").mapped("user_id"))):
            mine = rows.filtered(lambda row, uid=uid: row.repeats and row.user_id == uid)
            entries |= self.env["customer.handover.event"]._append(mine._repeated_entries(), uid=uid)
            mine.write({"repeats": 0})
        now = fields.Datetime.to_datetime(self.env.cr.now())
        rows.filtered(lambda row: now - row.window_start >= REPEAT_WINDOW).unlink()
        return entries

    def _repeated_entries(self):
        return [{
            "company_id": row.company_id,
            "event": REPEATED_EVENT,
            "res_model": row.res_model,
            "res_id": row.res_id,
            "payload": {**json.loads(row.payload or "{}"), "count": row.repeats,
                        "first": fields.Datetime.to_string(row.window_start),
                        "last": fields.Datetime.to_string(row.last_at)},
        } for row in self if row.repeats]


def _key(entry, uid):
    """What makes two refusals the same attempt: the actor, the company, the model, the records, the payload."""
    text = event_log.payload_text([uid, entry["company_id"], entry.get("res_model") or "", entry.get("res_id") or 0,
                                   entry.get("payload")])
    return hashlib.sha256(text.encode()).hexdigest()
