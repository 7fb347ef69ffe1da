from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import consteq
from odoo.tools.misc import hmac

from .customer_handover_line import ON_RECORD

# A customer's personal link: /customer_handover/customer/<handover>.<customer>.<expiry YYYYMMDD>.<signature>,
# the signature an HMAC with the database secret over the three numbers (the platform's signing, as Odoo 18
# signs its own tokens). Nothing is stored: the link proves itself, and a link of another scope never passes.
PAGE_ROUTE = "/customer_handover/customer/"
PAGE_SCOPE = "customer_handover.customer_page"
# A link lives this many days from the handover's date (or from the day it is made, if later), unless the
# system parameter customer_handover.customer_page_days says otherwise.
PAGE_DAYS = 180
# What a notice rendered outside its own steps links to (a preview, the composer): a page that opens nothing.
PAGE_PLACEHOLDER = "personal-link"
# A token is four dot-separated parts: ids, a date and a 64-digit hex signature; longer text is not looked at.
TOKEN_MAX = 120


class CustomerHandover(models.Model):
    _inherit = "customer.handover"

    def _customer_page_url(self, partner):
        """The absolute URL of ``partner``'s personal page about this handover, for the notice they are sent."""
        return self._customer_page_urls(partner)[partner.id]

    def _customer_page_urls(self, partners):
        """{partner id: the URL of their personal page about this handover}: the link's terms read once for all."""
        self.ensure_one()
        base = f"{self.get_base_url()}{PAGE_ROUTE}"
        expires = self._customer_page_expiry()
        return {partner.id: f"{base}{self._customer_page_token(partner, expires)}" for partner in partners}

    def _customer_page_lead(self):
        """The first sentence of the customer's page, in the reader's language: who hands their record to whom."""
        self.ensure_one()
        names = {"company": self.company_id.name, "receiver": self.receiver_id.commercial_partner_id.name}
        if self.state == "done":
            return self.env._("%(company)s handed your customer record over to %(receiver)s.", **names)
        return self.env._("%(company)s is handing your customer record over to %(receiver)s.", **names)

    def _customer_page_placeholder_url(self):
        """What the notice links to where it is not rendered for the customer: the link's place, no token."""
        self.ensure_one()
        return f"{self.get_base_url()}{PAGE_ROUTE}{PAGE_PLACEHOLDER}"

    def _customer_page_token(self, partner, expires=None):
        """The token of ``partner``'s page, valid until ``expires`` (a date; default: the link's lifetime)."""
        self.ensure_one()
        partner.ensure_one()
        if expires is None:
            expires = self._customer_page_expiry()
        message = f"{self.id}.{partner.id}.{expires:%Y%m%d}"
        return f"{message}.{self._customer_page_signature(message)}"

    def _customer_page_expiry(self):
        """The last day a link made today is valid."""
        days = int(self.env["ir.config_parameter"].sudo().get_param("customer_handover.customer_page_days", PAGE_DAYS))
        start = max(fields.Date.today(), self.date_done or self.date_planned or fields.Date.today())
        return start + timedelta(days=max(days, 1))

    @api.model
    def _customer_page_check(self, token):
        """``(partner, handover)`` as the system if ``token`` is a valid link of a customer of that handover.

        None for anything else: malformed, truncated, forged (compared in constant time), expired, a handover
        that was cancelled or no longer exists, a customer who is not on its record. The caller answers all of
        these alike.
        """
        token = token if isinstance(token, str) and len(token) <= TOKEN_MAX else ""
        parts = token.split(".")
        if len(parts) != 4 or not all(part.isascii() and part.isdigit() for part in parts[:3]):
            return None
        message, signature = ".".join(parts[:3]), parts[3]
        if not consteq(self._customer_page_signature(message), signature):
            return None
        handover_id, partner_id, expires = int(parts[0]), int(parts[1]), parts[2]
        if expires < f"{fields.Date.today():%Y%m%d}":
            return None
        # sudo: the visitor is anonymous; the signature, checked above, is the access check
        handover = self.sudo().browse(handover_id).exists()
        if not handover or handover.state == "cancel":
            return None
        line = self.env["customer.handover.line"].sudo().search(
            [("handover_id", "=", handover.id), ("partner_id", "=", partner_id), ("line_type", "=", "customer"),
             ON_RECORD],
            limit=1,
        )
        return (line.partner_id, handover) if line else None

    def _customer_page_signature(self, message):
        # sudo: the database secret keys the HMAC; the scope keeps it apart from every other token of the database
        return hmac(self.env(su=True), PAGE_SCOPE, message)

