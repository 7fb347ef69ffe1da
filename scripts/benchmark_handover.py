#!/usr/bin/env python3
"""Benchmark of a customer handover at scale, in a scratch database (not a test).

Creates N customers (default 100,000), runs the scope wizard's preview over all of them, creates the
checklist, then verifies every line in batches; prints seconds, queries and memory for each step and
checks them against the targets of the handover issue. Then exports the whole checklist as a signed
workbook, exports the same rows and columns with Odoo's own Excel export (its /web/export/xlsx route,
in this process), and verifies the signed file offline; prints both exports and their ratio. Needs
Odoo 18 importable by this Python and PostgreSQL; the scratch database is dropped afterwards unless
--keep is given.

    python3 scripts/benchmark_handover.py [--customers N] [--db NAME] [--keep]
"""

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = {"preview": 10.0, "checklist": 60.0, "verification": 20.0}
MEMORY_TARGET_MB = 300
# Peak memory above the start of the step, for the signed export and the offline verification.
EXPORT_MEMORY_TARGET_MB = 150
# The signed export at most this share of Odoo's own export; the offline verification at most this share of the export.
EXPORT_RATIO_TARGET = 0.75
VERIFY_RATIO_TARGET = 0.5
VERIFY_MEMORY_TARGET_MB = 100
VERIFY_BATCH = 5000
PASSWORD = "benchmark-manager"
# A drawn signature: a one-pixel PNG.
SIGNATURE = b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def addons_path():
    import odoo

    package = os.path.dirname(os.path.abspath(odoo.__file__))
    candidates = (os.path.join(os.path.dirname(package), "addons"), os.path.join(package, "addons"))
    return ",".join([path for path in candidates if os.path.isdir(path)] + [REPO])


def rss_mb():
    return psutil.Process().memory_info().rss / 2**20


class PeakMemory:
    """Samples this process's resident memory while a step runs; ``growth`` is its peak above the start."""

    def __init__(self):
        self.start = self.peak = rss_mb()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._done.wait(0.01):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())

    @property
    def growth(self):
        return self.peak - self.start


# The offline command's own code, run in a process of its own that has no Odoo; it reports its peak memory
# (VmHWM: ru_maxrss would carry over the forking Odoo process's peak across exec).
OFFLINE_VERIFY = """
import re, sys
sys.path.insert(0, sys.argv[1])
from customer_handover_tools.cli import verify_main
code = verify_main(sys.argv[2:])
with open("/proc/self/status") as status:
    sys.stderr.write("peak_rss_kb=" + re.search(r"VmHWM:\\s+(\\d+)", status.read()).group(1))
sys.exit(code)
"""


@contextmanager
def measured(name, env, results):
    """Time a step, count its queries and record how far the process's memory grew."""
    env.flush_all()
    events = event_count(env)
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
    results[name]["events"] = event_count(env) - events


def event_count(env):
    env.cr.execute("SELECT count(*) FROM customer_handover_event")
    return env.cr.fetchone()[0]


def append_queries(env, sizes=(10, 10_000)):
    """Queries that appending a batch of entries to the event log costs, for batches of each size."""
    counts = {}
    env["customer.handover.event"]._append([{"company_id": env.company.id, "event": "lines_checked"}])  # warm-up
    for size in sizes:
        entries = [{"company_id": env.company.id, "event": "lines_checked", "payload": {"records": [n]}}
                   for n in range(size)]
        env.flush_all()
        before = env.cr.sql_log_count
        env["customer.handover.event"]._append(entries)
        counts[size] = env.cr.sql_log_count - before
    env.cr.rollback()
    return counts


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

    install(args.db)
    path = addons_path()
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
            "password": PASSWORD,
            "groups_id": [(6, 0, [env.ref("customer_handover.group_handover_manager").id,
                                  env.ref("base.group_allow_export").id])],
        })
        officer = env["res.users"].create({
            "name": "Benchmark officer",
            "login": "benchmark_officer",
            "groups_id": [(6, 0, [env.ref("customer_handover.group_data_protection_officer").id])],
        })
        env.company.with_user(officer).action_handover_create_signing_key()
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

        wizard = env["customer.handover.scope"].with_user(user).create({"handover_id": handover.id, "select_all": True})
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
        batch_queries = []
        with measured("verification", env, results):
            for batch in split_every(VERIFY_BATCH, line_ids):
                before = env.cr.sql_log_count
                Line.browse(batch).action_verify()
                env.flush_all()
                env.invalidate_all()
                batch_queries.append(env.cr.sql_log_count - before)
        verified = Line.search_count([("handover_id", "=", handover.id), ("state", "=", "verified")])
        growth = rss_mb() - baseline
        # The company seals the checklist once both parties have signed it.
        handover.with_user(user).action_mark_verified()
        handover.with_user(manager)._sign("transfer", "Benchmark manager", SIGNATURE, channel="in_person")
        handover.with_user(manager)._sign("receiver", "Receiving representative", SIGNATURE, channel="in_person")
        cr.commit()
        exports = export_figures(env, handover.with_user(manager), manager)
        appends = append_queries(env)

    print(f"\n{'step':<14}{'seconds':>10}{'target':>10}{'queries':>10}{'memory +MB':>12}{'log entries':>13}")
    failed = []
    for step, figures in results.items():
        ok = figures["seconds"] <= TARGETS[step]
        failed += [] if ok else [step]
        print(f"{step:<14}{figures['seconds']:>10.2f}{TARGETS[step]:>10.0f}{figures['queries']:>10}"
              f"{figures['memory_growth_mb']:>12.1f}{figures['events']:>13}{'' if ok else '  OVER TARGET'}")
    print(f"verification: queries per batch of {VERIFY_BATCH} lines, first to last: {batch_queries}")
    print("event log: queries to append a batch of entries, by batch size: "
          + ", ".join(f"{size} entries: {count}" for size, count in appends.items()))
    if len(set(appends.values())) > 1:
        failed.append("event log appends")
    print(f"{len(line_ids)} eligible lines, {verified} verified; memory growth over the three steps: "
          f"{growth:.1f} MB (target < {MEMORY_TARGET_MB} MB)")
    if growth > MEMORY_TARGET_MB:
        failed.append("memory")
    if verified != len(line_ids):
        failed.append("verification count")
    failed += report_exports(exports)
    if not args.keep:
        odoo.sql_db.close_all()
        subprocess.run(["dropdb", "--if-exists", args.db], check=True)
    return 1 if failed else 0


def export_figures(env, handover, manager):
    """Time the signed export, Odoo's own Excel export of the same rows and columns, and offline verification."""
    from odoo.addons.customer_handover.tools.checklist_columns import LINE_COLUMNS

    figures = {"lines": env["customer.handover.line"].search_count([("handover_id", "=", handover.id)])}
    start = time.perf_counter()
    queries = env.cr.sql_log_count
    with PeakMemory() as memory:
        export = env["customer.handover.export"].with_user(manager)._create_for(handover)
        env.flush_all()
    figures["signed_export"] = time.perf_counter() - start
    figures["signed_export_queries"] = env.cr.sql_log_count - queries
    figures["signed_export_peak_mb"] = memory.growth
    data = base64.b64decode(export.attachment_id.sudo().datas)
    figures["size_mb"] = len(data) / 2**20
    env.cr.commit()
    figures.update(offline_verification(data, export.fingerprint))

    field_names = [name for name, _width in LINE_COLUMNS]
    start = time.perf_counter()
    with PeakMemory() as memory:
        odoo_xlsx = odoo_excel_export(env, handover, manager, field_names)
    figures["odoo_export"] = time.perf_counter() - start
    figures["odoo_export_peak_mb"] = memory.growth
    figures["odoo_size_mb"] = len(odoo_xlsx) / 2**20
    return figures


def offline_verification(data, fingerprint):
    """Run customer-handover-verify's code on the file, in a fresh process without Odoo, as the receiver would."""
    with tempfile.TemporaryDirectory() as folder:
        os.symlink(os.path.join(REPO, "customer_handover", "tools"), os.path.join(folder, "customer_handover_tools"))
        path = os.path.join(folder, "checklist.xlsx")
        with open(path, "wb") as handle:
            handle.write(data)
        start = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-c", OFFLINE_VERIFY, folder, path, "--fingerprint", fingerprint, "--json"],
            capture_output=True, text=True, check=False,
        )
        seconds = time.perf_counter() - start
    peak = re.search(r"peak_rss_kb=(\d+)", run.stderr)
    if run.returncode not in (0, 1) or not peak:
        raise RuntimeError(f"the offline verification failed ({run.returncode}): {run.stdout}{run.stderr}")
    return {
        "offline_verify": seconds,
        "verify_status": json.loads(run.stdout)["status"],
        "verify_exit": run.returncode,
        "verify_peak_mb": int(peak.group(1)) / 1024,
    }


def odoo_excel_export(env, handover, manager, field_names):
    """Odoo's own Excel export, through its /web/export/xlsx route, as the list view's Export button calls it."""
    from werkzeug.test import Client

    import odoo.http

    client = Client(odoo.http.root)
    local = {"environ_base": {"REMOTE_ADDR": "127.0.0.1"}}
    login = client.post("/web/session/authenticate", **local, json={"jsonrpc": "2.0", "params": {
        "db": env.cr.dbname, "login": manager.login, "password": PASSWORD,
    }})
    if "error" in login.json:
        raise RuntimeError(login.json["error"])
    page = client.get("/odoo", **local).get_data(as_text=True)
    token = re.search(r'csrf_token: "([^"]+)"', page).group(1)
    fields = env["customer.handover.line"]._fields
    data = {
        "model": "customer.handover.line",
        "fields": [{"name": "sequence", "label": "Sequence"}]
        + [{"name": name, "label": fields[name].string} for name in field_names],
        "ids": False,
        "domain": [["handover_id", "=", handover.id]],
        "import_compat": False,
        "context": {"lang": "en_US"},
    }
    response = client.post("/web/export/xlsx", **local, data={"data": json.dumps(data), "csrf_token": token})
    if response.status_code != 200 or not response.data.startswith(b"PK"):
        raise RuntimeError(f"Odoo's export failed: {response.status_code} {response.data[:300]!r}")
    return response.data


def report_exports(figures):
    ratio = figures["signed_export"] / figures["odoo_export"]
    verify_ratio = figures["offline_verify"] / figures["signed_export"]
    print(f"\nexports of the {figures['lines']}-line checklist (same rows and columns)")
    print(f"  signed export (ours):      {figures['signed_export']:8.2f} s  {figures['size_mb']:6.1f} MB  "
          f"{figures['signed_export_queries']} queries, peak memory +{figures['signed_export_peak_mb']:.1f} MB "
          f"(target < {EXPORT_MEMORY_TARGET_MB} MB)")
    print(f"  Odoo's own Excel export:   {figures['odoo_export']:8.2f} s  {figures['odoo_size_mb']:6.1f} MB  "
          f"peak memory +{figures['odoo_export_peak_mb']:.1f} MB")
    print(f"  ratio signed / Odoo:       {ratio:8.2f}   (target <= {EXPORT_RATIO_TARGET:.2f})")
    print(f"  offline verification:      {figures['offline_verify']:8.2f} s  ({figures['verify_status']}, exit "
          f"{figures['verify_exit']}; {verify_ratio:.2f} of the export, target <= {VERIFY_RATIO_TARGET:.2f}), "
          f"a process of its own peaking at {figures['verify_peak_mb']:.1f} MB (target < {VERIFY_MEMORY_TARGET_MB} MB)")
    failed = []
    if ratio > EXPORT_RATIO_TARGET:
        failed.append("signed export too slow against Odoo's")
    if verify_ratio > VERIFY_RATIO_TARGET:
        failed.append("verification too slow against the export")
    if figures["verify_status"] != "valid" or figures["verify_exit"] != 0:
        failed.append("exported checklist does not verify")
    too_large = figures["signed_export_peak_mb"] > EXPORT_MEMORY_TARGET_MB
    if too_large or figures["verify_peak_mb"] > VERIFY_MEMORY_TARGET_MB:
        failed.append("export or verification memory")
    return failed


def parse_args(name, description, database, database_help, keep_help, customers=100_000, rounds=False):
    """The benchmarks' command line, refused with exit 2 where this Python has no Odoo 18 to run them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--customers", type=int, default=customers, help=f"how many customers (default {customers})")
    parser.add_argument("--db", default=database, help=database_help)
    parser.add_argument("--keep", action="store_true", help=keep_help)
    if rounds:
        parser.add_argument("--rounds", type=int, default=2, help="rounds of measures, the best counts (default 2)")
    args = parser.parse_args()
    if args.customers <= 0 or getattr(args, "rounds", 1) <= 0:
        parser.error("--customers and --rounds must be positive numbers")
    try:
        import odoo.release
    except ImportError:
        parser.exit(2, f"{name}: this Python cannot import Odoo 18; run it where Odoo is installed.\n")
    if odoo.release.version_info[:2] != (18, 0):
        parser.exit(2, f"{name}: Odoo {odoo.release.version} found, 18.0 needed.\n")
    return args


def install(database, modules="customer_handover"):
    """A fresh scratch ``database`` with ``modules`` installed, without demo data."""
    subprocess.run(["dropdb", "--if-exists", database], check=True)
    print(f"installing {modules} in a scratch database {database} ...", flush=True)
    subprocess.run(
        [sys.executable, "-m", "odoo", f"--addons-path={addons_path()}", "-d", database, "-i", modules,
         "--without-demo=all", "--stop-after-init", "--no-http", "--log-level=warn"],
        check=True,
    )


def main():
    args = parse_args("benchmark_handover", __doc__.splitlines()[0], "customer_handover_benchmark",
                      "scratch database name", "keep the scratch database")
    sys.exit(run(args))


if __name__ == "__main__":
    main()
