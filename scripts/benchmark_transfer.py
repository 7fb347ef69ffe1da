#!/usr/bin/env python3
"""Benchmark of a transfer package at scale, in scratch databases (not a test).

Creates N customers (default 100,000) with two consents each in a transferring database, by SQL a chunk a
statement, and runs a handover of all of them to signed, each step through its background job as a user
starts it above the threshold, its batches run as the cron runs them (one transaction each). Then, in one run:
the signed checklist export; the first transfer package (its job also keeps the backup package), then a second
one, both encrypted to the receiving company's key; opening the package offline with customer-handover-open's
code in a process without Odoo; the import into a second database (preview, then import and reconcile in the
background); the backup restored into a third database, reconciled; and Odoo's own contact import
(base_import) of the same contacts (name, email, phone, street, city, reference) in the second database, rolled
back, as the reference of the import. Prints each step's time, batches, queries per batch and peak memory, and
the ratios, against the targets of the background-steps issue; exits 1 naming the targets missed. Needs Odoo 18
importable by this Python and PostgreSQL; the scratch databases are dropped afterwards unless --keep is given.

    python3 scripts/benchmark_transfer.py [--customers N] [--db PREFIX] [--keep] [--skip-restore] [--skip-base-import]

At 1,000,000 customers the restore and base_import each take as long as the import: --skip-restore and
--skip-base-import leave them out (the restore runs the import's code on the backup; without base_import, the
import's ratio to it is not measured).
"""

import base64
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from benchmark_handover import (
    PeakMemory,
    Step,
    addons_path,
    checklist_step,
    constant_batches,
    export_step,
    insert_in_chunks,
    install,
    parse_args,
    print_steps,
    shorten,
    started_job,
    verification_step,
)
from benchmark_partner_import import import_once

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_RATIO_TARGET = 1.5  # building the package, against the signed checklist export of the same handover
BASE_IMPORT_RATIO_TARGET = 1.5  # the import (with consents, provenance and reconciliation) against base_import's
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
    """Insert customers with a consent for each purpose straight in SQL, a chunk a statement: setting up is not what
    is measured. ``contacts_csv`` writes the same contacts."""
    from odoo.tools import SQL

    insert_in_chunks(env, count, lambda first, last: SQL(
        """
        WITH customer AS (
            INSERT INTO res_partner (id, commercial_partner_id, name, complete_name, email, phone, ref, street, city,
                                     active, type, is_company, customer_type, relationship_stage, retention_status,
                                     lang, create_date, write_date)
                 SELECT id, id, 'Customer ' || n, 'Customer ' || n, 'customer' || n || '@example.cn',
                        '+86 21 5' || lpad(n::text, greatest(7, length(n::text)), '0'),
                        'C' || lpad(n::text, greatest(6, length(n::text)), '0'), n || ' Nanjing Road',
                        'Shanghai', TRUE, 'contact', FALSE, 'individual', 'active', 'active', 'en_US',
                        now() at time zone 'UTC', now() at time zone 'UTC'
                   FROM (SELECT nextval('res_partner_id_seq') AS id, n FROM generate_series(%s, %s) AS n) AS new
              RETURNING id
        )
        INSERT INTO customer_consent (partner_id, purpose_id, company_id, state, date_given, channel, lawful_basis,
                                      create_date, write_date)
             SELECT customer.id, purpose, %s, 'granted', CURRENT_DATE - 30, 'website', 'consent',
                    now() at time zone 'UTC', now() at time zone 'UTC'
               FROM customer CROSS JOIN unnest(%s::int[]) AS purpose
        """,
        first, last, env.company.id, purposes.ids,
    ))


def contacts_csv(count):
    """The customers ``create_customers`` makes, as the CSV a user imports with base_import (``FIELDS``' columns)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Name", "Email", "Phone", "Street", "City", "Reference"])
    for n in range(1, count + 1):
        writer.writerow([f"Customer {n}", f"customer{n}@example.cn", f"+86 21 5{n:07d}", f"{n} Nanjing Road",
                         "Shanghai", f"C{n:06d}"])
    return out.getvalue().encode()


def signed_handover(env, count, manager, officer, steps):
    """A handover of every customer, verified and signed by both parties; its background steps' figures to ``steps``."""
    purposes = env.ref("customer_handover.consent_purpose_order_fulfilment") | env.ref(
        "customer_handover.consent_purpose_customer_service")
    start = time.perf_counter()
    create_customers(env, count, purposes)
    print(f"created {count} customers with two consents each in {time.perf_counter() - start:.1f} s", flush=True)
    env.company.with_user(officer).action_handover_create_signing_key()
    receiver = env["res.partner"].create({"name": "Receiving Co.", "email": "legal@receiver.example.cn"})
    handover = env["customer.handover"].with_user(manager).create({
        "receiver_id": receiver.id, "purpose_ids": [(6, 0, purposes.ids)], "nda_reference": "NDA-BENCH",
        "nda_date": "2026-11-01", "nda_document": b"UERG",
    })
    wizard = env["customer.handover.scope"].with_user(manager).create({"handover_id": handover.id, "select_all": True})
    env.cr.commit()
    steps.append(checklist_step(env, wizard, handover).figures)
    handover.with_user(manager).action_confirm()
    handover.with_user(manager).action_start()
    env.cr.commit()
    steps.append(verification_step(env, handover.with_user(manager)).figures)
    handover.with_user(manager).action_mark_verified()
    handover.with_user(manager)._sign("transfer", "Benchmark manager", SIGNATURE, channel="in_person")
    handover.with_user(manager)._sign("receiver", "Receiving representative", SIGNATURE, channel="in_person")
    env.cr.commit()
    return handover.with_user(manager)


def package_step(env, handover, recipient, name):
    """Export a transfer package, to the receiver's key, as the dialog does above the threshold: queued, then built
    in one call of the cron (the first also keeps the backup package)."""
    wizard = env["customer.handover.pack"].with_user(handover.env.user).create(
        {"handover_id": handover.id, "encryption": "recipient", "recipient": recipient})
    env.cr.commit()
    with Step(env, name) as step:
        action = wizard.action_make()
    step.run_job(started_job(action, handover))
    package = env["customer.handover.package"].search(
        [("handover_id", "=", handover.id), ("kind", "=", "transfer")], order="number desc", limit=1)
    return step.figures, package


def keep_file(attachment, path):
    """Copy ``attachment``'s file to ``path``, without holding it in this process's memory, and return ``path``: the
    files the run passes on stay out of the memory of the steps that follow."""
    attachment = attachment.sudo()  # sudo: the benchmark's own files, read back to hand them to the next step
    if attachment.store_fname:
        shutil.copyfile(attachment._full_path(attachment.store_fname), path)
    else:
        with open(path, "wb") as handle:
            handle.write(attachment.raw)
    return path


def read_file(path):
    with open(path, "rb") as handle:
        return handle.read()


def open_offline(package, identity, fingerprint):
    """Open the package file with customer-handover-open's code, in a fresh process without Odoo, as a receiver
    would."""
    with tempfile.TemporaryDirectory() as folder:
        os.symlink(os.path.join(REPO, "customer_handover", "tools"), os.path.join(folder, "customer_handover_tools"))
        key = os.path.join(folder, "identity.txt")
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


def import_package(env, manager, officer, package, workbook, sender, fingerprint, name):
    """Import the file ``package`` with the signed ``workbook`` (a file) as the receiving company's manager: the
    preview, then the import, each queued by its request and run in batches as the cron does. Returns the two steps'
    figures and the import's counts. An officer pins the sender's key first, as the receiving side does
    once."""
    env["customer.handover.trusted.signer"].with_user(officer)._pin(env.company, sender, fingerprint)
    wizard = env["customer.handover.import"].with_user(manager).create({
        "package_file": base64.b64encode(read_file(package)), "checklist_file": base64.b64encode(read_file(workbook)),
    })
    env.cr.commit()
    # the request reads the manifest and queues the preview; its job checks the whole package in its first call,
    # then previews the customers a batch a call
    with Step(env, f"{name} preview") as preview:
        wizard.action_preview()
    if wizard.state != "previewing":
        raise RuntimeError(f"the preview ran in the request, not in the background ({wizard.state})")
    preview.run_job(wizard.active_job_id)
    # its first call checks the package and reads no customer: the first batch warms the caches of its own work
    preview.figures["warm_calls"] = 2
    wizard.invalidate_recordset()
    with Step(env, name) as step:
        action = wizard.action_import()
    if not wizard.background:
        raise RuntimeError(f"the import ran in the request, not in the background: {action}")
    incoming = wizard.incoming_id
    step.run_job(started_job(action, incoming))
    incoming.invalidate_recordset()
    counts = {"created": incoming.created_count, "consents": incoming.consent_count,
              "reconciled": incoming.reconciled, "differences": incoming.difference_count}
    return preview.figures, step.figures, counts


def settle(database):
    """Vacuum and analyse a database the run has just filled: no background worker competes with the next step."""
    subprocess.run(["vacuumdb", "--analyze", "--quiet", database], check=True)


def run(args):
    import odoo
    from odoo.modules.registry import Registry

    sender_db, receiver_db, restore_db = f"{args.db}_sender", f"{args.db}_receiver", f"{args.db}_restore"
    # One install, copied with its files: base_import is there for the reference import, in the receiving database.
    install(sender_db, "customer_handover,base_import")
    odoo.tools.config.parse_config([f"--addons-path={addons_path()}", "-d", sender_db, "--log-level=warn"])
    for database in (receiver_db, restore_db):
        subprocess.run(["dropdb", "--if-exists", database], check=True)
        subprocess.run(["createdb", "-T", sender_db, database], check=True)
        shutil.rmtree(odoo.tools.config.filestore(database), ignore_errors=True)
        if os.path.isdir(odoo.tools.config.filestore(sender_db)):
            shutil.copytree(odoo.tools.config.filestore(sender_db), odoo.tools.config.filestore(database))
    steps, failed = [], []
    files = tempfile.mkdtemp(prefix="benchmark-transfer-")  # the files one step hands to the next

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
        handover = signed_handover(env, args.customers, manager, officer, steps)
        export_figures, export = export_step(env, handover)
        steps.append(export_figures.figures)
        first, _package = package_step(env, handover, receiver_recipient, "first package (with backup)")
        first["label"] = "transfer package, first"
        steps.append(first)
        second, package = package_step(env, handover, receiver_recipient, "transfer package")
        second["label"] = "transfer package, another"
        steps.append(second)
        backup = env["customer.handover.package"].search([("handover_id", "=", handover.id), ("kind", "=", "backup")])
        package_path = keep_file(package.attachment_id, os.path.join(files, "package.age"))
        backup_path = keep_file(backup.attachment_id, os.path.join(files, "backup.age"))
        checklist_path = keep_file(export.attachment_id, os.path.join(files, "checklist.xlsx"))
        backup_checklist_path = keep_file(backup.export_id.attachment_id, os.path.join(files, "backup-checklist.xlsx"))
        company_identity = env.company.sudo().handover_package_identity
        sender, fingerprint = env.company.name, export.fingerprint
        counts = (package.customer_count, package.consent_count)

    opened = open_offline(package_path, receiver_identity, fingerprint)
    steps.append({"name": "package opened offline", "label": "package opened (own process)", "batches": [],
                  "request": opened["seconds"], "seconds": opened["seconds"], "queries": 0,
                  "peak_mb": opened["peak_mb"], "start_mb": 0.0})

    with Registry(receiver_db).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        Users = env["res.users"]
        manager, officer = (Users.search([("login", "=", name)]) for name in ("benchmark_manager", "benchmark_officer"))
        preview, imported, import_counts = import_package(
            env, manager, officer, package_path, checklist_path, sender, fingerprint, "import")
        preview["label"] = "import: preview"
        steps += [preview, imported]

    # PostgreSQL's autovacuum would analyse the receiving database's new rows while the restore runs: settle it first.
    settle(receiver_db)

    imports = [("import", import_counts)]
    if not args.skip_restore:
        with Registry(restore_db).cursor() as cr:
            # A backup that was never restored is not a backup: the transferring company's key opens it elsewhere.
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            manager, officer = users(env)
            env.company.handover_package_identity = company_identity  # the administrator restores the company's key
            restore_preview, restored, restore_counts = import_package(
                env, manager, officer, backup_path, backup_checklist_path, sender, fingerprint, "restore")
            restore_preview["label"] = "restore: preview"
            steps += [restore_preview, restored]
            imports.append(("restore", restore_counts))

    reference = None if args.skip_base_import else base_import_step(Registry(receiver_db), args.customers)
    if reference:
        steps.append(reference)

    print(f"\ntransfer package of {counts[0]} customers with {counts[1]} consents")
    failed += print_steps(steps, args.customers)
    # whether a preview batch grows with its place in the package: it reads data.json from where the last one stopped
    seconds = [round(batch[0], 2) for batch in preview["batches"]]
    print(f"preview: the check of the whole package (first call) {seconds[0]:.2f} s; batches from the first to the "
          f"last {shorten(seconds[1:])} s")
    for label, counts_ in imports:
        print(f"{label}: {counts_['created']} customers and {counts_['consents']} consents created; "
              f"reconciled: {counts_['reconciled']}, {counts_['differences']} differences")
        if not counts_["reconciled"] or counts_["created"] != args.customers:
            failed.append(f"{label} not reconciled")
    figures = {step["name"]: step for step in steps}
    ratio = figures["transfer package"]["seconds"] / figures["signed export"]["seconds"]
    open_ratio = opened["seconds"] / figures["transfer package"]["seconds"]
    print(f"ratio transfer package / signed export: {ratio:.2f} (target <= {PACKAGE_RATIO_TARGET}); "
          f"open / build: {open_ratio:.2f} (target <= 1)")
    if reference:
        import_ratio = imported["seconds"] / reference["seconds"]
        cpu = (f"; by CPU time (this process and its PostgreSQL server): {imported['cpu'] / reference['cpu']:.2f}"
               if reference["cpu"] else "")
        print(f"ratio import / base_import of the same contacts: {import_ratio:.2f} "
              f"(target <= {BASE_IMPORT_RATIO_TARGET}){cpu}")
        if import_ratio > BASE_IMPORT_RATIO_TARGET:
            failed.append(f"import {import_ratio:.2f} x base_import > {BASE_IMPORT_RATIO_TARGET}")
    else:
        print("ratio import / base_import: not measured (--skip-base-import)")
    if ratio > PACKAGE_RATIO_TARGET:
        failed.append(f"transfer package {ratio:.2f} x the export > {PACKAGE_RATIO_TARGET}")
    if open_ratio > 1:
        failed.append("opening slower than building")
    if counts != (args.customers, 2 * args.customers):
        failed.append("package counts")
    failed += constant_batches(steps)
    if failed:
        print("MISSED: " + "; ".join(failed))
    shutil.rmtree(files, ignore_errors=True)
    if not args.keep:
        odoo.sql_db.close_all()
        for database in (sender_db, receiver_db, restore_db):
            subprocess.run(["dropdb", "--if-exists", database], check=True)
            shutil.rmtree(odoo.tools.config.filestore(database), ignore_errors=True)
    return 1 if failed else 0


def base_import_step(registry, count):
    """Odoo's own contact import of the same contacts, in one call, rolled back (benchmark_partner_import's code)."""
    import_once(registry, contacts_csv(200))  # the first import of a registry warms its caches: not measured
    data = contacts_csv(count)
    with PeakMemory() as memory:
        seconds, cpu = import_once(registry, data)
    return {"name": "base_import", "label": "base_import (reference)", "reference": True, "batches": [],
            "request": seconds, "seconds": seconds, "queries": 0, "cpu": cpu, "peak_mb": memory.peak,
            "start_mb": memory.start}


def main():
    args = parse_args("benchmark_transfer", __doc__.splitlines()[0], "customer_handover_transfer",
                      "prefix of the scratch databases", "keep the scratch databases",
                      skips=(("restore", "leave out restoring the backup package (the import's code, run again)"),
                             ("base-import", "leave out base_import, the import's reference")))
    sys.exit(run(args))


if __name__ == "__main__":
    main()
