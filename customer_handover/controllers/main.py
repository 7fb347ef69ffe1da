from odoo import http
from odoo.http import request


class CustomerHandoverController(http.Controller):
    """Evidence files are read by no user directly: each is served by its step, which checks the user and logs it."""

    @http.route("/customer_handover/package/<int:package_id>/download", type="http", auth="user", methods=["GET"])
    def download_package(self, package_id):
        """Serve a transfer or backup package: its step checks the user and the export, and logs the download."""
        attachment = request.env["customer.handover.package"].browse(package_id)._download_attachment()
        return self._send(attachment)

    @http.route("/customer_handover/export/<int:export_id>/download", type="http", auth="user", methods=["GET"])
    def download_export(self, export_id, file="workbook"):
        """Serve a signed export's workbook (``file``: workbook, signed, signature or countersigned), logged."""
        attachment = request.env["customer.handover.export"].browse(export_id)._download_attachment(file)
        return self._send(attachment)

    @http.route("/customer_handover/incoming/<int:incoming_id>/download", type="http", auth="user", methods=["GET"])
    def download_incoming(self, incoming_id):
        """Serve the checklist an incoming handover came with (countersigned once it is), logged."""
        attachment = request.env["customer.handover.incoming"].browse(incoming_id)._download_attachment()
        return self._send(attachment)

    @http.route("/customer_handover/log/<int:attachment_id>/download", type="http", auth="user", methods=["GET"])
    def download_log(self, attachment_id):
        """Serve a signed export of the event log to an officer of its company, logged."""
        attachment = request.env["customer.handover.event"]._download_log_export(attachment_id)
        return self._send(attachment)

    @http.route("/customer_handover/request/<int:request_id>/copy", type="http", auth="user", methods=["GET"])
    def download_request_copy(self, request_id):
        """Serve the copy of a customer's data to an officer of the request's company, logged."""
        attachment = request.env["customer.data.request"].browse(request_id)._copy_attachment()
        return self._send(attachment)

    @http.route("/customer_handover/destruction/<int:request_id>/certificate", type="http", auth="user",
                methods=["GET"])
    def download_destruction_certificate(self, request_id):
        """Serve a destruction run's signed certificate to an officer of the request's company, logged."""
        attachment = request.env["customer.destruction.request"].browse(request_id)._certificate_attachment()
        return self._send(attachment)

    def _send(self, attachment):
        return request.env["ir.binary"]._get_stream_from(attachment).get_response(as_attachment=True)
