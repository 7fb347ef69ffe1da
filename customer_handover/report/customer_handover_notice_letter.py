from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import html_sanitize

from ..models.handover_access import MANAGER


class ReportCustomerNoticeLetter(models.AbstractModel):
    """The letter list: one letter per customer, in the customer's language, with the text the email would carry."""

    _name = "report.customer_handover.report_notice_letter"
    _description = "Customer Notice Letters"

    @api.model
    def _get_report_values(self, docids, data=None):
        notices = self.env["customer.handover.notice"].browse(docids)
        if not self.env.user.has_group(MANAGER):
            raise AccessError(self.env._("Only handover managers print the letters to customers."))
        notices.check_access("read")
        # the body as the email carries it, its styles kept: rendered by the notice template
        texts = {notice_id: (subject, html_sanitize(body, sanitize_style=False))
                 for notice_id, (subject, body) in notices._render_texts().items()}
        return {
            "doc_ids": notices.ids,
            "doc_model": notices._name,
            # sudo: the customers' postal addresses, which may have moved to the receiving company
            "docs": notices.sudo(),
            "texts": texts,
            "today": fields.Date.context_today(self),
        }
