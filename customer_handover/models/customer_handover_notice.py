from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, plaintext2html

from ..tools.notice_text import DIGEST_VERSION, text_digest
from .customer_handover_evidence_mixin import CREATE, evidence_step
from .handover_access import MANAGER, has_group_in_company

NOTICE_STATES = [
    ("queued", "Queued"),
    ("sent", "Sent"),
    ("bounced", "Bounced"),
    ("no_address", "No email address"),
    ("posted", "Letter posted"),
    ("told_otherwise", "Told another way"),
]
# A handover's customers are told once none of its notices is in one of these.
UNTOLD_STATES = ("queued", "bounced", "no_address")
# The letter list: customers the email did not reach.
LETTER_STATES = ("no_address", "bounced")
CHANNELS = [("email", "Email"), ("letter", "Letter"), ("other", "Another way")]
TOLD_HOW = [("phone", "Phone"), ("sms", "SMS"), ("in_person", "In person, in the shop"), ("other", "Other")]
# The languages the notice template ships in; a customer of another language is told in the company's.
SHIPPED_LANGS = ("en_US", "zh_CN")
TEMPLATE = "customer_handover.mail_template_customer_notice"
# The customer's personal link is rendered by the notice's own steps only: the run's queueing (``_queue``) and the
# letters. They put this object in the context, which no client can send (a context that comes over RPC holds plain
# values), so anywhere else the template renders (its preview, the mail composer, the run's preview dialog, a read)
# the link is a placeholder that opens nothing.
LINK_KEY = "customer_handover_notice_link"
_RENDER_LINK = object()
# The handover's facts of its notice run, set by its steps (_notice_plan, _notice_start).
NOTICE_HANDOVER_FACTS = (
    "notice_send_mode", "notice_date", "notice_wait", "notice_planned_by_id", "notice_planned_on",
    "notice_started_by_id", "notice_started_on",
)
NOTICE_FACTS = (
    "handover_id", "partner_id", "company_id", "lang", "channel", "state", "email", "mail_message_id", "mail_id",
    "text_sha256", "digest_version", "queued_on", "sent_on", "bounced_on", "failure_type", "attempt_count",
    "posted_by_id", "posted_on", "told_by_id", "told_on", "told_how", "told_note",
)


class CustomerHandoverNotice(models.Model):
    """One handed-over customer told who now holds their data (PIPL Art. 22): by email, letter or another way.

    Every field is a fact set by its step: ``_job_notice_batch`` creates and queues, Odoo's mail queue reports
    sent or failed (``mail.mail._postprocess_sent_message``), a bounce comes back through the mail gateway
    (``_message_receive_bounce``), a manager marks letters posted or the customer told another way.
    """

    _name = "customer.handover.notice"
    _description = "Customer Notice of a Handover"
    _inherit = ["mail.thread", "customer.handover.evidence.mixin"]
    _order = "handover_id desc, id"
    _rec_name = "partner_id"
    _evidence_create = True
    _evidence_fields = NOTICE_FACTS
    _mail_post_access = "read"

    handover_id = fields.Many2one("customer.handover", required=True, readonly=True, index=True, ondelete="restrict")
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    partner_id = fields.Many2one("res.partner", string="Customer", required=True, readonly=True, index=True,
                                 ondelete="restrict")
    lang = fields.Char(string="Language", readonly=True, help="The language the customer is told in.")
    channel = fields.Selection(CHANNELS, required=True, readonly=True, default="email")
    state = fields.Selection(NOTICE_STATES, string="Status", required=True, readonly=True, default="queued",
                             index=True)
    email = fields.Char(readonly=True, help="The address the notice was sent to.")
    mail_message_id = fields.Many2one("mail.message", string="Message", readonly=True, index="btree_not_null",
                                      ondelete="set null")
    mail_id = fields.Many2one("mail.mail", string="Outgoing Email", readonly=True, ondelete="set null")
    text_sha256 = fields.Char(string="SHA-256 of the Text", readonly=True,
                              help="The digest of the subject and text the customer was sent or posted.")
    digest_version = fields.Integer(readonly=True)
    queued_on = fields.Datetime(readonly=True)
    sent_on = fields.Datetime(readonly=True)
    bounced_on = fields.Datetime(readonly=True)
    failure_type = fields.Char(readonly=True, help="Why the email did not go through, as Odoo's mail queue said.")
    attempt_count = fields.Integer(string="Emails Sent", readonly=True)
    posted_by_id = fields.Many2one("res.users", string="Letter Posted By", readonly=True)
    posted_on = fields.Datetime(string="Letter Posted On", readonly=True)
    told_by_id = fields.Many2one("res.users", string="Recorded By", readonly=True)
    told_on = fields.Datetime(readonly=True)
    told_how = fields.Selection(TOLD_HOW, string="How", readonly=True)
    told_note = fields.Text(readonly=True)
    has_postal_address = fields.Boolean(compute="_compute_has_postal_address")
    # What the notice's text says, in the language it is rendered in (the template's ``lang``).
    transfer_company_name = fields.Char(compute="_compute_texts")
    receiver_name = fields.Char(compute="_compute_texts")
    receiver_contact = fields.Char(compute="_compute_texts")
    reason_text = fields.Char(compute="_compute_texts")
    handover_date_text = fields.Char(compute="_compute_texts")
    purposes_text = fields.Char(compute="_compute_texts")
    abroad_country_name = fields.Char(compute="_compute_texts")
    page_url = fields.Char(compute="_compute_texts", groups="base.group_system",
                           help="The customer's personal link in the notice's own rendering; a placeholder anywhere "
                           "else.")

    _sql_constraints = [
        ("handover_partner_unique", "UNIQUE (handover_id, partner_id)",
         "A customer is told once per handover: a second notice is never made."),
    ]

    @api.depends("partner_id")
    def _compute_has_postal_address(self):
        for notice in self:
            # sudo: whether a letter can go, for a customer who may have moved to another company
            partner = notice.partner_id.sudo()
            notice.has_postal_address = bool(partner.street and partner.city)

    @api.depends("handover_id", "partner_id")
    @api.depends_context("lang", LINK_KEY)
    def _compute_texts(self):
        with_link = self.env.context.get(LINK_KEY) is _RENDER_LINK
        for handover in self.handover_id:
            # sudo: the notice's rendering reads the handover's terms and the customer's link as the system, after
            # the step that renders checked the user
            handover = handover.sudo()
            notices = self.filtered(lambda notice, handover=handover: notice.handover_id == handover)
            terms = handover._notice_terms()
            urls = handover._customer_page_urls(notices.partner_id) if with_link else {}
            placeholder = handover._customer_page_placeholder_url()
            for notice in notices:
                notice.update({**terms, "page_url": urls.get(notice.partner_id.id, placeholder)})
        for notice in self.filtered(lambda notice: not notice.handover_id):
            notice.update(dict.fromkeys(("transfer_company_name", "receiver_name", "receiver_contact", "reason_text",
                                         "handover_date_text", "purposes_text", "abroad_country_name", "page_url"),
                                        ""))

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        """A notice proves a customer was told: it is never deleted."""
        self._refuse_evidence([], "unlink")

    # ------------------------------------------------------------------------------------------ steps

    def action_mark_posted(self):
        """The letters of these notices were posted: each customer's status becomes "Letter posted"."""
        self._check_manager()
        self.handover_id._notice_check_not_cancelled()
        notices = self.filtered(lambda notice: notice.state != "posted")
        wrong = notices.filtered(lambda notice: notice.state not in LETTER_STATES)
        if wrong:
            raise UserError(self.env._(
                "%(customer)s is not on the letter list (%(status)s): only customers without an email address or "
                "whose email bounced are sent a letter.", customer=wrong[0].partner_id.sudo().display_name,
                status=wrong[0]._state_label()))
        nowhere = notices.filtered(lambda notice: not notice.has_postal_address)
        if nowhere:
            raise UserError(self.env._(
                "%(customer)s has no postal address (street and city): no letter can be posted. Tell the customer "
                "another way, with a note.", customer=nowhere[0].partner_id.sudo().display_name))
        if not notices:
            return True
        texts = notices._render_texts(link=True)
        now = fields.Datetime.now()
        for notice in notices:
            subject, body = texts[notice.id]
            notice._set({
                "state": "posted", "channel": "letter", "posted_by_id": self.env.uid, "posted_on": now,
                "text_sha256": text_digest(subject, body), "digest_version": DIGEST_VERSION,
            })
        notices._log("notice_letter_posted")
        return True

    def action_open_told(self):
        """Open the dialog that records how these customers were told another way."""
        self._check_manager()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Told another way"),
            "res_model": "customer.handover.notice.told",
            "view_mode": "form",
            "target": "new",
            "context": {"default_notice_ids": self.ids},
        }

    def _told_otherwise(self, how, note):
        """These customers were told another way (phone, SMS, in the shop): how, by whom, when, with a note."""
        self._check_manager()
        note = (note or "").strip()
        if not note:
            raise UserError(self.env._("Say how and when the customer was told, in a note."))
        if how not in dict(TOLD_HOW):
            raise UserError(self.env._("Choose how the customer was told."))
        wrong = self.filtered(lambda notice: notice.state in ("queued", "sent"))
        if wrong:
            raise UserError(self.env._(
                "%(customer)s's notice is %(status)s: a customer whose email is on its way or sent is not recorded "
                "as told another way.", customer=wrong[0].partner_id.sudo().display_name,
                status=wrong[0]._state_label()))
        self._set({"state": "told_otherwise", "channel": "other", "told_by_id": self.env.uid,
                   "told_on": fields.Datetime.now(), "told_how": how, "told_note": note})
        self._log("notice_told_otherwise", {"how": how})
        return True

    def _message_receive_bounce(self, email, partner):
        """Odoo's mail gateway received a bounce of this notice's email: the customer goes on the letter list."""
        result = super()._message_receive_bounce(email, partner)
        bounced = self.filtered(lambda notice: notice.state in ("queued", "sent"))
        if bounced:
            bounced._set({"state": "bounced", "bounced_on": fields.Datetime.now(), "failure_type": "mail_bounce"})
            bounced._log("notice_bounced", {"failure": "mail_bounce"})
        return result

    def _mail_outcome(self, failure_type):
        """Odoo's mail queue sent these notices' emails (``failure_type`` empty) or gave up on them.

        A failed email the administrator sends again from the queue (its *Retry*) turns its notice to sent.
        """
        now = fields.Datetime.now()
        if failure_type:
            notices = self.filtered(lambda notice: notice.state == "queued")
            if notices:
                notices._set({"state": "bounced", "bounced_on": now, "failure_type": failure_type})
                notices._log("notice_bounced", {"failure": failure_type})
            return
        notices = self.filtered(lambda notice: notice.state in ("queued", "bounced"))
        if notices:
            notices._set({"state": "sent", "sent_on": now})
            notices._log("notice_sent")

    # ------------------------------------------------------------------------------------------ the run

    @api.model
    def _job_notice_batch(self, job, partner_ids):
        """Tell these customers of the job's handover: a notice each, queued by email or put on the letter list.

        Idempotent: a customer who has a notice is not told again, except a bounced one when the job resends.
        """
        self._notice_batch(job.handover_id, partner_ids, resend=(job.params or {}).get("resend", False))

    @api.model
    def _job_notice_undo(self, job, partner_ids):
        """Nothing to undo: an email queued goes out, and a notice proves it; a later run tells the others."""

    @api.model
    def _job_notice_done(self, job):
        """Every customer of the run has a notice: have the mail queue send them without waiting for its round."""
        self.env.ref("mail.ir_cron_mail_scheduler_action").sudo()._trigger()  # sudo: waking Odoo's own mail queue

    @api.model
    def _notice_batch(self, handover, partner_ids, resend=False):
        """Notices for ``partner_ids`` of ``handover`` (the caller checked the user): a constant number of queries.

        Customers with a valid email get a ``mail.mail`` in Odoo's queue; those without are recorded "No email
        address", on the letter list. A bounced notice is queued again when ``resend``.
        """
        # sudo: notices and their mails are the system's records; the step that started the run checked the user,
        # and the customers may have moved to the receiving company, whose contacts the user does not read
        Notice = self.sudo().with_context(tracking_disable=True, mail_create_nolog=True, mail_create_nosubscribe=True,
                                          mail_notify_force_send=False)
        partners = self.env["res.partner"].sudo().with_context(active_test=False).browse(partner_ids)
        partners.fetch(["email", "email_normalized", "lang"])
        existing = Notice.search([("handover_id", "=", handover.id), ("partner_id", "in", partners.ids)])
        by_partner = {notice.partner_id.id: notice for notice in existing}
        fallback = handover.company_id._handover_lang()
        new_values = [{
            "handover_id": handover.id, "company_id": handover.company_id.id, "partner_id": partner.id,
            "lang": partner.lang if partner.lang in SHIPPED_LANGS else fallback,
            "channel": "email" if partner.email_normalized else "letter",
            "state": "queued" if partner.email_normalized else "no_address",
        } for partner in partners if partner.id not in by_partner]
        with evidence_step(self._name, CREATE, "handover_id", "company_id", "partner_id", "lang", "channel", "state"):
            created = Notice.create(new_values)
        again = existing.filtered(lambda notice: notice.state == "bounced") if resend else Notice
        to_mail = (created | again).filtered(lambda notice: notice.partner_id.email_normalized)
        (again - to_mail)._set({"state": "no_address", "channel": "letter"})
        to_mail._queue()
        if created:
            created._log("notices_queued", {"emails": len(to_mail & created), "letters": len(created - to_mail)})
        if again:
            again._log("notices_resent", {"emails": len(to_mail & again), "letters": len(again - to_mail)})
        return created | again

    def _queue(self):
        """Render each notice in its customer's language and queue it in Odoo's mail queue, digesting its text."""
        if not self:
            return
        # sudo: the template renders the customer's link, in this step only
        template = self.env.ref(TEMPLATE).sudo().with_context(**{LINK_KEY: _RENDER_LINK})
        rendered = template._generate_template(
            self.ids, ("subject", "body_html", "email_from", "reply_to", "mail_server_id"))
        now = fields.Datetime.now()
        values = []
        for notice in self:
            result = rendered[notice.id]
            values.append({
                "model": self._name, "res_id": notice.id, "subject": result.get("subject") or "",
                "body_html": result.get("body_html") or "", "email_from": result.get("email_from"),
                "reply_to": result.get("reply_to"), "mail_server_id": result.get("mail_server_id"),
                "email_to": notice.partner_id.email_formatted, "auto_delete": True, "is_notification": True,
                "message_type": "email_outgoing", "record_name": notice.display_name,
                # Whoever reads the notice reads its message: the text, with the customer's personal link, is the
                # outgoing mail's only; the notice keeps its digest.
                "body": plaintext2html(result.get("subject") or ""),
            })
        if not all(value["email_from"] for value in values):
            # the sender the message makes by default: the user's address
            default = self.env["mail.message"].default_get(["email_from"]).get("email_from")
            for value in values:
                value["email_from"] = value["email_from"] or default
        mails = self.env["mail.mail"].sudo()._create_notice_mails(values)
        self._set_queued(now, [
            (notice.id, notice.partner_id.email_normalized, mail.id, mail.mail_message_id.id,
             text_digest(value["subject"], value["body_html"]))
            for notice, mail, value in zip(self, mails, values, strict=True)])

    def _render_texts(self, link=False):
        """{notice id: (subject, body)} as the template renders them now, each in its customer's language.

        With ``link``, the customer's personal link, as the letters carry it (the caller is the letters' step);
        without, its placeholder.
        """
        template = self.env.ref(TEMPLATE).sudo()  # sudo: the template reads the handover's terms
        if link:
            template = template.with_context(**{LINK_KEY: _RENDER_LINK})
        rendered = template._generate_template(self.ids, ("subject", "body_html"))
        return {notice.id: (rendered[notice.id].get("subject") or "", rendered[notice.id].get("body_html") or "")
                for notice in self}

    @api.model
    def _render_samples(self, handover):
        """{language: (subject, body)} rendered on a sample of ``handover``'s notices; nothing of it is kept.

        The sample is rendered exactly as the run renders: a notice of the handover's first customer, created and
        rendered inside a savepoint that is rolled back.
        """
        langs = list(dict.fromkeys([*SHIPPED_LANGS, handover.company_id._handover_lang()]))
        active = dict(self.env["res.lang"].get_installed())
        langs = [lang for lang in langs if lang in active] or ["en_US"]
        Notice = self.env["customer.handover.notice"].sudo()  # sudo: a sample only, rolled back below
        savepoint = self.env.cr.savepoint()
        try:
            notice = Notice.search([("handover_id", "=", handover.id)], limit=1)
            if not notice:
                partner = self.env["customer.handover.line"].search(
                    [("handover_id", "=", handover.id), ("line_type", "=", "customer")], limit=1).partner_id
                partner = partner or handover.receiver_id
                with evidence_step(Notice._name, CREATE, "handover_id", "company_id", "partner_id"):
                    notice = Notice.with_context(mail_create_nolog=True, mail_create_nosubscribe=True).create({
                        "handover_id": handover.id, "company_id": handover.company_id.id, "partner_id": partner.id})
            samples = {}
            for lang in langs:
                with evidence_step(Notice._name, "lang"):
                    notice.write({"lang": lang})
                try:
                    samples[lang] = notice._render_texts()[notice.id]
                except Exception as error:  # any rendering error of a template an officer edited stops here
                    raise UserError(self.env._(
                        "The notice template does not render in %(lang)s, so nothing is sent: %(error)s. Correct the "
                        "template (Settings → Technical → Email Templates) and preview again.",
                        lang=lang, error=_first_line(error))) from error
        finally:
            savepoint.close(rollback=True)
        return samples

    # ------------------------------------------------------------------------------------------ helpers

    def _set_queued(self, now, rows):
        """These notices' emails are queued: ``rows`` of (notice id, address, mail id, message id, digest).

        The facts ``_set`` would write notice by notice, in one statement for the batch: the same values, each
        notice's own.
        """
        queued = ("state", "channel", "email", "mail_id", "mail_message_id", "queued_on", "text_sha256",
                  "digest_version", "attempt_count", "bounced_on", "failure_type")
        with evidence_step(self._name, *queued):
            self.flush_recordset(["attempt_count"])
            self.env.cr.execute(SQL(
                """UPDATE customer_handover_notice notice
                      SET state = 'queued', channel = 'email', email = item.email, mail_id = item.mail_id,
                          mail_message_id = item.message_id, queued_on = %(now)s, text_sha256 = item.digest,
                          digest_version = %(version)s, attempt_count = COALESCE(notice.attempt_count, 0) + 1,
                          bounced_on = NULL, failure_type = NULL, write_uid = %(uid)s, write_date = %(now)s
                     FROM unnest(%(ids)s::int[], %(emails)s::text[], %(mails)s::int[], %(messages)s::int[],
                                 %(digests)s::text[]) AS item(id, email, mail_id, message_id, digest)
                    WHERE notice.id = item.id""",
                now=now, version=DIGEST_VERSION, uid=self.env.uid, **dict(zip(
                    ("ids", "emails", "mails", "messages", "digests"), map(list, zip(*rows, strict=True)),
                    strict=True)),
            ))
            self.invalidate_recordset([*queued, "write_uid", "write_date"])
            self.modified(queued)

    def _set(self, values):
        with evidence_step(self._name, *values):
            self.sudo().write(values)  # sudo: a notice's facts are written by its steps only

    def _log(self, event, payload=None):
        """One entry per handover for these notices: ids, statuses and counts, never a name or an address."""
        events = self.env["customer.handover.event"]
        for handover in self.handover_id:
            notices = self.filtered(lambda notice, handover=handover: notice.handover_id == handover)
            events._append_for(notices, event, {"handover": handover.id, **(payload or {})}, handover.company_id)

    def _check_manager(self):
        for company in self.company_id or self.env.company:
            if not has_group_in_company(self.env, MANAGER, company):
                raise AccessError(self.env._("Only handover managers of the handover's company can record how "
                                             "customers were told."))
        self.check_access("write")

    def _state_label(self):
        return dict(self._fields["state"]._description_selection(self.env)).get(self.state, self.state)

    @api.model
    def _counts(self, handovers):
        """{handover id: {status: count}} in one query."""
        counts = {}
        for handover, state, count in self.sudo()._read_group(
                [("handover_id", "in", handovers.ids)], ["handover_id", "state"], ["__count"]):
            counts.setdefault(handover.id, {})[state] = count
        return counts


def _first_line(error):
    """The first line of a rendering error, which names what failed; the rest is a traceback."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:500]
