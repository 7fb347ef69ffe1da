#!/usr/bin/env python3
"""Benchmark of Odoo's own contact import (base_import) without and with customer_handover (not a test).

Installs two scratch databases, one with contacts and base_import only, one with customer_handover too,
and imports the same CSV of N contacts (default 20,000: name, email, phone, street, city, reference) as
the administrator through base_import's execute_import, in each database in turn and for each round,
rolled back after each import so that every round starts from the same database. Prints the best time
of each side by side and the addon's cost; exits 1 when the addon costs more than 5%. The scratch
databases are dropped afterwards unless --keep is given.

    python3 scripts/benchmark_partner_import.py [--customers N] [--rounds R] [--db PREFIX] [--keep]
"""

import csv
import io
import subprocess
import sys
import time

from benchmark_handover import addons_path, install, parse_args

COST_TARGET = 0.05
FIELDS = ["name", "email", "phone", "street", "city", "ref"]


def contacts_csv(count):
    """N contacts as the CSV a user would import: a header row, then one contact a row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Name", "Email", "Phone", "Street", "City", "Reference"])
    for number in range(count):
        writer.writerow([f"Imported Contact {number:06d}", f"contact{number}@example.cn",
                         f"+86 138 {number // 10000:04d} {number % 10000:04d}", f"{number} Nanjing Road",
                         "Shanghai", f"IMP-{number:06d}"])
    return out.getvalue().encode()


def import_once(registry, data):
    """Seconds to import ``data`` as the administrator, flushed and with its commit hooks, then rolled back."""
    import odoo

    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        admin = env.ref("base.user_admin")
        env = env(user=admin, context={**admin.context_get(), "import_file": True})
        wizard = env["base_import.import"].create(
            {"res_model": "res.partner", "file": data, "file_name": "contacts.csv", "file_type": "text/csv"})
        options = {"quoting": '"', "separator": ",", "has_headers": True, "encoding": "utf-8"}
        start = time.perf_counter()
        result = wizard.execute_import(FIELDS, FIELDS, options)
        env.flush_all()
        cr.precommit.run()
        seconds = time.perf_counter() - start
        errors = [message for message in result.get("messages", []) if message.get("type") == "error"]
        if errors or len(result.get("ids") or []) != data.count(b"\n") - 1:
            raise RuntimeError(f"the import failed: {errors[:3]}")
        cr.rollback()
    return seconds


def run(args):
    import odoo
    from odoo.modules.registry import Registry

    plain, addon = f"{args.db}_plain", f"{args.db}_addon"
    install(plain, "contacts,base_import")
    install(addon, "contacts,base_import,customer_handover")
    odoo.tools.config.parse_config([f"--addons-path={addons_path()}", "--log-level=warn"])
    data = contacts_csv(args.customers)
    registries = {plain: Registry(plain), addon: Registry(addon)}
    times = {plain: [], addon: []}
    try:
        for round_ in range(1, args.rounds + 1):
            for database, registry in registries.items():
                seconds = import_once(registry, data)
                times[database].append(seconds)
                print(f"round {round_}: {database}: {seconds:.1f} s", flush=True)
    finally:
        if not args.keep:
            for database in registries:
                Registry.delete(database)
                subprocess.run(["dropdb", "--if-exists", database], check=False)
    without, with_addon = min(times[plain]), min(times[addon])
    cost = with_addon / without - 1
    print(f"\nbase_import of {args.customers} contacts (best of {args.rounds}):")
    print(f"  without customer_handover  {without:6.1f} s")
    print(f"  with customer_handover     {with_addon:6.1f} s  ({cost:+.1%}, target at most {COST_TARGET:+.0%})")
    return 1 if cost > COST_TARGET else 0


def main():
    args = parse_args("benchmark_partner_import", __doc__.splitlines()[0], "customer_handover_import_benchmark",
                      "prefix of the two scratch databases", "keep the scratch databases", customers=20_000,
                      rounds=True)
    sys.exit(run(args))


if __name__ == "__main__":
    main()
