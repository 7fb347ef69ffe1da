#!/usr/bin/env python3
"""A customer's notice and personal page, looked at in a real browser (Chromium through Playwright), not a test.

Installs the addon in a scratch database with English and Chinese, drives a handover of two customers (one
English-speaking, one Chinese-speaking) through its steps up to signed by both parties, and tells them: the run
queues a notice each in Odoo's mail queue. Then, as each customer would: opens the email's HTML (the queued
``mail.mail`` body, under the sender and subject a mail client shows) at desktop (1440 px) and phone (390 px)
width, follows the personal link in it to the customer's page on a running Odoo server, and looks at the page at
both widths. Screenshots go to docs/screenshots/notice-{en,zh}-{desktop,phone}.png and
customer-page-{en,zh}-{desktop,phone}.png. Needs Odoo 18 importable by this Python, PostgreSQL, the ``playwright``
package and Chromium at /usr/bin/chromium; the scratch database is dropped afterwards unless --keep is given.

    python3 scripts/notice_browser_walk.py [--db NAME] [--port PORT] [--keep]
"""

import argparse
import base64
import html
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_handover import addons_path, install

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOTS = os.path.join(REPO, "docs", "screenshots")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
WIDTHS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
SIGNATURE = base64.b64encode(
    base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="))
# What a mail client shows around an HTML email: who sent it, to whom, its subject; the body as sent.
MAIL_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{subject}</title></head>
<body style="margin: 0; font-family: sans-serif; background: #f2f2f2;">
<div style="background: #fff; border-bottom: 1px solid #ddd; padding: 12px 16px; font-size: 13px; color: #444;">
<div style="font-size: 17px; color: #111; margin-bottom: 6px;">{subject}</div>
<div>{sender}</div><div>{recipient}</div></div>
<div style="background: #fff; padding: 16px;">{body}</div>
</body></html>"""


def prepare(env, base_url):
    """A handover of two customers, signed by both parties and told: {language: the customer's mail.mail}."""
    env["res.lang"]._activate_lang("zh_CN")
    env["ir.module.module"]._load_module_terms(["customer_handover"], ["zh_CN"], overwrite=True)
    env["ir.config_parameter"].set_param("web.base.url", base_url)
    env["ir.config_parameter"].set_param("web.base.url.freeze", "True")
    company = env.company
    company.write({"name": "Shanghai Riverside Stores Co., Ltd.", "email": "privacy@riverside.example.cn",
                   "street": "100 Century Avenue", "city": "Shanghai"})
    groups = {name: env.ref(f"customer_handover.group_{name}").ids for name in ("handover_user", "handover_manager")}
    preparer = env["res.users"].create({"name": "Chen Jing", "login": "walk_preparer",
                                        "groups_id": [(6, 0, groups["handover_user"])]})
    manager = env["res.users"].create({"name": "Wang Qiang", "login": "walk_manager",
                                       "email": "wang.qiang@riverside.example.cn",
                                       "groups_id": [(6, 0, groups["handover_manager"])]})
    receiver = env["res.partner"].create({
        "name": "Xinjin Trading Ltd", "is_company": True, "email": "legal@xinjin.example.cn",
        "phone": "+86 571 8888 0000", "street": "18 Wensan Road", "city": "Hangzhou",
        "country_id": env.ref("base.cn").id})
    Partner = env["res.partner"].with_context(tracking_disable=True)
    address = {"street": "1 Nanjing Road", "city": "Shanghai", "zip": "200001", "country_id": env.ref("base.cn").id}
    customers = Partner.create([
        {"name": "Alice Martin", "email": "alice@example.com", "phone": "+86 138 0000 1111", "lang": "en_US",
         **address},
        {"name": "王芳", "email": "wangfang@example.cn", "phone": "+86 139 0000 2222", "lang": "zh_CN", **address},
    ])
    purposes = env.ref("customer_handover.consent_purpose_customer_service") | env.ref(
        "customer_handover.consent_purpose_order_fulfilment")
    env["customer.consent"].create([{"partner_id": customer.id, "purpose_id": purpose.id, "date_given": "2026-01-01"}
                                    for customer in customers for purpose in purposes])
    handover = env["customer.handover"].with_user(preparer).create({
        "receiver_id": receiver.id, "reason": "shop_transfer", "purpose_ids": [(6, 0, purposes.ids)]})
    env["customer.handover.scope"].with_user(preparer).with_context(
        active_model="res.partner", active_ids=customers.ids, default_handover_id=handover.id,
    ).create({}).action_confirm()
    handover.write({"nda_reference": "NDA-2026-07", "nda_date": "2026-11-01", "nda_document": SIGNATURE,
                    "nda_filename": "nda.pdf"})
    handover.with_user(manager).action_confirm()
    handover.with_user(manager).action_start()
    handover.line_ids.with_user(preparer).action_verify()
    handover.with_user(preparer).action_mark_verified()
    handover._sign("transfer", "王强", SIGNATURE, channel="in_person")
    handover._sign("receiver", "李代表", SIGNATURE, channel="in_person")
    handover.with_user(manager)._notice_start()
    env.flush_all()
    mails = {}
    for notice in handover.notice_ids:
        mails[notice.lang] = notice.mail_id
    if set(mails) != {"en_US", "zh_CN"} or not all(mails.values()):
        raise RuntimeError(f"the run queued {mails}, not an email in each language")
    return {lang[:2]: {"subject": mail.subject, "from": mail.email_from, "to": mail.email_to,
                       "body": mail.body_html} for lang, mail in mails.items()}


def serve(db, port):
    server = subprocess.Popen(
        [sys.executable, "-m", "odoo", f"--addons-path={addons_path()}", "-d", db, f"--db-filter=^{db}$",
         f"--http-port={port}", "--http-interface=127.0.0.1", "--workers=0", "--max-cron-threads=0",
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


def walk(mails):
    """Each notice at both widths, then the page its link opens at both widths; the screenshots' paths."""
    from playwright.sync_api import sync_playwright

    shots = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for lang, mail in mails.items():
                page_url = None
                for width, viewport in WIDTHS.items():
                    context = browser.new_context(viewport=viewport, locale="zh-CN" if lang == "zh" else "en-US",
                                                  is_mobile=width == "phone", device_scale_factor=1)
                    tab = context.new_page()
                    tab.set_content(MAIL_PAGE.format(subject=html.escape(mail["subject"]),
                                                     sender=html.escape(mail["from"] or ""),
                                                     recipient=html.escape(mail["to"] or ""), body=mail["body"]))
                    shots.append(shot(tab, f"notice-{lang}-{width}.png"))
                    link = tab.locator("a[href*='/customer_handover/customer/']")
                    page_url = link.get_attribute("href")
                    link.click()
                    tab.wait_for_url(page_url)
                    tab.wait_for_load_state("networkidle")
                    shots.append(shot(tab, f"customer-page-{lang}-{width}.png"))
                    context.close()
        finally:
            browser.close()
    return shots


def shot(tab, name):
    path = os.path.join(SHOTS, name)
    tab.screenshot(path=path, full_page=True)
    print(f"  {path}")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="customer_handover_notice_walk", help="scratch database name")
    parser.add_argument("--port", type=int, default=8069, help="HTTP port of the Odoo server the links open")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    import odoo

    install(args.db)
    odoo.tools.config.parse_config([f"--addons-path={addons_path()}", "-d", args.db, "--log-level=warn"])
    with odoo.modules.registry.Registry(args.db).cursor() as cr:
        mails = prepare(odoo.api.Environment(cr, odoo.SUPERUSER_ID, {}), f"http://127.0.0.1:{args.port}")
    odoo.sql_db.close_all()
    server = serve(args.db, args.port)
    try:
        print("screenshots:")
        walk(mails)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if not args.keep:
            subprocess.run(["dropdb", "--if-exists", args.db], check=True)


if __name__ == "__main__":
    main()
