from odoo import http
from odoo.http import request

from ..models.customer_data_request import OPEN_REQUEST_STATES
from ..models.customer_handover_customer_page import PAGE_ROUTE
from ..models.customer_handover_line import _coarsened
from .sign import FORM_BYTES

ANSWERS = ("withdrawal", "objection", "copy", "deletion")


class CustomerHandoverCustomerPageController(http.Controller):
    """The page a customer reaches from the personal link in their notice: what was handed over, and their answers.

    The link's token, an HMAC checked in constant time before any query, is the only access check. Every link that
    cannot be used, whatever the reason, gets one plain page that says nothing about the customer.
    """

    @http.route(
        f"{PAGE_ROUTE}<string:token>",
        type="http",
        auth="public",
        methods=["GET"],
        max_content_length=FORM_BYTES,
        sitemap=False,
    )
    def customer_page(self, token, received=None, **_kwargs):
        found = request.env["customer.handover"]._customer_page_check(token)
        if not found:
            return self._invalid()
        partner, handover = found
        return self._page(partner, handover, token, received if received in ANSWERS else None)

    @http.route(
        f"{PAGE_ROUTE}<string:token>/answer",
        type="http",
        auth="public",
        methods=["POST"],
        max_content_length=FORM_BYTES,
        sitemap=False,
    )
    def answer(self, token, answer=None, purpose=None, **_kwargs):
        """One confirmed answer: a request to the officer, recorded once however often the form is sent."""
        found = request.env["customer.handover"]._customer_page_check(token)
        if not found:
            return self._invalid()
        partner, handover = found
        if answer not in ANSWERS:
            return self._page(partner, handover, token, None, status=400)
        chosen = None
        if answer == "withdrawal":
            purpose_id = int(purpose) if isinstance(purpose, str) and purpose.isascii() and purpose.isdigit() else 0
            chosen = handover.purpose_ids.filtered(lambda record: record.id == purpose_id)
            if not chosen:
                return self._page(partner, handover, token, None, status=400)
        # the checker gave the records as the system: the token is the access check
        request.env["customer.data.request"].sudo()._receive(answer, partner, handover, "customer_page",
                                                             purpose=chosen)
        # Post/Redirect/Get: reloading the confirmation does not send the answer again
        return request.redirect(f"{PAGE_ROUTE}{token}?received={answer}", local=True)

    def _page(self, partner, handover, token, received, status=200):
        lang = partner.lang or handover.company_id._handover_lang()
        request.update_context(lang=lang)
        # sudo: the visitor is anonymous; the token, checked by the caller, is the access check
        env = request.env(su=True)
        partner, handover = partner.with_env(env), handover.with_env(env)
        line = env["customer.handover.line"].search(
            [("handover_id", "=", handover.id), ("partner_id", "=", partner.id), ("line_type", "=", "customer"),
             ("scope_run", ">=", 0)], limit=1)
        requests = env["customer.data.request"].search(
            [("partner_id", "=", partner.id), ("handover_id", "=", handover.id)], order="received_on desc, id desc")
        open_requests = requests.filtered(lambda record: record.state in OPEN_REQUEST_STATES)
        withdrawn = requests.filtered(
            lambda record: record.request_type == "withdrawal" and record.state != "refused").purpose_id
        return request.render(
            "customer_handover.customer_page",
            {
                "partner": partner,
                "handover": handover,
                "line": line,
                "retention": _coarsened(line.snapshot_retention or ""),
                "exclusion": _coarsened(line.exclusion_reason or "") if line.excluded else "",
                "receiver": handover.receiver_id.commercial_partner_id,
                "purposes": handover.purpose_ids,
                "withdrawn": withdrawn,
                "open_types": set(open_requests.mapped("request_type")),
                "requests": requests,
                "received": received,
                "action": f"{PAGE_ROUTE}{token}/answer",
            },
            status=status,
        )

    def _invalid(self):
        """The same page for every link that cannot be used: unknown, forged, expired, another customer's."""
        return request.render("customer_handover.customer_page_invalid", status=404)
