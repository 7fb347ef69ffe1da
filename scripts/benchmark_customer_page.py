#!/usr/bin/env python3
"""Benchmark of the customer's page, in a scratch database (not a test).

Puts N customers (default 100,000) on a signed handover's checklist, with a notice and a data request each, then starts
Odoo's HTTP server on the database and opens customers' pages from their personal links as an anonymous
browser would: the page, a link that is not valid, and an answer (a withdrawal) posted with its CSRF token.
Prints the median and 95th percentile of each against the target (the page under 200 ms). Needs Odoo 18
importable by this Python and PostgreSQL; the scratch database is dropped afterwards unless --keep is given.

    python3 scripts/benchmark_customer_page.py [--customers N] [--db NAME] [--port PORT] [--keep]
"""

import os
import re
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_handover import addons_path, create_customers, install, parse_args

PAGE_TARGET_MS = 200
ROUNDS = 40
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def prepare(env, count):
    """A signed handover of ``count`` customers, a notice and an open data request each; (handover, customer ids)."""
    from odoo.tools import SQL

    ids = create_customers(env, count)
    purpose = env.ref("customer_handover.consent_purpose_order_fulfilment")
    receiver = env["res.partner"].create({"name": "Benchmark receiver", "is_company": True,
                                          "email": "legal@receiver.example.cn"})
    handover = env["customer.handover"].create({"receiver_id": receiver.id, "purpose_ids": [(6, 0, purpose.ids)]})
    # Setting up is not what is measured: the checklist and the requests go in straight in SQL.
    env.cr.execute(SQL("UPDATE customer_handover SET state = 'signed' WHERE id = %s", handover.id))
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
    env.cr.execute(SQL(
        """
        INSERT INTO customer_data_request (name, request_type, partner_id, handover_id, company_id, received_on,
                                           channel, due_date, state)
             SELECT 'DSR/BENCH/' || id, 'deletion', id, %s, %s, now() at time zone 'UTC', 'letter',
                    CURRENT_DATE + 15, 'new'
               FROM unnest(%s::int[]) AS id
        """,
        handover.id, env.company.id, ids,
    ))
    env.cr.execute(SQL(
        """
        INSERT INTO customer_handover_notice (handover_id, company_id, partner_id, lang, channel, state, email,
                                              queued_on, attempt_count, create_date, write_date)
             SELECT %s, %s, id, 'en_US', 'email', 'queued', 'customer' || id || '@example.cn',
                    now() at time zone 'UTC', 1, now() at time zone 'UTC', now() at time zone 'UTC'
               FROM unnest(%s::int[]) AS id
        """,
        handover.id, env.company.id, ids,
    ))
    env.cr.execute("ANALYZE customer_handover_line; ANALYZE customer_data_request; ANALYZE customer_handover_notice; "
                   "ANALYZE res_partner")
    return handover, ids


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(call, rounds=ROUNDS):
    """Median and 95th percentile of ``call``'s time in milliseconds, after two warm-up calls."""
    for _warm in range(2):
        call(0)
    times = []
    for number in range(rounds):
        start = time.perf_counter()
        call(number + 1)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def run(args):
    import requests

    import odoo

    install(args.db)
    odoo.tools.config.parse_config([f"--addons-path={addons_path()}", "-d", args.db])
    registry = odoo.modules.registry.Registry(args.db)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        print(f"putting {args.customers} customers on a signed checklist, a notice and a request each ...", flush=True)
        handover, ids = prepare(env, args.customers)
        paths = [f"/customer_handover/customer/{handover._customer_page_token(env['res.partner'].browse(pid))}"
                 for pid in ids[: 3 * ROUNDS + 6 : 3]]
        purpose_id = handover.purpose_ids.id
    port = args.port or free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "odoo", f"--addons-path={addons_path()}", "-d", args.db, f"--db-filter=^{args.db}$",
         f"--http-port={port}", "--http-interface=127.0.0.1", "--workers=0", "--max-cron-threads=0",
         "--log-level=warn"],
    )
    failed = []
    try:
        base = f"http://127.0.0.1:{port}"
        for _wait in range(300):
            try:
                if requests.get(f"{base}/web/health", timeout=5).ok:
                    break
            except requests.RequestException:
                time.sleep(1)
        browser = requests.Session()
        page = lambda number: browser.get(base + paths[number % len(paths)], timeout=30).raise_for_status()  # noqa: E731
        invalid = lambda number: browser.get(f"{base}{paths[0][:-4]}{number:04d}", timeout=30)  # noqa: E731

        def answer(number):
            path = paths[number % len(paths)]
            csrf = CSRF.search(browser.get(base + path, timeout=30).text)[1]
            browser.post(f"{base}{path}/answer", data={"answer": "withdrawal", "purpose": purpose_id,
                                                       "csrf_token": csrf}, timeout=30).raise_for_status()

        figures = {"page": timed(page), "link not valid": timed(invalid), "answer (page + post)": timed(answer)}
        print(f"\n{args.customers} customers on the checklist, {args.customers} notices and requests in the database")
        for name, (median, p95) in figures.items():
            print(f"  {name:<22} median {median:7.1f} ms   p95 {p95:7.1f} ms")
        if figures["page"][0] > PAGE_TARGET_MS:
            failed.append("page")
        print(f"target: the page under {PAGE_TARGET_MS} ms: {'missed' if failed else 'met'}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        odoo.sql_db.close_all()
        if not args.keep:
            subprocess.run(["dropdb", "--if-exists", args.db], check=True)
    return 1 if failed else 0


def main():
    args = parse_args("benchmark_customer_page", __doc__.splitlines()[0], "customer_handover_page_benchmark",
                      "scratch database name", "keep the scratch database", port=True)
    sys.exit(run(args))


if __name__ == "__main__":
    main()
