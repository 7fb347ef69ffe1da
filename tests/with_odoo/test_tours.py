"""Browser tours: the handover as the staff who run it use it, in English, in Chinese and on a phone, and
the receiving party's representative signing from a personal link."""

import re

from odoo.tests import HttpCase, new_test_user, tagged

from .common import MANAGER, OFFICER

SIGNATURE = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


class TourCase(HttpCase):
    """A company that can sign, a receiver, and three customers of one business domain, two with consent."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.env.company
        officer = new_test_user(cls.env, login="tour_officer", groups=OFFICER, name="Tour Officer")
        company.with_user(officer).action_handover_create_signing_key()
        cls.manager = new_test_user(cls.env, login="tour_manager", groups=MANAGER, name="Tour Manager")
        cls.purpose = cls.env.ref("customer_handover.consent_purpose_customer_service")
        cls.receiver = cls.env["res.partner"].create(
            {"name": "Tour Receiver Co.", "is_company": True, "email": "legal@receiver.example.cn"}
        )
        domain = cls.env["customer.business.domain"].create({"name": "Tour domain"})
        Partner = cls.env["res.partner"]
        cls.customers = Partner.create([
            {"name": name, "email": f"{index}@tour.example.cn", "business_domain_ids": [(6, 0, domain.ids)]}
            for index, name in enumerate(("Tour Customer A", "Tour Customer B", "Tour No Consent"))
        ])
        cls.env["customer.consent"].create([
            {"partner_id": partner.id, "purpose_id": cls.purpose.id, "date_given": "2026-01-01"}
            for partner in cls.customers[:2]
        ])
        cls.domain = domain

    def _handover(self, state="draft"):
        """A handover with the tour's customers on its checklist, taken as far as ``state``."""
        handover = self.env["customer.handover"].with_user(self.manager).create({
            "receiver_id": self.receiver.id, "purpose_ids": [(6, 0, self.purpose.ids)],
            "nda_reference": "NDA-1", "nda_date": "2026-11-01", "nda_document": SIGNATURE,
        })
        if state == "draft":
            return handover
        scope = self.env["customer.handover.scope"].with_user(self.manager).create(
            {"handover_id": handover.id, "business_domain_ids": [(6, 0, self.domain.ids)]}
        )
        scope.action_confirm()
        handover.action_confirm()
        handover.action_start()
        if state == "verified":
            handover.action_verify_all_pending()
            handover.action_mark_verified()
        return handover


@tagged("post_install", "-at_install", "customer_handover_tours")
class TestManagerTour(TourCase):
    def test_manager_runs_a_handover_from_new_to_done(self):
        self.start_tour("/odoo/action-customer_handover.customer_handover_action", "customer_handover_manager_tour",
                        login="tour_manager")
        handover = self.env["customer.handover"].search([("receiver_id", "=", self.receiver.id)])
        self.assertEqual(handover.state, "done")
        self.assertEqual((handover.transfer_signer, handover.receiver_signer), ("Tour Manager", "李代表"))
        self.assertEqual((handover.transfer_sign_channel, handover.receiver_sign_channel), ("user", "in_person"))
        self.assertEqual(len(handover.export_ids), 1)
        self.assertEqual(self.customers[:2].handover_id, handover)


@tagged("post_install", "-at_install", "customer_handover_tours")
class TestChineseTours(TourCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("zh_CN")
        cls.env["ir.module.module"]._load_module_terms(["web", "customer_handover"], ["zh_CN"], overwrite=True)
        cls.manager.write({"lang": "zh_CN", "name": "王经理"})

    def _url(self, handover):
        return f"/odoo/action-customer_handover.customer_handover_action/{handover.id}"

    def test_scope_wizard_in_chinese(self):
        handover = self._handover()
        self.start_tour(self._url(handover), "customer_handover_zh_scope_tour", login="tour_manager")
        self.assertEqual(len(handover.line_ids), 3)
        self.assertTrue(all(handover.line_ids.mapped("excluded")), "the selection was undone")

    def test_sign_off_in_chinese(self):
        handover = self._handover("verified")
        handover.receiver_responsible_id = self.env["res.partner"].create({"name": "李代表"})
        self.start_tour(self._url(handover), "customer_handover_zh_sign_tour", login="tour_manager")
        self.assertEqual((handover.state, handover.transfer_signer, handover.receiver_signer),
                         ("signed", "王经理", "李代表"))


@tagged("post_install", "-at_install", "customer_handover_tours")
class TestPhoneTour(TourCase):
    browser_size = "390x844"

    def test_checklist_at_phone_width(self):
        handover = self._handover("in_progress")
        self.start_tour(f"/odoo/action-customer_handover.customer_handover_action/{handover.id}",
                        "customer_handover_phone_tour", login="tour_manager")
        verified = handover.line_ids.filtered(lambda line: line.partner_id == self.customers[0])
        self.assertEqual(verified.state, "verified")


@tagged("post_install", "-at_install", "customer_handover_tours")
class TestSigningTours(TourCase):
    """Each party signs as itself: the receiver from its link in a browser, or in person when chosen."""

    def _waiting(self):
        handover = self._handover("verified")
        handover.receiver_responsible_id = self.env["res.partner"].create(
            {"name": "李代表", "email": "li.daibiao@receiver.example.cn", "parent_id": self.receiver.id}
        )
        handover.with_user(self.manager)._sign("transfer", None, SIGNATURE, channel="user")
        return handover

    def test_the_receiver_signs_from_its_link_in_a_browser(self):
        handover = self._waiting()
        self.start_tour(f"/odoo/action-customer_handover.customer_handover_action/{handover.id}",
                        "customer_handover_send_link_tour", login="tour_manager")
        link = handover.sign_request_ids
        self.assertEqual((len(link), link.state, link.email), (1, "pending", "li.daibiao@receiver.example.cn"))
        url = re.search(r"/customer_handover/sign/\d+\?access_token=[\w-]+", self._mail(link, "access_token")).group()
        self.start_tour(url, "customer_handover_remote_code_tour")
        code = re.search(r'class="o_sign_code"[^>]*>\s*(\d{6})', self._mail(link, "o_sign_code"))[1]
        self.start_tour(f"{url}#code={code}", "customer_handover_remote_sign_tour")
        self.assertEqual((handover.state, handover.receiver_signer, handover.receiver_sign_channel),
                         ("signed", "李代表", "link"))
        self.assertEqual((handover.receiver_sign_email, link.state), ("li.daibiao@receiver.example.cn", "signed"))
        self.assertTrue(handover.receiver_sign_ip and handover.receiver_signature)

    def test_in_person_is_chosen_and_recorded_as_witnessed(self):
        handover = self._waiting()
        self.start_tour(f"/odoo/action-customer_handover.customer_handover_action/{handover.id}",
                        "customer_handover_in_person_tour", login="tour_manager")
        self.assertEqual((handover.state, handover.receiver_sign_channel, handover.receiver_witness_id,
                          handover.receiver_signer), ("signed", "in_person", self.manager, "李代表"))

    def _mail(self, link, marker):
        """The body of the last mail of ``link`` that holds ``marker``."""
        mails = self.env["mail.mail"].search([("model", "=", link._name), ("res_id", "=", link.id)], order="id desc")
        return next(mail.body_html for mail in mails if marker in (mail.body_html or ""))
