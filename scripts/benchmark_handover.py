#!/usr/bin/env python3
"""Benchmark of a customer handover at scale, in a scratch database (not a test).

Creates N customers (default 100,000), runs the scope wizard's preview over all of them, creates the
checklist, then verifies every line in batches; prints seconds, queries and memory for each step and
checks them against the targets of the handover issue. Needs Odoo 18 importable by this Python and
PostgreSQL; the scratch database is dropped afterwards unless --keep is given.

    python3 scripts/benchmark_handover.py [--customers N] [--db NAME] [--keep]
"""

import argparse
import os
import subprocess
import sys
import time
from contextlib import contextmanager

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = {"preview": 10.0, "checklist": 60.0, "verification": 20.0}
MEMORY_TARGET_MB = 300
VERIFY_BATCH = 5000


def addons_path():
    import odoo

    package = os.path.dirname(os.path.abspath(odoo.__file__))
    candidates = (os.path.join(os.path.dirname(package), "addons"), os.path.join(package, "addons"))
    return ",".join([path for path in candidates if os.path.isdir(path)] + [REPO])


def rss_mb():
    return psutil.Process().memory_info().rss / 2**20


@contextmanager
def measured(name, env, results):
    """Time a step, count its queries and record how far the process's memory grew."""
    env.flush_all()
    queries = env.cr.sql_log_count
    memory = rss_mb()
    start = time.perf_counter()
    yield
    env.flush_all()
    results[name] = {
        "seconds": time.perf_counter() - start,
        "queries": env.cr.sql_log_count - queries,
        "memory_growth_mb": rss_mb() - memory,
    }


def create_customers(env, count):
    """Insert customers straight in SQL: setting up is not what is measured."""
    from odoo.tools import SQL

    purpose = env.ref("customer_handover.consent_purpose_order_fulfilment")
    company = env.company
    env.cr.execute(SQL(
        """
        INSERT INTO res_partner (name, complete_name, email, active, type, is_company, customer_type,
                                 relationship_stage, retention_status, lang, create_date, write_date)
             SELECT 'Customer ' || n, 'Customer ' || n, 'customer' || n || '@example.cn', TRUE, 'contact', FALSE,
                    'individual', 'active', CASE WHEN mod(n, 50) = 0 THEN 'expired' ELSE 'active' END, 'en_US',
                    now() at time zone 'UTC', now() at time zone 'UTC'
               FROM generate_series(1, %s) AS n
          RETURNING id
        """,
        count,
    ))
    ids = [row[0] for row in env.cr.fetchall()]
    env.cr.execute(SQL("UPDATE res_partner SET commercial_partner_id = id WHERE id = ANY(%s)", ids))
    # nine customers in ten consented to the receiver's purpose
    env.cr.execute(SQL(
        """
        INSERT INTO customer_consent (partner_id, purpose_id, company_id, state, date_given, channel, lawful_basis,
                                      create_date, write_date)
             SELECT id, %s, %s, 'granted', CURRENT_DATE - 30, 'website', 'consent',
                    now() at time zone 'UTC', now() at time zone 'UTC'
               FROM unnest(%s::int[]) AS id
              WHERE mod(id, 10) <> 0
        """,
        purpose.id, company.id, ids,
    ))
    env.invalidate_all()
    return ids


def run(args):
    import odoo
    from odoo.modules.registry import Registry
    from odoo.tools import split_every

    subprocess.run(["dropdb", "--if-exists", args.db], check=True)
    path = addons_path()
    print(f"installing customer_handover in a scratch database {args.db} ...", flush=True)
    subprocess.run(
        [sys.executable, "-m", "odoo", f"--addons-path={path}", "-d", args.db, "-i", "customer_handover",
         "--without-demo=all", "--stop-after-init", "--no-http", "--log-level=warn"],
        check=True,
    )
    odoo.tools.config.parse_config([f"--addons-path={path}", "-d", args.db, "--log-level=warn"])
    results = {}
    with Registry(args.db).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        start = time.perf_counter()
        create_customers(env, args.customers)
        cr.commit()
        print(f"created {args.customers} customers in {time.perf_counter() - start:.1f} s", flush=True)

        user = env["res.users"].create({
            "name": "Benchmark preparer",
            "login": "benchmark_preparer",
            "email": "preparer@example.cn",
            "groups_id": [(6, 0, [env.ref("customer_handover.group_handover_user").id])],
        })
        manager = env["res.users"].create({
            "name": "Benchmark manager",
            "login": "benchmark_manager",
            "email": "manager@example.cn",
            "groups_id": [(6, 0, [env.ref("customer_handover.group_handover_manager").id])],
        })
        receiver = env["res.partner"].create({"name": "Receiving Co.", "email": "legal@receiver.example.cn"})
        handover = env["customer.handover"].with_user(user).create({
            "receiver_id": receiver.id,
            "purpose_ids": [(6, 0, env.ref("customer_handover.consent_purpose_order_fulfilment").ids)],
            "nda_reference": "NDA-BENCH",
            "nda_date": "2026-11-01",
            "nda_document": b"UERG",
        })
        env.flush_all()
        baseline = rss_mb()

        wizard = env["customer.handover.scope"].with_user(user).create({"handover_id": handover.id})
        with measured("preview", env, results):
            counts = (wizard.total_count, wizard.eligible_count, wizard.ineligible_count)
        print(f"preview: {counts[0]} selected, {counts[1]} eligible, {counts[2]} not", flush=True)

        with measured("checklist", env, results):
            wizard.action_confirm()
        env.invalidate_all()

        handover.with_user(manager).action_confirm()
        handover.with_user(manager).action_start()
        Line = env["customer.handover.line"].with_user(user)
        line_ids = Line.search([("handover_id", "=", handover.id), ("eligibility", "=", "eligible")]).ids
        with measured("verification", env, results):
            for batch in split_every(VERIFY_BATCH, line_ids):
                Line.browse(batch).action_verify()
                env.flush_all()
                env.invalidate_all()
        verified = Line.search_count([("handover_id", "=", handover.id), ("state", "=", "verified")])
        growth = rss_mb() - baseline
        cr.rollback()

    print(f"\n{'step':<14}{'seconds':>10}{'target':>10}{'queries':>10}{'memory +MB':>12}")
    failed = []
    for step, figures in results.items():
        ok = figures["seconds"] <= TARGETS[step]
        failed += [] if ok else [step]
        print(f"{step:<14}{figures['seconds']:>10.2f}{TARGETS[step]:>10.0f}{figures['queries']:>10}"
              f"{figures['memory_growth_mb']:>12.1f}{'' if ok else '  OVER TARGET'}")
    print(f"{len(line_ids)} eligible lines, {verified} verified; memory growth over the three steps: "
          f"{growth:.1f} MB (target < {MEMORY_TARGET_MB} MB)")
    if growth > MEMORY_TARGET_MB:
        failed.append("memory")
    if verified != len(line_ids):
        failed.append("verification count")
    if not args.keep:
        odoo.sql_db.close_all()
        subprocess.run(["dropdb", "--if-exists", args.db], check=True)
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000, help="how many customers (default 100000)")
    parser.add_argument("--db", default="customer_handover_benchmark", help="scratch database name")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    if args.customers <= 0:
        parser.error("--customers must be a positive number")
    try:
        import odoo.release
    except ImportError:
        parser.exit(2, "benchmark_handover: this Python cannot import Odoo 18; run it where Odoo is installed.\n")
    if odoo.release.version_info[:2] != (18, 0):
        parser.exit(2, f"benchmark_handover: Odoo {odoo.release.version} found, 18.0 needed.\n")
    sys.exit(run(args))


if __name__ == "__main__":
    main()
