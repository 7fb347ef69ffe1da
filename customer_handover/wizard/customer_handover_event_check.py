from odoo import api, fields, models
from odoo.tools import format_datetime

from ..models.customer_handover_job import ACTIVE_STATES, LOG_KINDS


class CustomerHandoverEventCheck(models.TransientModel):
    _name = "customer.handover.event.check"
    _description = "Check or export a company's event log"
    # What the chain holds and its exported file, for the step only (see docs/evidence.md, "Wizards").
    _transient_max_hours = 1.0

    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company,
                                 domain=lambda self: [("id", "in", self.env.user.company_ids.ids)])
    # What a check made at once found (codes and figures); a check in the background keeps it on its job.
    result = fields.Json(readonly=True)
    status = fields.Selection([("intact", "Intact"), ("broken", "Broken")], compute="_compute_outcome")
    summary = fields.Text(compute="_compute_outcome")
    export_attachment_id = fields.Many2one("ir.attachment", readonly=True)
    attachment_id = fields.Many2one("ir.attachment", string="Signed Export", compute="_compute_outcome")
    export_ready = fields.Boolean(compute="_compute_outcome")
    job_id = fields.Many2one("customer.handover.job", string="Background Step", readonly=True,
                             help="The check or export of a large log this dialog started in the background.")
    active_job_id = fields.Many2one("customer.handover.job", string="Running Step", compute="_compute_active_job",
                                    help="A check or export of this company's log running in the background.")
    active_job_state = fields.Selection(
        lambda self: self.env["customer.handover.job"]._fields["state"].selection, string="Running Step Status",
        compute="_compute_active_job")
    active_job_progress = fields.Float(string="Progress", compute="_compute_active_job")
    active_job_text = fields.Char(string="Running Step Progress", compute="_compute_active_job")
    active_job_time_left = fields.Char(string="Time Left", compute="_compute_active_job")
    active_job_error = fields.Text(string="Running Step Error", compute="_compute_active_job")

    @api.depends("result", "export_attachment_id", "job_id.state", "job_id.params")
    @api.depends_context("lang")
    def _compute_outcome(self):
        log = self.env["customer.handover.event"]
        for wizard in self:
            job = wizard.job_id if wizard.job_id.state == "done" else wizard.job_id.browse()
            params = job.params or {}
            result = params.get("result") if job.kind == "log_check" else wizard.result
            summary = result and log._check_result_text(result)
            if not result and not wizard.job_id:
                # a dialog opened afresh shows the last check made in the background, whoever started it
                last = wizard._last_check()
                result = last.params["result"] if last else False
                summary = result and "\n".join((self.env._(
                    "The last check, started by %(user)s on %(date)s:", user=last.user_id.name,
                    date=format_datetime(self.env, last.ended_on)), log._check_result_text(result)))
            wizard.status = result and ("broken" if result["problem"] else "intact")
            wizard.summary = summary
            attachment = params.get("attachment") if job.kind == "log_export" else wizard.export_attachment_id.id
            wizard.attachment_id = attachment
            wizard.export_ready = bool(attachment)

    @api.depends("company_id")
    @api.depends_context("lang")
    def _compute_active_job(self):
        # the officer's own rights: a non-officer reads no step on the event log (record rules)
        jobs = self.env["customer.handover.job"].search(
            [("company_id", "in", self.company_id.ids), ("kind", "in", LOG_KINDS), ("state", "in", ACTIVE_STATES)])
        active = {job.company_id.id: job for job in jobs}
        for wizard in self:
            job = active.get(wizard.company_id.id, jobs.browse())
            wizard.update({
                "active_job_id": job.id, "active_job_state": job.state, "active_job_progress": job.progress,
                "active_job_text": job.progress_text, "active_job_time_left": job.time_left,
                "active_job_error": job.error,
            })

    def _last_check(self):
        """The company's last check of its log that ended in the background (the officer's own rights)."""
        return self.env["customer.handover.job"].search(
            [("company_id", "=", self.company_id.id), ("kind", "=", "log_check"), ("state", "=", "done")],
            order="id desc", limit=1)

    def action_check(self):
        self.ensure_one()
        log = self.env["customer.handover.event"]
        job = log._check_in_background(self.company_id)
        if job:
            self.write({"job_id": job.id, "result": False})
            return self._started(job)
        checker, _problem = log._check_chain(self.company_id)
        self.write({"result": log._check_result(checker, self.company_id), "job_id": False})
        return self._reopen()

    def action_export(self):
        self.ensure_one()
        log = self.env["customer.handover.event"]
        job = log._export_in_background(self.company_id)
        if job:
            self.write({"job_id": job.id, "export_attachment_id": False})
            return self._started(job)
        attachment = log._export_log(self.company_id)
        self.write({"export_attachment_id": attachment.id, "job_id": False})
        return self.action_download()

    def action_download(self):
        self.ensure_one()
        return {"type": "ir.actions.act_url", "url": f"/customer_handover/log/{self.attachment_id.id}/download",
                "target": "self"}

    def action_job_continue(self):
        """Let the step that stopped on an error go on (it retries what failed)."""
        self.ensure_one()
        self.active_job_id.action_continue()
        return self._reopen()

    def action_job_cancel(self):
        """Cancel the step: a check or an export keeps nothing of what it did."""
        self.ensure_one()
        self.active_job_id.action_cancel()
        return self._reopen()

    def _started(self, job):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": job._kind_label(),
                "message": self.env._("The log's %(count)s entries are processed in the background; this dialog "
                                      "shows the progress and you are told when it ends.", count=job.total),
                "type": "info",
                "next": self._reopen(),
            },
        }

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Check the event log"),
        }
