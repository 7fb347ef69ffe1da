#!/usr/bin/env python3
"""Benchmark of a transfer package at scale, in scratch databases (not a test).

Creates N customers (default 100,000) with two consents each in a transferring database, runs a handover of
all of them to signed, then, in one run: exports the signed checklist; builds the transfer package of the same
handover, encrypted to the receiving company's key; opens the package offline with customer-handover-open's
code in a process without Odoo; imports it into a second database (create and reconcile); keeps the backup
package and restores it into a third, scratch database, reconciled. Prints seconds, queries, memory and the
ratios the transfer package issue sets. Needs Odoo 18 importable by this Python and PostgreSQL; the scratch
databases are dropped afterwards unless --keep is given.

    python3 scripts/benchmark_transfer.py [--customers N] [--db PREFIX] [--keep]
"""

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from benchmark_handover import PeakMemory, addons_path, install, parse_args, rss_mb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_RATIO_TARGET = 1.5  # building the package, against the signed checklist export of the same handover
IMPORT_TARGET = 180.0
MEMORY_TARGET_MB = 300
SIGNATURE = b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
# customer-handover-open's own code, in a process of its own that has no Odoo; it reports its peak memory.
OFFLINE_OPEN = """
import re, sys
sys.path.insert(0, sys.argv[1])
from customer_handover_tools.cli import open_main
code = open_main(sys.argv[2:])
with open("/proc/self/status") as status:
    sys.stderr.write("peak_rss_kb=" + re.search(r"VmHWM:\\s+(\\d+)", status.read()).group(1))
sys.exit(code)
"""


def users(env):
    """A manager and an officer of the database's company, restricted to the addon's groups."""
    manager = env["res.users"].create({
        "name": "Benchmark manager", "login": "benchmark_manager", "email": "manager@example.cn",
        "groups_id": [(6, 0, [env.ref("customer_handover.group_handover_manager").id])],
    })
    officer = env["res.users"].create({
        "name": "Benchmark officer", "login": "benchmark_officer", "email": "officer@example.cn",
        "groups_id": [(6, 0, [env.ref("customer_handover.group_data_protection_officer").id])],
    })
    return manager, officer


def create_customers(env, count, purposes):
    """Insert customers with a consent for each purpose straight in SQL: setting up is not what is measured."""
    from odoo.tools import SQL

    env.cr.execute(SQL(
        """
        INSERT INTO res_partner (name, complete_name, email, phone, ref, street, city, active, type, is_company,
                                 customer_type, relationship_stage, retention_status, lang, create_date, write_date)
             SELECT 'Customer ' || n, 'Customer ' || n, 'customer' || n || '@example.cn',
                    '+86 21 5' || lpad(n::text, 7, '0'),
                    'C' || lpad(n::text, 6, '0'), n || ' Nanjing Road', 'Shanghai', TRUE, 'contact', FALSE,
                    'individual', 'active', 'active', 'en_US', now() at time zone 'UTC', now() at time zone 'UTC'
               FROM generate_series(1, %s) AS n
          RETURNING id
        """,
        count,
    ))
    ids = [row[0] for row in env.cr.fetchall()]
    env.cr.execute(SQL("UPDATE res_partner SET commercial_partner_id = id WHERE id = ANY(%s)", ids))
    for purpose in purposes:
        env.cr.execute(SQL(
            """
            INSERT INTO customer_consent (partner_id, purpose_id, company_id, state, date_given, channel, lawful_basis,
                                          create_date, write_date)
                 SELECT id, %s, %s, 'granted', CURRENT_DATE - 30, 'website', 'consent',
                        now() at time zone 'UTC', now() at time zone 'UTC'
                   FROM unnest(%s::int[]) AS id
            """,
            purpose.id, env.company.id, ids,
        ))
    env.invalidate_all()
    return ids


def run_jobs(env):
    """Run the background steps queued as the cron does, one batch and one commit per call, until none is left."""
    jobs = env["customer.handover.job"]
    env.cr.commit()
    while jobs.search_count([("state", "in", ("queued", "running", "cancelling"))]):
        jobs._cron_run()
        env.cr.commit()
    failed = jobs.search([("state", "=", "failed")], limit=1)
    if failed:
        raise RuntimeError(f"a background step stopped: {failed.error}")


def signed_handover(env, count, manager, officer):
    """A handover of every customer, verified and signed by both parties."""
    from odoo.tools import split_every

    purposes = env.ref("customer_handover.consent_purpose_order_fulfilment") | env.ref(
        "customer_handover.consent_purpose_customer_service")
    start = time.perf_counter()
    create_customers(env, count, purposes)
    env.company.with_user(officer).action_handover_create_signing_key()
    receiver = env["res.partner"].create({"name": "Receiving Co.", "email": "legal@receiver.example.cn"})
    handover = env["customer.handover"].with_user(manager).create({
        "receiver_id": receiver.id, "purpose_ids": [(6, 0, purposes.ids)], "nda_reference": "NDA-BENCH",
        "nda_date": "2026-11-01", "nda_document": b"UERG",
    })
    env["customer.handover.scope"].with_user(manager).create(
        {"handover_id": handover.id, "select_all": True}).action_confirm()
    run_jobs(env)
    handover.with_user(manager).action_confirm()
    handover.with_user(manager).action_start()
    lines = env["customer.handover.line"].with_user(manager)
    for batch in split_every(5000, lines.search([("handover_id", "=", handover.id)]).ids):
        lines.browse(batch).action_verify()
        env.flush_all()
        env.invalidate_all()
    handover.with_user(manager).action_mark_verified()
    handover.with_user(manager)._sign("transfer", "Benchmark manager", SIGNATURE, channel="in_person")
    handover.with_user(manager)._sign("receiver", "Receiving representative", SIGNATURE, channel="in_person")
    env.cr.commit()
    print(f"set up a signed handover of {count} customers with two consents each in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    return handover.with_user(manager)


def timed(env, step):
    """Run ``step()``; return (its result, seconds, queries, peak memory growth in MB)."""
    env.flush_all()
    queries = env.cr.sql_log_count
    with PeakMemory() as memory:
        start = time.perf_counter()
        result = step()
        env.flush_all()
        seconds = time.perf_counter() - start
    return result, seconds, env.cr.sql_log_count - queries, memory.growth


def open_offline(data, identity, fingerprint):
    """Open the package with customer-handover-open's code, in a fresh process without Odoo, as a receiver would."""
    with tempfile.TemporaryDirectory() as folder:
        os.symlink(os.path.join(REPO, "customer_handover", "tools"), os.path.join(folder, "customer_handover_tools"))
        package, key = os.path.join(folder, "package.age"), os.path.join(folder, "identity.txt")
        with open(package, "wb") as handle:
            handle.write(data)
        with open(key, "w", encoding="ascii") as handle:
            handle.write(identity)
        start = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-c", OFFLINE_OPEN, folder, package, "--identity", key, "--fingerprint", fingerprint,
             "--out", os.path.join(folder, "opened"), "--json"],
            capture_output=True, text=True, check=False,
        )
        seconds = time.perf_counter() - start
    peak = re.search(r"peak_rss_kb=(\d+)", run.stderr)
    if run.returncode != 0 or not peak:
        raise RuntimeError(f"the package did not open ({run.returncode}): {run.stdout}{run.stderr}")
    return {"seconds": seconds, "status": json.loads(run.stdout)["status"], "peak_mb": int(peak.group(1)) / 1024}


def import_package(env, manager, officer, package, workbook, sender, fingerprint):
    """Import ``package`` (bytes) with the signed ``workbook`` as the receiving company's manager; return figures.

    An officer pins the sender's key first, as the receiving side does once.
    """
    env["customer.handover.trusted.signer"].with_user(officer)._pin(env.company, sender, fingerprint)
    env.cr.commit()
    wizard = env["customer.handover.import"].with_user(manager).create({
        "package_file": base64.b64encode(package), "checklist_file": base64.b64encode(workbook),
    })

    def preview_and_import():
        wizard.action_preview()
        action = wizard.action_import()
        if not wizard.background:
            return env["customer.handover.incoming"].browse(action["res_id"]), []
        # above the threshold the request only queues the import: run its batches as the cron does, a commit each
        env.cr.commit()
        job, batches = wizard.incoming_id.job_ids, []
        while job.state in ("queued", "running"):
            queries, start = env.cr.sql_log_count, time.perf_counter()
            env["customer.handover.job"]._cron_run()
            env.cr.commit()
            batches.append((time.perf_counter() - start, env.cr.sql_log_count - queries))
        if job.state != "done":
            raise RuntimeError(f"the import stopped: {job.error}")
        return job.incoming_id, batches

    (incoming, batches), seconds, queries, peak = timed(env, preview_and_import)
    env.cr.commit()
    if batches:
        steps = batches[:-1] or batches
        print(f"import in the background: {len(batches)} batches, queries per batch {min(q for _s, q in steps)} to "
              f"{max(q for _s, q in steps)}, slowest batch {max(s for s, _q in steps):.1f} s, last step "
              f"{batches[-1][0]:.1f} s ({batches[-1][1]} queries)")
    return {"seconds": seconds, "queries": queries, "peak_mb": peak, "created": incoming.created_count,
            "consents": incoming.consent_count, "reconciled": incoming.reconciled,
            "differences": incoming.difference_count}


def settle(database):
    """Vacuum and analyse a database the run has just filled: no background worker competes with the next step."""
    subprocess.run(["vacuumdb", "--analyze", "--quiet", database], check=True)


def run(args):
    import odoo
    from odoo.modules.registry import Registry

    sender_db, receiver_db, restore_db = f"{args.db}_sender", f"{args.db}_receiver", f"{args.db}_restore"
    for database in (sender_db, receiver_db, restore_db):
        install(database)
    odoo.tools.config.parse_config([f"--addons-path={addons_path()}", "-d", sender_db, "--log-level=warn"])
    figures, failed = {}, []

    with Registry(receiver_db).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        _manager, officer = users(env)
        env.company.with_user(officer).action_handover_create_package_key()
        receiver_identity = env.company.sudo().handover_package_identity
        receiver_recipient = env.company.handover_package_recipient
        cr.commit()

    with Registry(sender_db).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        manager, officer = users(env)
        handover = signed_handover(env, args.customers, manager, officer)
        baseline = rss_mb()
        Export = env["customer.handover.export"].with_user(manager)
        Package = env["customer.handover.package"].with_user(manager)
        export, *figures["export"] = timed(env, lambda: Export._create_for(handover))
        # The backup is kept before the first package leaves: its own step, timed apart.
        _backup, *figures["backup"] = timed(env, lambda: handover._ensure_backup())
        package, *figures["package"] = timed(env, lambda: Package._create_for(handover, recipient=receiver_recipient))
        cr.commit()
        data = base64.b64decode(package.attachment_id.sudo().datas)
        backup_data = base64.b64decode(_backup.attachment_id.sudo().datas)
        workbook = base64.b64decode(export.attachment_id.sudo().datas)
        backup_workbook = base64.b64decode(_backup.export_id.attachment_id.sudo().datas)
        company_identity = env.company.sudo().handover_package_identity
        sender, fingerprint = env.company.name, export.fingerprint
        counts = (package.customer_count, package.consent_count)
        growth = rss_mb() - baseline

    opened = open_offline(data, receiver_identity, fingerprint)

    with Registry(receiver_db).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        Users = env["res.users"]
        manager, officer = (Users.search([("login", "=", name)]) for name in ("benchmark_manager", "benchmark_officer"))
        imported = import_package(env, manager, officer, data, workbook, sender, fingerprint)

    # PostgreSQL's autovacuum would analyse the receiving database's new rows while the restore runs: settle it first.
    settle(receiver_db)

    with Registry(restore_db).cursor() as cr:
        # A backup that was never restored is not a backup: the transferring company's key opens it elsewhere.
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        manager, officer = users(env)
        env.company.handover_package_identity = company_identity  # the administrator restores the company's key
        restored = import_package(env, manager, officer, backup_data, backup_workbook, sender, fingerprint)

    ratio = figures["package"][0] / figures["export"][0]
    print(f"\ntransfer package of {counts[0]} customers with {counts[1]} consents "
          f"({len(data) / 2**20:.1f} MB encrypted)")
    print(f"{'step':<34}{'seconds':>9}{'queries':>9}{'peak +MB':>10}")
    for name, label in (("export", "signed checklist export"), ("backup", "backup package, built"),
                        ("package", "transfer package, built")):
        seconds, queries, peak = figures[name]
        print(f"{label:<34}{seconds:>9.2f}{queries:>9}{peak:>10.1f}")
    print(f"{'package opened offline (no Odoo)':<34}{opened['seconds']:>9.2f}{'':>9}"
          f"{opened['peak_mb']:>10.1f}  (whole process; status {opened['status']})")
    for label, figures_ in (("imported (preview, import, reconcile)", imported),
                            ("backup restored and reconciled", restored)):
        print(f"{label:<34}{figures_['seconds']:>9.2f}{figures_['queries']:>9}{figures_['peak_mb']:>10.1f}  "
              f"({figures_['created']} customers and {figures_['consents']} consents created; "
              f"reconciled: {figures_['reconciled']}, {figures_['differences']} differences)")
    print(f"ratio package / export: {ratio:.2f} (target <= {PACKAGE_RATIO_TARGET}); "
          f"open / build: {opened['seconds'] / figures['package'][0]:.2f} (target <= 1)")
    print(f"memory growth of the transferring side over the three steps: {growth:.1f} MB "
          f"(target < {MEMORY_TARGET_MB} MB)")
    if ratio > PACKAGE_RATIO_TARGET:
        failed.append("package build too slow against the export")
    if opened["seconds"] > figures["package"][0]:
        failed.append("opening slower than building")
    if max(growth, *(figures[name][2] for name in figures), opened["peak_mb"]) > MEMORY_TARGET_MB:
        failed.append("memory")
    if counts != (args.customers, 2 * args.customers):
        failed.append("package counts")
    print(f"import: {imported['seconds']:.1f} s (target < {IMPORT_TARGET:.0f} s)")
    if imported["seconds"] > IMPORT_TARGET:
        failed.append("import too slow")
    # The issue times the import; the restore must reconcile in flat memory, and its time is printed.
    for name, figures_ in (("import", imported), ("restore", restored)):
        if figures_["peak_mb"] > MEMORY_TARGET_MB:
            failed.append(f"{name} memory")
        if not figures_["reconciled"] or figures_["created"] != args.customers:
            failed.append(f"{name} not reconciled")
    if failed:
        print("FAILED: " + ", ".join(failed))
    if not args.keep:
        odoo.sql_db.close_all()
        for database in (sender_db, receiver_db, restore_db):
            subprocess.run(["dropdb", "--if-exists", database], check=True)
    return 1 if failed else 0


def main():
    args = parse_args("benchmark_transfer", __doc__.splitlines()[0], "customer_handover_transfer",
                      "prefix of the scratch databases", "keep the scratch databases")
    sys.exit(run(args))


if __name__ == "__main__":
    main()
