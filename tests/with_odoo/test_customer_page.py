"""The customer's page over HTTP, as an anonymous browser opens it from the personal link in a notice.

Each answer is posted as the page's form posts it (with its CSRF token) and its effect is read back; links that
cannot be used all get the same plain page; requests are read by officers only, over JSON-RPC too.
"""

import re
import tempfile
from datetime import timedelta

from odoo import fields
from odoo.addons.customer_handover.models.customer_handover_customer_page import PAGE_ROUTE
from odoo.tests import HttpCase, tagged
from odoo.tools import file_open
from odoo.tools.translate import TranslationImporter

from .common import HandoverCase, RpcMixin
from .test_hostile_orm import HostileFixture

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
Request = "customer.data.request"


@tagged("post_install", "-at_install", "customer_handover_customer_page")
class TestCustomerPage(RpcMixin, HostileFixture, HandoverCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_fixture()
        cls.env["res.lang"]._activate_lang("zh_CN")
        # The .pot is regenerated at merge, and Odoo reads a .po through it: read this one alone, all of it current.
        importer = TranslationImporter(cls.env.cr, verbose=False)
        with tempfile.TemporaryFile() as po, file_open("customer_handover/i18n/zh_CN.po", "rb") as source:
            po.write(source.read())
            importer.load(po, "po", "zh_CN")
        importer.save(overwrite=True)
        cls.ok.write({"email": "wang.fang@example.cn", "lang": "en_US"})
        cls.handover = cls._handover_at("signed")

    def _path(self, partner=None, handover=None):
        url = (handover or self.handover)._customer_page_url(partner or self.ok)
        return url.removeprefix(self.handover.get_base_url())

    def _get(self, path):
        self.env.flush_all()
        response = self.url_open(path, allow_redirects=False)
        self.env.invalidate_all()
        return response

    def _answer(self, path, answer, page=None, **data):
        """Post ``answer`` as the page's confirmation form posts it, with the CSRF token of ``page``."""
        page = page or self._get(path)
        self.env.flush_all()
        response = self.url_open(f"{path}/answer", data={"answer": answer, "csrf_token": CSRF.search(page.text)[1],
                                                         **data}, allow_redirects=False)
        self.env.invalidate_all()
        return response

    def _requests(self, partner=None):
        return self.env[Request].search([("partner_id", "=", (partner or self.ok).id)])

    # ------------------------------------------------------------------------------------------ the page

    def test_page_shows_what_was_handed_over_to_whom_and_why(self):
        page = self._get(self._path())
        self.assertEqual(page.status_code, 200)
        line = self._line(self.handover, self.ok)
        for text in ("Your personal information", self.receiver.name, line.snapshot_classification,
                     "wang.fang@example.cn" if line.snapshot_contact else line.name, self.purpose_service.name,
                     "Withdraw my consent", "Object to the transfer"):
            self.assertIn(text, page.text)
        self.assertNotIn(self.sensitive.name, page.text, "nothing about another customer")
        self.assertIn('name="viewport"', page.text, "laid out for phones")

    def test_page_speaks_the_customers_language(self):
        self.ok.lang = "zh_CN"
        page = self._get(self._path())
        self.assertEqual(page.status_code, 200)
        self.assertIn("您的个人信息", page.text)
        self.assertNotIn("Your personal information", page.text)
        receiver = self.handover.receiver_id.commercial_partner_id.name
        self.assertIn(f"正在将您的客户记录移交给 {receiver}。", page.text, "one sentence, with a Chinese full stop")

    def test_links_that_cannot_be_used_get_one_plain_page(self):
        good = self._path()
        token = good.removeprefix(PAGE_ROUTE)
        handover_id, partner_id, expiry, signature = token.split(".")
        expired = self.handover._customer_page_token(self.ok, expires=fields.Date.today() - timedelta(days=1))
        flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
        nobody = 10**9
        paths = {
            "forged, real customer": f"{PAGE_ROUTE}{handover_id}.{partner_id}.{expiry}.{flipped}",
            "forged, no such customer": f"{PAGE_ROUTE}{handover_id}.{nobody}.{expiry}.{signature}",
            "signed, no such customer": f"{PAGE_ROUTE}{self.handover._customer_page_token(self.ok.browse(nobody))}",
            "another customer's": f"{PAGE_ROUTE}{handover_id}.{self.sensitive.id}.{expiry}.{signature}",
            "expired": f"{PAGE_ROUTE}{expired}",
            "truncated": good[:-5],
            "no handover": f"{PAGE_ROUTE}{nobody}.{partner_id}.{expiry}.{signature}",
        }
        bodies = set()
        for label, path in paths.items():
            response = self._get(path)
            self.assertEqual(response.status_code, 404, label)
            self.assertIn("This link is not valid", response.text, label)
            for leak in (self.ok.name, self.receiver.name, self.handover.name, self.company_a.name):
                self.assertNotIn(leak, response.text, f"{label} leaks {leak}")
            bodies.add(re.sub(r'csrf_token: "[^"]*"', "", response.text))
        self.assertEqual(len(bodies), 1, "the same page whatever the reason")
        self.assertEqual(self._answer(paths["forged, real customer"], "copy", page=self._get(good)).status_code, 404)
        self.assertFalse(self._requests())

    # ------------------------------------------------------------------------------------------ the answers

    def test_withdrawal(self):
        path = self._path()
        response = self._answer(path, "withdrawal", purpose=str(self.purpose_service.id))
        self.assertEqual(response.status_code, 303)
        self.assertIn(f"{path}?received=withdrawal", response.headers["Location"])
        request = self._requests()
        self.assertEqual((request.request_type, request.purpose_id, request.channel),
                         ("withdrawal", self.purpose_service, "customer_page"))
        consent = request.consent_ids
        self.assertEqual((consent.state, consent.withdrawal_channel, consent.date_withdrawn),
                         ("withdrawn", "customer_page", fields.Date.today()))
        page = self._get(response.headers["Location"])
        self.assertIn("Your consent is withdrawn", page.text)
        self.assertIn("You withdrew your consent for this purpose", page.text)

    def test_objection_copy_deletion(self):
        path = self._path()
        for answer in ("objection", "copy", "deletion"):
            self.assertEqual(self._answer(path, answer).status_code, 303, answer)
        requests = self._requests()
        self.assertEqual(sorted(requests.mapped("request_type")), ["copy", "deletion", "objection"])
        self.assertTrue(requests.filtered(lambda request: request.request_type == "copy").copy_attachment_id)
        self.assertTrue(self.handover.with_user(self.officer).new_export_needed, "objected after signing")
        page = self._get(path)
        self.assertIn("Your objection is being handled", page.text)
        self.assertIn("Your request for a copy is being handled", page.text)

    def test_answer_submitted_twice_records_one_request(self):
        path = self._path()
        page = self._get(path)
        for _attempt in range(3):
            self.assertEqual(self._answer(path, "deletion", page=page).status_code, 303)
        self.assertEqual(len(self._requests()), 1)
        for _attempt in range(2):
            self._answer(path, "withdrawal", page=page, purpose=str(self.purpose_service.id))
        self.assertEqual(len(self._requests()), 2)

    def test_bad_answers(self):
        path = self._path()
        page = self._get(path)
        for data in ({"answer": "erase_everything"}, {"answer": "withdrawal"},
                     {"answer": "withdrawal", "purpose": str(self.purpose_marketing.id)},
                     {"answer": "withdrawal", "purpose": "1 OR 1=1"}):
            response = self._answer(path, page=page, **data)
            self.assertEqual(response.status_code, 400, data)
        self.assertFalse(self._requests())
        # without the form's CSRF token
        self.env.flush_all()
        response = self.url_open(f"{path}/answer", data={"answer": "deletion"}, allow_redirects=False)
        self.assertEqual(response.status_code, 400)
        self.assertFalse(self._requests())

    def test_huge_body_is_refused_unread(self):
        path = self._path()
        page = self._get(path)
        response = self.url_open(f"{path}/answer", data={"answer": "deletion", "csrf_token": CSRF.search(page.text)[1],
                                                         "padding": "x" * (2 * 1024 * 1024)}, allow_redirects=False)
        self.assertEqual(response.status_code, 413)
        self.assertFalse(self._requests())

    def test_page_stays_cheap(self):
        """The page and its check answer in a few queries, whatever the number of lines and notices."""
        path = self._path()
        self._get(path)  # warm the caches of the templates
        self.env.flush_all()
        with self.assertQueryCount(__system__=13):
            self._get(path)
        forged = path[:-1] + ("0" if path[-1] != "0" else "1")
        # the signature is checked before any query of the page: what is left is the request's own
        with self.assertQueryCount(__system__=6):
            self.assertEqual(self._get(forged).status_code, 404)

    # ------------------------------------------------------------------------------------------ access

    def test_requests_over_json_rpc(self):
        self._answer(self._path(), "deletion")
        request = self._requests()
        for login in ("ch_employee", "ch_user", "ch_manager"):
            self._refused(login, Request, "search_read", [[]], {"fields": ["name", "state"]})
            self._refused(login, "res.partner", "read", [self.ok.ids, ["data_request_ids"]])
        answer = self._call("ch_officer", Request, "search_read", [[]], {"fields": ["name", "state"]})
        self.assertEqual([row["id"] for row in answer["result"]], request.ids)
        self._refused("ch_officer", Request, "write", [request.ids, {"state": "done"}], fields=["state"])
        self._refused("ch_officer", Request, "create", [{"request_type": "copy", "partner_id": self.ok.id,
                                                         "company_id": self.company_a.id, "channel": "phone"}])
        self._refused("ch_officer_b", Request, "action_start", [request.ids])
        answer = self._call("ch_user", "customer.data.request.enter", "create",
                            [{"partner_id": self.ok.id, "request_type": "copy", "channel": "letter"}])
        self.assertIn("result", answer, "a handover user enters a request")
        self._refused("ch_employee", "customer.data.request.enter", "create",
                      [{"partner_id": self.ok.id, "request_type": "copy", "channel": "letter"}])
        self.assertEqual(request.state, "new")

    def test_tour_opens_the_page_and_withdraws_a_consent(self):
        self.start_tour(self._path(), "customer_handover_customer_page_tour")
        request = self._requests()
        self.assertEqual((request.request_type, request.consent_ids.state), ("withdrawal", "withdrawn"))
