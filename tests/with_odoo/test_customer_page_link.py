"""The customer's personal link: a token bound to one customer and one handover, with an expiry.

The token is made by ``customer.handover._customer_page_url`` (for the notices) and turned back into the customer
and the handover by ``_customer_page_check``; anything else it is given comes back as nothing.
"""

from datetime import timedelta

from odoo import fields
from odoo.addons.customer_handover.models.customer_handover_customer_page import PAGE_ROUTE
from odoo.tests import tagged
from odoo.tools.misc import hmac

from .common import HandoverCase
from .test_hostile_orm import HostileFixture


@tagged("post_install", "-at_install", "customer_handover_customer_page")
class TestCustomerPageLink(HostileFixture, HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_fixture()
        cls.handover = cls._handover_at("signed")
        cls.other = cls._new_handover()
        cls._scope(cls.other).save().action_confirm()

    def _token(self, handover=None, partner=None, **kwargs):
        return (handover or self.handover)._customer_page_token(partner or self.ok, **kwargs)

    def _check(self, token):
        return self.env["customer.handover"]._customer_page_check(token)

    def test_url_is_absolute_and_opens_the_customer_and_handover(self):
        url = self.handover.with_user(self.manager)._customer_page_url(self.ok)
        base = self.handover.get_base_url()
        self.assertTrue(url.startswith(f"{base}{PAGE_ROUTE}"), url)
        partner, handover = self._check(url.removeprefix(f"{base}{PAGE_ROUTE}"))
        self.assertEqual((partner, handover), (self.ok, self.handover))
        self.assertTrue(partner.env.su, "the checker hands the page its records as the system")

    def test_expiry_follows_the_setting(self):
        self.env["ir.config_parameter"].sudo().set_param("customer_handover.customer_page_days", "30")
        expires = max(fields.Date.today(), self.handover.date_planned) + timedelta(days=30)
        self.assertEqual(self._token(), self._token(expires=expires))
        self.assertTrue(self._check(self._token(expires=fields.Date.today())), "valid on its last day")

    def test_expired(self):
        self.assertIsNone(self._check(self._token(expires=fields.Date.today() - timedelta(days=1))))

    def test_forged(self):
        token = self._token()
        message, signature = token.rsplit(".", 1)
        flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
        self.assertIsNone(self._check(f"{message}.{flipped}"))
        # a later expiry with the signature of the real one
        handover_id, partner_id, _expiry = message.split(".")
        self.assertIsNone(self._check(f"{handover_id}.{partner_id}.29991231.{signature}"))
        # another scope's HMAC of the same message (as another token of this database would be)
        self.assertIsNone(self._check(f"{message}.{hmac(self.env(su=True), 'customer_handover.sign_code', message)}"))

    def test_another_customers_token(self):
        token = self._token()
        self.assertEqual(self._check(self._token(partner=self.sensitive))[0], self.sensitive)
        # the customer's signature under another customer's id, or another handover's
        _handover_id, _partner_id, expiry, signature = token.split(".")
        self.assertIsNone(self._check(f"{self.handover.id}.{self.sensitive.id}.{expiry}.{signature}"))
        self.assertIsNone(self._check(f"{self.other.id}.{self.ok.id}.{expiry}.{signature}"))

    def test_customer_not_on_the_handover(self):
        """A well-signed token of someone who is not a customer of the handover opens nothing."""
        self.assertIsNone(self._check(self._token(partner=self.receiver)))
        self.assertIsNone(self._check(self._token(partner=self.customer_b)))

    def test_truncated_and_malformed(self):
        token = self._token()
        for bad in (token[:-1], token[:-32], token.rsplit(".", 1)[0], token + "0", token + ".1", "", None, 42,
                    "1.2.3.4", "x" * 10_000, token.replace(".", "-"), "١." + token.split(".", 1)[1]):
            self.assertIsNone(self._check(bad), repr(bad)[:60])

    def test_cancelled_or_deleted_handover(self):
        token = self._token(handover=self.other)
        self.assertTrue(self._check(token))
        self.other.with_user(self.manager)._cancel("The buyer withdrew.")
        self.assertIsNone(self._check(token))
