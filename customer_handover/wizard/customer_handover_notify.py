from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, html_escape

from ..models.customer_handover_notice_run import NOTICE_MODES


class CustomerHandoverNotify(models.TransientModel):
    """The preview of a handover's notices: a rendered sample per language, the customers each channel reaches.

    It only shows and collects; the handover's steps (``_notice_plan``, ``_notice_start``) record and send.
    """

    _name = "customer.handover.notify"
    _description = "Tell the Customers of a Handover"
    _transient_max_hours = 24

    handover_id = fields.Many2one("customer.handover", required=True, readonly=True, ondelete="cascade")
    send_mode = fields.Selection(NOTICE_MODES, string="Send", required=True, default="now")
    notice_date = fields.Date(string="Planned Date")
    notice_wait = fields.Boolean(
        string="Complete Only Once Customers Are Told",
        help="Completing the handover waits until no notice is queued, bounced or without an address.")
    email_count = fields.Integer(string="By Email", readonly=True)
    letter_count = fields.Integer(string="By Letter", readonly=True,
                                  help="Customers without an email address, who are sent a letter.")
    nowhere_count = fields.Integer(
        string="Without Any Address", readonly=True,
        help="Customers with neither an email nor a postal address: record how they are told another way.")
    told_count = fields.Integer(string="Already Notified", readonly=True)
    preview_html = fields.Html(string="Preview", readonly=True, sanitize=False)
    render_error = fields.Text(readonly=True)

    @api.model
    def default_get(self, fields_list):
        """The preview is rendered once, when the dialog opens: the samples are rendered in a savepoint rolled back
        at once, before any record of the dialog exists."""
        values = super().default_get(fields_list)
        handover = self.env["customer.handover"].browse(values.get("handover_id"))
        if not handover:
            return values
        handover._notice_check_manager()
        handover._notice_check_signed()
        values.update(self._channel_counts(handover))
        values.update({"notice_wait": handover.notice_wait, "notice_date": handover.notice_date,
                       "send_mode": handover.notice_send_mode or "now"})
        try:
            samples = self.env["customer.handover.notice"]._render_samples(handover)
        except UserError as error:
            values.update({"preview_html": False, "render_error": error.args[0]})
            return values
        # the bodies are the template's rendering, HTML as the customers receive it; the rest is escaped
        values["preview_html"] = "".join(
            f'<div class="o_notice_sample mb-4"><h4>{html_escape(self.env["res.lang"]._lang_get(lang).name or lang)}'
            f'</h4><p><strong>{html_escape(subject)}</strong></p><div>{body}</div></div>'
            for lang, (subject, body) in samples.items())
        return values

    @api.model_create_multi
    def create(self, vals_list):
        dialogs = super().create(vals_list)
        # whoever opens the preview of a handover's notices is one of its managers, however the dialog is made
        dialogs.handover_id._notice_check_manager()
        return dialogs

    def action_confirm(self):
        """Send now, or record when the customers are told."""
        self.ensure_one()
        handover = self.handover_id
        if self.render_error:
            raise UserError(self.env._("The notice cannot be rendered, nothing was sent: %(error)s",
                                       error=self.render_error))
        handover._notice_plan(self.send_mode, self.notice_date, self.notice_wait)
        if self.send_mode == "now":
            job = handover._notice_start()
            if job:
                return job._started_action()
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    @api.model
    def _channel_counts(self, handover):
        """How many of the customers still to tell each channel reaches, and how many were told already."""
        query = handover._notice_untold_query()
        self.env.cr.execute(SQL(
            """SELECT count(*) FILTER (WHERE partner.email_normalized IS NOT NULL),
                      count(*) FILTER (WHERE partner.email_normalized IS NULL
                                         AND coalesce(partner.street, '') != '' AND coalesce(partner.city, '') != ''),
                      count(*) FILTER (WHERE partner.email_normalized IS NULL
                                         AND (coalesce(partner.street, '') = '' OR coalesce(partner.city, '') = ''))
                 FROM res_partner partner WHERE partner.id IN (%s)""",
            query,
        ))
        emails, letters, nowhere = self.env.cr.fetchone()
        return {"email_count": emails, "letter_count": letters, "nowhere_count": nowhere,
                "told_count": handover.notice_count}
