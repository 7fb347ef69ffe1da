import binascii
from datetime import datetime, timedelta

from odoo import http
from odoo.exceptions import UserError, ValidationError
from odoo.http import request

from ..models.customer_handover_sign_request import SIGN_MINUTES

# The largest body the signing routes read: a drawn signature (a PNG) and a name. Larger bodies are refused
# unread (413), as are larger forms on the other routes.
SIGN_BODY_BYTES = 2 * 1024 * 1024
FORM_BYTES = 16 * 1024
# The links whose code this browser entered, and until when it may sign with each.
SESSION_KEY = "customer_handover_signing"


class CustomerHandoverSignController(http.Controller):
    """The public pages where a party's representative signs a handover from a personal link.

    The link's token is the access check, compared in constant time; a one-time code sent to the link's email
    opens the signature, in the browser that entered it. Any link that cannot be used gets one plain page.
    """

    @http.route(
        "/customer_handover/sign/<int:link_id>",
        type="http",
        auth="public",
        methods=["GET"],
        max_content_length=FORM_BYTES,
        sitemap=False,
    )
    def sign_page(self, link_id, access_token=None, **_kwargs):
        link = self._link(link_id, access_token)
        return self._page(link, access_token) if link else self._unusable()

    @http.route(
        "/customer_handover/sign/<int:link_id>/code",
        type="http",
        auth="public",
        methods=["POST"],
        max_content_length=FORM_BYTES,
        sitemap=False,
    )
    def send_code(self, link_id, access_token=None, **_kwargs):
        link = self._link(link_id, access_token)
        if not link:
            return self._unusable()
        return self._page(link, access_token, notice="code_sent" if link._send_code() else "code_refused")

    @http.route(
        "/customer_handover/sign/<int:link_id>/verify",
        type="http",
        auth="public",
        methods=["POST"],
        max_content_length=FORM_BYTES,
        sitemap=False,
    )
    def verify_code(self, link_id, access_token=None, code=None, **_kwargs):
        link = self._link(link_id, access_token)
        if not link:
            return self._unusable()
        if not link._check_code(code):
            return self._page(link, access_token, notice="code_wrong")
        verified = dict(request.session.get(SESSION_KEY) or {})
        verified[str(link.id)] = (datetime.utcnow() + timedelta(minutes=SIGN_MINUTES)).isoformat()
        request.session[SESSION_KEY] = verified
        return request.redirect(link.get_portal_url())

    @http.route(
        "/customer_handover/sign/<int:link_id>/record",
        type="http",
        auth="public",
        methods=["GET"],
        max_content_length=FORM_BYTES,
        sitemap=False,
    )
    def record(self, link_id, access_token=None, **_kwargs):
        """The handover record to sign, as a PDF, for the browser that entered the code."""
        link = self._link(link_id, access_token)
        if not link or not self._code_entered(link):
            return self._unusable()
        # sudo: the visitor is anonymous; the link's token and code were checked above
        pdf, _type = (
            request.env["ir.actions.report"]
            .sudo()
            ._render_qweb_pdf("customer_handover.customer_handover_report_record", link.handover_id.ids)
        )
        name = f"{(link.handover_id.name or 'handover').replace('/', '-')}.pdf"
        return request.make_response(
            pdf,
            headers=[
                ("Content-Type", "application/pdf"),
                ("Content-Length", len(pdf)),
                ("Content-Disposition", http.content_disposition(name)),
            ],
        )

    @http.route(
        "/customer_handover/sign/<int:link_id>/accept",
        type="json",
        auth="public",
        methods=["POST"],
        max_content_length=SIGN_BODY_BYTES,
        sitemap=False,
    )
    def accept(self, link_id, access_token=None, name=None, signature=None, **_kwargs):
        """The portal's signature form posts here: the representative's name and drawn signature."""
        # the signature form sends the name and signature only: the token comes in the URL's query
        link = self._link(link_id, access_token or request.httprequest.args.get("access_token"))
        if not link or not self._code_entered(link):
            return {"error": request.env._("This link cannot be used to sign. Ask the sender for a new one.")}
        if not signature or not isinstance(signature, str) or not isinstance(name or "", str):
            return {"error": request.env._("Draw your signature first.")}
        try:
            link._sign(name, signature, request.httprequest.remote_addr)
        except (UserError, ValidationError) as error:
            request.env.cr.rollback()
            return {"error": str(error)}
        except (TypeError, ValueError, binascii.Error):
            request.env.cr.rollback()
            return {"error": request.env._("The signature could not be read: draw it again.")}
        verified = dict(request.session.get(SESSION_KEY) or {})
        verified.pop(str(link.id), None)
        request.session[SESSION_KEY] = verified
        return {"force_refresh": True, "redirect_url": "/customer_handover/sign/done"}

    @http.route("/customer_handover/sign/done", type="http", auth="public", methods=["GET"], sitemap=False)
    def signed(self, **_kwargs):
        return request.render("customer_handover.sign_request_done")

    def _link(self, link_id, token):
        """The link ``link_id`` as the system if ``token`` is its token and it can still be signed, else None."""
        # sudo: the visitor is anonymous; the token, compared in constant time, is the access check
        link = request.env["customer.handover.sign.request"].sudo().browse(link_id).exists()
        if not link or not link._check_token(token) or not link._is_usable():
            return None
        return link

    def _code_entered(self, link):
        """Whether this browser entered the link's code, less than SIGN_MINUTES ago."""
        until = (request.session.get(SESSION_KEY) or {}).get(str(link.id))
        return bool(until and link.verified_on and datetime.utcnow().isoformat() < until)

    def _page(self, link, token, notice=None):
        return request.render(
            "customer_handover.sign_request_page",
            {
                "link": link,
                "handover": link.handover_id,
                "token": token,
                "notice": notice,
                "code_entered": self._code_entered(link),
                "masked_email": link._masked_email(),
            },
        )

    def _unusable(self):
        """The same plain page for every link that cannot be used: unknown, wrong token, expired, used, replaced."""
        return request.render("customer_handover.sign_request_unusable", status=404)
