from odoo import models


class MailMail(models.Model):
    """Odoo's mail queue tells the customer notices whether their email went out."""

    _inherit = "mail.mail"

    def _postprocess_sent_message(self, success_pids, failure_reason=False, failure_type=None):
        messages = self.mail_message_id.filtered(lambda message: message.model == "customer.handover.notice")
        if messages:
            # sudo: the mail queue runs as the system; the notices' statuses are their steps' to set
            notices = self.env["customer.handover.notice"].sudo().search([("mail_message_id", "in", messages.ids)])
            notices._mail_outcome(failure_type)
        return super()._postprocess_sent_message(success_pids, failure_reason=failure_reason,
                                                 failure_type=failure_type)
