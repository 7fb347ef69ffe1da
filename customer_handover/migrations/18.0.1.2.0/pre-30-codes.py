"""Purposes, retention policies and business domains of 18.0.1.1 get the stable code that 18.0.1.2 matches on.

A record shipped with the addon takes the code its data file now gives it (its xml id without the model's
prefix); any other record the slug of its English name, made unique within its company.
"""

from odoo.addons.customer_handover.tools.codes import slug
from odoo.tools import SQL

# table: (model, the xml ids' prefix, whether codes are unique per company)
TABLES = {
    "customer_consent_purpose": ("customer.consent.purpose", "consent_purpose_", True),
    "customer_retention_policy": ("customer.retention.policy", "retention_policy_", True),
    "customer_business_domain": ("customer.business.domain", "business_domain_", False),
}


def migrate(cr, version):
    for table, (model, prefix, per_company) in TABLES.items():
        cr.execute(SQL("ALTER TABLE %s ADD COLUMN IF NOT EXISTS code varchar", SQL.identifier(table)))
        company = SQL("company_id") if per_company else SQL("NULL")
        cr.execute(SQL(
            """SELECT record.id, %s, record.name->>'en_US', data.name
                 FROM %s record
            LEFT JOIN ir_model_data data
                   ON data.model = %s AND data.res_id = record.id AND data.module = 'customer_handover'
                WHERE record.code IS NULL
             ORDER BY data.name IS NULL, record.id""",
            company, SQL.identifier(table), model,
        ))
        rows = cr.fetchall()
        cr.execute(SQL("SELECT %s, code FROM %s WHERE code IS NOT NULL", company, SQL.identifier(table)))
        taken = set(cr.fetchall())
        for record_id, company_id, name, xml_name in rows:
            base = xml_name[len(prefix):] if xml_name and xml_name.startswith(prefix) else slug(name) or str(record_id)
            code, number = base, 1
            while (company_id, code) in taken:
                number += 1
                code = f"{base}_{number}"
            taken.add((company_id, code))
            cr.execute(SQL("UPDATE %s SET code = %s WHERE id = %s", SQL.identifier(table), code, record_id))
