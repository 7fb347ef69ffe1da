from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import html_sanitize

from ..models.customer_handover_notice import LETTER_STATES
from ..models.handover_access import MANAGER, has_group_in_company


class ReportCustomerNoticeLetter(models.AbstractModel):
    """The letter list: one letter per customer, in the customer's language, with the text the email would carry.

    Printing is a step of the notices, whichever way it is asked (the handover's button, the report's own route):
    managers of the notices' companies only, notices on the letter list only, and each printing is logged.
    """

    _name = "report.customer_handover.report_notice_letter"
    _description = "Customer Notice Letters"

    @api.model
    def _get_report_values(self, docids, data=None):
        notices = self.env["customer.handover.notice"].browse(docids)
        # sudo: only the companies of the notices asked for are read, to check the user against them
        for company in notices.sudo().company_id or self.env.company:
            if not has_group_in_company(self.env, MANAGER, company):
                raise AccessError(self.env._("Only handover managers print the letters to customers."))
        notices.check_access("read")
        notices.handover_id._notice_check_not_cancelled()
        wrong = notices.filtered(lambda notice: notice.state not in LETTER_STATES)
        if wrong:
            raise UserError(self.env._(
                "%(count)s of these customers are not on the letter list (only customers without an email address "
                "or whose email bounced are sent a letter): no letter is printed.", count=len(wrong)))
        # the body as the letter carries it, with the customer's personal link and its styles: the notice template's
        texts = {notice_id: (subject, html_sanitize(body, sanitize_style=False))
                 for notice_id, (subject, body) in notices._render_texts(link=True).items()}
        notices._log("notice_letters_printed", {"letters": len(notices)})
        return {
            "doc_ids": notices.ids,
            "doc_model": notices._name,
            # sudo: the customers' postal addresses, which may have moved to the receiving company
            "docs": notices.sudo(),
            "texts": texts,
            "today": fields.Date.context_today(self),
        }
