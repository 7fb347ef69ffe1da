from odoo import api, models
from odoo.tools import SQL

# What differs from one notice's email to the next; every other column is the first email's, as create() made it.
NOTICE_MESSAGE_COLUMNS = ("res_id", "subject", "body", "email_from", "reply_to", "mail_server_id", "record_name",
                          "message_id")
NOTICE_MAIL_COLUMNS = ("body_html", "email_to")


class MailMail(models.Model):
    """Odoo's mail queue tells the customer notices whether their email went out."""

    _inherit = "mail.mail"

    @api.model_create_multi
    def create(self, vals_list):
        self._check_no_served_file(vals_list)
        return super().create(vals_list)

    def write(self, vals):
        self._check_no_served_file([vals])
        return super().write(vals)

    def _check_no_served_file(self, vals_list):
        """The files an email's author may see are linked to it by Odoo as the system, where the message's own
        check lets the system through: they are checked here, as the author's (``mail.message`` checks the rest)."""
        self.env["mail.message"]._check_no_served_file(
            [{"attachment_ids": vals["unrestricted_attachment_ids"]} for vals in vals_list
             if vals.get("unrestricted_attachment_ids")])

    def _postprocess_sent_message(self, success_pids, failure_reason=False, failure_type=None):
        messages = self.mail_message_id.filtered(lambda message: message.model == "customer.handover.notice")
        if messages:
            # sudo: the mail queue runs as the system; the notices' statuses are their steps' to set
            notices = self.env["customer.handover.notice"].sudo().search([("mail_message_id", "in", messages.ids)])
            notices._mail_outcome(failure_type)
        return super()._postprocess_sent_message(success_pids, failure_reason=failure_reason,
                                                 failure_type=failure_type)

    @api.model
    def _create_notice_mails(self, values_list):
        """Queue the emails of a batch of customer notices: ``values_list`` as for ``create()``, one per notice.

        The first email is made by ``create()``; the others are copies of its two rows (``mail_message`` and
        ``mail_mail``) in one statement, each with its own notice, subject, text, sender, recipient, record name and
        a message id made as Odoo makes it. Odoo's ``create()`` costs milliseconds an email (defaults, sanitizing,
        computing each row), more than the rest of a notice run. All the emails have the same keys in
        ``values_list``; ``body`` is sanitized as the field does, once per distinct text.
        """
        if not values_list:
            return self
        Message = self.env["mail.message"]
        first = self.create(values_list[:1])
        if len(values_list) == 1:
            return first
        first.flush_recordset()
        first.mail_message_id.flush_recordset()
        bodies = {}
        for values in values_list[1:]:
            if values["body"] not in bodies:
                bodies[values["body"]] = Message._fields["body"].convert_to_column(values["body"], Message)
        message_columns = [name for name, field in Message._fields.items()
                           if field.store and field.column_type and name != "id"]
        mail_columns = [name for name, field in self._fields.items()
                        if field.store and field.column_type and not field.inherited and name != "id"]
        items = {column: [] for column in (*NOTICE_MESSAGE_COLUMNS, *NOTICE_MAIL_COLUMNS)}
        for values in values_list[1:]:
            item = {**values, "body": bodies[values["body"]], "message_id": Message._get_message_id(values)}
            for column, column_values in items.items():
                column_values.append(item.get(column) or None)
        message_select = SQL(", ").join(
            SQL.identifier("item", name) if name in NOTICE_MESSAGE_COLUMNS else SQL.identifier("copied", name)
            for name in message_columns)
        mail_select = SQL(", ").join(
            SQL("message.id") if name == "mail_message_id"
            else SQL.identifier("item", name) if name in NOTICE_MAIL_COLUMNS
            else SQL.identifier("copied", name) for name in mail_columns)
        self.env.cr.execute(SQL(
            """
            WITH item AS (
                SELECT * FROM unnest(%(res_id)s::int[], %(subject)s::text[], %(body)s::text[], %(email_from)s::text[],
                                     %(reply_to)s::text[], %(mail_server_id)s::int[], %(record_name)s::text[],
                                     %(message_id)s::text[], %(body_html)s::text[], %(email_to)s::text[])
                           AS item(res_id, subject, body, email_from, reply_to, mail_server_id, record_name,
                                   message_id, body_html, email_to)
            ), message AS (
                INSERT INTO mail_message (%(message_columns)s)
                     SELECT %(message_select)s FROM item, mail_message copied WHERE copied.id = %(first_message)s
                  RETURNING id, res_id
            )
            INSERT INTO mail_mail (%(mail_columns)s)
                 SELECT %(mail_select)s FROM message JOIN item ON item.res_id = message.res_id, mail_mail copied
                  WHERE copied.id = %(first_mail)s
              RETURNING id
            """,
            **items,
            message_columns=SQL(", ").join(SQL.identifier(name) for name in message_columns),
            message_select=message_select,
            mail_columns=SQL(", ").join(SQL.identifier(name) for name in mail_columns),
            mail_select=mail_select,
            first_message=first.mail_message_id.id,
            first_mail=first.id,
        ))
        self.env.cr.execute(SQL(
            """SELECT message.res_id, mail.id
                 FROM mail_mail mail JOIN mail_message message ON message.id = mail.mail_message_id
                WHERE mail.id = ANY(%s)""", [row[0] for row in self.env.cr.fetchall()]))
        by_res_id = dict(self.env.cr.fetchall())
        return first | self.browse([by_res_id[values["res_id"]] for values in values_list[1:]])
