from odoo import fields, models
from odoo.exceptions import AccessError

from ..models.handover_access import OFFICER


class CustomerHandoverEventCheck(models.TransientModel):
    _name = "customer.handover.event.check"
    _description = "Check or export a company's event log"
    # What the chain holds and its exported file, for the step only (see docs/evidence.md, "Wizards").
    _transient_max_hours = 1.0

    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company,
                                 domain=lambda self: [("id", "in", self.env.user.company_ids.ids)])
    status = fields.Selection([("intact", "Intact"), ("broken", "Broken")], readonly=True)
    summary = fields.Text(readonly=True)
    attachment_id = fields.Many2one("ir.attachment", string="Signed Export", readonly=True)

    def action_check(self):
        self.ensure_one()
        log = self.env["customer.handover.event"]
        checker, problem = log._check_chain(self.company_id)
        if problem:
            summary = log._problem_text(problem)
        else:
            summary = self.env._(
                "%(count)s entries, %(seals)s seals (%(unchecked)s made with a key no longer in the certificate "
                "store): the chain is intact.",
                count=checker.count, seals=checker.seals, unchecked=checker.unchecked_seals,
            )
        pending = log._pending_count(self.company_id)
        if pending:
            summary += "\n" + self.env._(
                "%(pending)s entries are pending: they are chained moments after their step commits, and checked "
                "then.", pending=pending,
            )
        self.write({"status": "broken" if problem else "intact", "summary": summary})
        return self._reopen()

    def action_export(self):
        self.ensure_one()
        if not self.env.user.has_group(OFFICER):
            raise AccessError(self.env._("Only a data-protection officer can export the event log."))
        attachment = self.env["customer.handover.event"]._export_log(self.company_id)
        self.attachment_id = attachment
        return {"type": "ir.actions.act_url", "url": f"/customer_handover/log/{attachment.id}/download",
                "target": "self"}

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Check the event log"),
        }
