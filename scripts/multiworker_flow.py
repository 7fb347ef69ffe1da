#!/usr/bin/env python3
"""A whole handover driven over JSON-RPC against Odoo in multi-worker mode (a CI stage, not a benchmark).

Creates two scratch databases with customer_handover installed: a transferring one with N customers (default
20,000, made by SQL as the benchmarks make them, each with two consents) and a receiving one. Then starts ONE Odoo
server in prefork mode serving both (``--workers=2 --max-cron-threads=1 --limit-time-real=60``) and drives the
whole flow over HTTP as the web client does (``/web/session/authenticate``, ``/web/dataset/call_kw``,
``/web/dataset/call_button``, the logged download routes), as a handover manager and a data-protection officer:
a handover, the scope wizard selecting every customer and the checklist built in the background, batch
verification, both signatures (the receiving side in person), the signed export, the transfer package to the
receiving database's key, both files downloaded, and the import into the receiving database (the manifest read,
the sender's key pinned, the preview in the background, then the import in the background). Every request is
timed; it prints, per step, its wall time, its requests and the longest one, and exits non-zero when a request
takes longer than --max-request-seconds, a step fails, or a worker is killed. The server is always stopped; the
databases are dropped unless --keep.

    python3 scripts/multiworker_flow.py [--customers N] [--sender-db NAME] [--receiver-db NAME]
                                        [--max-request-seconds 5] [--keep]
"""

import argparse
import base64
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from benchmark_handover import SIGNATURE, addons_path, install
from benchmark_transfer import create_customers, users

PASSWORD = "multiworker-flow"
# Odoo's options under test: two HTTP workers, one cron worker (requests killed after --limit-time-real, 60 s).
SERVER_OPTIONS = ["--workers=2", "--max-cron-threads=1"]
# How often a waiting step reads its job's state, as the form's progress would.
POLL_SECONDS = 1.0
# Lines of the server's log that say a worker was killed, or something failed.
KILLED = re.compile(r"(WorkerHTTP|WorkerCron) \(\d+\) timeout after|virtual memory limit"
                    r"|CPU time limit \(\d+\) reached")
FAILED = re.compile(r" (ERROR|CRITICAL) ")
# What the server runs. Without gevent the long-polling process cannot start, and the server would start it again
# and again: it then waits instead (the flow uses no bus).
LAUNCHER = """import sys
if sys.argv[1:2] == ["gevent"]:
    try:
        import gevent  # noqa: F401
    except ImportError:
        import signal
        signal.pause()
import odoo
odoo.cli.main()
"""
# Logging in checks the password with Odoo's 600,000 PBKDF2 rounds (seconds on a loaded machine): timed, shown, and
# not held to the limit, which is for the handover's steps.
LOGIN = "log in"


class FlowError(Exception):
    """A step of the flow failed: the message says which and why."""


class Client:
    """One browser session on one database, over JSON-RPC; every request is timed into ``requests``."""

    def __init__(self, url, database, requests):
        self.url, self.database, self.requests = url, database, requests
        self.step = "setup"
        self.context = {}
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def _send(self, label, path, body=None, timeout=600):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"}
                                         if data else {})
        start = time.perf_counter()
        try:
            with self.opener.open(request, timeout=timeout) as response:
                payload = response.read()
        except (urllib.error.URLError, OSError) as error:
            self.requests.append((self.step, label, time.perf_counter() - start))
            raise FlowError(f"{self.step}: {label} failed over HTTP: {error}") from error
        self.requests.append((self.step, label, time.perf_counter() - start))
        return payload

    def rpc(self, label, path, params):
        reply = json.loads(self._send(label, path, {"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}))
        if "error" in reply:
            error = reply["error"].get("data", {})
            raise FlowError(f"{self.step}: {label} refused: {error.get('message') or reply['error']}")
        return reply["result"]

    def login(self, login):
        info = self.rpc("authenticate", "/web/session/authenticate",
                        {"db": self.database, "login": login, "password": PASSWORD})
        company = info["user_companies"]["current_company"]
        self.context = {**info["user_context"], "allowed_company_ids": [company]}
        return info

    def call(self, model, method, *args, **kwargs):
        kwargs.setdefault("context", self.context)
        return self.rpc(f"{model}.{method}", f"/web/dataset/call_kw/{model}/{method}",
                        {"model": model, "method": method, "args": list(args), "kwargs": kwargs})

    def button(self, model, method, record_id, context=None):
        """Click an object button of a form, as the web client does."""
        return self.rpc(f"{model}.{method} (button)", f"/web/dataset/call_button/{model}/{method}", {
            "model": model, "method": method, "args": [[record_id]],
            "kwargs": {"context": {**self.context, **(context or {})}},
        })

    def save(self, model, values, record_id=None, context=None, spec=None):
        """Save a form (a wizard's): its record's id."""
        records = self.call(model, "web_save", [record_id] if record_id else [], values,
                            specification=spec or {}, context={**self.context, **(context or {})})
        return records[0]["id"]

    def download(self, action):
        """Follow an ``ir.actions.act_url`` to one of the addon's download routes: the file's bytes."""
        if not action or action.get("type") != "ir.actions.act_url":
            raise FlowError(f"{self.step}: expected a download, got {action!r}")
        return self._send(f"GET {action['url'].split('?')[0]}", action["url"])

    def wait_job(self, domain, timeout, background=True):
        """Read the step's job until it ends, once a second, as the form's progress would.

        ``background``: the step is above the background threshold (else it ran in the request, and has no job).
        """
        if not background:
            return None
        start = time.monotonic()
        told = start
        while True:
            jobs = self.call("customer.handover.job", "search_read", domain,
                             ["kind", "state", "done_count", "total", "error"], limit=1)
            if not jobs:
                raise FlowError(f"{self.step}: no background step was started")
            job = jobs[0]
            if job["state"] == "done":
                return job
            if job["state"] in ("failed", "cancelled"):
                raise FlowError(f"{self.step}: the background step stopped ({job['state']}): {job['error']}")
            if time.monotonic() - told > 60:
                told = time.monotonic()
                print(f"    {job['kind']}: {job['done_count']} of {job['total']} after {told - start:.0f} s",
                      flush=True)
            if time.monotonic() - start > timeout:
                raise FlowError(f"{self.step}: the background step is still {job['state']} after {timeout} s "
                                f"({job['done_count']} of {job['total']}); is the cron worker alive?")
            time.sleep(POLL_SECONDS)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(args):
    """Both scratch databases, their users and keys, and the customers, through the ORM (not timed)."""
    import odoo
    from odoo.modules.registry import Registry

    start = time.perf_counter()
    install(args.sender_db)
    odoo.tools.config.parse_config([f"--addons-path={addons_path()}", "--log-level=warn"])
    # A copy of the fresh database, with its own uuid and secret, is quicker than a second install.
    odoo.service.db.exp_drop(args.receiver_db)
    odoo.service.db.exp_duplicate_database(args.sender_db, args.receiver_db)
    with Registry(args.receiver_db).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env.company.name = "Receiving Co."
        _manager, officer = users(env)
        (_manager | officer).password = PASSWORD
        env.company.with_user(officer).action_handover_create_package_key()
        recipient = env.company.handover_package_recipient
    with Registry(args.sender_db).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env.company.name = "Transferring Co."
        purposes = env.ref("customer_handover.consent_purpose_order_fulfilment") | env.ref(
            "customer_handover.consent_purpose_customer_service")
        create_customers(env, args.customers, purposes)
        manager, officer = users(env)
        (manager | officer).password = PASSWORD
        env.company.with_user(officer).action_handover_create_signing_key()
        receiver = env["res.partner"].create({"name": "Receiving Co.", "email": "legal@receiver.example.cn"})
        setup = {"recipient": recipient, "receiver": receiver.id, "purposes": purposes.ids,
                 "background": args.customers > env["customer.handover.job"]._threshold()}
    odoo.sql_db.close_all()
    subprocess.run(["vacuumdb", "--analyze", "--quiet", args.sender_db], check=True)
    print(f"prepared {args.sender_db} ({args.customers} customers) and {args.receiver_db} in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    return setup


def start_server(args, folder):
    """One Odoo server in prefork mode serving both databases; its URL once it answers."""
    port = args.http_port or free_port()
    longpolling = args.http_port + 1 if args.http_port else free_port()
    databases = (args.sender_db, args.receiver_db)
    # The server starts its long-polling process as ``python <its own script> gevent``: give it a script, as
    # odoo-bin is (``python -m odoo`` would hand it odoo/__main__.py, which cannot run alone).
    launcher, log = os.path.join(folder, "odoo-bin"), os.path.join(folder, "odoo.log")
    with open(launcher, "w", encoding="ascii") as handle:
        handle.write(LAUNCHER)
    command = [
        sys.executable, launcher, f"--addons-path={addons_path()}", *SERVER_OPTIONS,
        f"--limit-time-real={args.limit_time_real}", f"--limit-time-real-cron={args.limit_time_real_cron}",
        "-d", ",".join(databases),
        f"--db-filter=^({'|'.join(re.escape(name) for name in databases)})$",
        "--http-interface=127.0.0.1", f"--http-port={port}", f"--gevent-port={longpolling}",
        f"--logfile={log}", "--log-level=info",
    ]
    print("starting: " + " ".join(command[1:]), flush=True)
    with open(os.path.join(folder, "odoo.out"), "wb") as output:
        server = subprocess.Popen(command, start_new_session=True, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise FlowError(f"the Odoo server exited at start ({server.returncode}); its log: {log}")
        try:
            with urllib.request.urlopen(url + "/web/health", timeout=5) as response:
                if response.status == 200:
                    return server, url
        except OSError:
            pass
        time.sleep(1)
    raise FlowError(f"the Odoo server did not answer within 180 s; its log: {log}")


def stop_server(server):
    """Stop the server and its workers (its own process group), gracefully first."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def flow(args, url, setup, requests, steps):
    """The handover over JSON-RPC, step by step: appends (step, wall seconds) to ``steps``."""
    sender = Client(url, args.sender_db, requests)
    receiver = Client(url, args.receiver_db, requests)
    timeout, background = args.step_timeout, setup["background"]

    def step(name, run):
        sender.step = receiver.step = name
        start = time.perf_counter()
        try:
            return run()
        finally:
            steps.append((name, time.perf_counter() - start))
            print(f"  {name}: {steps[-1][1]:.1f} s", flush=True)

    def login():
        sender.login("benchmark_manager")
        # the receiving database's officer: a first package from this sender, whose key the officer pins
        receiver.login("benchmark_officer")

    step(LOGIN, login)

    def handover():
        # the web client opens the handovers' form, then saves the new handover
        sender.call("customer.handover", "get_views", [[False, "form"], [False, "list"], [False, "search"]])
        return sender.save("customer.handover", {
            "receiver_id": setup["receiver"], "purpose_ids": [[6, 0, setup["purposes"]]],
            "nda_reference": "NDA-MW", "nda_date": "2026-11-01", "nda_document": "UERG",
            "nda_filename": "nda.pdf",
        })

    handover_id = step("handover", handover)
    on_handover = [["handover_id", "=", handover_id]]

    def scope():
        action = sender.button("customer.handover", "action_select_customers", handover_id)
        context = action["context"]
        # the wizard opens on a preview of every customer of the company: the form's first onchange
        preview = sender.call("customer.handover.scope", "onchange", [], {}, [],
                              {"handover_id": {}, "customers_only": {}, "total_count": {}, "eligible_count": {},
                               "ineligible_count": {}, "preview": {}}, context={**sender.context, **context})
        counts = preview["value"]
        if counts.get("total_count") != args.customers:
            raise FlowError(f"scope: the preview counts {counts.get('total_count')} customers, not {args.customers}")
        wizard = sender.save("customer.handover.scope", {"handover_id": handover_id, "select_all": True},
                             context=context)
        sender.button("customer.handover.scope", "action_confirm", wizard, context)
        return sender.wait_job([*on_handover, ["kind", "=", "scope"]], timeout, background)

    step("scope and checklist", scope)

    def verification():
        sender.button("customer.handover", "action_confirm", handover_id)
        sender.button("customer.handover", "action_start", handover_id)
        sender.button("customer.handover", "action_verify_all_pending", handover_id)
        sender.wait_job([*on_handover, ["kind", "=", "verify"]], timeout, background)
        sender.button("customer.handover", "action_mark_verified", handover_id)

    step("verification", verification)

    def signing():
        for side, channel, signer in (("transfer", "user", False), ("receiver", "in_person", "Receiving Rep.")):
            context = sender.button("customer.handover", "action_open_sign", handover_id)["context"]
            values = {"handover_id": handover_id, "side": side, "channel": channel,
                      "signature": SIGNATURE.decode()}
            if signer:
                values["signer"] = signer
            wizard = sender.save("customer.handover.sign", values, context=context)
            sender.button("customer.handover.sign", "action_sign", wizard, context)
        state = sender.call("customer.handover", "read", [handover_id], ["state"])[0]["state"]
        if state != "signed":
            raise FlowError(f"signing: the handover is {state}, not signed")

    step("signing", signing)

    def export():
        sender.button("customer.handover", "action_export_checklist", handover_id)
        sender.wait_job([*on_handover, ["kind", "=", "export"]], timeout, background)
        exports = sender.call("customer.handover.export", "search_read", on_handover, ["id"], limit=1)
        workbook = sender.download(sender.button("customer.handover.export", "action_download", exports[0]["id"]))
        if not workbook.startswith(b"PK"):
            raise FlowError("export: the downloaded checklist is not a workbook")
        return workbook

    workbook = step("signed export", export)

    def package():
        context = sender.button("customer.handover", "action_open_package_wizard", handover_id)["context"]
        wizard = sender.save("customer.handover.pack", {"handover_id": handover_id, "encryption": "recipient",
                                                        "recipient": setup["recipient"]}, context=context)
        sender.button("customer.handover.pack", "action_make", wizard, context)
        sender.wait_job([*on_handover, ["kind", "=", "package"]], timeout, background)
        packages = sender.call("customer.handover.package", "search_read",
                               [*on_handover, ["kind", "=", "transfer"]], ["id"], limit=1)
        data = sender.download(sender.button("customer.handover.package", "action_download", packages[0]["id"]))
        if not data.startswith(b"age-encryption.org/v1"):
            raise FlowError("package: the downloaded package is not an age file")
        return data

    data = step("transfer package", package)
    print(f"    package {len(data) / 2**20:.1f} MB, checklist {len(workbook) / 2**20:.1f} MB", flush=True)

    model = "customer.handover.import"

    def preview():
        wizard = receiver.save(model, {
            "package_file": base64.b64encode(data).decode(), "package_filename": "package.age",
            "checklist_file": base64.b64encode(workbook).decode(), "checklist_filename": "checklist.xlsx",
            "decrypt_with": "key",
        })
        receiver.button(model, "action_preview", wizard)  # reads the manifest: the sender's key is not pinned yet
        facts = receiver.call(model, "read", [wizard], ["state", "sender", "signer_pinned"])[0]
        if facts["state"] != "preview" or facts["signer_pinned"]:
            raise FlowError(f"import: unexpected preview {facts}")
        receiver.save(model, {"confirm_signer": True}, record_id=wizard)
        receiver.button(model, "action_import", wizard)  # previews the customers once the key is confirmed
        # above the threshold the preview runs in the background: the wizard shows its progress, then the customers
        receiver.wait_job([["kind", "=", "preview"]], timeout, background)
        facts = receiver.call(model, "read", [wizard], ["state", "customer_count", "match_count"])[0]
        if facts["state"] != "preview" or facts["customer_count"] != args.customers:
            raise FlowError(f"import: the preview did not end as expected: {facts}")
        return wizard

    wizard = step("import: preview", preview)

    def import_():
        action = receiver.button(model, "action_import", wizard)
        incoming_id = action["params"]["next"]["res_id"] if background else action["res_id"]
        receiver.wait_job([["incoming_id", "=", incoming_id], ["kind", "=", "import"]], timeout, background)
        return incoming_id

    incoming_id = step("import", import_)

    def check():
        state = sender.call("customer.handover", "read", [handover_id], ["state", "line_count"])[0]
        incoming = receiver.call("customer.handover.incoming", "read", [incoming_id],
                                 ["state", "created_count", "consent_count", "reconciled"])[0]
        imported = receiver.call("res.partner", "search_count", [["name", "=like", "Customer %"]])
        expected = {"state": "imported", "created_count": args.customers, "consent_count": 2 * args.customers,
                    "reconciled": True}
        found = {key: incoming[key] for key in expected}
        if state["state"] != "signed" or found != expected or imported != args.customers:
            raise FlowError(f"end state: handover {state}, incoming {found} (expected {expected}), "
                            f"{imported} customers in the receiving database")
        return f"handover {state['state']}; incoming handover {incoming['state']}, {imported} customers created"

    print("    " + step("end state", check), flush=True)


def report(requests, steps, limit):
    """The table per step; the requests over ``limit``."""
    print(f"\n{'step':<22}{'wall s':>9}{'requests':>10}{'longest s':>11}  longest request")
    for name, wall in [*steps, ("(all)", sum(wall for _name, wall in steps))]:
        mine = [request for request in requests if name in ("(all)", request[0])]
        longest = max(mine, key=lambda request: request[2], default=(name, "-", 0.0))
        print(f"{name:<22}{wall:>9.1f}{len(mine):>10}{longest[2]:>11.2f}  {longest[1]}")
    slow = [request for request in requests if request[2] > limit and request[0] != LOGIN]
    for name, label, seconds in slow:
        print(f"TOO SLOW: {name}: {label} took {seconds:.2f} s (limit {limit} s)")
    return slow


def scan_log(log):
    """Lines of the server's log saying a worker was killed, and its errors."""
    with open(log, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    return [line for line in lines if KILLED.search(line)], [line for line in lines if FAILED.search(line)]


def run(args):
    import odoo

    requests, steps, failures = [], [], []
    folder = tempfile.mkdtemp(prefix="multiworker-flow-")
    log = os.path.join(folder, "odoo.log")
    server = None
    try:
        setup = prepare(args)
        server, url = start_server(args, folder)
        print(f"driving the flow over JSON-RPC at {url} ({args.customers} customers)", flush=True)
        flow(args, url, setup, requests, steps)
    except FlowError as error:
        failures.append(str(error))
    finally:
        if server:
            stop_server(server)
        if not args.keep:
            for database in (args.sender_db, args.receiver_db):
                odoo.service.db.exp_drop(database)
    slow = report(requests, steps, args.max_request_seconds)
    if slow:
        failures.append(f"{len(slow)} requests over {args.max_request_seconds} s")
    if os.path.exists(log):
        killed, errors = scan_log(log)
        for line in killed:
            print(f"WORKER KILLED: {line}")
        for line in errors[:20]:
            print(f"SERVER ERROR: {line}")
        failures += [f"{len(killed)} workers killed"] if killed else []
        failures += [f"{len(errors)} errors in the server's log"] if errors else []
    for failure in failures:
        print(f"FAILED: {failure}")
    if failures or args.keep:
        print(f"the server's log: {log}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"multi-worker flow of {args.customers} customers: every request under {args.max_request_seconds} s")
    return 1 if failures else 0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000, help="how many customers (default 20000)")
    parser.add_argument("--sender-db", default="customer_handover_test_mw_a", help="the transferring database")
    parser.add_argument("--receiver-db", default="customer_handover_test_mw_b", help="the receiving database")
    parser.add_argument("--max-request-seconds", type=float, default=5.0,
                        help="the longest a request may take (default 5)")
    parser.add_argument("--limit-time-real", type=int, default=60,
                        help="the server's limit on a request (default 60); raise it only to measure past a request "
                        "that would be killed")
    parser.add_argument("--limit-time-real-cron", type=int, default=300,
                        help="the cron worker's limit: it sleeps about 70 s between rounds (default 300)")
    parser.add_argument("--step-timeout", type=int, default=3600,
                        help="the longest a background step may run before the flow gives up (default 3600 s)")
    parser.add_argument("--http-port", type=int, default=0,
                        help="the server's HTTP port, and the next one its long-polling port (default: free ones)")
    parser.add_argument("--keep", action="store_true", help="keep both databases")
    args = parser.parse_args()
    if args.customers <= 0 or args.max_request_seconds <= 0:
        parser.error("--customers and --max-request-seconds must be positive")
    if args.sender_db == args.receiver_db:
        parser.error("the transferring and the receiving databases must differ")
    try:
        import odoo.release
    except ImportError:
        parser.exit(2, "multiworker_flow: this Python cannot import Odoo 18; run it where Odoo is installed.\n")
    if odoo.release.version_info[:2] != (18, 0):
        parser.exit(2, f"multiworker_flow: Odoo {odoo.release.version} found, 18.0 needed.\n")
    return args


if __name__ == "__main__":
    sys.exit(run(parse_args()))
