from odoo import api, models
from odoo.tools import SQL, create_index, email_normalize

from ..tools.phone import e164_digits, stored_forms

# What an import matches received customers on, indexed (and dropped by the uninstall hook).
PARTNER_INDEXES = (
    "customer_handover_email_normalized_index",
    "customer_handover_phone_digits_index",
    "customer_handover_mobile_digits_index",
)


class ResPartner(models.Model):
    _inherit = "res.partner"

    def init(self):
        """Index what an import matches received customers on, so that matching a batch reads no whole table."""
        result = super().init()
        expressions = (
            "email_normalized",
            "regexp_replace(COALESCE(phone, ''), '\\D', '', 'g')",
            "regexp_replace(COALESCE(mobile, ''), '\\D', '', 'g')",
        )
        for name, expression in zip(PARTNER_INDEXES, expressions, strict=True):
            create_index(self.env.cr, name, self._table, [expression])
        return result

    @api.model
    def _handover_match(self, customers, company):
        """{line: (partner id, key)}: existing contacts of ``company`` for a transfer package's ``customers``, by VAT,
        reference, email, then phone.

        Phones are compared as E.164 numbers: a national number is read with its contact's country, or the
        receiving company's. The stored numbers are searched on the index of their digits first.
        """
        calling = self._handover_calling_codes({c["contact"].get("country") for c in customers} - {None, ""}, company)
        own = calling.get(None, "")
        phones = {}
        for customer in customers:
            contact = customer["contact"]
            for number in (contact.get("phone"), contact.get("mobile")):
                if international := e164_digits(number, calling.get(contact.get("country")) or own):
                    phones.setdefault(international, customer["line"])
        keys = {
            "vat": {c["contact"].get("vat"): c["line"] for c in customers if c["contact"].get("vat")},
            "ref": {c["contact"].get("ref"): c["line"] for c in customers if c["contact"].get("ref")},
            "email": {email_normalize(c["contact"].get("email") or ""): c["line"] for c in customers
                      if email_normalize(c["contact"].get("email") or "")},
        }
        base = [("parent_id", "=", False), ("company_id", "in", [False, company.id])]
        partners = self.env["res.partner"]
        found = {}
        for key, field in (("vat", "vat"), ("ref", "ref"), ("email", "email_normalized")):
            if keys[key]:
                for partner in partners.search([*base, (field, "in", list(keys[key]))], order="id"):
                    found.setdefault(keys[key][partner[field]], (partner.id, key))
        if phones:
            codes = set(calling.values()) - {""}
            forms = tuple({form for international in phones for form in stored_forms(international, codes)})
            # the expressions of the digits indexes (init above): the search reads no whole table
            self.env.cr.execute(SQL(
                "SELECT p.id, p.phone, p.mobile, country.phone_code FROM res_partner p "
                "LEFT JOIN res_country country ON country.id = p.country_id "
                "WHERE regexp_replace(coalesce(p.phone, ''), '\\D', '', 'g') IN %s "
                "OR regexp_replace(coalesce(p.mobile, ''), '\\D', '', 'g') IN %s ORDER BY p.id",
                forms, forms,
            ))
            rows = self.env.cr.fetchall()
            # the query ignored access rules: keep the contacts this user may see in this company
            visible = set(partners.search([*base, ("id", "in", [row[0] for row in rows])]).ids)
            for partner_id, phone, mobile, phone_code in rows:
                code = str(phone_code or "") or own
                line = phones.get(e164_digits(phone, code)) or phones.get(e164_digits(mobile, code))
                if partner_id in visible and line:
                    found.setdefault(line, (partner_id, "phone"))
        return found

    @api.model
    def _handover_calling_codes(self, countries, company):
        """{country code: its calling code} for ``countries``, and {None: ``company``'s}."""
        records = self.env["res.country"].search_fetch([("code", "in", list(countries))], ["code", "phone_code"])
        calling = {country.code: str(country.phone_code or "") for country in records}
        calling[None] = str(company.country_id.phone_code or "")
        return calling
