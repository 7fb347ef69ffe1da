from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.tools import SQL

from .customer_handover_evidence_mixin import evidence_step

# A proposal leaves out customers already destroyed or restricted, and those another request still covers.
OPEN_REQUEST_STATES = ("draft", "requested", "approved", "running")


class CustomerDestructionRequest(models.Model):
    """Who proposes a destruction besides an officer: the daily job, a customer's deletion request, a handover."""

    _inherit = "customer.destruction.request"

    @api.model
    def _propose(self, company, partner_ids, basis, origin, requested=False, **links):
        """A request of ``partner_ids`` (those not destroyed, restricted or in another open request), proposed by
        the system: a draft an officer requests, or with ``requested`` one a single officer approves. ``links``:
        ``data_request_id``, ``handover_id``, ``not_before``, ``note``. Returns the request, or an empty one."""
        self.env.flush_all()
        free = self._proposable(partner_ids)
        if not free:
            return self.browse()
        values = {"company_id": company.id, "basis": basis, "origin": origin, **links}
        if requested:
            values.update({"state": "requested", "requested_by_id": self.env.ref("base.user_root").id,
                           "requested_on": fields.Datetime.now()})
        # sudo: the system proposes; officers alone read, request and approve what it proposed
        with evidence_step(self._name, "origin", "company_id", "data_request_id", "handover_id", "state",
                           "requested_by_id", "requested_on"):
            request = self.sudo().with_company(company).create(values)
        self.env.execute_query(SQL(
            "INSERT INTO customer_destruction_request_partner_rel (request_id, partner_id) "
            "SELECT %s, unnest(%s::int[])", request.id, free))
        request.invalidate_recordset(["partner_ids"])
        self.env["customer.handover.event"]._append_for(request, "destruction_proposed",
                                                        {"origin": origin, "customers": len(free)}, company)
        return request

    @api.model
    def _proposable(self, partner_ids):
        rows = self.env.execute_query(SQL(
            """SELECT p.id FROM res_partner p WHERE p.id = ANY(%s) AND p.handover_destruction_state IS NULL
                 AND NOT EXISTS (SELECT 1 FROM customer_destruction_request_partner_rel r
                                   JOIN customer_destruction_request q ON q.id = r.request_id
                                  WHERE r.partner_id = p.id AND q.state IN %s)
               ORDER BY p.id""", list(partner_ids), OPEN_REQUEST_STATES))
        return [row[0] for row in rows]

    @api.model
    def _cron_propose_destructions(self, limit=10000):
        """The daily job: start approved requests whose day came; propose destroying customers whose retention
        ended (per company and policy), up to ``limit`` customers a call."""
        waiting = self.sudo().search([("state", "=", "approved"), ("not_before", "<=", fields.Date.today())])
        for request in waiting:
            request.with_user(request.approved_by_id)._run()
        today = fields.Date.today()
        self.env.flush_all()
        rows = self.env.execute_query(SQL(
            """SELECT p.company_id, COALESCE(r.destroy_on_approval, FALSE), array_agg(p.id ORDER BY p.id)
                 FROM (SELECT id, COALESCE(company_id, %s) AS company_id, retention_policy_id FROM res_partner
                        WHERE retention_end_date < %s AND handover_destruction_state IS NULL
                          AND NOT COALESCE(legal_hold, FALSE)
                          AND NOT EXISTS (SELECT 1 FROM customer_destruction_request_partner_rel rel
                                            JOIN customer_destruction_request q ON q.id = rel.request_id
                                           WHERE rel.partner_id = res_partner.id AND q.state IN %s)
                        ORDER BY id LIMIT %s) AS p
                 LEFT JOIN customer_retention_policy r ON r.id = p.retention_policy_id
                GROUP BY 1, 2""", self.env.company.id, today, OPEN_REQUEST_STATES, limit))
        proposed = self.browse()
        for company_id, on_approval, partner_ids in rows:
            proposed |= self._propose(self.env["res.company"].browse(company_id), partner_ids, "retention_expired",
                                      "retention", requested=on_approval)
        return proposed

    @api.model
    def _propose_after_handover(self, handover, customers):
        """A completed handover that carried ``customers`` out in a package: destroy this company's copies once
        the company's grace period has passed (none with a period of 0)."""
        # sudo: the grace period is an officer's setting, read for the handover's completion
        days = handover.company_id.sudo().handover_destruction_grace_days
        if days <= 0 or not customers:
            return self.browse()
        return self._propose(handover.company_id, customers.ids, "handed_over", "handover",
                             handover_id=handover.id, not_before=handover.date_done + relativedelta(days=days))
