from odoo import fields, models
from odoo.tools import SQL

from . import res_partner


class ResPartner(models.Model):
    _inherit = "res.partner"
    # Only an import in the background stages a contact: a contact flagged by hand would be deleted by its cancel.
    _evidence_fields = (*res_partner.ResPartner._evidence_fields, "handover_staging_incoming_id")

    handover_staging_incoming_id = fields.Many2one(
        "customer.handover.incoming", string="Staged By Import", readonly=True, copy=False, index="btree_not_null",
        ondelete="cascade", groups="customer_handover.group_handover_user",
        help="An import running in the background created this contact archived: it appears when the import ends.",
    )

    def _handover_publish_staged(self, incoming):
        """Show every contact ``incoming``'s import staged, at once: one statement, whatever their number."""
        self.env.flush_all()
        self.env.cr.execute(SQL(
            "UPDATE res_partner SET active = TRUE, handover_staging_incoming_id = NULL "
            "WHERE handover_staging_incoming_id = %s", incoming.id,
        ))
        count = self.env.cr.rowcount
        self.invalidate_model(["active", "handover_staging_incoming_id"])
        return count

    def _handover_staged(self, incoming, parent_ids=None):
        """The contacts ``incoming``'s import staged (those whose parent, or who, is in ``parent_ids`` if given)."""
        domain = [("handover_staging_incoming_id", "=", incoming.id), ("active", "=", False)]
        if parent_ids is not None:
            domain += ["|", ("id", "in", parent_ids), ("parent_id", "in", parent_ids)]
        # sudo: the staged contacts are the import's own, hidden from everyone until it ends
        return self.sudo().with_context(active_test=False).search(domain)
