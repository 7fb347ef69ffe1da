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
callgrind.h and a C compiler. Counted beside them, to put the addon's cost in context:
--compare MODULES, a database with Odoo's MODULES instead of the addon (repeatable, e.g. crm, account);
--probe, three generated modules beside the addon's dependencies, each adding a part of what the addon
adds, with no code: its number of stored fields on contacts, as plain fields; its number of fields on
contacts, as one link to a companion model holding the data and related fields to it; its number of
models with a chatter, with nothing on contacts.
The scratch databases are dropped afterwards unless --keep is given.

    python3 scripts/benchmark_partner_import.py [--customers N] [--rounds R] [--db PREFIX] [--keep]
                                                [--instructions [--compare MODULES ...] [--probe]]
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
# --probe: the fields each probe module adds to contacts take these kinds in turn; plain, with no default or code.
PROBE_KINDS = (("Selection", '[("a", "A"), ("b", "B")]'), ("Date",), ("Char",), ("Boolean",), ("Integer",),
               ("Datetime",), ("Many2one", '"res.users"'))
PROBES = {
    "benchmark_probe_stored": "dependencies + {stored} plain stored fields",
    "benchmark_probe_related": "dependencies + {fields} fields on a companion",
    "benchmark_probe_chatter": "dependencies + {chatters} models with a chatter",
}


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

    odoo.tools.config.parse_config([f"--addons-path={addons_path(args.extra_addons)}", "--log-level=warn"])
    import_once(warmed_registry(args.count_in), contacts_csv(args.customers), ctypes.CDLL(args.counter))
    return 0


def count_rounds(args, databases, folder, extra_addons=None):
    """Per database, the instructions Odoo's process ran in each round: one callgrind child each, side by side.
    ``folder``: where the counter and callgrind's files go; ``extra_addons``: see addons_path."""
    counts = {database: [] for database in databases}
    counter = compile_counter(folder)
    extra = ["--extra-addons", extra_addons] if extra_addons else []
    for round_ in range(1, args.rounds + 1):
        outputs = {database: os.path.join(folder, f"{database}-{round_}.out") for database in databases}
        children = {
            database: subprocess.Popen(
                ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={output}",
                 "--log-file=/dev/null", sys.executable, os.path.abspath(__file__), "--count-in", database,
                 "--counter", counter, "--customers", str(args.customers), *extra],
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


def run_counts(args, plain, addon):
    """--instructions: count the import in each database, those of --compare and --probe beside; the exit status."""
    dependencies = f"{args.db}_dependencies"
    dependency_modules = ",".join(dict.fromkeys(["contacts", "base_import", *addon_dependencies()]))
    # the addon's dependencies alone, to tell their share of the cost from the addon's own
    rows = [(plain, "without customer_handover"), (dependencies, "with its dependencies only"),
            (addon, "with customer_handover")]
    with tempfile.TemporaryDirectory() as folder:
        probes = os.path.join(folder, "probes") if args.probe else None
        try:
            install(dependencies, dependency_modules)
            for modules in args.compare or ():
                rows.append((f"{args.db}_{modules.replace(',', '_')}", f"with {modules}, not the addon"))
                install(rows[-1][0], f"contacts,base_import,{modules}")
            if probes:
                fields, stored, chatters = [with_addon - without for with_addon, without in zip(
                    added_by(addon), added_by(dependencies), strict=True)]
                write_probes(probes, fields, stored, chatters)
                for module, label in PROBES.items():
                    rows.append((f"{args.db}_{module}", label.format(fields=fields, stored=stored, chatters=chatters)))
                    install(rows[-1][0], f"{dependency_modules},{module}", extra_addons=probes)
            counts = count_rounds(args, [database for database, _label in rows], folder, probes)
        finally:
            drop(args, [database for database, _label in rows])
    return report_counts(args, counts, rows, addon)


def added_by(database):
    """What ``database`` (installed) has that --probe mirrors: the fields of contacts, how many of them are stored,
    and how many models have a chatter."""
    output = subprocess.run(
        ["psql", "-tA", "-d", database, "-c",
         "SELECT count(*), count(*) FILTER (WHERE store), (SELECT count(*) FROM ir_model WHERE is_mail_thread) "
         "FROM ir_model_fields WHERE model = 'res.partner'"],
        capture_output=True, text=True, check=True).stdout
    return [int(number) for number in output.strip().split("|")]


def write_probes(folder, fields, stored, chatters):
    """The modules of --probe in ``folder``, each adding a part of what the addon adds, with no code.
    benchmark_probe_stored: ``stored`` plain stored fields on contacts. benchmark_probe_related: ``fields`` fields on
    contacts, a link to a companion model that holds the data and the rest related to it (stored on the companion).
    benchmark_probe_chatter: ``chatters`` models with a chatter, and nothing on contacts."""
    kinds = [PROBE_KINDS[number % len(PROBE_KINDS)] for number in range(fields)]

    def declare(number, kind, related=None):
        # a related field takes its selection or comodel from the field it follows
        arguments = [f'related="{related}"'] if related else kind[1:]
        return f"    probe_{number} = fields.{kind[0]}({', '.join(arguments)})\n"

    def model(name, *lines):
        return (f"class {name.title().replace('.', '')}(models.Model):\n    _name = \"{name}\"\n"
                f"    _description = \"{name}\"\n" + "".join(lines) + "\n\n")

    chatter_models = [f"benchmark.probe.chatter{number}" for number in range(chatters)]
    companion = list(enumerate(kinds[1:]))  # the link to it is the first of the fields on contacts
    modules = {  # module: (its models, their code, its fields on contacts)
        "benchmark_probe_stored": ([], "", [declare(number, kind) for number, kind in enumerate(kinds[:stored])]),
        "benchmark_probe_related": (
            ["benchmark.probe.data"],
            model("benchmark.probe.data", "\n", *(declare(number, kind) for number, kind in companion)),
            ['    probe_data_id = fields.Many2one("benchmark.probe.data")\n'] + [
                declare(number, kind, f"probe_data_id.probe_{number}") for number, kind in companion]),
        "benchmark_probe_chatter": (
            chatter_models,
            "".join(model(name, '    _inherit = ["mail.thread"]\n\n    name = fields.Char()\n')
                    for name in chatter_models),
            []),
    }
    for module, (names, models_code, partner_fields) in modules.items():
        os.makedirs(os.path.join(folder, module))
        with open(os.path.join(folder, module, "ir.model.access.csv"), "w") as access:
            access.write("id,name,model_id:id,group_id:id,perm_read,perm_write,perm_create,perm_unlink\n" + "".join(
                f"access_{name.replace('.', '_')},{name},model_{name.replace('.', '_')},base.group_user,1,1,1,1\n"
                for name in names))
        code = f"from odoo import fields, models\n\n\n{models_code}"
        if partner_fields:
            code += 'class ResPartner(models.Model):\n    _inherit = "res.partner"\n\n' + "".join(partner_fields)
        with open(os.path.join(folder, module, "__init__.py"), "w") as init:
            init.write(code)
        with open(os.path.join(folder, module, "__manifest__.py"), "w") as manifest:
            manifest.write(repr({"name": module, "version": "18.0.1.0.0", "license": "LGPL-3",
                                 "depends": ["contacts"], "data": ["ir.model.access.csv"]}))


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
        return run_counts(args, plain, addon)
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


def report_counts(args, counts, rows, addon):
    """Print the instruction counts of ``rows`` (database, label) side by side, against the first; 1 when the
    ``addon`` database's cost is over the target, else 0."""
    fewest = {database: min(counts[database]) for database, _label in rows}
    reference = fewest[rows[0][0]]
    print(f"\nbase_import of {args.customers} contacts, instructions of Odoo's process (fewest of {args.rounds}):")
    for database, label in rows:
        cost = f"{fewest[database] / reference - 1:+9.2%}" if database != rows[0][0] else ""
        print(f"  {label:46}{fewest[database]:>16,}{cost}")
    cost = fewest[addon] / reference - 1
    print(f"  the addon's cost: {cost:+.2%} instructions (target: at most {COST_TARGET:+.0%})")
    return 1 if cost > COST_TARGET else 0


def main():
    options = (
        ("--instructions", {"action": "store_true",
                            "help": "count instructions under valgrind's callgrind instead of timing"}),
        ("--compare", {"action": "append", "metavar": "MODULES",
                       "help": "with --instructions: count too in a database with Odoo's MODULES (comma-separated) "
                               "instead of the addon; repeatable"}),
        ("--probe", {"action": "store_true",
                     "help": "with --instructions: count too with three generated modules that each add a part "
                             "of what the addon adds, with no code (its stored fields on contacts; its fields on "
                             "a companion model, related on contacts; its models with a chatter)"}),
        ("--count-in", {"help": argparse.SUPPRESS}),
        ("--counter", {"help": argparse.SUPPRESS}),
        ("--extra-addons", {"help": argparse.SUPPRESS}),
    )
    args = parse_args("benchmark_partner_import", __doc__.splitlines()[0], "customer_handover_import_benchmark",
                      "prefix of the scratch databases", "keep the scratch databases", customers=20_000,
                      rounds=True, options=options)
    if (args.compare or args.probe) and not args.instructions:
        sys.exit("benchmark_partner_import: --compare and --probe count instructions: add --instructions.")
    if any(not modules.replace(",", "").replace("_", "").isalnum() for modules in args.compare or ()):
        sys.exit("benchmark_partner_import: --compare takes module names separated by commas, e.g. crm,account.")
    sys.exit(count_in(args) if args.count_in else run(args))


if __name__ == "__main__":
    main()
