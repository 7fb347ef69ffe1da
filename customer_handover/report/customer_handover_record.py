import base64

from odoo import api, models
from odoo.tools.image import image_data_uri


class ReportHandoverRecord(models.AbstractModel):
    """The printed handover record: the handovers, and the QR code that opens their current export in Odoo."""

    _name = "report.customer_handover.report_handover_record"
    _description = "Customer Handover Record Report"

    @api.model
    def _get_report_values(self, docids, data=None):
        return {
            "doc_ids": docids,
            "doc_model": "customer.handover",
            "docs": self.env["customer.handover"].browse(docids),
            "qr_code": self._qr_code,
            "reference": self._reference,
        }

    @api.model
    def _reference(self, line):
        """The customer's reference as snapshotted; a customer without one is named by its contact's number here."""
        if line.snapshot_ref:
            return line.snapshot_ref
        return f"#{line.partner_id.id}" if line.partner_id else ""

    @api.model
    def _qr_code(self, export):
        """A QR code, as a data URI, that opens the export in Odoo, where it is downloaded and verified."""
        url = f"{export.get_base_url()}/odoo/customer.handover.export/{export.id}"
        png = self.env["ir.actions.report"].barcode("QR", url, width=300, height=300, humanreadable=0)
        return image_data_uri(base64.b64encode(png))
