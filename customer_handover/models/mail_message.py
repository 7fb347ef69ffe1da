from odoo import Command, api, models
from odoo.exceptions import AccessError
from odoo.tools import SQL

from .customer_handover_evidence_mixin import CustomerHandoverEvidenceMixin, is_unlocked

# The models whose subtypes are the steps' notes (data/mail_message_subtype_data.xml).
STEP_NOTE_MODELS = ("customer.handover", "customer.handover.incoming")


class MailMessage(models.Model):
    _inherit = "mail.message"

    @api.model_create_multi
    def create(self, vals_list):
        self._check_handover_subtype([vals.get("subtype_id") for vals in vals_list])
        self._check_no_served_file(vals_list)
        return super().create(vals_list)

    def write(self, vals):
        if "subtype_id" in vals:
            self._check_handover_subtype([vals["subtype_id"]])
        self._check_no_served_file([vals])
        return super().write(vals)

    def _check_no_served_file(self, vals_list):
        """Refuse, and log, a message carrying a file that its step alone serves (a signed export, a package, a
        customer's copy, a destruction certificate): the message would hand it to every recipient and follower,
        around the step's checks and its log. Whoever may read the file downloads it through that step."""
        if self.env.su:
            return
        ids = set()
        for vals in vals_list:
            for command in vals.get("attachment_ids") or ():
                if isinstance(command, int):
                    ids.add(command)
                elif command[0] == Command.LINK:
                    ids.add(command[1])
                elif command[0] == Command.SET:
                    ids.update(command[2])
        if not ids:
            return
        served = self.env.execute_query(SQL(
            "SELECT id FROM ir_attachment WHERE id = ANY(%s) AND handover_evidence = 'served' ORDER BY id",
            sorted(ids),
        ))
        if served:
            files = self.env["ir.attachment"].browse([row[0] for row in served])
            CustomerHandoverEvidenceMixin._log_refused_attempt(files, ["attachment_ids"], "message")
            raise AccessError(self.env._(
                "A file that records a fact of a customer handover is not sent in a message: whoever may read it "
                "downloads it through its step, which logs each download."))

    def _check_handover_subtype(self, subtype_ids):
        """The notes of the handover's steps say what a step did: only that step's note (``log_note``) is one.

        A note posted by hand as "Marked verified" or "Signed checklist sealed" would read as the step's own.
        """
        if is_unlocked(self._name, "subtype_id"):
            return
        # sudo: only which model a subtype belongs to is read, whoever posts
        subtypes = self.env["mail.message.subtype"].sudo().browse(filter(None, subtype_ids))
        if any(subtype.res_model in STEP_NOTE_MODELS for subtype in subtypes):
            raise AccessError(
                self.env._(
                    "This kind of note is written by the step of the handover it describes; post a plain note or a "
                    "message instead."
                )
            )
