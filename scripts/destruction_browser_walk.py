#!/usr/bin/env python3
"""Destroying a customer, driven in a real browser (Chromium through Playwright) by two officers, not a test.

Installs the addon in a scratch database and prepares a customer with what hangs on a contact (two consents, a
chatter note, an attachment) and a second one on legal hold. Then, on a running Odoo server, as an officer would:
the first officer opens the customer, chooses *Propose Destruction* in the form's actions, picks the basis and
requests it; the second officer opens the request and approves it; the server's cron runs the destruction; the
first officer reads the request done and the contact left behind. The certificate is written to the scratch folder
for ``customer-handover-verify``. Screenshots go to docs/screenshots/destruction-*.png. Needs Odoo 18 importable by
this Python, PostgreSQL, the ``playwright`` package and Chromium at /usr/bin/chromium; the scratch database is
dropped afterwards unless --keep is given.

    python3 scripts/destruction_browser_walk.py [--db NAME] [--port PORT] [--keep]
"""

import argparse
import base64
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_handover import addons_path, install
from notice_browser_walk import CHROMIUM, CHROMIUM_ARGS, shot

OFFICERS = ("walk_officer_1", "walk_officer_2")


def prepare(env):
    """Two officers (password = login), a customer to destroy and one on legal hold: {name: id}."""
    officer_group = env.ref("customer_handover.group_data_protection_officer")
    officers = [env["res.users"].create({"name": name, "login": login, "password": login,
                                         "groups_id": [(6, 0, officer_group.ids + env.ref("base.group_user").ids)]})
                for name, login in zip(("Li Na", "Zhou Min"), OFFICERS, strict=True)]
    env.company.with_user(officers[0]).action_handover_create_signing_key()
    customer = env["res.partner"].create({
        "name": "Zhang Wei", "email": "zhang.wei@example.cn", "phone": "+86 138 0013 8000",
        "street": "8 Huaihai Road", "city": "Shanghai"})
    for purpose in ("consent_purpose_customer_service", "consent_purpose_marketing"):
        env["customer.consent"].create({"partner_id": customer.id, "date_given": "2025-03-01",
                                        "purpose_id": env.ref(f"customer_handover.{purpose}").id})
    customer.message_post(body="Zhang Wei prefers calls after 6 pm on +86 138 0013 8000.")
    env["ir.attachment"].create({"name": "zhang-wei-id-card.txt", "res_model": "res.partner", "res_id": customer.id,
                                 "datas": base64.b64encode(b"Zhang Wei, 310101199001011234")})
    held = env["res.partner"].create({"name": "Liu Yang", "email": "liu.yang@example.cn"})
    held.write({"legal_hold": True, "legal_hold_reason": "Court case 2026-17"})
    return {"customer": customer.id, "held": held.id}


def serve(db, port):
    server = subprocess.Popen(
        [sys.executable, "-m", "odoo", f"--addons-path={addons_path()}", "-d", db, f"--db-filter=^{db}$",
         f"--http-port={port}", "--http-interface=127.0.0.1", "--workers=0", "--max-cron-threads=1",
         "--log-level=warn"])
    import requests

    for _wait in range(120):
        try:
            if requests.get(f"http://127.0.0.1:{port}/web/health", timeout=5).ok:
                return server
        except requests.RequestException:
            time.sleep(1)
    server.terminate()
    raise RuntimeError("the Odoo server did not answer")


def login(browser, base, user):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
    tab = context.new_page()
    tab.goto(f"{base}/web/login")
    tab.fill("input[name=login]", user)
    tab.fill("input[name=password]", user)
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{base}/odoo**")
    return context, tab


def walk(base, ids):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context, tab = login(browser, base, OFFICERS[0])
            tab.goto(f"{base}/odoo/contacts/{ids['customer']}")
            tab.wait_for_selector(".o_form_view")
            shot(tab, "destruction-01-customer-before.png")
            tab.click(".o_cp_action_menus button")
            tab.click(".o-dropdown-item:has-text('Propose Destruction')")
            tab.wait_for_selector(".o_form_view button[name=action_request]")
            tab.select_option(".o_field_widget[name=basis] select", '"subject_request"')
            shot(tab, "destruction-02-proposed.png")
            tab.click("button[name=action_request]")
            tab.wait_for_selector(".o_statusbar_status button.o_arrow_button_current:has-text('Requested')")
            request_url = tab.url
            shot(tab, "destruction-03-requested.png")
            context.close()

            context, tab = login(browser, base, OFFICERS[1])
            tab.goto(request_url)
            tab.wait_for_selector("button[name=action_approve]")
            tab.click("button[name=action_approve]")
            shot(tab, "destruction-04-approve-confirm.png")
            tab.click(".modal-footer button.btn-primary")
            tab.wait_for_selector(".o_statusbar_status button.o_arrow_button_current:has-text('Running')")
            for _wait in range(60):  # the cron runs the destruction in the background
                tab.reload()
                tab.wait_for_selector(".o_form_view")
                if tab.locator(".o_statusbar_status button.o_arrow_button_current:has-text('Done')").count():
                    break
                time.sleep(2)
            else:
                raise RuntimeError("the destruction did not end")
            shot(tab, "destruction-05-done.png")
            context.close()

            context, tab = login(browser, base, OFFICERS[0])
            tab.goto(f"{base}/odoo/contacts/{ids['customer']}")
            tab.wait_for_selector(".o_form_view")
            shot(tab, "destruction-06-customer-after.png")
            context.close()
        finally:
            browser.close()
    return request_url.rstrip("/").rsplit("/", 1)[1]


def certificate(env, request_id, folder):
    """Write the run's certificate to ``folder``; its path and the fingerprint to pin."""
    request = env["customer.destruction.request"].browse(int(request_id))
    attachment = request.certificate_attachment_id  # read as the system: officers download it through its step
    path = os.path.join(folder, attachment.name)
    with open(path, "wb") as out:
        out.write(attachment.raw)
    return path, request.certificate_fingerprint, request.record_count, request.state


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="customer_handover_destruction_walk", help="scratch database name")
    parser.add_argument("--port", type=int, default=8069, help="HTTP port of the Odoo server")
    parser.add_argument("--folder", default=".", help="where the certificate is written")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    import odoo

    install(args.db)
    odoo.tools.config.parse_config([f"--addons-path={addons_path()}", "-d", args.db, "--log-level=warn"])
    with odoo.modules.registry.Registry(args.db).cursor() as cr:
        ids = prepare(odoo.api.Environment(cr, odoo.SUPERUSER_ID, {}))
    odoo.sql_db.close_all()
    server = serve(args.db, args.port)
    try:
        print("screenshots:")
        request_id = walk(f"http://127.0.0.1:{args.port}", ids)
    finally:
        server.terminate()
        server.wait(timeout=30)
    try:
        with odoo.modules.registry.Registry(args.db).cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            path, pin, count, state = certificate(env, request_id, args.folder)
            print(f"request {request_id}: {state}, {count} destroyed; certificate {path}, signed with {pin}")
    finally:
        odoo.sql_db.close_all()
        if not args.keep:
            subprocess.run(["dropdb", "--if-exists", args.db], check=True)


if __name__ == "__main__":
    main()
