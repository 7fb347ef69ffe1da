from odoo import api, models
from odoo.exceptions import AccessError

from .customer_handover_evidence_mixin import is_unlocked

# The models whose subtypes are the steps' notes (data/mail_message_subtype_data.xml).
STEP_NOTE_MODELS = ("customer.handover", "customer.handover.incoming")


class MailMessage(models.Model):
    _inherit = "mail.message"

    @api.model_create_multi
    def create(self, vals_list):
        self._check_handover_subtype([vals.get("subtype_id") for vals in vals_list])
        return super().create(vals_list)

    def write(self, vals):
        if "subtype_id" in vals:
            self._check_handover_subtype([vals["subtype_id"]])
        return super().write(vals)

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
