import base64
import hashlib
import io
from unittest.mock import patch

from dateutil.relativedelta import relativedelta

from odoo.addons.customer_handover.models import res_partner_destruction
from odoo.addons.customer_handover.models.handover_access import OFFICER
from odoo.addons.customer_handover.tools import destruction_certificate as dc
from odoo.addons.customer_handover.tools.checklist_verify import verify
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged
from odoo.tools import SQL

from .common import HandoverCase, RpcMixin
from .test_record_retention import RetentionFixture

NAME = "Zhang Wei"
EMAIL = "zhang.wei@example.cn"
CHILD_NAME = "Zhang Xiaoming"
CHILD_EMAIL = "zxm.child@example.cn"
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"))


class DestructionCase(HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.officer_2 = cls._new_user("ch_officer_2", OFFICER)
        cls.company_a.with_user(cls.officer).action_handover_create_signing_key()
        cls.env["ir.config_parameter"].sudo().set_param("customer_handover.background_batch_size", "10")

    def _customer(self, name=NAME, email=EMAIL, **values):
        return self.env["res.partner"].create({
            "name": name, "email": email, "phone": "138 0013 8000", "mobile": "139 0000 0000",
            "street": "1 Renmin Road", "city": "Shanghai", "zip": "200000", "vat": "CN91310000",
            "ref": "C-0042", "website": "https://zhang.example.cn", "comment": f"{name} prefers mornings",
            "function": "Buyer", "image_1920": PNG, "country_id": self.env.ref("base.cn").id, **values,
        })

    def _leftovers(self, partner, child):
        """Everything that hangs on the customer and its child contact, each of its own kind."""
        Message = self.env["mail.message"]
        field_email = self.env["ir.model.fields"]._get("res.partner", "email")
        field_parent = self.env["ir.model.fields"]._get("res.partner", "parent_id")
        message = partner.message_post(body=f"Called {NAME} about the order")
        for index in range(2):
            self.env["mail.tracking.value"].create({
                "field_id": field_email.id, "old_value_char": EMAIL, "new_value_char": f"z{index}@example.cn",
                "mail_message_id": message.id})
        child.message_post(body=f"{CHILD_NAME} joined")
        for purpose in (self.purpose_marketing, self.purpose_service):
            consent = self.env["customer.consent"].create({
                "partner_id": partner.id, "purpose_id": purpose.id, "state": "granted", "date_given": "2024-01-02",
                "note": f"{NAME} signed at the counter", "evidence": base64.b64encode(b"%PDF signed form"),
                "evidence_filename": f"{NAME}.pdf"})
            consent.message_post(body=f"Consent of {NAME}")
        self.env["res.partner.bank"].create({"partner_id": partner.id, "acc_number": "6222020000000042"})
        self.env["ir.attachment"].create({"name": f"{NAME} contract.pdf", "res_model": "res.partner",
                                          "res_id": partner.id, "raw": b"contract of Zhang Wei"})
        partner.activity_schedule("mail.mail_activity_data_todo", summary=f"Call {NAME}",
                                  user_id=self.officer.id)
        company_partner = self.company_a.partner_id
        company_partner.message_subscribe(partner_ids=partner.ids)
        other = company_partner.message_post(body="Price list", partner_ids=partner.ids,
                                             message_type="comment", subtype_xmlid="mail.mt_comment")
        self.env["mail.tracking.value"].create({
            "field_id": field_parent.id, "old_value_integer": partner.id, "old_value_char": NAME,
            "mail_message_id": other.id})
        self.env["mail.mail"].create({"email_to": f"{NAME} <{EMAIL}>", "subject": "Your order",
                                      "body_html": "<p>Hello</p>"})
        return Message

    def _request(self, partners, basis="retention_expired", user=None):
        request = self.env["customer.destruction.request"].with_user(user or self.officer).create({
            "partner_ids": [(6, 0, partners.ids)], "basis": basis})
        request.action_request()
        return request

    def _run(self):
        Job = self.env["customer.handover.job"]
        for _call in range(50):
            if not Job.search_count([("state", "in", ("queued", "running"))]):
                return
            Job._cron_run()
        raise AssertionError("the run did not end")

    def _lookup(self, name, email):
        wizard = self.env["privacy.lookup.wizard"].create({"name": name, "email": email})
        wizard.action_lookup()
        return wizard.line_ids


@tagged("post_install", "-at_install", "customer_handover_destruction")
class TestDestruction(DestructionCase):
    def test_a_destruction_leaves_nothing_privacy_lookup_or_a_search_finds(self):
        partner = self._customer()
        child = self.env["res.partner"].create({"name": CHILD_NAME, "email": CHILD_EMAIL, "parent_id": partner.id,
                                                "phone": "+86 139 1111 2222"})
        self._leftovers(partner, child)
        self.assertTrue(self._lookup(NAME, EMAIL), "the lookup finds the customer before")
        request = self._request(partner)
        request.with_user(self.officer_2).action_approve()
        self.assertEqual(request.state, "running")
        self._run()
        self.assertEqual(request.state, "done")
        self.assertFalse(self._lookup(NAME, EMAIL))
        self.assertFalse(self._lookup(CHILD_NAME, CHILD_EMAIL))
        env = self.env(context={"active_test": False})
        for value in (NAME, EMAIL, CHILD_NAME, CHILD_EMAIL, "Renmin", "6222020000000042", "C-0042"):
            self.assertFalse(env["res.partner"].search(["|", "|", "|", ("name", "ilike", value),
                                                        ("email", "ilike", value), ("street", "ilike", value),
                                                        ("ref", "ilike", value)]), value)
            self.assertFalse(env["mail.message"].search([("body", "ilike", value)]), value)
            self.assertFalse(env["mail.tracking.value"].search(["|", ("old_value_char", "ilike", value),
                                                                ("new_value_char", "ilike", value)]), value)
            self.assertFalse(env["mail.mail"].search([("email_to", "ilike", value)]), value)
            self.assertFalse(env["res.partner.bank"].search([("acc_number", "ilike", value)]), value)
            self.assertFalse(env["mail.activity"].search([("summary", "ilike", value)]), value)
            self.assertFalse(env["customer.consent"].search([("note", "ilike", value)]), value)
        self.env.cr.execute(SQL("SELECT count(*) FROM ir_attachment WHERE name ILIKE %s OR (res_model = "
                                "'res.partner' AND res_id = ANY(%s))", f"%{NAME}%", (partner | child).ids))
        self.assertEqual(self.env.cr.fetchone()[0], 0, "files, images and consent evidence are gone")
        ids = (partner | child).ids
        self.assertFalse(env["mail.followers"].search([("partner_id", "in", ids)]))
        self.assertFalse(env["mail.notification"].search([("res_partner_id", "in", ids)]))
        self.assertFalse(env["mail.activity"].search([("res_model", "=", "res.partner"), ("res_id", "in", ids)]))
        self.assertEqual(set((partner | child).mapped("handover_destruction_state")), {"destroyed"})
        self.assertFalse(partner.active or child.active)
        self.assertFalse(partner.email or partner.phone or partner.vat or partner.website or partner.image_1920)
        self.assertEqual(partner.name, "Destroyed contact")
        self.assertEqual(len(partner.consent_ids), 2, "the consents stay, without their evidence and notes")

        record = request.with_user(self.officer).record_ids
        self.assertEqual(len(record), 1, "one record per customer, its contacts counted in it")
        self.assertEqual((record.initials, record.basis, record.requested_by_id, record.approved_by_id),
                         ("Z.W.", "retention_expired", self.officer, self.officer_2))
        key = self.company_a._handover_identity_key()
        masked = dc.MaskedIdentity(record.initials, record.email_hash, record.phone_hash)
        self.assertTrue(dc.identity_matches(key, masked, email=EMAIL.upper()), "was Zhang Wei destroyed? yes")
        self.assertTrue(dc.identity_matches(key, masked, phone="+86 138 0013 8000"))
        self.assertEqual(record.counts["res.partner"], 2)
        self.assertEqual(record.counts["mail.tracking.value"], 2)
        self.assertEqual(record.counts["res.partner.bank"], 1)
        self.assertGreaterEqual(record.counts["ir.attachment"], 3)
        self.assertIn("child_contacts", record.categories)

        data = request.with_user(self.officer)._certificate_attachment().raw
        result = verify(data, trusted={request.certificate_fingerprint})
        self.assertEqual(result.status, "valid", [finding.message for finding in result.findings])
        certificate = dc.read_certificate(io.BytesIO(data))
        self.assertEqual([row["email_hash"] for row in certificate.rows], [record.email_hash])
        self.assertEqual(certificate.cover["request"], request.name)
        basis = dict(request._fields["basis"]._description_selection(self.env))[request.basis]
        self.assertEqual((certificate.cover["basis"], certificate.rows[0]["basis"]), (basis, basis),
                         "the certificate names the basis as a reader reads it, not by its code")
        events = self.env["customer.handover.event"].search([("company_id", "=", self.company_a.id)]).mapped("event")
        for code in ("destruction_requested", "destruction_approved", "customers_destroyed", "destruction_done"):
            self.assertIn(code, events)

    def test_an_officer_proposes_from_the_contacts(self):
        partners = self._customer() | self._customer("Li Lei", "li.lei@example.cn")
        action = partners.with_user(self.officer).action_propose_destruction()
        request = self.env["customer.destruction.request"].browse(action["res_id"])
        self.assertEqual((request.state, request.origin, request.partner_ids), ("draft", "officer", partners))
        self.assertRegex(request.name, r"^DR/\d{4}/\d{4}$")
        with self.assertRaisesRegex(UserError, "basis is Other"):
            request.with_user(self.officer).action_request()

    def test_the_requester_never_approves_and_a_refusal_changes_nothing(self):
        partner = self._customer()
        request = self._request(partner)
        with self.assertRaisesRegex(UserError, "another data-protection officer must approve"):
            request.with_user(self.officer).action_approve()
        self.assertEqual(request.state, "requested")
        request.with_user(self.officer_2).action_refuse()
        self.assertEqual((request.state, request.refused_by_id), ("refused", self.officer_2))
        self.assertEqual(partner.name, NAME)
        self.assertFalse(self.env["customer.handover.job"].search([("destruction_request_id", "=", request.id)]))

    def test_approve_is_offered_to_an_officer_other_than_the_requester(self):
        Request = self.env["customer.destruction.request"]
        request = Request.with_user(self.officer).create({"partner_ids": [(6, 0, self._customer().ids)],
                                                          "basis": "retention_expired"})
        self.assertFalse(request.can_approve, "a draft is requested first")
        request.action_request()
        self.assertFalse(request.with_user(self.officer).can_approve, "the requester is not offered Approve")
        self.assertTrue(request.with_user(self.officer_2).can_approve, "a second officer is")
        proposal = Request._propose(self.company_a, self._customer("Li Lei", "li.lei@example.cn").ids,
                                    "retention_expired", "retention", requested=True)
        for officer in (self.officer, self.officer_2):
            self.assertTrue(proposal.with_user(officer).can_approve, "the system's proposal: any one officer")
        request.with_user(self.officer_2).action_approve()
        self.assertFalse(request.with_user(self.officer_2).can_approve, "approved once")

    def test_held_customers_are_listed_with_their_reason_and_left_alone(self):
        held = self._customer("Held Customer", "held@example.cn")
        held.sudo().write({"legal_hold": True, "legal_hold_reason": "Court case 42"})
        duty = self._customer("Duty Customer", "duty@example.cn")
        self.policy_customer.sudo().legal_duty = True
        duty.sudo().write({"retention_policy_id": self.policy_customer.id, "relationship_stage": "active"})
        with_login = self._customer("Portal Customer", "portal@example.cn")
        self.env["res.users"].create({"login": "portal@example.cn", "partner_id": with_login.id,
                                      "groups_id": [(6, 0, self.env.ref("base.group_portal").ids)]})
        free = self._customer("Free Customer", "free@example.cn")
        request = self._request(held | duty | with_login | free)
        self.assertEqual({(hold.partner_id.name, hold.reason) for hold in request.hold_ids}, {
            ("Held Customer", "legal_hold"), ("Duty Customer", "legal_duty"), ("Portal Customer", "user_account")})
        request.with_user(self.officer_2).action_approve()
        self._run()
        self.assertEqual(free.handover_destruction_state, "destroyed")
        self.assertEqual((held.name, duty.name, with_login.name),
                         ("Held Customer", "Duty Customer", "Portal Customer"))
        alone = self.env["customer.destruction.request"].with_user(self.officer).create({
            "partner_ids": [(6, 0, held.ids)], "basis": "retention_expired"})
        with self.assertRaisesRegex(UserError, "held back"):
            alone.action_request()
        again = self.env["customer.destruction.request"].with_user(self.officer).create({
            "partner_ids": [(6, 0, free.ids)], "basis": "retention_expired"})
        with self.assertRaisesRegex(UserError, "already destroyed"):
            again.action_request()
        self.assertEqual(again.state, "draft")

    def test_a_contact_an_invoice_keeps_is_restricted_and_hidden_but_from_officers(self):
        partner = self._customer()
        # a keeper of this database's own: the customer's data request, kept for the years of the setting
        self.env["customer.data.request"].sudo()._receive("copy", partner, self.env["customer.handover"], "email")
        keepers = (("customer.data.request", ("partner_id",), "due_date"),)
        request = self._request(partner)
        with patch.object(res_partner_destruction, "KEEPERS", keepers):
            request.with_user(self.officer_2).action_approve()
            self._run()
        self.assertEqual(self.env["customer.data.request"].sudo().search([("partner_id", "=", partner.id)]).mapped(
            "due_date")[0].year, 2026)
        self.assertEqual(partner.handover_destruction_state, "restricted")
        self.assertEqual(partner.name, NAME, "kept for storage only")
        self.assertGreater(partner.sudo().handover_restricted_until.year, 2050)
        self.assertFalse(request.record_ids)
        self.env.invalidate_all()
        self.assertFalse(self.env["res.partner"].with_user(self.employee).search([("id", "=", partner.id)]))
        with self.assertRaises(AccessError):
            partner.with_user(self.handover_user).read(["name"])
        self.assertEqual(self.env["res.partner"].with_user(self.officer).search([("id", "=", partner.id)]), partner)
        handover = self.env["customer.handover"].with_user(self.officer).create({
            "receiver_id": self.env["res.partner"].create({"name": "Receiver Co.", "email": "legal@receiver.cn"}).id,
            "purpose_ids": [(6, 0, self.purpose_service.ids)]})
        scope = self.env["customer.handover.scope"].with_user(self.officer).create({
            "handover_id": handover.id, "partner_ids": [(6, 0, partner.ids)], "customers_only": False})
        self.assertFalse(self.env["res.partner"].with_user(self.officer).search(scope._scope_domain()),
                         "kept out of handovers, even by an officer")

    def test_a_legal_hold_placed_after_the_approval_still_holds(self):
        free = self._customer("Free Customer", "free@example.cn")
        late = self._customer("Late Hold", "late@example.cn")
        request = self._request(free | late)
        request.with_user(self.officer_2).action_approve()
        late.sudo().write({"legal_hold": True, "legal_hold_reason": "Authority's request"})
        self._run()
        self.assertEqual((free.handover_destruction_state, late.handover_destruction_state, late.name),
                         ("destroyed", False, "Late Hold"))
        self.assertEqual(request.record_ids.partner_id, free)

    def test_no_one_changes_a_record_not_even_the_superuser(self):
        partner = self._customer()
        request = self._request(partner)
        request.with_user(self.officer_2).action_approve()
        self._run()
        record = request.record_ids
        for env in (self.env(su=True), self.env(user=self.officer)):
            with self.assertRaises(AccessError):
                record.with_env(env).write({"initials": "X.X."})
            with self.assertRaises(AccessError):
                record.with_env(env).unlink()
            with self.assertRaises(AccessError):
                env["customer.destruction.record"].create({"request_id": request.id,
                                                          "company_id": self.company_a.id})
            with self.assertRaises(AccessError):
                request.with_env(env).write({"approved_by_id": env.uid})
        self.assertEqual(record.initials, "Z.W.")
        certificate = request.sudo().certificate_attachment_id
        self.assertEqual(certificate.handover_evidence, "served", "read through its step only")
        for env in (self.env(su=True), self.env(user=self.officer)):
            with self.assertRaises(AccessError):
                certificate.with_env(env).unlink()
            with self.assertRaises(AccessError):
                request.with_env(env).write({"certificate_attachment_id": False})

    def test_a_run_stopped_half_way_resumes_without_destroying_twice_or_skipping(self):
        partners = self.env["res.partner"]
        for index in range(5):
            partners |= self._customer(f"Customer {index}", f"c{index}@example.cn")
        failing = partners[3]
        self.env.cr.execute(SQL(
            """CREATE FUNCTION test_destruction_fail() RETURNS trigger AS $$ BEGIN
                   RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql;
               CREATE TRIGGER test_destruction_fail BEFORE UPDATE OF name ON res_partner FOR EACH ROW
                   WHEN (OLD.id = %s) EXECUTE FUNCTION test_destruction_fail()""", failing.id))
        request = self._request(partners)
        request.with_user(self.officer_2).action_approve()
        job = request.job_ids
        self.env["customer.handover.job"]._cron_run()
        self.assertEqual((job.state, job.failed_res_id, job.done_count), ("failed", failing.id, 3))
        self.assertEqual(len(request.record_ids), 3)
        self.assertEqual(failing.name, "Customer 3")
        with self.assertRaisesRegex(UserError, "cannot be undone"):
            job.with_user(self.officer).action_cancel()
        self.env.cr.execute(SQL("DROP TRIGGER test_destruction_fail ON res_partner"))
        self.assertIn("Customer 3", request.run_error)
        request.with_user(self.officer).action_retry_run()
        self._run()
        self.assertEqual(request.state, "done")
        self.assertEqual(len(request.record_ids), 5, "each customer once, none skipped")
        self.assertEqual(set(partners.mapped("handover_destruction_state")), {"destroyed"})
        rows = dc.read_certificate(io.BytesIO(request.sudo().certificate_attachment_id.raw)).rows
        self.assertEqual(len(rows), 5)

    def test_a_batch_costs_the_same_queries_whatever_its_size(self):
        def run(count):
            partners = self.env["res.partner"].create([{"name": f"P{count}-{index}", "email": f"p{count}{index}@x.cn"}
                                                       for index in range(count)])
            for partner in partners:
                partner.message_post(body="hello")
            request = self._request(partners)
            request.with_user(self.officer_2).action_approve()
            job = request.job_ids
            self.env.flush_all()
            self.env.invalidate_all()
            self.env.cr.execute("SELECT 1")
            before = self.cr.sql_log_count
            self.env["res.partner"].with_user(self.officer_2)._job_destroy_batch(
                job.with_user(self.officer_2), partners.ids)
            self.env.flush_all()
            return self.cr.sql_log_count - before

        run(2)  # the first batch fills the caches (rules, settings, the identity key)
        self.assertEqual(run(3), run(9))


@tagged("post_install", "-at_install", "customer_handover_destruction")
class TestDestructionRpc(RpcMixin, DestructionCase, HttpCase):
    def test_only_officers_reach_destruction_over_json_rpc(self):
        partner = self._customer()
        request = self._request(partner)
        for login in ("ch_manager", "ch_user", "ch_employee"):
            self._refused(login, "customer.destruction.request", "create", [{"partner_ids": [[6, 0, partner.ids]]}])
            self._refused(login, "customer.destruction.request", "action_approve", [request.ids])
            self._refused(login, "customer.destruction.record", "search_read", [[]], {"fields": ["initials"]})
            self._refused(login, "res.partner", "action_propose_destruction", [partner.ids])
        self.assertEqual(request.state, "requested")
        answer = self._call("ch_officer", "customer.destruction.request", "action_approve", [request.ids])
        self.assertEqual(answer["error"]["data"]["name"], "odoo.exceptions.UserError")
        answer = self._call("ch_officer_2", "customer.destruction.request", "action_approve", [request.ids])
        self.assertNotIn("error", answer, answer.get("error"))
        self.assertEqual(request.state, "running")


@tagged("post_install", "-at_install", "customer_handover_destruction", "customer_handover_evidence_files")
class TestDestructionCertificateDownload(RpcMixin, DestructionCase, HttpCase):
    """The certificate is an evidence file served by its step only: officers of the request's company, logged."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.officer_b = cls._new_user("ch_officer_b", OFFICER, company=cls.company_b)

    def _done_request(self):
        request = self._request(self._customer())
        request.with_user(self.officer_2).action_approve()
        self._run()
        self.assertEqual(request.state, "done")
        return request

    def _certificate_file(self, request):
        """The certificate's attachment, wherever the request keeps it."""
        return self.env["ir.attachment"].sudo().with_context(skip_res_field_check=True).search([
            ("res_model", "=", request._name), ("res_id", "=", request.id)])

    def _downloads(self, request):
        return self.env["customer.handover.event"].search([
            ("event", "=", "destruction_certificate_downloaded"), ("res_model", "=", request._name),
            ("res_id", "=", request.id)], order="id")

    def _get(self, login, url):
        self.env.flush_all()
        self.authenticate(login, login)
        return self.url_open(url)

    def test_an_officer_of_the_company_downloads_it_and_each_download_is_logged(self):
        request = self._done_request()
        url = self._call("ch_officer", request._name, "action_download_certificate", [request.ids])["result"]["url"]
        for count, (login, user) in enumerate((("ch_officer", self.officer), ("ch_officer_2", self.officer_2)), 1):
            with self.subTest(user=login):
                response = self._get(login, url)
                self.assertEqual(response.status_code, 200)
                self.assertEqual(hashlib.sha256(response.content).hexdigest(), request.certificate_sha256)
                self.assertIn(".xlsx", response.headers.get("Content-Disposition", ""))
                entries = self._downloads(request)
                self.assertEqual(len(entries), count, "each download, one entry")
                self.assertEqual((entries[-1].user_id, entries[-1].company_id), (user, self.company_a))
        data = self._get("ch_officer", url).content
        self.assertEqual(verify(data, trusted={request.certificate_fingerprint}).status, "valid")

    def test_a_manager_and_users_of_another_company_are_refused_and_nothing_is_logged(self):
        request = self._done_request()
        url = f"/customer_handover/destruction/{request.id}/certificate"
        content = self._certificate_file(request).raw
        for login in ("ch_manager", "ch_user", "ch_officer_b", "ch_user_b"):
            with self.subTest(user=login):
                response = self._get(login, url)
                self.assertEqual(response.status_code, 403)
                self.assertNotIn(content, response.content)
            self._refused(login, request._name, "action_download_certificate", [request.ids])
        self.assertFalse(self._downloads(request), "a refused download logs no download")

    def test_no_other_path_reaches_the_certificate(self):
        request = self._done_request()
        attachment = self._certificate_file(request)
        self.assertEqual(len(attachment), 1)
        content = attachment.raw
        for login in ("ch_officer", "ch_officer_2", "admin", "ch_manager", "ch_officer_b"):
            for url in (f"/web/content/{attachment.id}?download=true",
                        f"/web/content?model=ir.attachment&id={attachment.id}&field=datas&download=true",
                        f"/web/content/ir.attachment/{attachment.id}/raw"):
                with self.subTest(user=login, url=url):
                    response = self._get(login, url)
                    self.assertIn(response.status_code, (403, 404))
                    self.assertNotIn(content, response.content)
            with self.subTest(user=login, call="search_read"):
                answer = self._call(login, "ir.attachment", "search_read",
                                    [[("res_model", "=", request._name), ("res_id", "=", request.id)],
                                     ["name", "datas"]], {"context": {"skip_res_field_check": True}})
                self.assertEqual(answer.get("result"), [], answer)
                self._refused(login, "ir.attachment", "read", [attachment.ids, ["datas"]])
        # Nor does a message carry it to its recipients, posted on a record or created directly.
        customer = self.env["res.partner"].create({"name": "Somebody to send it to", "email": "x@example.cn"})
        for login in ("ch_officer", "ch_officer_2", "admin"):
            with self.subTest(user=login, call="message_post"):
                self._refused(login, "res.partner", "message_post", [[customer.id]],
                              {"body": "the certificate", "attachment_ids": attachment.ids})
            with self.subTest(user=login, call="mail.message.create"):
                self._refused(login, "mail.message", "create", [{
                    "model": "res.partner", "res_id": customer.id, "body": "the certificate",
                    "message_type": "comment", "attachment_ids": [(6, 0, attachment.ids)]}])
        # An email queued by hand (administrators): its files given as the ones its author may see, which Odoo
        # links as the system
        for field in ("attachment_ids", "unrestricted_attachment_ids"):
            with self.subTest(call="mail.mail.create", field=field):
                self._refused("admin", "mail.mail", "create", [{
                    "email_to": "x@example.cn", "subject": "the certificate", "body_html": "<p>attached</p>",
                    field: [(6, 0, attachment.ids)]}])
            mail = self.env["mail.mail"].create({"email_to": "x@example.cn", "subject": "s", "body_html": "<p/>"})
            with self.subTest(call="mail.mail.write", field=field):
                self._refused("admin", "mail.mail", "write", [mail.ids, {field: [(4, attachment.id)]}])
        self.assertFalse(self.env["mail.mail"].search([("attachment_ids", "in", attachment.ids)]))
        self.assertFalse(self.env["mail.message"].search([("attachment_ids", "in", attachment.ids)]))
        self.assertFalse(self._downloads(request))


@tagged("post_install", "-at_install", "customer_handover_destruction")
class TestDestructionProposals(DestructionCase, RetentionFixture):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.receiver = cls.env["res.partner"].create({"name": "Receiver Co.", "is_company": True,
                                                      "email": "legal@receiver.example.cn"})
        cls.domain = cls.env["customer.business.domain"].create({"name": "Destruction test domain"})
        cls.Request = cls.env["customer.destruction.request"]

    def test_a_deletion_request_proposes_a_draft_an_officer_requests(self):
        partner = self._customer()
        data_request = self.env["customer.data.request"].with_user(self.handover_user)._receive(
            "deletion", partner, self.env["customer.handover"], "email")
        proposal = self.Request.with_user(self.officer).search([("data_request_id", "=", data_request.id)])
        self.assertEqual((proposal.state, proposal.basis, proposal.origin, proposal.partner_ids),
                         ("draft", "subject_request", "data_request", partner))
        proposal.action_request()
        proposal.with_user(self.officer_2).action_approve()
        self._run()
        self.assertEqual(partner.handover_destruction_state, "destroyed")

    def test_the_daily_job_proposes_customers_past_retention_and_a_policy_lets_one_approval_run_it(self):
        past = self._customer("Past Customer", "past@example.cn")
        kept = self._customer("Kept Customer", "kept@example.cn")
        self.env.flush_all()
        self.env.cr.execute(SQL("UPDATE res_partner SET retention_end_date = CURRENT_DATE - 1, "
                                "retention_policy_id = %s WHERE id = %s", self.policy_customer.id, past.id))
        self.env.cr.execute(SQL("UPDATE res_partner SET retention_end_date = NULL WHERE id = %s", kept.id))
        self.policy_customer.sudo().destroy_on_approval = True
        proposed = self.Request._cron_propose_destructions().filtered(lambda request: past in request.partner_ids)
        self.assertNotIn(kept, self.Request.search([]).partner_ids)
        self.assertEqual((proposed.state, proposed.origin, proposed.requested_by_id),
                         ("requested", "retention", self.env.ref("base.user_root")))
        self.assertFalse(self.Request._cron_propose_destructions(), "a customer is proposed once")
        self.assertEqual(proposed.origin, "retention")
        proposed.with_user(self.officer).action_approve()
        self._run()
        self.assertEqual((past.handover_destruction_state, kept.handover_destruction_state), ("destroyed", False))

    def test_a_completed_package_handover_schedules_destroying_our_copies_after_the_grace_period(self):
        wang = self._customer("王芳", "wang.fang@example.cn", business_domain_ids=[(6, 0, self.domain.ids)])
        self.env["customer.consent"].create({"partner_id": wang.id, "purpose_id": self.purpose_service.id,
                                            "date_given": "2026-01-02"})
        handover = self._signed_handover()
        self.assertEqual(handover.transfer_mode, "package")
        handover.with_user(self.manager).action_done()
        proposal = self.Request.with_user(self.officer).search([("handover_id", "=", handover.id)])
        self.assertEqual((proposal.state, proposal.basis, proposal.partner_ids), ("draft", "handed_over", wang))
        self.assertEqual(proposal.not_before, handover.date_done + relativedelta(days=60))
        proposal.action_request()
        proposal.with_user(self.officer_2).action_approve()
        self.assertEqual(proposal.state, "approved", "it waits for its day")
        self.assertFalse(proposal.job_ids)
        self.env.cr.execute(SQL("UPDATE customer_destruction_request SET not_before = CURRENT_DATE WHERE id = %s",
                                proposal.id))
        proposal.invalidate_recordset()
        self.Request._cron_propose_destructions()
        self.assertEqual(proposal.state, "running", "the daily job starts it on its day")
        self._run()
        self.assertEqual((proposal.state, wang.handover_destruction_state), ("done", "destroyed"))


@tagged("post_install", "-at_install", "customer_handover_tours")
class TestDestructionTour(DestructionCase, HttpCase):
    def test_two_officers_request_approve_and_read_the_result_in_the_web_client(self):
        partner = self._customer()
        held = self._customer("Held Customer", "held@example.cn")
        held.sudo().write({"legal_hold": True, "legal_hold_reason": "Court case 42"})
        request = self.env["customer.destruction.request"].with_user(self.officer).create({
            "partner_ids": [(6, 0, (partner | held).ids)]})
        url = f"/odoo/action-customer_handover.customer_destruction_request_action/{request.id}"
        self.start_tour(url, "customer_destruction_request_tour", login="ch_officer")
        self.assertEqual((request.state, request.basis, request.requested_by_id),
                         ("requested", "retention_expired", self.officer))
        self.start_tour(url, "customer_destruction_approve_tour", login="ch_officer_2")
        self.assertEqual((request.state, request.approved_by_id), ("running", self.officer_2))
        self._run()
        self.start_tour(url, "customer_destruction_done_tour", login="ch_officer")
        self.assertEqual((partner.handover_destruction_state, held.handover_destruction_state), ("destroyed", False))
