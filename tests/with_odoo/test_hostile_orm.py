"""Hostile tests at the ORM: restricted users, and the superuser, try to forge or leak what the steps record.

Each attack must be refused with an error that names the field, and leave the records as they were.
"""

import base64
import contextlib
import json

from odoo import models
from odoo.addons.mail.tools.discuss import Store
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged
from odoo.tools import SQL

from .common import MANAGER, OFFICER, HandoverCase

SIGNATURE = base64.b64encode(
    base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
)
PAST = "2020-01-02 03:04:05"
STAGES = ("draft", "confirmed", "in_progress", "verified", "signed_once", "signed", "done")
# Texts that reveal an officer-only fact, lowercased; a non-officer sees "held back" instead.
OFFICER_ONLY_TEXTS = ("legal_hold", "legal hold", "sensitive", "court order")
HELD_BACK_TEXT = "Held back by the data-protection officer"
NDA = {"nda_reference": "NDA-2026-01", "nda_date": "2026-11-01", "nda_document": SIGNATURE, "nda_filename": "nda.pdf"}


def _text(value):
    """A stored value as the text a client would send: a record as its id."""
    return str(value.id if isinstance(value, models.BaseModel) else value)


class HostileFixture:
    """Customers of every kind, a signing key, and a handover driven through its steps by restricted users."""

    @classmethod
    def _build_fixture(cls):
        cls.admin = cls.env.ref("base.user_admin")
        cls.manager_ab = cls._new_user("ch_manager_ab", MANAGER)
        cls.manager_ab.company_ids = [(4, cls.company_b.id)]
        cls.officer_b = cls._new_user("ch_officer_b", OFFICER, company=cls.company_b)
        cls.receiver = cls.env["res.partner"].create(
            {"name": "杭州新锦贸易有限公司", "is_company": True, "email": "legal@xinjin.example.cn"}
        )
        cls.domain = cls.env["customer.business.domain"].create({"name": "Hostile test domain"})
        Partner = cls.env["res.partner"].with_context(tracking_disable=True)
        domains = [(6, 0, cls.domain.ids)]
        cls.ok = Partner.create({"name": "Wang Fang", "business_domain_ids": domains})
        cls.no_consent = Partner.create({"name": "Li Lei", "business_domain_ids": domains})
        cls.sensitive = Partner.create(
            {"name": "Zhao Min", "business_domain_ids": domains, "data_sensitivity": "sensitive"}
        )
        cls.held = Partner.create(
            {"name": "Chen Jie", "business_domain_ids": domains, "legal_hold": True,
             "legal_hold_reason": "Court order"}
        )
        cls.customer_b = Partner.create(
            {"name": "Company B's customer", "company_id": cls.company_b.id, "business_domain_ids": domains}
        )
        for partner in (cls.ok, cls.sensitive, cls.held):
            cls.env["customer.consent"].create(
                {"partner_id": partner.id, "purpose_id": cls.purpose_service.id, "date_given": "2026-01-01"}
            )
        cls.company_a.partner_id.email = cls.company_a.partner_id.email or "a@example.com"
        cls.company_a.with_user(cls.officer).action_handover_create_signing_key()

    @classmethod
    def _scope(cls, handover, user=None, **context):
        form = Form(cls.env["customer.handover.scope"].with_user(user or cls.handover_user).with_context(
            default_handover_id=handover.id, **context))
        form.business_domain_ids.add(cls.domain)
        return form

    @classmethod
    def _new_handover(cls, user=None):
        return cls.env["customer.handover"].with_user(user or cls.handover_user).create(
            {"receiver_id": cls.receiver.id, "purpose_ids": [(6, 0, cls.purpose_service.ids)]}
        )

    @classmethod
    def _handover_at(cls, stage):
        """A handover of the four customers driven by its own steps, as restricted users, up to ``stage``."""
        handover = cls._new_handover()
        cls._scope(handover).save().action_confirm()
        handover.write(NDA)
        steps = [
            lambda: handover.with_user(cls.manager).action_confirm(),
            lambda: handover.with_user(cls.manager).action_start(),
            lambda: (handover.line_ids.filtered(lambda line: line.eligibility == "eligible").action_verify(),
                     handover.action_mark_verified()),
            lambda: handover._sign("transfer", "王经理", SIGNATURE, channel="in_person"),
            lambda: handover._sign("receiver", "李代表", SIGNATURE, channel="in_person"),
            lambda: handover.with_user(cls.manager).action_done(),
        ]
        for step in steps[:STAGES.index(stage)]:
            step()
        return cls.env["customer.handover"].browse(handover.id)

    @staticmethod
    def _line(handover, partner):
        return handover.line_ids.filtered(lambda line: line.partner_id == partner)

    @classmethod
    def _events(cls, **conditions):
        """Log entries (read as the superuser) matching ``conditions``, newest first."""
        domain = [(name, "=", value) for name, value in conditions.items()]
        return cls.env["customer.handover.event"].search(domain, order="id desc")


class HostileCase(HostileFixture, HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._build_fixture()

    def _as(self, records, who):
        """``records`` in the hands of ``who``: a user, or "superuser" for the unrestricted environment."""
        return records.with_env(self.env) if isinstance(who, str) else records.with_user(who)

    def _stored(self, records):
        """The stored values of ``records`` (or of a tuple of recordsets), read again as the superuser."""
        if isinstance(records, tuple):
            return [self._stored(part) for part in records]
        self.env.invalidate_all()
        records = records.with_env(self.env)
        names = [name for name, field in records._fields.items()
                 if field.store and name not in ("write_date", "write_uid") and field.type != "binary"]
        values = records.read(names)
        binaries = [name for name, field in records._fields.items() if field.store and field.type == "binary"]
        for record, read in zip(records, values, strict=True):
            read.update({name: bool(record[name]) for name in binaries})
        return values

    def assertRefused(self, records, attack, field_names=(), error=AccessError):
        """``attack()`` is refused with ``error`` naming ``field_names``; ``records`` keep their values."""
        before = self._stored(records)
        with self.assertRaises(error) as caught:
            attack()
        message = str(caught.exception)
        for name in field_names:
            self.assertIn(self.env[records._name]._fields[name]._description_string(self.env), message,
                          f"the refusal does not name {name}")
        self.assertEqual(self._stored(records), before, "a refused attempt changed the records")
        return message


@tagged("post_install", "-at_install", "customer_handover_hostile")
class TestHostileEvidenceWrites(HostileCase):
    """Class 1: the facts a step records cannot be written or created directly, by anyone."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.attackers = {"user": cls.handover_user, "manager": cls.manager, "officer": cls.officer,
                         "admin": cls.admin, "superuser": "superuser"}

    def test_handover_step_fields_are_refused_to_every_user(self):
        handover = self._handover_at("in_progress")
        forged = [
            ("state", "confirmed"), ("state", "verified"), ("state", "signed"), ("state", "done"),
            ("name", "HO/FORGED"), ("date_done", "2020-01-02"),
            ("transfer_signer", "Forger"), ("transfer_signature", SIGNATURE), ("transfer_signed_on", PAST),
            ("receiver_signer", "Forger"), ("receiver_signature", SIGNATURE), ("receiver_signed_on", PAST),
            ("cancel_reason", "Forged"), ("cancelled_by_id", self.officer.id), ("cancelled_on", PAST),
            ("receiver_sign_channel", "in_person"), ("receiver_witness_id", self.officer.id),
            ("transfer_signer_user_id", self.officer.id), ("receiver_sign_email", "forged@example.com"),
            ("receiver_sign_ip", "10.0.0.1"), ("transfer_sign_channel", "link"),
        ]
        for who, user in self.attackers.items():
            for name, value in forged:
                with self.subTest(user=who, field=name, value=value):
                    self.assertRefused(handover, lambda user=user, name=name, value=value: self._as(
                        handover, user).write({name: value}), [name])
        self.assertRefused(handover, lambda: handover.with_user(self.manager).write(
            {"state": "signed", "transfer_signer": "A", "transfer_signed_on": PAST, "receiver_signer": "B",
             "receiver_signed_on": PAST}), ["state", "transfer_signed_on", "receiver_signed_on"])

    def test_other_ways_of_writing_and_context_keys_unlock_nothing(self):
        handover = self._handover_at("in_progress")
        tricks = {
            "context keys": lambda records: records.with_context(
                handover_signing=True, install_mode=True, module="customer_handover", tracking_disable=True,
                evidence_step=True).write({"state": "done"}),
            "field assignment": lambda records: setattr(records, "state", "done"),
            "update": lambda records: records.update({"state": "done"}),
            "web_save": lambda records: records.web_save({"state": "done"}, {}),
        }
        for who in ("manager", "superuser"):
            for trick, attack in tricks.items():
                with self.subTest(user=who, trick=trick):
                    self.assertRefused(handover, lambda attack=attack, who=who: attack(
                        self._as(handover, self.attackers[who])), ["state"])
        self.assertEqual(handover.state, "in_progress")

    def test_a_handover_is_not_created_past_its_steps(self):
        Handover = self.env["customer.handover"]
        forged = [
            {"state": "done", "date_done": "2020-01-02"},
            {"state": "signed", "transfer_signer": "A", "transfer_signature": SIGNATURE, "transfer_signed_on": PAST,
             "receiver_signer": "B", "receiver_signature": SIGNATURE, "receiver_signed_on": PAST},
            {"name": "HO/FORGED"},
            {"state": "cancel", "cancel_reason": "Forged", "cancelled_by_id": self.manager.id, "cancelled_on": PAST},
        ]
        for who, user in self.attackers.items():
            for values in forged:
                with self.subTest(user=who, values=sorted(values)):
                    before = Handover.search_count([("receiver_id", "=", self.receiver.id)])
                    with self.assertRaises(AccessError) as caught:
                        self._as(Handover, user).create({"receiver_id": self.receiver.id, **values})
                    for name in values:
                        self.assertIn(Handover._fields[name]._description_string(self.env), str(caught.exception))
                    self.assertEqual(Handover.search_count([("receiver_id", "=", self.receiver.id)]), before)

    def test_defaults_in_the_context_set_no_step_field(self):
        draft = self._handover_at("draft")
        forged = {
            "customer.handover": ({"receiver_id": self.receiver.id}, {
                "state": "done", "name": "HO/FORGED", "date_done": "2020-01-02", "transfer_signer": "Forger",
                "transfer_signed_on": PAST, "cancelled_by_id": self.officer.id}),
            "customer.handover.line": ({"handover_id": draft.id, "name": "Item"}, {
                "line_type": "customer", "partner_id": self.held.id, "eligibility": "admitted", "state": "verified",
                "verified_by_id": self.officer.id, "verified_on": PAST, "admitted_by_id": self.officer.id,
                "admission_justification": "Forged", "snapshot_consent": "Forged"}),
            "res.partner": ({"name": "Forged customer"}, {
                "handover_id": draft.id, "handover_date": "2020-01-02", "last_review_date": "2020-01-02",
                "last_reviewed_by_id": self.officer.id}),
            "customer.handover.export": ({"handover_id": draft.id}, {
                "number": 7, "exported_on": PAST, "user_id": self.manager.id, "fingerprint": "00"}),
            "customer.handover.event": ({}, {
                "company_id": self.company_a.id, "sequence": 10**6, "logged_at": PAST, "event": "handover_done"}),
        }
        # their records are made by their step only: any other create is refused, whatever the context
        step_made = {"customer.handover.export", "customer.handover.event"}
        for who in ("user", "manager", "superuser"):
            for model, (values, defaults) in forged.items():
                with self.subTest(user=who, model=model):
                    Model = self._as(self.env[model], self.attackers[who]).with_context(
                        **{f"default_{name}": value for name, value in defaults.items()})
                    before = self.env[model].search_count([])
                    if model in step_made:
                        with self.assertRaisesRegex(AccessError, "new records of .* are recorded by their step"), \
                                self.env.cr.savepoint():
                            Model.create(values)
                        self.assertEqual(self.env[model].search_count([]), before)
                    else:
                        with self.env.cr.savepoint():
                            record = Model.create(values)
                            self.env.invalidate_all()
                            taken = [name for name, value in defaults.items() if _text(
                                record.with_env(self.env)[name]) == str(value)]
                        self.assertEqual(self.env[model].search_count([]), before + 1)
                        self.assertFalse(taken, f"defaults in the context set step fields of a new {model}")

    def test_copies_and_imports_forge_nothing(self):
        handover = self._handover_at("verified")
        verified = self._line(handover, self.ok)
        draft = self._handover_at("draft")
        export = self.env["customer.handover.export"].with_user(self.manager)._create_for(
            self._handover_at("signed").with_user(self.manager))
        attacks = {
            "handover copied as done": (handover, lambda records: records.copy({"state": "done"})),
            "verified line copied": (verified, lambda records: records.copy({"handover_id": draft.id})),
            "export copied": (export, lambda records: records.copy()),
        }
        for who in ("user", "manager", "superuser"):
            for attack, (records, call) in attacks.items():
                with self.subTest(user=who, attack=attack):
                    counts = {model: self.env[model].search_count([]) for model in (
                        "customer.handover", "customer.handover.line", "customer.handover.export")}
                    with self.assertRaises(UserError):
                        call(self._as(records, self.attackers[who]))
                    self.assertEqual({model: self.env[model].search_count([]) for model in counts}, counts)
            with self.subTest(user=who, attack="import a done handover"):
                result = self._as(self.env["customer.handover"], self.attackers[who]).load(
                    ["receiver_id/.id", "state", "name"], [[str(self.receiver.id), "done", "HO/IMPORTED"]])
                self.assertFalse(result["ids"], "an import created a handover in state done")
                self.assertFalse(self.env["customer.handover"].search([("name", "=", "HO/IMPORTED")]))

    def test_line_step_fields_are_refused_to_every_user(self):
        handover = self._handover_at("in_progress")
        eligible, held = self._line(handover, self.ok), self._line(handover, self.held)
        self.assertTrue(held.excluded)
        forged = [
            ("state", "verified"), ("verified_by_id", self.officer.id), ("verified_on", PAST),
            ("eligibility", "admitted"), ("admission_justification", "Forged"), ("admitted_by_id", self.officer.id),
            ("excluded", True), ("partner_id", self.no_consent.id), ("line_type", "item"),
            ("snapshot_ref", "X"), ("snapshot_contact", "X"), ("snapshot_classification", "X"),
            ("snapshot_consent", "X"), ("snapshot_retention", "X"), ("public_reasons", False), ("name", "Renamed"),
            ("scope_run", 99), ("to_verify", False),
        ]
        for who, user in self.attackers.items():
            for name, value in forged:
                with self.subTest(user=who, field=name, value=value):
                    self.assertRefused(eligible, lambda user=user, name=name, value=value: self._as(
                        eligible, user).write({name: value}), [name])
            with self.subTest(user=who, attack="verified by another user at a past date"):
                self.assertRefused(eligible, lambda user=user: self._as(eligible, user).write(
                    {"state": "verified", "verified_by_id": self.officer.id, "verified_on": PAST}),
                    ["state", "verified_by_id", "verified_on"])
            with self.subTest(user=who, attack="a held customer made eligible"):
                self.assertRefused(held, lambda user=user: self._as(held, user).write(
                    {"eligibility": "eligible", "excluded": False}), ["eligibility", "excluded"])
            with self.subTest(user=who, attack="the handover's status written through its line"):
                # a read-only related field has no inverse: the write reaches nothing
                self._as(eligible, user).write({"handover_state": "done"})
                self.env.invalidate_all()
                self.assertEqual(handover.with_env(self.env).state, "in_progress")
            with self.subTest(user=who, attack="the reason of an excluded line rewritten"):
                self.assertRefused(held, lambda user=user: self._as(held, user).write(
                    {"exclusion_reason": "Nothing to see"}), ["exclusion_reason"])

    def test_officer_only_reasons_are_refused_to_every_user(self):
        held = self._line(self._handover_at("in_progress"), self.held)
        for who in ("officer", "admin", "superuser"):
            with self.subTest(user=who):
                self.assertRefused(held, lambda who=who: self._as(held, self.attackers[who]).write(
                    {"ineligibility_reasons": False}), ["ineligibility_reasons"])
        for who in ("user", "manager"):
            with self.subTest(user=who):
                self.assertRefused(held, lambda who=who: self._as(held, self.attackers[who]).write(
                    {"ineligibility_reasons": False}))

    def test_customer_lines_are_created_only_by_the_scope_check(self):
        handover = self._handover_at("draft")
        Line = self.env["customer.handover.line"]
        forged = {
            "a held customer": {"partner_id": self.held.id, "line_type": "customer", "name": "Held"},
            "a customer marked eligible": {"partner_id": self.no_consent.id, "line_type": "customer",
                                           "name": "No consent", "eligibility": "admitted"},
            "a customer on an item line": {"partner_id": self.held.id, "name": "Held"},
            "a verified item": {"name": "Verified already", "state": "verified", "verified_by_id": self.officer.id,
                                "verified_on": PAST},
        }
        for who, user in self.attackers.items():
            for attack, values in forged.items():
                with self.subTest(user=who, attack=attack):
                    before = Line.search_count([("handover_id", "=", handover.id)])
                    with self.assertRaises(AccessError) as caught:
                        self._as(Line, user).create({"handover_id": handover.id, **values})
                    for name in set(values) - {"name"}:
                        self.assertIn(Line._fields[name]._description_string(self.env), str(caught.exception))
                    self.assertEqual(Line.search_count([("handover_id", "=", handover.id)]), before)
        through_parents = {
            "the handover's lines": lambda user: self._as(handover, user).write({"line_ids": [
                (0, 0, {"partner_id": self.held.id, "line_type": "customer", "name": "Held"})]}),
            "the customer's lines": lambda user: self._as(self.held, user).write({"handover_line_ids": [
                (0, 0, {"handover_id": handover.id, "line_type": "customer", "name": "Held"})]}),
        }
        for who in ("user", "manager", "superuser"):
            for attack, call in through_parents.items():
                with self.subTest(user=who, attack=attack):
                    self.assertRefused(handover.line_ids, lambda call=call, who=who: call(self.attackers[who]),
                                       ["partner_id"])
        self.assertFalse(self._line(handover, self.held).filtered(lambda line: line.eligibility != "ineligible"))

    def test_lines_are_never_deleted_nor_moved(self):
        handover = self._handover_at("in_progress")
        other = self._handover_at("draft")
        line = self._line(handover, self.ok)
        attacks = {
            "unlink": lambda records: records.unlink(),
            "delete command": lambda records: records.handover_id.write({"line_ids": [(2, records.id)]}),
            "unlink command": lambda records: records.handover_id.write({"line_ids": [(3, records.id)]}),
            "clear command": lambda records: records.handover_id.write({"line_ids": [(5, 0, 0)]}),
            "moved to another handover": lambda records: records.write({"handover_id": other.id}),
            "linked from another handover": lambda records: other.with_env(records.env).write(
                {"line_ids": [(4, records.id)]}),
            "moved to another customer": lambda records: self.no_consent.with_env(records.env).write(
                {"handover_line_ids": [(4, records.id)]}),
            "taken from its customer": lambda records: records.partner_id.write(
                {"handover_line_ids": [(3, records.id)]}),
        }
        for who in ("manager", "officer", "superuser"):
            for attack, call in attacks.items():
                with self.subTest(user=who, attack=attack):
                    self.assertRefused(handover.line_ids | other.line_ids, lambda call=call, who=who: call(
                        self._as(line, self.attackers[who])))
        self.assertEqual(len(handover.line_ids), 4)

    def test_customer_step_fields_are_refused_to_every_user(self):
        handover = self._handover_at("draft")
        forged = [
            ("retention_status", "active"), ("retention_end_date", "2099-12-31"), ("handover_id", handover.id),
            ("handover_date", "2020-01-02"), ("last_review_date", "2020-01-02"),
            ("last_reviewed_by_id", self.officer.id), ("moved_from_company_id", self.company_b.id),
            ("moved_from_user_id", self.manager.id), ("moved_on", PAST), ("moved_by_id", self.manager.id),
        ]
        for who, user in self.attackers.items():
            for name, value in forged:
                with self.subTest(user=who, field=name):
                    self.assertRefused(self.held, lambda user=user, name=name, value=value: self._as(
                        self.held, user).write({name: value}), [name])
            with self.subTest(user=who, attack="create a customer already handed over"), \
                    self.assertRaises(AccessError):
                    self._as(self.env["res.partner"], user).create(
                        {"name": "Forged", "handover_id": handover.id, "handover_date": "2020-01-02"})
        self.assertTrue(self.held.with_user(self.officer).legal_hold)
        scope = self._scope(self._new_handover(), user=self.officer).save()
        self.assertIn(self.held.id, scope._ineligible_ids()["legal_hold"], "the held customer passes the scope")

    def test_exports_are_recorded_by_their_step_only(self):
        handover = self._handover_at("signed")
        export = self.env["customer.handover.export"].with_user(self.manager)._create_for(
            handover.with_user(self.manager))
        forged = [
            ("fingerprint", "00" * 32), ("signature", "forged"), ("countersigner", "Forger"),
            ("countersign_fingerprint", "11" * 32), ("countersigned_on", PAST), ("state", "superseded"),
            ("number", 99), ("user_id", self.officer.id), ("exported_on", PAST), ("line_count", 0),
            ("signer", "Forger"), ("certificate_pem", "forged"),
        ]
        for who, user in self.attackers.items():
            for name, value in forged:
                with self.subTest(user=who, field=name):
                    self.assertRefused(export, lambda user=user, name=name, value=value: self._as(
                        export, user).write({name: value}), [name])
            with self.subTest(user=who, attack="create"):
                before = export.search_count([])
                with self.assertRaises(AccessError):
                    self._as(export, user).create({"handover_id": handover.id, "number": 7, "exported_on": PAST,
                                                   "user_id": self.manager.id, "fingerprint": "00"})
                self.assertEqual(export.search_count([]), before)
            with self.subTest(user=who, attack="unlink"):
                self.assertRefused(export, lambda user=user: self._as(export, user).unlink())

    def test_the_event_log_is_written_by_the_system_only(self):
        self._handover_at("confirmed")
        entry = self._events()[:1]
        forged = [("payload", "{}"), ("event", "handover_done"), ("hash", "0" * 64), ("sequence", 10**6),
                  ("user_id", self.officer.id), ("logged_at", PAST), ("res_id", 1), ("hash_version", 2)]
        for who in ("officer", "admin", "superuser"):
            user = self.attackers[who]
            for name, value in forged:
                with self.subTest(user=who, field=name):
                    self.assertRefused(entry, lambda user=user, name=name, value=value: self._as(
                        entry, user).write({name: value}), [name])
            with self.subTest(user=who, attack="create"):
                before = entry.search_count([])
                with self.assertRaises(AccessError):
                    self._as(entry, user).create({"company_id": self.company_a.id, "sequence": 10**6,
                                                  "logged_at": PAST, "event": "handover_done"})
                self.assertEqual(entry.search_count([]), before)
            with self.subTest(user=who, attack="unlink"):
                self.assertRefused(entry, lambda user=user: self._as(entry, user).unlink())


@tagged("post_install", "-at_install", "customer_handover_hostile")
class TestHostileFrozen(HostileCase):
    """Class 2: once a party signed, the handover stays as signed, even when cancelled."""

    def test_a_signed_then_cancelled_handover_stays_frozen(self):
        handover = self._handover_at("signed_once")
        line = self._line(handover, self.ok)
        form = Form(self.env["customer.handover.cancel"].with_user(self.manager).with_context(
            default_handover_ids=handover.ids))
        form.reason = "The receiver withdrew from the deal"
        form.save().action_cancel()
        self.env.invalidate_all()
        self.assertEqual(handover.state, "cancel")
        self.assertEqual(handover.cancel_reason, "The receiver withdrew from the deal")
        self.assertEqual(handover.cancelled_by_id, self.manager)
        self.assertTrue(handover.cancelled_on)
        self.assertTrue(handover.transfer_signed_on and handover.transfer_signer, "cancelling erased a signature")
        self.assertTrue(self._events(event="handover_cancelled", res_id=handover.id))

        manager = handover.with_user(self.manager)
        attacks = {
            "back to draft": lambda: manager.action_draft(),
            "cancelled again with another reason": lambda: manager._cancel("Another reason"),
            "edited": lambda: manager.write({"reason_note": "edited after cancelling"}),
            "receiver changed": lambda: manager.write({"receiver_id": self.env["res.partner"].create(
                {"name": "Other receiver", "email": "other@example.com"}).id}),
            "line edited": lambda: line.with_user(self.manager).write({"remarks": "edited"}),
            "line verified": lambda: line.with_user(self.handover_user).action_verify(),
            "line excluded": lambda: line.with_user(self.handover_user).write({"exclusion_reason": "x"}),
            "line added": lambda: self.env["customer.handover.line"].with_user(self.manager).create(
                {"handover_id": handover.id, "name": "late item"}),
            "deleted": lambda: manager.unlink(),
            "signed again": lambda: manager._sign("receiver", "李代表", SIGNATURE, channel="in_person"),
        }
        for attack, call in attacks.items():
            with self.subTest(attack=attack):
                self.assertRefused((handover, handover.line_ids), call, error=UserError)
        for user in (self.manager, "superuser"):
            with self.subTest(user=getattr(user, "login", user), attack="state and cancellation rewritten"):
                self.assertRefused(handover, lambda user=user: self._as(handover, user).write(
                    {"state": "draft", "cancel_reason": False}), error=UserError)


    def test_the_terms_the_checklist_was_checked_against_stay_once_verified(self):
        handover = self._handover_at("verified")
        country = self.env.ref("base.us")
        changes = {
            "purposes": {"purpose_ids": [(4, self.purpose_marketing.id)]},
            "receiver": {"receiver_id": self.env["res.partner"].create(
                {"name": "Another receiver", "email": "other@example.com"}).id},
            "receiver abroad": {"receiver_abroad": True, "receiver_country_id": country.id},
        }
        for change, values in changes.items():
            with self.subTest(change=change):
                self.assertRefused(handover, lambda values=values: handover.with_user(self.handover_user).write(
                    values), error=UserError)


@tagged("post_install", "-at_install", "customer_handover_hostile")
class TestHostileCompanies(HostileCase):
    """Class 3: records stay in their company, and company B neither reads nor receives company A's."""

    def test_records_cannot_move_to_another_company(self):
        handover = self._handover_at("in_progress")
        export = self.env["customer.handover.export"].with_user(self.manager)._create_for(
            self._handover_at("signed").with_user(self.manager))
        handover_b = self.env["customer.handover"].with_company(self.company_b).create(
            {"receiver_id": self.receiver.id, "company_id": self.company_b.id})
        line = self._line(handover, self.ok)
        consent = self.ok.consent_ids[:1]
        attacks = [
            (handover, {"company_id": self.company_b.id}, "company_id"),
            (line, {"company_id": self.company_b.id}, "company_id"),
            (line, {"handover_id": handover_b.id}, "handover_id"),
            (export, {"company_id": self.company_b.id}, "company_id"),
            (export, {"handover_id": handover_b.id}, "handover_id"),
            (consent, {"company_id": self.company_b.id}, "company_id"),
            (consent, {"partner_id": self.no_consent.id}, "partner_id"),
        ]
        for user in (self.handover_user, self.manager_ab, "superuser"):
            for records, values, name in attacks:
                with self.subTest(user=getattr(user, "login", user), model=records._name, field=name):
                    self.assertRefused(records, lambda user=user, records=records, values=values: self._as(
                        records, user).write(values), [name])

    def test_a_line_is_not_created_in_another_company_than_its_handover(self):
        handover = self._handover_at("draft")
        Line = self.env["customer.handover.line"].with_user(self.manager_ab)
        try:
            line = Line.create({"handover_id": handover.id, "name": "Item", "company_id": self.company_b.id})
        except AccessError:
            return
        self.env.invalidate_all()
        self.assertEqual(line.with_env(self.env).company_id, self.company_a,
                         "a line of company A's handover was stored in company B")

    def test_the_scope_never_adds_another_company_s_customer(self):
        self.assertEqual(self.customer_b.company_id, self.company_b)
        chosen = [(6, 0, (self.customer_b | self.ok).ids)]
        attacks = {
            "chosen by a user of company A": (self.handover_user, {"partner_ids": chosen}),
            "chosen by a user of both companies": (self.manager_ab, {"partner_ids": chosen}),
            "customers of company B": (self.manager_ab, {"partner_company_id": self.company_b.id}),
            "found by the other conditions": (self.manager_ab, {"domain": f"[('id', '=', {self.customer_b.id})]"}),
        }
        for attack, (user, values) in attacks.items():
            with self.subTest(attack=attack):
                handover = self._new_handover(user)
                wizard = self.env["customer.handover.scope"].with_user(user).create(
                    {"handover_id": handover.id, **values})
                with contextlib.suppress(UserError):  # nothing left to add is a refusal too
                    wizard.action_confirm()
                self.assertNotIn(self.customer_b, handover.with_env(self.env).line_ids.partner_id)
        self.assertFalse(self.customer_b.with_env(self.env).handover_line_ids)

    def test_company_b_reads_nothing_of_company_a(self):
        handover = self._handover_at("in_progress")
        records = {
            "customer.handover": handover,
            "customer.handover.line": handover.line_ids,
            "customer.handover.event": self._events(company_id=self.company_a.id)[:3],
        }
        for user in (self.user_b, self.officer_b):
            for model, found in records.items():
                with self.subTest(user=user.login, model=model):
                    self.env.invalidate_all()
                    Model = self.env[model].with_user(user)
                    if model == "customer.handover.event" and user == self.user_b:
                        with self.assertRaises(AccessError):
                            Model.search([])
                        continue
                    self.assertFalse(Model.search([("id", "in", found.ids)]))
                    with self.assertRaises(AccessError):
                        found.with_user(user).read(["company_id"])
        with self.assertRaises(AccessError):
            self.env["customer.handover.event"].with_user(self.officer_b)._check_chain(self.company_a)


@tagged("post_install", "-at_install", "customer_handover_hostile")
class TestHostileSideChannels(HostileCase):
    """Class 4: a legal hold or sensitive data is told to officers only, through any door."""

    def test_officer_only_fields_are_not_read_searched_nor_grouped(self):
        handover = self._handover_at("draft")
        probes = [
            (self.held, "legal_hold"), (self.held, "legal_hold_reason"), (self.sensitive, "data_sensitivity"),
            (self._line(handover, self.held), "ineligibility_reasons"),
        ]
        for user in (self.handover_user, self.manager):
            for record, name in probes:
                Model = self.env[record._name].with_user(user)
                record = record.with_user(user)
                calls = {
                    "read": lambda record=record, name=name: record.read([name]),
                    "search_read": lambda Model=Model, name=name: Model.search_read([], [name]),
                    "search_count": lambda Model=Model, name=name: Model.search_count([(name, "!=", False)]),
                    "read_group": lambda Model=Model, name=name: Model.read_group([], [name], [name]),
                    "read_group aggregate": lambda Model=Model, name=name: Model.read_group(
                        [], [f"{name}:count_distinct"], []),
                    "web_read_group": lambda Model=Model, name=name: Model.web_read_group([], [name], [name]),
                    "fetch": lambda record=record, name=name: record.fetch([name]),
                }
                for call, attack in calls.items():
                    with self.subTest(user=user.login, field=name, call=call):
                        self.env.invalidate_all()
                        with self.assertRaisesRegex(AccessError, name):
                            attack()
            with self.subTest(user=user.login, call="search on the line through the customer"), \
                    self.assertRaises(AccessError):
                    self.env["customer.handover.line"].with_user(user).search_count(
                        [("partner_id.legal_hold", "=", True)])
            with self.subTest(user=user.login, call="search the customers through their lines"), \
                    self.assertRaises(AccessError):
                    self.env["res.partner"].with_user(user).search_count(
                        [("handover_line_ids.ineligibility_reasons", "ilike", "legal_hold")])

    def test_a_non_officer_sees_held_back_never_the_reason(self):
        handover = self._handover_at("draft")
        lines = self._line(handover, self.held) | self._line(handover, self.sensitive)
        for user in (self.handover_user, self.manager):
            for line in lines.with_user(user):
                with self.subTest(user=user.login, customer=line.partner_id.with_env(self.env).name):
                    self.env.invalidate_all()
                    self.assertEqual(line.public_reasons, "held_back")
                    self.assertIn(HELD_BACK_TEXT, line.exclusion_reason)
                    readable = json.dumps(line.read()[0], default=str, ensure_ascii=False).lower()
                    for text in OFFICER_ONLY_TEXTS:
                        self.assertNotIn(text, readable, f"a line read by {user.login} tells {text!r}")
        officer_held = self._line(handover, self.held).with_user(self.officer)
        self.assertEqual(officer_held.ineligibility_reasons, "legal_hold")

    def test_retention_status_does_not_single_out_legal_holds(self):
        # A line shows a legal hold and sensitive data alike, as held back; the customer's status must not
        # tell the two apart to whoever may not know of the hold.
        for user in (self.handover_user, self.manager):
            with self.subTest(user=user.login):
                Partner = self.env["res.partner"].with_user(user)
                self.assertEqual(set(dict(Partner.fields_get(["retention_status"])["retention_status"]["selection"])),
                                 {"active", "due_soon", "expired"}, "no status value stands for a hold")
                groups = Partner._read_group([("id", "in", (self.held | self.ok).ids)], ["retention_status"],
                                             ["id:array_agg"])
                self.assertFalse([ids for _status, ids in groups if ids == [self.held.id]] and self.held.with_user(
                    self.officer).retention_end_date == self.ok.with_user(self.officer).retention_end_date,
                    "grouping by status sets the held customer apart")

    def test_defaults_and_onchange_tell_nothing_officer_only(self):
        self.company_a.handover_default_sensitivity = "sensitive"
        officer_fields = ["data_sensitivity", "legal_hold", "legal_hold_reason"]
        for user in (self.handover_user, self.manager):
            with self.subTest(user=user.login, call="default_get"):
                defaults = self.env["res.partner"].with_user(user).default_get([*officer_fields, "name", "lang"])
                self.assertFalse(set(defaults) & set(officer_fields), defaults)
                consent = self.env["customer.consent"].with_user(user).with_context(
                    default_evidence=SIGNATURE, default_evidence_filename="x.pdf")
                self.assertFalse(set(consent.default_get(["evidence", "evidence_filename"])))
            with self.subTest(user=user.login, call="onchange"), \
                    self.assertRaisesRegex(AccessError, "data_sensitivity"):
                    self.env["res.partner"].with_user(user).onchange(
                        {}, [], {"name": {}, "data_sensitivity": {}})
            with self.subTest(user=user.login, call="onchange of a record"), \
                    self.assertRaisesRegex(AccessError, "legal_hold"):
                    self.held.with_user(user).onchange({"name": "Renamed"}, ["name"], {"name": {}, "legal_hold": {}})

    def test_officer_only_values_are_not_set_by_others(self):
        consent_values = {"purpose_id": self.purpose_marketing.id, "date_given": "2026-01-01"}
        attacks = {
            "sensitivity": ("res.partner", {"name": "Forged", "data_sensitivity": "ordinary"}),
            "legal hold": ("res.partner", {"name": "Forged", "legal_hold": True, "legal_hold_reason": "x"}),
            "consent evidence": ("customer.consent", {**consent_values, "partner_id": self.no_consent.id,
                                                      "evidence": SIGNATURE}),
        }
        for user in (self.handover_user, self.manager):
            for attack, (model, values) in attacks.items():
                with self.subTest(user=user.login, attack=attack):
                    before = self.env[model].search_count([])
                    with self.assertRaises(AccessError):
                        self.env[model].with_user(user).create(values)
                    self.assertEqual(self.env[model].search_count([]), before)
            with self.subTest(user=user.login, attack="defaults in the context"):
                partner = self.env["res.partner"].with_user(user).with_context(
                    default_data_sensitivity="ordinary", default_legal_hold=True,
                    default_legal_hold_reason="x").create({"name": f"Context defaults {user.login}"})
                stored = partner.with_env(self.env)
                self.assertEqual(stored.data_sensitivity, self.company_a.handover_default_sensitivity)
                self.assertFalse(stored.legal_hold)
                self.assertFalse(stored.legal_hold_reason)

    def test_the_chatter_does_not_tell_tracked_officer_fields(self):
        partner = self.env["res.partner"].create({"name": "Tracked", "email": "tracked@example.com"})
        # a record created in this transaction is not tracked: forget that, as if it came from an earlier one
        self.env.cr.precommit.data.get("mail.tracking.res.partner", {}).pop(partner.id, None)
        partner.with_user(self.officer).write(
            {"legal_hold": True, "legal_hold_reason": "Court order 7", "data_sensitivity": "sensitive"})
        self.env.flush_all()
        self.env.cr.precommit.run()  # tracking values are written when the transaction commits
        self.env.invalidate_all()
        self.assertTrue(partner.message_ids.sudo().tracking_value_ids, "the officer's change was tracked")
        for user in (self.handover_user, self.manager):
            with self.subTest(user=user.login):
                store = Store()
                partner.with_user(user).message_ids._to_store(store)
                shown = json.dumps(store.get_result(), default=str)
                for text in ("Legal Hold", "Data Sensitivity", "Sensitive (PIPL", "Court order 7"):
                    self.assertNotIn(text, shown)
                with self.assertRaises(AccessError):
                    self.env["mail.tracking.value"].with_user(user).search_read([], ["old_value_char"])


@tagged("post_install", "-at_install", "customer_handover_hostile")
class TestHostileEventLog(HostileCase):
    """Class 5: every step is logged, the chain proves it, and a change behind the ORM is named."""

    def _flow_events(self):
        """Drive a whole handover, with an export, a consent granted and withdrawn; its entries, oldest first."""
        start = self._events()[:1].id or 0
        handover = self._handover_at("done")
        self.env["customer.handover.export"].with_user(self.manager)._create_for(handover.with_user(self.manager))
        consent = self.env["customer.consent"].with_user(self.handover_user).create(
            {"partner_id": self.no_consent.id, "purpose_id": self.purpose_marketing.id, "date_given": "2026-01-01"})
        consent.action_withdraw()
        self.env.flush_all()
        self.env["customer.handover.event"]._chain_pending()  # what follows each commit; this test never commits
        return handover, self._events(company_id=self.company_a.id).filtered(lambda entry: entry.id > start)[::-1]

    def test_every_step_is_logged_and_the_chain_holds(self):
        handover, entries = self._flow_events()
        logged = entries.mapped("event")
        for event in ("handover_created", "lines_added", "handover_confirmed", "handover_started", "lines_checked",
                      "checklist_all_verified", "handover_signed", "handover_done", "export_created", "chain_sealed",
                      "consent_recorded", "consent_changed"):
            with self.subTest(event=event):
                self.assertIn(event, logged)
        self.assertEqual(logged.count("handover_signed"), 2)
        signed = entries.filtered(lambda entry: entry.event == "handover_signed")
        self.assertEqual(signed.mapped("res_id"), [handover.id] * 2)
        self.assertEqual(entries.mapped("sequence"), list(range(entries[0].sequence, entries[-1].sequence + 1)))
        for entry in entries:
            self.assertNotIn("Wang Fang", entry.payload or "", "a customer's name went into the log")
        checker, problem = self.env["customer.handover.event"].with_user(self.officer)._check_chain(self.company_a)
        self.assertIsNone(problem, problem and problem.message)
        self.assertGreaterEqual(checker.count, len(entries))

    def test_a_change_behind_the_orm_is_named(self):
        _handover, entries = self._flow_events()
        middle = entries[len(entries) // 2]
        tamperings = {
            "payload changed": (SQL("UPDATE customer_handover_event SET payload = %s WHERE id = %s",
                                    '{"state":"verified"}', middle.id), ("changed",)),
            "user changed": (SQL("UPDATE customer_handover_event SET user_id = %s WHERE id = %s",
                                 self.officer.id, middle.id), ("changed",)),
            "entry deleted": (SQL("DELETE FROM customer_handover_event WHERE id = %s", middle.id),
                              ("missing", "link")),
            "hash rewritten": (SQL("UPDATE customer_handover_event SET hash = repeat('0', 64) WHERE id = %s",
                                   middle.id), ("changed", "link")),
        }
        log = self.env["customer.handover.event"].with_user(self.officer)
        sequence = middle.sequence
        for tampering, (query, codes) in tamperings.items():
            with self.subTest(tampering=tampering), self.env.cr.savepoint(flush=False) as savepoint:
                self.env.cr.execute(query)
                self.env.invalidate_all()
                _checker, problem = log._check_chain(self.company_a)
                self.assertTrue(problem, "the chain looks intact after it was tampered with")
                self.assertIn(problem.code, codes)
                self.assertIn(problem.sequence, (sequence, sequence + 1))
                self.assertIn(str(problem.sequence), log._problem_text(problem))
                savepoint.rollback()
        self.env.invalidate_all()
        self.assertIsNone(log._check_chain(self.company_a)[1])

    def test_only_officers_read_and_check_the_log(self):
        self._handover_at("confirmed")
        for user in (self.handover_user, self.manager, self.employee):
            with self.subTest(user=user.login):
                Log = self.env["customer.handover.event"].with_user(user)
                with self.assertRaises(AccessError):
                    Log.search_read([], ["payload"])
                with self.assertRaises(AccessError):
                    Log._check_chain(self.company_a)
                with self.assertRaises(AccessError):
                    Log._export_log(self.company_a)
        self.assertTrue(self.env["customer.handover.event"].with_user(self.officer).search_count([]))
