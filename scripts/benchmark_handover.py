#!/usr/bin/env python3
"""Benchmark of a customer handover at scale, in a scratch database (not a test).

Creates N customers (default 100,000) by SQL, a chunk a statement, runs the scope wizard's preview over all
of them, then each step through its background job as a user starts it above the threshold, its batches run
as the cron runs them (one transaction each): the checklist, batch verification, the signed export. Verifies
the signed file offline, then exports the same rows and columns with Odoo's own Excel export (its
/web/export/xlsx route, in this process). Prints each step's time, batches, queries per batch and peak
memory against the targets of the background-steps issue, and exits 1 naming the targets missed. Needs
Odoo 18 importable by this Python and PostgreSQL; the scratch database is dropped afterwards unless
--keep is given.

    python3 scripts/benchmark_handover.py [--customers N] [--db NAME] [--keep]
"""

import argparse
import base64
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The targets of the background-steps issue, in seconds: at 1,000,000 customers, and the ones it sets at 100,000
# (no slower than the last measures) where they are tighter; a run of at most 100,000 customers is held to the latter.
TARGETS_1M = {"preview": 10.0, "checklist": 360.0, "verification": 180.0, "import": 1200.0}
TARGETS_100K = {"checklist": 35.0, "verification": 20.0, "import": 177.0}
MEMORY_TARGET_MB = 500  # the peak resident memory of the process, in every step
# The signed export at most this share of Odoo's own export; the offline verification at most this share of the export.
EXPORT_RATIO_TARGET = 0.75
VERIFY_RATIO_TARGET = 0.5
# Customers inserted by one SQL statement, and committed, while the benchmark sets up.
CHUNK = 50_000
PASSWORD = "benchmark-manager"
# A drawn signature: a one-pixel PNG.
SIGNATURE = b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
RUNNABLE = ("queued", "running", "cancelling")


def addons_path(extra=None):
    """Odoo's addons and this repository's, then ``extra`` (a folder of the benchmark's own modules) if given."""
    import odoo

    package = os.path.dirname(os.path.abspath(odoo.__file__))
    candidates = (os.path.join(os.path.dirname(package), "addons"), os.path.join(package, "addons"))
    return ",".join([path for path in candidates if os.path.isdir(path)] + [REPO] + ([extra] if extra else []))


def rss_mb():
    return psutil.Process().memory_info().rss / 2**20


def target(step, customers):
    """The time target of ``step`` for a run of ``customers`` (None: the step has a ratio, or no target)."""
    limits = [TARGETS_1M.get(step)] + ([TARGETS_100K.get(step)] if customers <= 100_000 else [])
    limits = [limit for limit in limits if limit is not None]
    return min(limits) if limits else None


class PeakMemory:
    """The peak resident memory (RSS) of this process while a step runs.

    Read from the kernel: the step starts by resetting the process's high-water mark (``/proc/self/clear_refs``),
    and ends by reading it (``VmHWM`` in ``/proc/self/status``), so no short peak escapes. Where the kernel refuses
    the reset, a thread samples the RSS every 10 ms instead. ``peak`` in MB; ``growth``: above the step's start.
    """

    def __init__(self):
        self.start = self.peak = rss_mb()
        self.sampled = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._done.wait(0.01):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self):
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
                clear.write("5")
        except OSError:
            self.sampled = True
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.sampled:
            self._done.set()
            self._thread.join()
            self.peak = max(self.peak, rss_mb())
        else:
            with open("/proc/self/status", encoding="ascii") as status:
                self.peak = int(re.search(r"VmHWM:\s+(\d+)", status.read()).group(1)) / 1024

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


class Step:
    """One step as a user starts it: the request, then the batches of its background job, as the cron runs them.

    ``with Step(env, name) as step: action()`` times the request; ``step.run_job(job)`` then runs the job's batches:
    each is one call of the scheduled action *Customer Handover: run background steps* (``ir.cron``'s own
    ``method_direct_trigger``, as *Run Manually* does: the cron's server action, as the cron's user, with its
    progress record) followed by a commit, one transaction per batch, until the job has ended. ``figures`` holds
    seconds (request and batches), queries, the batches' queries and seconds, and the peak memory.
    """

    def __init__(self, env, name):
        self.env, self.name = env, name
        self.figures = {"name": name, "batches": [], "request": 0.0, "seconds": 0.0, "queries": 0}

    def __enter__(self):
        self.env.flush_all()
        self.env.cr.execute("SELECT pg_backend_pid()")
        self._server = self.env.cr.fetchone()[0]
        self._cpu = time.process_time(), server_cpu(self._server)
        self._queries = self.env.cr.sql_log_count
        self._memory = PeakMemory().__enter__()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.env.flush_all()
        self.figures["request"] = time.perf_counter() - self._start
        self._close()

    def _close(self):
        self._memory.__exit__(None, None, None)
        self.figures["seconds"] = time.perf_counter() - self._start
        self.figures["queries"] = self.env.cr.sql_log_count - self._queries
        server = server_cpu(self._server)
        self.figures["cpu"] = time.process_time() - self._cpu[0] + (
            server - self._cpu[1] if server is not None and self._cpu[1] is not None else 0.0)
        self.figures["peak_mb"] = self._memory.peak
        self.figures["start_mb"] = self._memory.start
        # as each step ends, so that a long run shows how far it got before its table
        print(f"  {self.name}: {self.figures['seconds']:.1f} s, {self.figures['cpu']:.1f} s CPU, "
              f"{len(self.figures['batches'])} batches, peak {self.figures['peak_mb']:.0f} MB", flush=True)

    def run_job(self, job):
        """Run ``job`` (a customer.handover.job) batch by batch as the cron does, one transaction each, to its end."""
        env = self.env
        job_id = job.id
        env.cr.commit()  # the request's transaction ends, with the job it queued
        cron = env.ref("customer_handover.ir_cron_handover_jobs").id
        with runner_queries(env) as queries:
            while True:
                env.cr.execute("SELECT state, error FROM customer_handover_job WHERE id = %s", [job_id])
                state, error = env.cr.fetchone()
                if state not in RUNNABLE:
                    break
                start = time.perf_counter()
                env["ir.cron"].browse(cron).method_direct_trigger()
                env.cr.commit()
                self.figures["batches"].append((time.perf_counter() - start, queries.pop()))
        self._close()
        if state != "done":
            raise RuntimeError(f"the background step {self.name} stopped ({state}): {error}")
        return self


@contextlib.contextmanager
def runner_queries(env):
    """Collect the queries of each call of the jobs' runner (``_cron_run``): a batch's own work and its progress.

    The cron's bookkeeping around the call is left out, and each call starts from an empty cache:
    ``method_direct_trigger`` writes the cron's last call only when its second has changed, and that write
    leaves in the cache the user a batch would read, one query more or less in some batches, which says
    nothing of the batch.
    """
    counts = []
    runner = type(env["customer.handover.job"])
    run = runner._cron_run

    def counted(self):
        self.env.invalidate_all()
        before = self.env.cr.sql_log_count
        try:
            return run(self)
        finally:
            counts.append(self.env.cr.sql_log_count - before)

    runner._cron_run = counted
    try:
        yield counts
    finally:
        runner._cron_run = run


def server_cpu(pid):
    """CPU seconds used so far by the PostgreSQL process ``pid``, or None where it runs elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            values = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(values[11]) + int(values[12])) / os.sysconf("SC_CLK_TCK")


def middle_batches(figures):
    """The queries of each batch but the first call (it warms the process's caches, as a cron worker's first call
    does; ``warm_calls`` of the figures: the first calls that do, 1 unless said) and the last (it also ends the step):
    what must stay constant."""
    queries = [count for _seconds, count in figures["batches"]]
    return queries[figures.get("warm_calls", 1):-1] or queries


def batch_summary(figures):
    """Batches, and their queries as "min-max (first, last)" of the middle calls, or dashes for a step in a request."""
    batches = figures["batches"]
    if not batches:
        return "-", "-"
    queries = middle_batches(figures)
    spread = f"{min(queries)}" if min(queries) == max(queries) else f"{min(queries)}-{max(queries)}"
    return f"{len(batches)}", f"{spread} ({batches[0][1]}, {batches[-1][1]})"


def print_steps(steps, customers):
    """Print each step's figures against its targets; return the targets missed."""
    print(f"\n{'step':<36}{'seconds':>9}{'target':>8}{'CPU s':>8}{'request':>9}{'batches':>9}"
          f"{'queries/batch (first, last)':>28}{'peak MB':>9}{'+start':>8}")
    failed = []
    for figures in steps:
        limit = figures.get("target", target(figures["name"], customers))
        count, queries = batch_summary(figures)
        missed = []
        if limit is not None and figures["seconds"] > limit:
            missed.append(f"{figures['name']} {figures['seconds']:.1f} s > {limit:.0f} s")
        if figures["peak_mb"] > MEMORY_TARGET_MB and not figures.get("reference"):
            missed.append(f"{figures['name']} peak memory {figures['peak_mb']:.0f} MB > {MEMORY_TARGET_MB} MB")
        failed += missed
        limit_text = "" if limit is None else f"{limit:.0f}"
        print(f"{figures.get('label', figures['name']):<36}{figures['seconds']:>9.2f}{limit_text:>8}"
              f"{figures.get('cpu') or 0:>8.1f}{figures['request']:>9.2f}{count:>9}{queries:>28}"
              f"{figures['peak_mb']:>9.0f}{figures['peak_mb'] - figures['start_mb']:>8.0f}"
              f"{'  MISSED' if missed else ''}")
    for figures in steps:
        if len(figures["batches"]) > 1:
            queries = [count for _seconds, count in figures["batches"]]
            slowest = max(seconds for seconds, _count in figures["batches"])
            print(f"{figures['name']}: queries of each batch {shorten(queries)}; slowest batch {slowest:.2f} s")
            tenths = batch_tenths(figures["batches"])
            if tenths:
                print(f"{figures['name']}: mean seconds per batch in each tenth of the run "
                      f"{', '.join(f'{seconds:.2f}' for seconds in tenths)}")
    print(f"(peak MB: the process's peak resident memory in the step, the kernel's VmHWM reset at its start; target "
          f"< {MEMORY_TARGET_MB} MB for every step of the addon; +start: above the process's memory at the step's "
          f"start. CPU s: this process and its PostgreSQL server process, which other work on a shared machine "
          f"disturbs less than the elapsed time. Queries per batch: those of the jobs' runner in each call of "
          f"the cron, from an empty cache (not the cron's bookkeeping around it), but the first call, which warms "
          f"the process's caches, and the last, which also ends the step; first and last after it.)")
    return failed


def batch_tenths(batches):
    """The mean time of a batch in each tenth of a step's batches, but the first and last calls: a batch that grows
    with its place in the run (a query reading what earlier batches wrote) shows as a rising row. None when the
    step has too few batches to tell."""
    seconds = [batch_seconds for batch_seconds, _count in batches[1:-1]]
    if len(seconds) < 20:
        return None
    size = len(seconds) / 10
    return [sum(part) / len(part) for part in (seconds[round(i * size):round((i + 1) * size)] for i in range(10))]


def shorten(values, ends=4):
    """``values`` as a list, its middle elided when long: the first and last few."""
    if len(values) <= 2 * ends + 1:
        return str(values)
    return f"{values[:ends]} ... {values[-ends:]}".replace("] ... [", ", ..., ")


def insert_in_chunks(env, count, statement):
    """Run ``statement(first, last)`` (an SQL inserting customers first to last) in chunks, committing each."""
    # PostgreSQL plans a foreign key's check once per connection, from the table's size then: planned on an almost
    # empty res_partner (the users created before), each new contact's check of its commercial partner scanned the
    # whole table, and inserting went quadratic. The plans are made again, without a scan, after ANALYZE.
    env.cr.execute("SET enable_seqscan = off")
    env.cr.execute("ANALYZE res_partner")
    env.cr.execute("ANALYZE customer_consent")
    for first in range(1, count + 1, CHUNK):
        env.cr.execute(statement(first, min(first + CHUNK - 1, count)))
        env.cr.commit()
    env.cr.execute("RESET enable_seqscan")
    env.cr.execute("ANALYZE res_partner")
    env.cr.execute("ANALYZE customer_consent")
    env.invalidate_all()


def create_customers(env, count):
    """Insert customers straight in SQL, a chunk a statement: setting up is not what is measured. Their ids."""
    from odoo.tools import SQL

    env.cr.execute("SELECT COALESCE(max(id), 0) FROM res_partner")
    before = env.cr.fetchone()[0]
    purpose = env.ref("customer_handover.consent_purpose_order_fulfilment")
    company = env.company
    # Nine customers in ten consented to the receiver's purpose; one in fifty is past retention.
    insert_in_chunks(env, count, lambda first, last: SQL(
        """
        WITH customer AS (
            INSERT INTO res_partner (id, commercial_partner_id, name, complete_name, email, active, type, is_company,
                                     customer_type, relationship_stage, retention_status, lang, create_date,
                                     write_date)
                 SELECT id, id, 'Customer ' || n, 'Customer ' || n, 'customer' || n || '@example.cn', TRUE,
                        'contact', FALSE, 'individual', 'active',
                        CASE WHEN mod(n, 50) = 0 THEN 'expired' ELSE 'active' END, 'en_US',
                        now() at time zone 'UTC', now() at time zone 'UTC'
                   FROM (SELECT nextval('res_partner_id_seq') AS id, n FROM generate_series(%s, %s) AS n) AS new
              RETURNING id
        )
        INSERT INTO customer_consent (partner_id, purpose_id, company_id, state, date_given, channel, lawful_basis,
                                      create_date, write_date)
             SELECT id, %s, %s, 'granted', CURRENT_DATE - 30, 'website', 'consent',
                    now() at time zone 'UTC', now() at time zone 'UTC'
               FROM customer
              WHERE mod(id, 10) <> 0
        """,
        first, last, purpose.id, company.id,
    ))
    env.cr.execute(SQL("SELECT id FROM res_partner WHERE id > %s ORDER BY id", before))
    return [row[0] for row in env.cr.fetchall()]


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


def started_job(action, target):
    """The background job a step's button just queued on ``target`` (a handover or an incoming handover)."""
    field = "incoming_id" if target._name == "customer.handover.incoming" else "handover_id"
    job = target.env["customer.handover.job"].sudo().search(
        [(field, "=", target.id), ("state", "in", RUNNABLE)], order="id desc", limit=1)
    if not job:
        raise RuntimeError(f"the step ran in the request, not in the background: {action}")
    return job


def run(args):
    import odoo
    from odoo.modules.registry import Registry

    install(args.db)
    path = addons_path()
    odoo.tools.config.parse_config([f"--addons-path={path}", "-d", args.db, "--log-level=warn"])
    steps, failed = [], []
    with Registry(args.db).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        start = time.perf_counter()
        create_customers(env, args.customers)
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
        cr.commit()

        wizard = env["customer.handover.scope"].with_user(user).create({"handover_id": handover.id, "select_all": True})
        with Step(env, "preview") as step:
            counts = (wizard.total_count, wizard.eligible_count, wizard.ineligible_count)
        steps.append(step.figures)
        print(f"preview: {counts[0]} selected, {counts[1]} eligible, {counts[2]} not", flush=True)

        steps.append(checklist_step(env, wizard, handover).figures)
        handover.with_user(manager).action_confirm()
        handover.with_user(manager).action_start()
        cr.commit()
        steps.append(verification_step(env, handover.with_user(user)).figures)
        Line = env["customer.handover.line"]
        eligible = Line.search_count([("handover_id", "=", handover.id), ("eligibility", "=", "eligible")])
        verified = Line.search_count([("handover_id", "=", handover.id), ("state", "=", "verified")])
        # The company seals the checklist once both parties have signed it.
        handover.with_user(user).action_mark_verified()
        handover.with_user(manager)._sign("transfer", "Benchmark manager", SIGNATURE, channel="in_person")
        handover.with_user(manager)._sign("receiver", "Receiving representative", SIGNATURE, channel="in_person")
        cr.commit()
        export_steps, exports = export_figures(env, handover.with_user(manager), manager)
        steps += export_steps
        appends = append_queries(env)

    print(f"\nhandover of {args.customers} customers ({eligible} eligible lines, {verified} verified)")
    failed += print_steps(steps, args.customers)
    failed += report_exports(exports)
    print("event log: queries to append a batch of entries, by batch size: "
          + ", ".join(f"{size} entries: {count}" for size, count in appends.items()))
    if len(set(appends.values())) > 1:
        failed.append("event log appends grow with the batch")
    if verified != eligible:
        failed.append(f"{verified} lines verified of {eligible}")
    failed += constant_batches(steps)
    if failed:
        print("MISSED: " + "; ".join(failed))
    if not args.keep:
        odoo.sql_db.close_all()
        subprocess.run(["dropdb", "--if-exists", args.db], check=True)
    return 1 if failed else 0


def checklist_step(env, wizard, handover):
    """Select Customers over every customer: the wizard queues the job that builds the checklist, then its batches."""
    with Step(env, "checklist") as step:
        action = wizard.action_confirm()
    return step.run_job(started_job(action, handover))


def verification_step(env, handover):
    """Verify All Pending: the request queues batch verification, then its batches."""
    with Step(env, "verification") as step:
        action = handover.action_verify_all_pending()
    return step.run_job(started_job(action, handover))


def export_step(env, handover, name="signed export"):
    """Export Signed Checklist in the background: the request queues it, one call of the cron builds the file."""
    with Step(env, name) as step:
        action = handover.action_export_checklist()
    step.run_job(started_job(action, handover))
    return step, handover._current_export()


def constant_batches(steps):
    """The steps whose batches (but the first and the last call) do not all cost the same queries."""
    missed = []
    for figures in steps:
        queries = middle_batches(figures)
        if queries and max(queries) != min(queries):
            missed.append(f"{figures['name']}: queries per batch vary from {min(queries)} to {max(queries)}")
    return missed


def export_figures(env, handover, manager):
    """The signed export in the background, its offline verification, then Odoo's own Excel export of the same rows
    and columns (last: Odoo's export holds every row in memory, the reference is not held to the memory target)."""
    from odoo.addons.customer_handover.tools.checklist_columns import LINE_COLUMNS

    figures = {"lines": env["customer.handover.line"].search_count([("handover_id", "=", handover.id)])}
    step, export = export_step(env, handover)
    data = base64.b64decode(export.attachment_id.sudo().datas)
    figures["size_mb"] = len(data) / 2**20
    figures["signed_export"] = step.figures["seconds"]
    env.cr.commit()
    verification = offline_verification(data, export.fingerprint)
    del data
    figures.update(verification)
    offline = {"name": "offline verification", "label": "offline verification (own process)", "batches": [],
               "request": verification["offline_verify"], "seconds": verification["offline_verify"], "queries": 0,
               "peak_mb": verification["verify_peak_mb"], "start_mb": 0.0}

    field_names = [name for name, _width in LINE_COLUMNS]
    with Step(env, "Odoo's own export") as odoo_step:
        odoo_xlsx = odoo_excel_export(env, handover, manager, field_names)
    odoo_step.figures["reference"] = True
    figures["odoo_export"] = odoo_step.figures["seconds"]
    figures["odoo_size_mb"] = len(odoo_xlsx) / 2**20
    return [step.figures, offline, odoo_step.figures], figures


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
    print(f"\nexports of the {figures['lines']}-line checklist (same rows and columns): signed "
          f"{figures['size_mb']:.1f} MB, Odoo's {figures['odoo_size_mb']:.1f} MB")
    print(f"  ratio signed / Odoo's export:          {ratio:6.2f}   (target <= {EXPORT_RATIO_TARGET:.2f})")
    print(f"  ratio offline verification / export:  {verify_ratio:6.2f}   (target <= {VERIFY_RATIO_TARGET:.2f}; "
          f"{figures['verify_status']}, exit {figures['verify_exit']})")
    failed = []
    if ratio > EXPORT_RATIO_TARGET:
        failed.append(f"signed export {ratio:.2f} x Odoo's > {EXPORT_RATIO_TARGET}")
    if verify_ratio > VERIFY_RATIO_TARGET:
        failed.append(f"offline verification {verify_ratio:.2f} x the export > {VERIFY_RATIO_TARGET}")
    if figures["verify_status"] != "valid" or figures["verify_exit"] != 0:
        failed.append("exported checklist does not verify")
    return failed


def parse_args(name, description, database, database_help, keep_help, customers=100_000, rounds=False, port=False,
               skips=(), options=()):
    """The benchmarks' command line, refused with exit 2 where this Python has no Odoo 18 to run them. ``skips``:
    (step, help) of the steps a run may leave out, each a ``--skip-<step>`` flag; ``options``: (flag, keywords)
    of the script's own options, as ``add_argument`` takes them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--customers", type=int, default=customers, help=f"how many customers (default {customers})")
    parser.add_argument("--db", default=database, help=database_help)
    parser.add_argument("--keep", action="store_true", help=keep_help)
    if port:
        parser.add_argument("--port", type=int, default=0, help="HTTP port of the Odoo server (default: a free one)")
    if rounds:
        parser.add_argument("--rounds", type=int, default=2, help="rounds of measures, the best counts (default 2)")
    for step, help_ in skips:
        parser.add_argument(f"--skip-{step}", action="store_true", help=help_)
    for flag, keywords in options:
        parser.add_argument(flag, **keywords)
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


def install(database, modules="customer_handover", extra_addons=None):
    """A fresh scratch ``database`` with ``modules`` installed, without demo data; ``extra_addons``: addons_path's."""
    subprocess.run(["dropdb", "--if-exists", database], check=True)
    print(f"installing {modules} in a scratch database {database} ...", flush=True)
    subprocess.run(
        [sys.executable, "-m", "odoo", f"--addons-path={addons_path(extra_addons)}", "-d", database, "-i", modules,
         "--without-demo=all", "--stop-after-init", "--no-http", "--log-level=warn"],
        check=True,
    )


def main():
    args = parse_args("benchmark_handover", __doc__.splitlines()[0], "customer_handover_benchmark",
                      "scratch database name", "keep the scratch database")
    sys.exit(run(args))


if __name__ == "__main__":
    main()
