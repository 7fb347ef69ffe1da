from odoo import api, fields, models
from odoo.tools import SQL

from .customer_destruction_request import BASES
from .customer_handover_evidence_mixin import CREATE, evidence_step

# What a run destroys of each customer, by code: the record and the certificate list them.
CATEGORIES = ("identity", "contact_data", "addresses", "identifiers", "notes", "image", "bank_accounts",
              "consent_evidence", "chatter", "mail_queue", "followers", "activities", "attachments",
              "child_contacts")
RECORD_FIELDS = (
    "request_id", "company_id", "partner_id", "initials", "email_hash", "phone_hash", "categories", "basis",
    "requested_by_id", "approved_by_id", "destroyed_on", "counts", "job_id",
)


class CustomerDestructionRecord(models.Model):
    """What is left of a destroyed customer: a masked identity, what was destroyed, on what basis, by whom.

    One per destroyed customer, written by the run only; no one changes or deletes it (the evidence rule).
    """

    _name = "customer.destruction.record"
    _description = "Destruction Record"
    _inherit = ["customer.handover.evidence.mixin"]
    _order = "id desc"
    _rec_name = "initials"
    _evidence_create = True
    _evidence_fields = RECORD_FIELDS

    request_id = fields.Many2one("customer.destruction.request", required=True, readonly=True, index=True,
                                 ondelete="restrict")
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    partner_id = fields.Many2one("res.partner", string="Destroyed Contact", readonly=True, index=True,
                                 context={"active_test": False}, help="What is left of the contact: a placeholder.")
    initials = fields.Char(readonly=True)
    email_hash = fields.Char(string="Email (keyed hash)", readonly=True, index=True)
    phone_hash = fields.Char(string="Phone (keyed hash)", readonly=True, index=True)
    categories = fields.Char(string="Categories Destroyed", readonly=True)
    basis = fields.Selection(BASES, readonly=True)
    requested_by_id = fields.Many2one("res.users", readonly=True)
    approved_by_id = fields.Many2one("res.users", readonly=True)
    destroyed_on = fields.Datetime(readonly=True)
    counts = fields.Json(string="Records Destroyed per Model", readonly=True)
    counts_text = fields.Text(string="Records Destroyed", compute="_compute_counts_text")
    job_id = fields.Many2one("customer.handover.job", string="Run", readonly=True)

    _sql_constraints = [
        ("partner_unique", "UNIQUE (partner_id)", "A customer is destroyed once: it has one destruction record."),
    ]

    @api.depends("counts")
    def _compute_counts_text(self):
        for record in self:
            counts = sorted((record.counts or {}).items())
            record.counts_text = "\n".join(f"{model}: {count}" for model, count in counts)

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        self._refuse_evidence([], "unlink")

    @api.model
    def _write_run(self, values_list):
        """Create the records of one batch of a run, in one create (the run's step only)."""
        # sudo: the records are written by the run, which checked the officer; no one writes them otherwise
        with evidence_step(self._name, CREATE, *RECORD_FIELDS):
            return self.sudo().create(values_list)

    @api.model
    def _run_totals(self, request_id):
        """How many customers a request destroyed, and the records per model, in one query."""
        rows = self.env.execute_query(SQL(
            "SELECT count(*), jsonb_object_agg(key, total) FROM (SELECT key, sum(value::int) AS total FROM "
            "customer_destruction_record, jsonb_each_text(counts) WHERE request_id = %s GROUP BY key) AS sums",
            request_id,
        ))
        customers = self.env.execute_query(SQL(
            "SELECT count(*) FROM customer_destruction_record WHERE request_id = %s", request_id))[0][0]
        return customers, (rows[0][1] or {}) if rows else {}

    @api.model
    def _certificate_rows(self, request_id, bases, chunk=2000):
        """The certificate's rows of a request, read in chunks by SQL: the memory holds one chunk. ``bases``: the
        label of each basis, in the certificate's language."""
        last = 0
        while True:
            rows = self.env.execute_query(SQL(
                "SELECT id, initials, email_hash, phone_hash, categories, basis, counts, destroyed_on FROM "
                "customer_destruction_record WHERE request_id = %s AND id > %s ORDER BY id LIMIT %s",
                request_id, last, chunk,
            ))
            if not rows:
                return
            for id_, initials, email_hash, phone_hash, categories, basis, counts, destroyed_on in rows:
                yield {"initials": initials or "", "email_hash": email_hash or "", "phone_hash": phone_hash or "",
                       "categories": (categories or "").split(","), "basis": bases.get(basis, basis or ""),
                       "counts": counts or {}, "destroyed_on": destroyed_on}
                last = id_
