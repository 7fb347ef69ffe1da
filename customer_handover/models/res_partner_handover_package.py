from odoo import api, models
from odoo.tools import SQL


class ResPartner(models.Model):
    """What a transfer package carries of each partner, read in SQL: a constant number of queries per batch."""

    _inherit = "res.partner"

    @api.model
    def _handover_package_rows(self, partner_ids, children=False):
        """The packaged columns of ``partner_ids``, or of their active children, as dicts, by id."""
        condition = SQL("p.id = ANY(%s)", partner_ids)
        if children:
            condition = SQL("p.parent_id = ANY(%s) AND p.active", partner_ids)
        return self.env.execute_query_dict(SQL(
            """SELECT p.id, p.parent_id, p.type, p.ref, p.name, p.function, p.street, p.street2, p.zip, p.city,
                      p.email, p.phone, p.mobile, p.vat, p.lang, p.is_company, state.code AS state_code,
                      country.code AS country_code, p.customer_type, p.relationship_stage, p.relationship_end_date,
                      p.data_sensitivity, policy.name->>'en_US' AS policy, policy.code AS policy_code, policy.period,
                      policy.period_unit, policy.period_start, p.retention_end_date, p.legal_hold, p.legal_hold_reason
                 FROM res_partner p
            LEFT JOIN res_country_state state ON state.id = p.state_id
            LEFT JOIN res_country country ON country.id = p.country_id
            LEFT JOIN customer_retention_policy policy ON policy.id = p.retention_policy_id
                WHERE %s
             ORDER BY p.id""",
            condition,
        ))

    @api.model
    def _handover_package_domains(self, partner_ids):
        """{partner id: [(business domain code, name in English)]} for ``partner_ids``."""
        field = self._fields["business_domain_ids"]
        rows = self.env.execute_query(SQL(
            """SELECT rel.%s, domain.code, domain.name->>'en_US'
                 FROM %s rel JOIN customer_business_domain domain ON domain.id = rel.%s
                WHERE rel.%s = ANY(%s)
             ORDER BY domain.name->>'en_US'""",
            SQL.identifier(field.column1), SQL.identifier(field.relation), SQL.identifier(field.column2),
            SQL.identifier(field.column1), partner_ids,
        ))
        domains = {}
        for partner_id, code, name in rows:
            domains.setdefault(partner_id, []).append((code, name))
        return domains
