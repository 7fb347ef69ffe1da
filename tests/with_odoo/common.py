"""Shared fixtures of the Odoo suite: restricted users made for the test, never the superuser."""

import json

from odoo.addons.customer_handover.models.handover_access import MANAGER, OFFICER, USER
from odoo.tests.common import TransactionCase, new_test_user
from odoo.tools import html2plaintext

ACCESS_ERROR = "odoo.exceptions.AccessError"


def note_text(message, lang="en_US"):
    """A chatter note as a reader of ``lang`` reads it: what happened, each change as "label: old → new", the body."""
    message = message.sudo().with_context(lang=lang)
    changes = [f"{value['changedField']}: {_shown(value['oldValue']['value'])} → {_shown(value['newValue']['value'])}"
               for value in message.tracking_value_ids._tracking_value_format()]
    return " ".join(filter(None, [message.subtype_id.description, *changes, html2plaintext(message.body or "")]))


def _shown(value):
    return "" if value is False or value is None else value


class HandoverCase(TransactionCase):
    """Two companies; in company A a contacts user outside the addon's groups and one user per group."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a = cls.env.company
        cls.company_b = cls.env["res.company"].create({"name": "Company B"})
        cls.employee = cls._new_user("ch_employee", "base.group_user,base.group_partner_manager")
        cls.handover_user = cls._new_user("ch_user", USER)
        cls.manager = cls._new_user("ch_manager", MANAGER)
        cls.officer = cls._new_user("ch_officer", OFFICER)
        cls.user_b = cls._new_user("ch_user_b", USER, company=cls.company_b)
        cls.purpose_marketing = cls.env.ref("customer_handover.consent_purpose_marketing")
        cls.purpose_service = cls.env.ref("customer_handover.consent_purpose_customer_service")
        cls.policy_customer = cls.env.ref("customer_handover.retention_policy_customer")

    @classmethod
    def _new_user(cls, login, groups, company=None):
        company = company or cls.company_a
        return new_test_user(
            cls.env,
            login=login,
            groups=groups,
            company_id=company.id,
            company_ids=[(6, 0, company.ids)],
        )


class RpcMixin:
    """JSON-RPC calls as a client outside the web client sends them, with the password = the login (HttpCase)."""

    def _call(self, login, model, method, args, kwargs=None):
        """The JSON answer to ``model.method(*args, **kwargs)`` called by ``login`` (password = login)."""
        self.env.flush_all()
        self.authenticate(login, login)
        body = {"jsonrpc": "2.0", "method": "call", "id": 1, "params": {
            "model": model, "method": method, "args": args, "kwargs": kwargs or {}}}
        response = self.url_open(f"/web/dataset/call_kw/{model}/{method}", data=json.dumps(body),
                                 headers={"Content-Type": "application/json"})
        self.env.invalidate_all()
        return response.json()

    def _refused(self, login, model, method, args, kwargs=None, fields=(), error=ACCESS_ERROR):
        """The call is answered with ``error`` naming ``fields``; returns the error's message."""
        answer = self._call(login, model, method, args, kwargs)
        self.assertIn("error", answer, f"{login} was allowed {model}.{method}{tuple(args)}: {answer.get('result')}")
        data = answer["error"]["data"]
        self.assertEqual(data["name"], error, data["message"])
        for name in fields:
            self.assertIn(self.env[model]._fields[name]._description_string(self.env), data["message"])
        return data["message"]
