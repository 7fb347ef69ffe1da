from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..models.customer_handover_incoming_line import MATCH_KEYS

DECISIONS = [("create", "Create a new contact"), ("merge", "Merge into the match"), ("refuse", "Refuse")]
CONTACT_CHOICES = [("keep", "Keep the existing contact data"), ("package", "Take the package's contact data")]


class CustomerHandoverImportLine(models.TransientModel):
    _name = "customer.handover.import.line"
    _description = "Transfer Package Customer to Import"
    _inherit = ["customer.handover.evidence.mixin"]
    # What the package says of the customer, read by an import in the background: set by the preview only.
    _evidence_fields = ("payload",)
    _transient_max_hours = 1.0  # as its wizard's
    _order = "line_number"

    # indexed: a background preview looks for each batch's customers among the lines earlier batches made
    wizard_id = fields.Many2one("customer.handover.import", required=True, ondelete="cascade", index=True)
    line_number = fields.Integer(string="Line", readonly=True, index=True)
    name = fields.Char(readonly=True)
    vat = fields.Char(string="Tax ID", readonly=True, index="btree_not_null")
    ref = fields.Char(string="Reference", readonly=True, index="btree_not_null")
    email = fields.Char(readonly=True)
    phone = fields.Char(readonly=True)
    sensitive = fields.Boolean(readonly=True)
    consent_count = fields.Integer(string="Consents", readonly=True)
    child_count = fields.Integer(string="Child Contacts", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Existing Contact", readonly=True)
    # As the user may read the contact: a line written by the client may name any contact of the database.
    partner_vat = fields.Char(related="partner_id.vat", string="Existing Tax ID", related_sudo=False)
    partner_email = fields.Char(related="partner_id.email", string="Existing Email", related_sudo=False)
    partner_phone = fields.Char(related="partner_id.phone", string="Existing Phone", related_sudo=False)
    match_key = fields.Selection(MATCH_KEYS, string="Matched On", readonly=True)
    decision = fields.Selection(DECISIONS, required=True, default="create")
    default_decision = fields.Selection(DECISIONS, readonly=True)
    contact_choice = fields.Selection(
        CONTACT_CHOICES, string="Contact Data", required=True, default="keep",
        help="For a merge: the existing contact's name, address, email, phones and tax ID stay as they are, or "
        "take the package's values where the package gives one (data-protection officers).",
    )
    reason = fields.Char(string="Reason Refused")
    # For an import in the background: the customer as the package gives it, and its row of the signed checklist.
    # Not prefetched: reading a line's decision does not load the customer it carries (``_payloads`` reads those).
    payload = fields.Json(readonly=True, prefetch=False)

    def _payloads(self):
        """{line number: payload} of these lines, in their order, each read once.

        Reading ``payload`` on a record deep-copies the whole value at each access: an import's batch reads a
        thousand customers this way.
        """
        self.flush_recordset(["line_number", "payload"])
        self.env.cr.execute(SQL(
            "SELECT line_number, payload FROM customer_handover_import_line WHERE id = ANY(%s) ORDER BY line_number",
            self.ids,
        ))
        return dict(self.env.cr.fetchall())

    def _transient_clean_rows_older_than(self, seconds):
        # as its wizard's: the preview of an import running in the background is kept until it ends
        self.env["customer.handover.import"]._keep_importing()
        return super()._transient_clean_rows_older_than(seconds)

    @api.constrains("decision", "partner_id")
    def _check_decision(self):
        for line in self:
            if line.decision == "merge" and not line.partner_id:
                raise ValidationError(self.env._("Line %(line)s matches no existing contact: it cannot be merged.",
                                                 line=line.line_number))
