#!/usr/bin/env python3
"""Benchmark of Odoo's own contact import (base_import) without and with customer_handover (not a test).

Installs two scratch databases, one with contacts and base_import only, one with customer_handover too,
and imports the same CSV of N contacts (default 20,000: name, email, phone, street, city, reference) as
the administrator through base_import's execute_import, in each database in turn and for each round,
rolled back after each import so that every round starts from the same database. Prints the best
elapsed time of each side by side, and the CPU time of this process and of its PostgreSQL server process
(where it runs on this machine), which other work on a shared machine disturbs less; exits 1 when the
addon costs more than 5% of that CPU time (of the elapsed time where the server's CPU cannot be read).

With --instructions, each round instead counts the instructions that Odoo's process runs for the same
import (valgrind's callgrind, counting only from the import's first call to its commit hooks), in one
child process per database, side by side, with a third database holding only the addon's dependencies;
the count is the same whatever else the machine does, so the exit status follows it. Callgrind runs
Odoo about 50 times slower: give it a few thousand contacts at most. It needs valgrind, its header
callgrind.h and a C compiler.
The scratch databases are dropped afterwards unless --keep is given.

    python3 scripts/benchmark_partner_import.py [--customers N] [--rounds R] [--db PREFIX] [--keep]
                                                [--instructions]
"""

import argparse
import ast
import csv
import ctypes
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchmark_handover import addons_path, install, parse_args

COST_TARGET = 0.05
FIELDS = ["name", "email", "phone", "street", "city", "ref"]
CALLGRIND_HEADER = "/usr/include/valgrind/callgrind.h"
# Callgrind's client requests, which only C can make: counting starts from zero, and each stop dumps the count.
COUNTER_SOURCE = """#include <valgrind/callgrind.h>
void counting_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void counting_stop(void) { CALLGRIND_DUMP_STATS; CALLGRIND_STOP_INSTRUMENTATION; }
"""


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


def server_cpu(pid):
    """CPU seconds used so far by the PostgreSQL process ``pid``, or None where it runs elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            values = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(values[11]) + int(values[12])) / os.sysconf("SC_CLK_TCK")


def import_once(registry, data, counter=None):
    """Elapsed and CPU seconds to import ``data`` as the administrator, flushed, with its commit hooks, rolled back.
    ``counter``: callgrind's counter (``compile_counter``), started and stopped around the same calls as the clocks."""
    import odoo

    with registry.cursor() as cr:
        cr.execute("SELECT pg_backend_pid()")
        server = cr.fetchone()[0]
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        admin = env.ref("base.user_admin")
        env = env(user=admin, context={**admin.context_get(), "import_file": True})
        wizard = env["base_import.import"].create(
            {"res_model": "res.partner", "file": data, "file_name": "contacts.csv", "file_type": "text/csv"})
        options = {"quoting": '"', "separator": ",", "has_headers": True, "encoding": "utf-8"}
        if counter:
            counter.counting_start()
        start, start_cpu, start_server = time.perf_counter(), time.process_time(), server_cpu(server)
        result = wizard.execute_import(FIELDS, FIELDS, options)
        env.flush_all()
        cr.precommit.run()
        if counter:
            counter.counting_stop()
        seconds, cpu, end_server = time.perf_counter() - start, time.process_time() - start_cpu, server_cpu(server)
        cpu = cpu + end_server - start_server if start_server is not None and end_server is not None else None
        errors = [message for message in result.get("messages", []) if message.get("type") == "error"]
        if errors or len(result.get("ids") or []) != data.count(b"\n") - 1:
            raise RuntimeError(f"the import failed: {errors[:3]}")
        cr.rollback()
    return seconds, cpu


def warmed_registry(database):
    """``database``'s registry, after a first import of 200 contacts that warms its caches (not measured)."""
    from odoo.modules.registry import Registry

    registry = Registry(database)
    import_once(registry, contacts_csv(200))
    return registry


def c_compiler():
    """The C compiler on the PATH, or None."""
    return shutil.which("cc") or shutil.which("gcc")


def compile_counter(folder):
    """Build callgrind's counter (``COUNTER_SOURCE``) in ``folder``; the path of the shared library."""
    source, library = os.path.join(folder, "counter.c"), os.path.join(folder, "counter.so")
    with open(source, "w") as file:
        file.write(COUNTER_SOURCE)
    subprocess.run([c_compiler(), "-shared", "-fPIC", "-O2", "-o", library, source], check=True)
    return library


def count_in(args):
    """The child process of --instructions, under callgrind: import the contacts once in ``args.count_in``."""
    import odoo

    odoo.tools.config.parse_config([f"--addons-path={addons_path()}", "--log-level=warn"])
    import_once(warmed_registry(args.count_in), contacts_csv(args.customers), ctypes.CDLL(args.counter))
    return 0


def count_rounds(args, databases):
    """Per database, the instructions Odoo's process ran in each round: one callgrind child each, side by side."""
    counts = {database: [] for database in databases}
    with tempfile.TemporaryDirectory() as folder:
        counter = compile_counter(folder)
        for round_ in range(1, args.rounds + 1):
            outputs = {database: os.path.join(folder, f"{database}-{round_}.out") for database in databases}
            children = {
                database: subprocess.Popen(
                    ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={output}",
                     "--log-file=/dev/null", sys.executable, os.path.abspath(__file__), "--count-in", database,
                     "--counter", counter, "--customers", str(args.customers)],
                    env={**os.environ, "PYTHONHASHSEED": "0"},
                )
                for database, output in outputs.items()
            }
            failed = [database for database, child in children.items() if child.wait()]
            if failed:
                raise RuntimeError(f"counting the import failed in {', '.join(failed)}")
            for database in databases:
                # Callgrind writes the count of the first stop in a file of its own, numbered 1.
                with open(f"{outputs[database]}.1") as output:
                    count = next(int(line.split()[1]) for line in output if line.startswith("totals:"))
                counts[database].append(count)
                print(f"round {round_}: {database}: {count:,} instructions", flush=True)
    return counts


def run(args):
    import odoo
    from odoo.modules.registry import Registry

    if args.instructions and not (shutil.which("valgrind") and os.path.exists(CALLGRIND_HEADER) and c_compiler()):
        print(f"--instructions needs valgrind, {CALLGRIND_HEADER} and a C compiler.", file=sys.stderr)
        return 2
    plain, addon = f"{args.db}_plain", f"{args.db}_addon"
    install(plain, "contacts,base_import")
    install(addon, "contacts,base_import,customer_handover")
    if args.instructions:
        # the addon's dependencies alone, to tell their share of the cost from the addon's own
        dependencies = f"{args.db}_dependencies"
        install(dependencies, ",".join(dict.fromkeys(["contacts", "base_import", *addon_dependencies()])))
        try:
            counts = count_rounds(args, (plain, dependencies, addon))
        finally:
            drop(args, (plain, dependencies, addon))
        return report_counts(args, counts[plain], counts[dependencies], counts[addon])
    odoo.tools.config.parse_config([f"--addons-path={addons_path()}", "--log-level=warn"])
    data = contacts_csv(args.customers)
    registries = {}
    times = {plain: [], addon: []}
    try:
        for database in (plain, addon):
            registries[database] = warmed_registry(database)
        for round_ in range(1, args.rounds + 1):
            for database, registry in registries.items():
                seconds, cpu = import_once(registry, data)
                times[database].append((seconds, cpu))
                cpu_text = f", CPU {cpu:.1f} s" if cpu is not None else ""
                print(f"round {round_}: {database}: {seconds:.1f} s{cpu_text}", flush=True)
    finally:
        if not args.keep:
            for database in registries:
                Registry.delete(database)
                odoo.sql_db.close_db(database)
        drop(args, (plain, addon))
    print(f"\nbase_import of {args.customers} contacts (best of {args.rounds}):")
    print(f"{'':28}{'elapsed':>10}{'CPU':>10}")
    best = {}
    for database, label in ((plain, "without customer_handover"), (addon, "with customer_handover")):
        elapsed = min(seconds for seconds, _cpu in times[database])
        cpus = [cpu for _seconds, cpu in times[database] if cpu is not None]
        best[database] = (elapsed, min(cpus) if len(cpus) == args.rounds else None)
        cpu_text = f"{best[database][1]:8.1f} s" if best[database][1] is not None else "       n/a"
        print(f"  {label:26}{elapsed:8.1f} s{cpu_text}")
    elapsed_cost = best[addon][0] / best[plain][0] - 1
    measured = "CPU" if best[plain][1] and best[addon][1] else "elapsed"
    cost = best[addon][1] / best[plain][1] - 1 if measured == "CPU" else elapsed_cost
    print(f"  the addon's cost: {elapsed_cost:+.1%} elapsed" + (f", {cost:+.1%} CPU" if measured == "CPU" else "")
          + f" (target: at most {COST_TARGET:+.0%} {measured})")
    return 1 if cost > COST_TARGET else 0


def drop(args, databases):
    """Drop the scratch databases, unless --keep."""
    if not args.keep:
        for database in databases:
            subprocess.run(["dropdb", "--if-exists", database], check=False)


def addon_dependencies():
    """The modules customer_handover depends on, from its manifest."""
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "customer_handover",
                           "__manifest__.py")) as manifest:
        return ast.literal_eval(manifest.read())["depends"]


def report_counts(args, plain, dependencies, addon):
    """Print the instruction counts side by side; 1 when the addon costs more than the target, else 0."""
    print(f"\nbase_import of {args.customers} contacts, instructions of Odoo's process (fewest of {args.rounds}):")
    print(f"  {'without customer_handover':34}{min(plain):>16,}")
    print(f"  {'with its dependencies only':34}{min(dependencies):>16,}{min(dependencies) / min(plain) - 1:+9.2%}")
    print(f"  {'with customer_handover':34}{min(addon):>16,}{min(addon) / min(plain) - 1:+9.2%}")
    cost = min(addon) / min(plain) - 1
    print(f"  the addon's cost: {cost:+.2%} instructions (target: at most {COST_TARGET:+.0%})")
    return 1 if cost > COST_TARGET else 0


def main():
    options = (
        ("--instructions", {"action": "store_true",
                            "help": "count instructions under valgrind's callgrind instead of timing"}),
        ("--count-in", {"help": argparse.SUPPRESS}),
        ("--counter", {"help": argparse.SUPPRESS}),
    )
    args = parse_args("benchmark_partner_import", __doc__.splitlines()[0], "customer_handover_import_benchmark",
                      "prefix of the scratch databases", "keep the scratch databases", customers=20_000,
                      rounds=True, options=options)
    sys.exit(count_in(args) if args.count_in else run(args))


if __name__ == "__main__":
    main()
