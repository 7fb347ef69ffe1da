"""The printed handover record, rendered by wkhtmltopdf (Odoo's PDF engine) and read back with pdftotext."""

import re
import shutil
import subprocess
import tempfile
import unicodedata
import unittest
from pathlib import Path

from odoo.tests import Form, tagged

from .common import HandoverCase
from .test_handover import SIGNATURE

TOOLS = ("wkhtmltopdf", "pdftotext")
LONG_ADDRESS = "Room 1808, Tower B, Zhongguancun Science and Technology Park, 27 Zhongguancun Street, Haidian District"


@tagged("post_install", "-at_install")
class TestHandoverRecord(HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        missing = [tool for tool in TOOLS if not shutil.which(tool)]
        if missing:
            raise unittest.SkipTest(f"{', '.join(missing)} missing (apt-get install wkhtmltopdf poppler-utils)")
        # wkhtmltopdf embeds the stylesheet's web fonts without a text layer pdftotext can read: the record is
        # rendered with the system fonts, its assets out of reach; the table's widths are the template's own.
        cls.env["ir.config_parameter"].set_param("report.url", "http://127.0.0.1:9")
        domain = cls.env["customer.business.domain"].create({"name": "Record test domain"})
        Partner = cls.env["res.partner"]
        cls.with_ref = Partner.create(
            {
                "name": "北京恒达房地产经纪有限公司",
                "is_company": True,
                "ref": "CUST-0042",
                "email": "info@hengda-realty.example.cn",
                "phone": "+86 10 8261 0000",
                "street": LONG_ADDRESS,
                "city": "Beijing",
                "business_domain_ids": [(6, 0, domain.ids)],
            }
        )
        cls.without_ref = Partner.create(
            {
                "name": "Müller Hotelbedarf GmbH",
                "is_company": True,
                "email": "anna.schmidt@mueller-hotelbedarf.example.de",
                "street": "Leopoldstraße 12",
                "city": "München",
                "business_domain_ids": [(6, 0, domain.ids)],
            }
        )
        for partner in (cls.with_ref, cls.without_ref):
            cls.env["customer.consent"].create(
                {"partner_id": partner.id, "purpose_id": cls.purpose_service.id, "date_given": "2026-01-01"}
            )
        receiver = Partner.create(
            {"name": "杭州新锦贸易有限公司", "is_company": True, "email": "legal@xinjin.example.cn"}
        )
        cls.handover = (
            cls.env["customer.handover"]
            .with_user(cls.manager)
            .create(
                {
                    "receiver_id": receiver.id,
                    "reason": "shop_transfer",
                    "purpose_ids": [(6, 0, cls.purpose_service.ids)],
                }
            )
        )
        scope = Form(
            cls.env["customer.handover.scope"].with_user(cls.manager).with_context(default_handover_id=cls.handover.id)
        )
        scope.business_domain_ids.add(domain)
        scope.save().action_confirm()
        cls.env["customer.handover.line"].with_user(cls.manager).create(
            {"handover_id": cls.handover.id, "name": "Paper files, 3 boxes", "line_type": "item"}
        )
        cls.handover.with_user(cls.manager).write(
            {"nda_reference": "NDA-7", "nda_date": "2026-11-01", "nda_document": SIGNATURE, "nda_filename": "nda.pdf"}
        )
        cls.handover.with_user(cls.manager).action_confirm()
        cls.handover.with_user(cls.manager).action_start()
        cls.handover.checklist_line_ids.with_user(cls.handover_user).action_verify()

    def _text(self, lang):
        """The record's text as pdftotext lays it out, with the company writing in ``lang``."""
        self.company_a.partner_id.lang = lang
        report = self.env["ir.actions.report"].with_user(self.manager).with_context(force_report_rendering=True)
        pdf, kind = report._render_qweb_pdf("customer_handover.report_handover_record", self.handover.ids)
        self.assertEqual(kind, "pdf")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "record.pdf"
            path.write_bytes(pdf)
            text = subprocess.run(
                ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True, timeout=60
            ).stdout
        # The CJK font maps some ideographs to their Kangxi radicals (目 read as ⽬): compare them as one.
        return unicodedata.normalize("NFKC", text)

    def _assert_table(self, text, headers, status):
        lines = text.splitlines()
        self.assertTrue(
            any(re.search(r"\s+".join(map(re.escape, headers)), line) for line in lines),
            f"the column headers, each whole, on one line:\n{text}",
        )
        rows = [line for line in lines if re.search(rf"(^|\s){re.escape(status)}(\s|$)", line)]
        self.assertEqual(len(rows), len(self.handover.checklist_line_ids), f"{status} whole on every row:\n{text}")

    def test_the_record_prints_readable_columns_and_each_customers_reference(self):
        text = self._text("en_US")
        self._assert_table(text, ("No.", "Item", "Reference", "Contact data", "Verification"), "Verified")
        self.assertIn("CUST-0042", text, "the customer's own reference")
        self.assertRegex(text, rf"#{self.without_ref.id}\b", "a customer without one is named by its contact number")
        self.assertIn("hotelbedarf.example.de", text, "contact data wraps to its end, it is not cut")
        self.assertRegex(text, r"handover_user\)", "a long name wraps to its end, it is not cut")

    def test_the_chinese_record_keeps_its_headers_and_status_words_whole(self):
        self.env["res.lang"]._activate_lang("zh_CN")
        self.env["ir.module.module"]._load_module_terms(["customer_handover"], ["zh_CN"], overwrite=True)
        text = self._text("zh_CN")
        self._assert_table(text, ("序号", "项目", "编号", "联系方式", "核验"), "已核验")
        self.assertIn("CUST-0042", text)
