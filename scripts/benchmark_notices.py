#!/usr/bin/env python3
"""Benchmark of a notice run at scale, in a scratch database (not a test).

Puts N customers (default 100,000; one in three Chinese-speaking, one in twenty without an email) by SQL on the
checklist of a handover signed by both parties, then tells them as a manager does: the request (the preview of
each language, then the job queued), and the job's batches as the cron runs them, one transaction each, each
rendering the notices of its customers in their language and queueing them in Odoo's mail queue. Prints the run's
time, CPU time, batches, queries per batch and memory against the targets (100,000 customers under 120 s, memory
growth under 300 MB, the same queries in every batch), then checks what was queued: one notice per customer, each
email's digest the one its notice keeps, and a sample rendered again one by one through ``mail.template``, word
for word. Needs Odoo 18 importable by this Python and PostgreSQL; the scratch database is dropped afterwards unless
--keep is given.

    python3 scripts/benchmark_notices.py [--customers N] [--db NAME] [--keep]
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_handover import Step, addons_path, constant_batches, create_customers, install, parse_args, print_steps

TIME_TARGET = 120.0  # seconds, at 100,000 customers
GROWTH_TARGET_MB = 300
SAMPLE = 40  # notices rendered again through mail.template, to compare word for word


def prepare(env, count):
    """A handover of ``count`` customers signed by both parties, with a manager to tell them; returns both."""
    from odoo.tools import SQL

    env["res.lang"]._activate_lang("zh_CN")
    env["ir.module.module"]._load_module_terms(["customer_handover"], ["zh_CN"], overwrite=True)
    ids = create_customers(env, count)
    # Setting up is not what is measured: languages, missing emails, the checklist and the signatures go in by SQL.
    env.cr.execute(SQL(
        """UPDATE res_partner SET lang = CASE WHEN mod(id, 3) = 0 THEN 'zh_CN' ELSE 'en_US' END,
                                  email = CASE WHEN mod(id, 20) = 7 THEN NULL ELSE email END,
                                  email_normalized = CASE WHEN mod(id, 20) = 7 THEN NULL ELSE email END
            WHERE id = ANY(%s)""", ids))
    env.company.partner_id.write({"email": "privacy@transfer.example.cn"})
    purpose = env.ref("customer_handover.consent_purpose_order_fulfilment")
    receiver = env["res.partner"].create({"name": "Benchmark receiver", "is_company": True, "city": "Hangzhou",
                                          "email": "legal@receiver.example.cn", "phone": "+86 571 8888 0000"})
    manager = env["res.users"].create({
        "name": "Benchmark manager", "login": "benchmark_manager", "email": "manager@transfer.example.cn",
        "groups_id": [(6, 0, env.ref("customer_handover.group_handover_manager").ids)],
    })
    handover = env["customer.handover"].create({"receiver_id": receiver.id, "reason": "shop_transfer",
                                                "purpose_ids": [(6, 0, purpose.ids)]})
    env.cr.execute(SQL(
        """UPDATE customer_handover SET state = 'signed', transfer_signed_on = now() at time zone 'UTC',
                                        receiver_signed_on = now() at time zone 'UTC' WHERE id = %s""", handover.id))
    env.cr.execute(SQL(
        """
        INSERT INTO customer_handover_line (handover_id, company_id, sequence, line_type, partner_id, name,
                                            snapshot_contact, snapshot_classification, snapshot_consent,
                                            snapshot_retention, eligibility, state, excluded, scope_run, to_verify)
             SELECT %s, %s, 10, 'customer', id, 'Customer ' || id, 'customer' || id || '@example.cn',
                    'Individual · Active customer', 'Order fulfilment', 'Active', 'eligible', 'verified', FALSE, 1,
                    FALSE
               FROM unnest(%s::int[]) AS id
        """,
        handover.id, env.company.id, ids,
    ))
    env.cr.execute("ANALYZE customer_handover_line; ANALYZE res_partner")
    env.cr.commit()
    env.invalidate_all()
    return handover.with_user(manager)


def check(env, handover, count):
    """What the run queued, read back: the problems found, as sentences."""
    from odoo.addons.customer_handover.tools.notice_text import text_digest
    from odoo.tools import SQL

    problems = []
    env.cr.execute(SQL(
        """SELECT count(*), count(DISTINCT partner_id), count(mail_id), count(*) FILTER (WHERE state = 'no_address'),
                  count(*) FILTER (WHERE lang = 'zh_CN')
             FROM customer_handover_notice WHERE handover_id = %s""", handover.id))
    notices, customers, mails, letters, chinese = env.cr.fetchone()
    print(f"\n{notices} notices ({chinese} in Chinese), {mails} emails queued, {letters} on the letter list")
    if notices != count or customers != count:
        problems.append(f"{notices} notices for {customers} customers, {count} expected")
    env.cr.execute(SQL(
        """SELECT count(*) FROM customer_handover_notice notice JOIN mail_mail mail ON mail.id = notice.mail_id
             JOIN mail_message message ON message.id = mail.mail_message_id
            WHERE notice.handover_id = %s AND mail.state = 'outgoing'
              AND message.model = 'customer.handover.notice' AND message.res_id = notice.id
              AND notice.mail_message_id = message.id""", handover.id))
    linked = env.cr.fetchone()[0]
    if linked != mails or mails + letters != count:
        problems.append(f"{linked} of {mails} emails tied to their notice, {letters} letters, {count} customers")
    # Every email's digest is the one its notice keeps: read in chunks, so the check holds no more than a chunk.
    env.cr.execute(SQL("SELECT count(*) FROM customer_handover_notice WHERE handover_id = %s", handover.id))
    wrong = checked = 0
    last = 0
    while True:
        env.cr.execute(SQL(
            """SELECT notice.id, notice.text_sha256, message.subject, mail.body_html
                 FROM customer_handover_notice notice JOIN mail_mail mail ON mail.id = notice.mail_id
                 JOIN mail_message message ON message.id = mail.mail_message_id
                WHERE notice.handover_id = %s AND notice.id > %s ORDER BY notice.id LIMIT 10000""", handover.id, last))
        rows = env.cr.fetchall()
        if not rows:
            break
        last = rows[-1][0]
        checked += len(rows)
        wrong += sum(1 for _id, digest, subject, body in rows if text_digest(subject, body) != digest)
    print(f"digests: {checked} emails checked, {wrong} differ from their notice's")
    if wrong or checked != mails:
        problems.append(f"{wrong} digests differ, {checked} of {mails} emails checked")
    # A sample in each language, rendered again through mail.template's own rendering, word for word.
    env.cr.execute(SQL(
        """(SELECT id FROM customer_handover_notice WHERE handover_id = %s AND lang = 'zh_CN' AND mail_id IS NOT NULL
             ORDER BY random() LIMIT %s)
           UNION ALL
           (SELECT id FROM customer_handover_notice WHERE handover_id = %s AND lang = 'en_US' AND mail_id IS NOT NULL
             ORDER BY random() LIMIT %s)""", handover.id, SAMPLE // 2, handover.id, SAMPLE // 2))
    sample = env["customer.handover.notice"].sudo().browse([row[0] for row in env.cr.fetchall()])
    # one notice a call: Odoo's own rendering, record by record, with the customer's link as the run renders it
    differ = [notice.id for notice in sample
              if notice._render_texts(link=True)[notice.id] != (notice.mail_id.subject, notice.mail_id.body_html)]
    print(f"sample rendered again through mail.template: {len(sample) - len(differ)} of {len(sample)} identical")
    if differ:
        problems.append(f"notices {differ[:5]} differ from mail.template's rendering")
    return problems


def run(args):
    import odoo
    from odoo.modules.registry import Registry

    install(args.db)
    odoo.tools.config.parse_config([f"--addons-path={addons_path()}", "-d", args.db, "--log-level=warn"])
    with Registry(args.db).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        start = time.perf_counter()
        handover = prepare(env, args.customers)
        print(f"put {args.customers} customers on a signed handover in {time.perf_counter() - start:.1f} s",
              flush=True)
        with Step(env, "notice run") as step:
            job = handover._notice_start()
        if not job:
            raise RuntimeError("the run was done in the request, not in the background")
        step.run_job(job)
        figures = step.figures
        figures["target"] = TIME_TARGET if args.customers <= 100_000 else None
        env.invalidate_all()
        print(f"\ntelling {args.customers} customers")
        failed = print_steps([figures], args.customers)
        growth = figures["peak_mb"] - figures["start_mb"]
        print(f"memory growth {growth:.0f} MB (target < {GROWTH_TARGET_MB} MB); "
              f"{args.customers / figures['seconds']:.0f} notices a second")
        if growth > GROWTH_TARGET_MB:
            failed.append(f"memory growth {growth:.0f} MB > {GROWTH_TARGET_MB} MB")
        failed += constant_batches([figures])
        failed += check(env, handover, args.customers)
    if failed:
        print("MISSED: " + "; ".join(failed))
    if not args.keep:
        odoo.sql_db.close_all()
        subprocess.run(["dropdb", "--if-exists", args.db], check=True)
    return 1 if failed else 0


def main():
    args = parse_args("benchmark_notices", __doc__.splitlines()[0], "customer_handover_notice_benchmark",
                      "scratch database name", "keep the scratch database")
    sys.exit(run(args))


if __name__ == "__main__":
    main()
