from odoo import http
from odoo.http import request


class CustomerHandoverController(http.Controller):
    @http.route("/customer_handover/package/<int:package_id>/download", type="http", auth="user", methods=["GET"])
    def download_package(self, package_id):
        """Serve a transfer or backup package: its step checks the user and the export, and logs the download."""
        attachment = request.env["customer.handover.package"].browse(package_id)._download_attachment()
        return request.env["ir.binary"]._get_stream_from(attachment).get_response(as_attachment=True)
