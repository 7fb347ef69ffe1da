#!/usr/bin/env python3
"""Benchmark of a destruction run, in a scratch database (not a test).

Puts N customers (default 100,000) in the database straight in SQL, each with two consents (with a note), five
chatter messages carrying a tracking value of its email, and one attachment; an officer requests their
destruction, a second one approves it, and the run's background batches go as the cron runs them, one transaction
each. Prints the run's time, the queries of each batch (constant: set-based, whatever the batch holds), the peak
memory's growth, and then asks Odoo's privacy_lookup for 100 of the destroyed customers, which must find nothing.
Targets: 100,000 customers in under 600 s, memory growth under 300 MB. The scratch database is dropped afterwards
unless --keep is given.

    python3 scripts/benchmark_destruction.py [--customers N] [--db NAME] [--keep]
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_handover import Step, addons_path, insert_in_chunks, install, middle_batches, parse_args

TARGET_SECONDS_100K = 600
TARGET_GROWTH_MB = 300
SAMPLE = 100
PATTERN = "customer%@example.cn"


def create_customers(env, count):
    """Customers and what hangs on them, in SQL, a chunk a statement: setting up is not what is measured."""
    from odoo.tools import SQL

    purposes = env["customer.consent.purpose"].search([], limit=2).ids
    company = env.company.id
    field_email = env["ir.model.fields"]._get("res.partner", "email").id
    subtype = env.ref("mail.mt_note").id
    insert_in_chunks(env, count, lambda first, last: SQL(
        """
        WITH customer AS (
            INSERT INTO res_partner (id, commercial_partner_id, name, complete_name, email, email_normalized, phone,
                                     street, city, active, type, is_company, lang, create_date, write_date)
                 SELECT id, id, 'Customer ' || n, 'Customer ' || n, 'customer' || n || '@example.cn',
                        'customer' || n || '@example.cn', '+86 138 ' || lpad(n::text, 8, '0'), n || ' Renmin Road',
                        'Shanghai', TRUE, 'contact', FALSE, 'en_US', now() at time zone 'UTC',
                        now() at time zone 'UTC'
                   FROM (SELECT nextval('res_partner_id_seq') AS id, n FROM generate_series(%(first)s, %(last)s) AS n)
                        AS new
              RETURNING id, email
        ), consents AS (
            INSERT INTO customer_consent (partner_id, purpose_id, company_id, state, date_given, channel,
                                          lawful_basis, note, create_date, write_date)
                 SELECT customer.id, purpose, %(company)s, 'granted', CURRENT_DATE - 30, 'website', 'consent',
                        'Signed by ' || customer.email, now() at time zone 'UTC', now() at time zone 'UTC'
                   FROM customer CROSS JOIN unnest(%(purposes)s::int[]) AS purpose
        ), messages AS (
            INSERT INTO mail_message (model, res_id, message_type, subtype_id, body, date, create_date, write_date)
                 SELECT 'res.partner', customer.id, 'notification', %(subtype)s,
                        '<p>Called ' || customer.email || '</p>', now() at time zone 'UTC',
                        now() at time zone 'UTC', now() at time zone 'UTC'
                   FROM customer CROSS JOIN generate_series(1, 5)
              RETURNING id, res_id
        ), tracking AS (
            INSERT INTO mail_tracking_value (field_id, mail_message_id, old_value_char, new_value_char, create_date,
                                             write_date)
                 SELECT %(field)s, messages.id, customer.email, 'new.' || customer.email, now() at time zone 'UTC',
                        now() at time zone 'UTC'
                   FROM messages JOIN customer ON customer.id = messages.res_id
        )
        INSERT INTO ir_attachment (name, res_model, res_id, type, db_datas, file_size, mimetype, create_date,
                                   write_date)
             SELECT 'contract of ' || customer.email || '.txt', 'res.partner', customer.id, 'binary',
                    convert_to('contract of ' || customer.email, 'UTF8'), 40, 'text/plain',
                    now() at time zone 'UTC', now() at time zone 'UTC'
               FROM customer
        """,
        first=first, last=last, company=company, purposes=purposes, subtype=subtype, field=field_email,
    ))
    for table in ("mail_message", "mail_tracking_value", "ir_attachment", "customer_consent"):
        env.cr.execute(SQL("ANALYZE %s", SQL.identifier(table)))


def run(args):
    import odoo
    from odoo.modules.registry import Registry
    from odoo.tools import SQL

    install(args.db, "customer_handover,privacy_lookup")
    odoo.tools.config.parse_config([f"--addons-path={addons_path()}", "-d", args.db, "--log-level=warn"])
    failed = []
    with Registry(args.db).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        start = time.perf_counter()
        create_customers(env, args.customers)
        print(f"created {args.customers} customers in {time.perf_counter() - start:.1f} s", flush=True)
        officers = [env["res.users"].create({
            "name": f"Benchmark officer {index}", "login": f"benchmark_officer_{index}",
            "groups_id": [(6, 0, [env.ref("customer_handover.group_data_protection_officer").id])],
        }) for index in (1, 2)]
        env.company.with_user(officers[0]).action_handover_create_signing_key()
        request = env["customer.destruction.request"].with_user(officers[0]).create({"basis": "retention_expired"})
        # choosing 100,000 customers in a list is the officer's work, not what is measured
        cr.execute(SQL(
            "INSERT INTO customer_destruction_request_partner_rel (request_id, partner_id) SELECT %s, id FROM "
            "res_partner WHERE email LIKE %s ORDER BY id", request.id, PATTERN))
        sample = [row[0] for row in env.execute_query(SQL(
            "SELECT name, email FROM res_partner WHERE email LIKE %s ORDER BY random() LIMIT %s", PATTERN, SAMPLE))]
        emails = dict(env.execute_query(SQL(
            "SELECT name, email FROM res_partner WHERE name = ANY(%s)", sample)))
        cr.commit()
        env.invalidate_all()
        with Step(env, "request and approval") as step:
            request.action_request()
            request.with_user(officers[1]).action_approve()
        job = request.job_ids
        step.run_job(job)
        figures = step.figures
        queries = sorted(set(middle_batches(figures)))
        run_seconds = sum(seconds for seconds, _count in figures["batches"])
        growth = figures["peak_mb"] - figures["start_mb"]
        env.invalidate_all()
        request = request.with_user(officers[0])
        print(f"\ndestruction of {args.customers} customers: {request.record_count} records, "
              f"state {request.state}")
        print(f"  request and approval: {figures['request']:.1f} s")
        print(f"  run: {len(figures['batches'])} batches, {run_seconds:.1f} s "
              f"({run_seconds / max(args.customers, 1) * 1000:.2f} ms a customer)")
        print(f"  queries per batch (middle batches): {queries}; first {figures['batches'][0][1]}, "
              f"last {figures['batches'][-1][1]}")
        print(f"  total {figures['seconds']:.1f} s; peak memory {figures['peak_mb']:.0f} MB, growth {growth:.0f} MB")
        limit = TARGET_SECONDS_100K * max(args.customers, 100_000) / 100_000
        if figures["seconds"] > limit:
            failed.append(f"took {figures['seconds']:.0f} s, target {limit:.0f} s")
        if len(queries) > 1:
            failed.append(f"queries per batch vary: {queries}")
        if growth > TARGET_GROWTH_MB:
            failed.append(f"memory grew {growth:.0f} MB")
        if request.record_count != args.customers:
            failed.append(f"{request.record_count} records for {args.customers} customers")
        found = 0
        start = time.perf_counter()
        for name, email in emails.items():
            wizard = env["privacy.lookup.wizard"].create({"name": name, "email": email})
            wizard.action_lookup()
            found += len(wizard.line_ids)
        print(f"  privacy_lookup of {len(emails)} destroyed customers: {found} records found "
              f"({time.perf_counter() - start:.1f} s)")
        if found:
            failed.append(f"privacy_lookup found {found} records")
        cr.rollback()
    if failed:
        print("MISSED: " + "; ".join(failed))
    if not args.keep:
        odoo.sql_db.close_all()
        subprocess.run(["dropdb", "--if-exists", args.db], check=True)
    return 1 if failed else 0


def main():
    args = parse_args("benchmark_destruction", __doc__.splitlines()[0], "customer_handover_bench_destruction",
                      "the scratch database (dropped, then made again)", "keep the scratch database afterwards")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
