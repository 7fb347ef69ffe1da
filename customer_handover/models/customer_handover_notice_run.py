from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, format_date

from .customer_handover_notice import LETTER_STATES, NOTICE_STATES, UNTOLD_STATES
from .handover_access import MANAGER, has_group_in_company

NOTICE_MODES = [("now", "At once"), ("completion", "At completion"), ("planned", "On a planned date")]


class CustomerHandover(models.Model):
    """Telling the handed-over customers who now holds their data: the run's settings, its start, its counts.

    The notices themselves, their statuses and the batches of the run are ``customer.handover.notice``'s.
    """

    _inherit = "customer.handover"

    notice_send_mode = fields.Selection(NOTICE_MODES, string="Tell the Customers", readonly=True, copy=False,
                                        help="When the customers are told: once the handover is complete, or on a "
                                        "planned date. A manager can also send the notices at once.")
    notice_date = fields.Date(string="Notices Planned For", readonly=True, copy=False)
    notice_wait = fields.Boolean(
        string="Complete Only Once Customers Are Told", readonly=True, copy=False,
        help="Completing the handover waits until no notice is queued, bounced or without an address.")
    notice_planned_by_id = fields.Many2one("res.users", string="Notices Planned By", readonly=True, copy=False)
    notice_planned_on = fields.Datetime(readonly=True, copy=False)
    notice_started_by_id = fields.Many2one("res.users", string="Notices Started By", readonly=True, copy=False)
    notice_started_on = fields.Datetime(string="Notices Started On", readonly=True, copy=False)
    notice_ids = fields.One2many("customer.handover.notice", "handover_id", string="Customer Notices")
    notice_count = fields.Integer(string="Notices", compute="_compute_notice_counts")
    notice_queued_count = fields.Integer(string="Queued", compute="_compute_notice_counts")
    notice_sent_count = fields.Integer(string="Sent", compute="_compute_notice_counts")
    notice_bounced_count = fields.Integer(string="Bounced", compute="_compute_notice_counts")
    notice_no_address_count = fields.Integer(string="No Email Address", compute="_compute_notice_counts")
    notice_posted_count = fields.Integer(string="Letters Posted", compute="_compute_notice_counts")
    notice_told_otherwise_count = fields.Integer(string="Told Another Way", compute="_compute_notice_counts")
    notice_letter_count = fields.Integer(string="Letter List", compute="_compute_notice_counts")
    customers_told = fields.Boolean(
        compute="_compute_notice_counts",
        help="Every notice of the handover was sent, posted or recorded as told another way: none is queued, "
        "bounced or without an address.")

    @api.depends("notice_ids.state")
    def _compute_notice_counts(self):
        counts = self.env["customer.handover.notice"]._counts(self)
        for handover in self:
            count = counts.get(handover.id, {})
            handover.update({f"notice_{state}_count": count.get(state, 0) for state, _label in NOTICE_STATES})
            handover.notice_count = sum(count.values())
            handover.notice_letter_count = sum(count.get(state, 0) for state in LETTER_STATES)
            handover.customers_told = bool(count) and not any(count.get(state) for state in UNTOLD_STATES)

    # ------------------------------------------------------------------------------------------ completion

    def action_done(self):
        waiting = self.filtered(lambda handover: handover.notice_wait and not handover.customers_told)
        if waiting:
            raise UserError(self.env._(
                "%(handover)s completes only once its customers are told: send the notices, then post the letters "
                "or record how the others were told.", handover=waiting[0].name))
        return super().action_done()

    def _complete(self, customers):
        result = super()._complete(customers)
        if self.notice_send_mode == "completion":
            self._notice_trigger()
        return result

    # ------------------------------------------------------------------------------------------ steps

    def action_open_notify(self):
        """Open the preview of the notices: a sample per language, the customers each channel reaches."""
        self.ensure_one()
        self._notice_check_manager()
        self._notice_check_signed()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Tell the customers"),
            "res_model": "customer.handover.notify",
            "view_mode": "form",
            "target": "new",
            "context": {"default_handover_id": self.id},
        }

    def _notice_plan(self, mode, date, wait):
        """Record when the customers are told (at completion, or on ``date``) and whether completion waits."""
        self.ensure_one()
        self._notice_check_manager()
        self._notice_check_signed()
        if mode not in dict(NOTICE_MODES):
            raise UserError(self.env._("Choose when the customers are told: at completion or on a planned date."))
        if mode == "planned" and not date:
            raise UserError(self.env._("Give the date the customers are told on."))
        if mode == "completion" and wait:
            raise UserError(self.env._(
                "The customers cannot be told at completion if completion waits until they are told: plan a date, "
                "or let completion go ahead."))
        if mode == "completion" and self.state == "done":
            raise UserError(self.env._("%(handover)s is complete already: send the notices now.",
                                       handover=self.name))
        values = {"notice_send_mode": mode, "notice_date": date if mode == "planned" else False,
                  "notice_wait": bool(wait), "notice_planned_by_id": self.env.uid,
                  "notice_planned_on": fields.Datetime.now()}
        self._step(tuple(values), values, "notices_planned", {"mode": mode, "wait": bool(wait)})
        if mode == "planned" and date <= fields.Date.context_today(self):
            self._notice_trigger()
        return True

    def _notice_start(self):
        """Tell every handed-over customer not told yet: at once up to the threshold, else in background batches.

        Returns the background step, or an empty one when the run was done in the request.
        """
        self.ensure_one()
        self._notice_check_manager()
        self._notice_check_signed()
        self._notice_check_not_cancelled()
        self.env["customer.handover.notice"]._render_samples(self)
        Job = self.env["customer.handover.job"]
        Job._lock_handover(self)
        query = self._notice_untold_query()
        self.env.cr.execute(SQL("SELECT count(*) FROM (%s) AS untold", query))
        count = self.env.cr.fetchone()[0]
        if not count:
            raise UserError(self.env._(
                "Every customer of %(handover)s has a notice already: nobody is told twice. Resend to the bounced "
                "ones, post the letters, or record how the others were told.", handover=self.name))
        values = {"notice_started_by_id": self.env.uid, "notice_started_on": fields.Datetime.now()}
        self._step(tuple(values), values, "notices_started", {"customers": count})
        if count > Job._threshold():
            return Job._start(self, "notice", query)
        self.env.cr.execute(query)
        Notice = self.env["customer.handover.notice"]
        Notice._notice_batch(self, [row[0] for row in self.env.cr.fetchall()])
        Notice._job_notice_done(Job)
        return Job

    def action_notice_resend(self):
        """Email the bounced customers again, at their address now (those without one go on the letter list)."""
        self.ensure_one()
        self._notice_check_manager()
        self._notice_check_not_cancelled()
        Job = self.env["customer.handover.job"]
        Job._lock_handover(self)
        query = SQL("SELECT partner_id FROM customer_handover_notice WHERE handover_id = %s AND state = 'bounced' "
                    "ORDER BY partner_id", self.id)
        self.env["customer.handover.notice"].flush_model(["handover_id", "state", "partner_id"])
        self.env.cr.execute(query)
        partner_ids = [row[0] for row in self.env.cr.fetchall()]
        if not partner_ids:
            raise UserError(self.env._("No notice of %(handover)s bounced: there is nothing to resend.",
                                       handover=self.name))
        self.env["customer.handover.notice"]._render_samples(self)
        if len(partner_ids) > Job._threshold():
            return Job._start(self, "notice", query, params={"resend": True})._started_action()
        Notice = self.env["customer.handover.notice"]
        Notice._notice_batch(self, partner_ids, resend=True)
        Notice._job_notice_done(Job)
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    def action_notice_letters(self):
        """The letter list: one letter per customer without an email, or whose email bounced, as a PDF."""
        self.ensure_one()
        notices = self._notice_letter_list()
        # the rendering logs the printing (notice_letters_printed), however it is asked
        return self.env.ref("customer_handover.customer_handover_notice_report_letter").report_action(notices)

    def action_notice_letters_posted(self):
        """Every letter of the letter list was posted."""
        self.ensure_one()
        return self._notice_letter_list().action_mark_posted()

    def action_open_notices(self):
        """The handover's notices, filtered as the smart button that opens them says."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("customer_handover.customer_handover_notice_action")
        context = {"search_default_handover_id": self.id}
        state = self.env.context.get("notice_filter")
        if state in dict(NOTICE_STATES) or state == "letters":
            context[f"search_default_filter_{state}"] = 1
        action.update({"domain": [("handover_id", "=", self.id)], "context": context,
                       "name": self.env._("Customer notices of %(handover)s", handover=self.name)})
        return action

    @api.model
    def _cron_start_notices(self):
        """Start the runs that are due: at completion once the handover is done, or on their planned date.

        Each starts as the manager who planned it, whose rights are checked again; one that is refused is noted on
        its handover and not tried again until it is planned again.
        """
        today = fields.Date.context_today(self)
        due = self.search([
            ("notice_started_on", "=", False), ("state", "in", ("signed", "done")), "|",
            "&", ("notice_send_mode", "=", "completion"), ("state", "=", "done"),
            "&", ("notice_send_mode", "=", "planned"), ("notice_date", "<=", today),
        ])
        for handover in due:
            user = handover.notice_planned_by_id
            try:
                with self.env.cr.savepoint():
                    handover.with_user(user).with_context(lang=user.lang,
                                                           allowed_company_ids=handover.company_id.ids)._notice_start()
            except (UserError, AccessError) as error:
                values = {"notice_started_by_id": user.id, "notice_started_on": fields.Datetime.now()}
                handover._step(tuple(values), values, "notices_refused", {})
                handover._message_log(body=str(error.args[0] if error.args else error))

    # ------------------------------------------------------------------------------------------ helpers

    def _notice_terms(self):
        """What every notice of this handover says, in the current language: read once for a batch of notices."""
        self.ensure_one()
        receiver = self.receiver_id
        reasons = dict(self._fields["reason"]._description_selection(self.env))
        day = self.date_done or self.date_planned
        return {
            "transfer_company_name": self.company_id.name,
            "receiver_name": receiver.commercial_partner_id.name or receiver.name,
            "receiver_contact": " · ".join(filter(None, [
                receiver.email, receiver.phone or receiver.mobile,
                ", ".join(filter(None, [receiver.street, receiver.city, receiver.country_id.name]))])),
            "reason_text": reasons.get(self.reason, ""),
            "handover_date_text": format_date(self.env, day, lang_code=self.env.lang) if day else "",
            # Chinese enumerates with the enumeration comma, not the comma
            "purposes_text": ("、" if (self.env.lang or "").startswith("zh") else ", ").join(
                self.purpose_ids.mapped("name")),
            "abroad_country_name": (self.receiver_abroad and self.receiver_country_id.name) or "",
        }

    def _notice_untold_query(self):
        """The handed-over customers of this handover who have no notice yet, in order."""
        self.env["customer.handover.line"].flush_model(["handover_id", "partner_id", "line_type", "state", "excluded"])
        self.env["customer.handover.notice"].flush_model(["handover_id", "partner_id"])
        return SQL(
            """SELECT DISTINCT line.partner_id FROM customer_handover_line line
                WHERE line.handover_id = %s AND line.line_type = 'customer' AND line.state = 'verified'
                  AND line.excluded IS NOT TRUE
                  AND NOT EXISTS (SELECT 1 FROM customer_handover_notice notice
                                   WHERE notice.handover_id = line.handover_id AND notice.partner_id = line.partner_id)
             ORDER BY line.partner_id""",
            self.id,
        )

    def _notice_letter_list(self):
        self._notice_check_manager()
        self._notice_check_not_cancelled()
        notices = self.env["customer.handover.notice"].search(
            [("handover_id", "=", self.id), ("state", "in", LETTER_STATES)])
        if not notices:
            raise UserError(self.env._("%(handover)s has no customer on its letter list: every customer has an email "
                                       "that did not bounce, or was told already.", handover=self.name))
        nowhere = notices.filtered(lambda notice: not notice.has_postal_address)
        if nowhere:
            raise UserError(self.env._(
                "%(count)s customers of the letter list have no postal address (street and city), among them "
                "%(customer)s: add their address, or record how they were told another way, first.",
                count=len(nowhere), customer=nowhere[0].partner_id.sudo().display_name))
        return notices

    def _notice_trigger(self):
        # sudo: waking the job that starts the runs that are due, whoever completed or planned
        self.env.ref("customer_handover.ir_cron_handover_notices").sudo()._trigger()

    def _notice_check_manager(self):
        for handover in self:
            if not has_group_in_company(self.env, MANAGER, handover.company_id):
                raise AccessError(self.env._("Only handover managers of %(company)s can tell the customers.",
                                             company=handover.company_id.name))
        self.check_access("write")

    def _notice_check_not_cancelled(self):
        """A cancelled handover handed nobody over: no customer is told of it, by email or by letter."""
        cancelled = self.filtered(lambda handover: handover.state == "cancel")
        if cancelled:
            raise UserError(self.env._("%(handover)s is cancelled: its customers are not told.",
                                       handover=cancelled[0].name))

    def _notice_check_signed(self):
        unsigned = self.filtered(lambda handover: not handover.is_signed or handover.state not in ("signed", "done"))
        if unsigned:
            raise UserError(self.env._(
                "%(handover)s is not signed by both parties: its customers are told once it is.",
                handover=unsigned[0].name))
