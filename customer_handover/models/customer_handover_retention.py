from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from .customer_handover import CustomerHandover as BaseHandover
from .customer_handover_evidence_mixin import evidence_step
from .customer_handover_job import ACTIVE_STATES

# What the daily job does to a completed handover, in this order, each once: (date field, done field, event).
RETENTION_STEPS = (
    ("packages_destroy_date", "packages_destroyed_on", "handover_packages_destroyed"),
    ("records_restrict_date", "records_restricted_on", "handover_records_restricted"),
    ("records_destroy_date", "records_destroyed_on", "handover_records_destroyed"),
)


class CustomerHandover(models.Model):
    """The retention of a handover's own records: its packages, then its checklist snapshots and signed exports.

    A completed handover's signed record (the lines' snapshots, the signed and countersigned workbooks) is kept
    for the company's years (at least three, PIPL Art. 56), read by officers only after a while, then destroyed;
    its packages (the backup before a move, the transfer packages) are destroyed days after completion. The daily
    job does it, one bounded batch per call; each destroyed file keeps its digest.
    """

    _inherit = "customer.handover"
    _evidence_fields = (*BaseHandover._evidence_fields, "packages_destroyed_on", "records_restricted_on",
                        "records_destroyed_on")

    packages_destroy_date = fields.Date(
        string="Packages Destroyed From", compute="_compute_retention_dates", store=True, index=True,
        help="From this day the daily job destroys the backup package and the stored transfer packages.",
    )
    records_restrict_date = fields.Date(
        string="Record Restricted From", compute="_compute_retention_dates", store=True, index=True,
        help="From this day the checklist lines and signed exports are read by data-protection officers only.",
    )
    records_destroy_date = fields.Date(
        string="Record Destroyed From", compute="_compute_retention_dates", store=True, index=True,
        help="From this day the daily job destroys the lines' snapshots and the signed exports' files, keeping "
        "their digests.",
    )
    packages_destroyed_on = fields.Datetime(readonly=True, copy=False)
    records_restricted_on = fields.Datetime(string="Record Restricted On", readonly=True, copy=False)
    records_destroyed_on = fields.Datetime(string="Record Destroyed On", readonly=True, copy=False)

    @api.depends("date_done", "company_id.handover_record_retention_years", "company_id.handover_record_restrict_days",
                 "company_id.handover_package_retention_days")
    def _compute_retention_dates(self):
        for handover in self:
            # sudo: the periods are officer-only settings; every handover's dates follow from them
            company = handover.company_id.sudo()
            done = handover.date_done
            handover.packages_destroy_date = done and done + relativedelta(days=company.handover_package_retention_days)
            handover.records_restrict_date = done and done + relativedelta(days=company.handover_record_restrict_days)
            handover.records_destroy_date = done and done + relativedelta(years=company.handover_record_retention_years)

    @api.model
    def _cron_destroy_expired_records(self, batch_size=100):
        """Restrict and destroy what the retention of completed handovers says, one bounded batch per call.

        Each step takes up to ``batch_size`` handovers whose day came and that it did not do yet, so a run stopped
        half-way resumes where it stopped and does nothing twice; the cron commits each call. Returns how many
        handovers this call changed.
        """
        handovers = self.sudo().with_context(active_test=False)  # sudo: a system job over every company's records
        done = 0
        remaining = 0
        # A handover whose background step runs (a package made after completion) waits for the next run.
        busy = self.env["customer.handover.job"].sudo().search(
            [("state", "in", ACTIVE_STATES), ("handover_id", "!=", False)]).handover_id
        for date_field, done_field, event in RETENTION_STEPS:
            domain = [*self._retention_due_domain(date_field, done_field), ("id", "not in", busy.ids)]
            batch = handovers.search(domain, order="id", limit=batch_size)
            if batch:
                getattr(batch, f"_retention_{done_field}")()
                with evidence_step(self._name, done_field):
                    batch.write({done_field: fields.Datetime.now()})
                self.env["customer.handover.event"]._append_for(batch, event)
                done += len(batch)
            if len(batch) == batch_size:
                remaining += handovers.search_count(domain)
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        if remaining:
            # Odoo's cron runs a job 10 calls in a row, then reschedules it; the trigger wakes it at once.
            self.env.ref("customer_handover.ir_cron_destroy_expired_records")._trigger()
        return done

    @api.model
    def _retention_due_domain(self, date_field, done_field, today=None):
        """Completed handovers whose ``date_field`` came and that are not ``done_field`` yet."""
        domain = [("state", "=", "done"), (date_field, "<=", today or fields.Date.today()), (done_field, "=", False)]
        if done_field == "records_restricted_on":
            domain.append(("records_destroyed_on", "=", False))
        return domain

    def _retention_packages_destroyed_on(self):
        """Destroy the files of these handovers' packages (backup and transfer), keeping each one's digest."""
        for company, handovers in self._by_company():
            packages = self.env["customer.handover.package"].sudo().search([("handover_id", "in", handovers.ids)])
            packages.attachment_id._destroy_handover_evidence("package_retention", company)

    def _retention_records_restricted_on(self):
        """Nothing to destroy: from now on the record rules let officers only read the lines and exports."""

    def _retention_records_destroyed_on(self):
        """Destroy the signed exports' files and clear the lines' snapshots and free texts."""
        for company, handovers in self._by_company():
            exports = self.env["customer.handover.export"].sudo().search([("handover_id", "in", handovers.ids)])
            files = exports.attachment_id | exports.signature_attachment_id | exports.countersigned_attachment_id
            files._destroy_handover_evidence("record_retention", company)
        self.env["customer.handover.line"]._destroy_snapshots(self.ids)

    def _by_company(self):
        return [(company, self.filtered(lambda handover, company=company: handover.company_id == company))
                for company in self.company_id]

    def _complete(self, customers):
        """A handover that carried customers out in a package proposes destroying this company's copies after the
        grace period; a move inside the database destroys nothing (the customers are still here, elsewhere)."""
        result = super()._complete(customers)
        if self.transfer_mode == "package":
            self.env["customer.destruction.request"]._propose_after_handover(self, customers)
        return result

    def _check_record_kept(self):
        """Refuse a new export or package of a handover whose record or packages were destroyed."""
        for handover in self:
            if handover.records_destroyed_on or handover.packages_destroyed_on:
                raise UserError(self.env._(
                    "The packages or the record of %(handover)s were destroyed at the end of their retention: it is "
                    "no longer exported or packaged.", handover=handover.name))
