import base64
import hashlib
import io
import re
import zipfile
from datetime import datetime, timedelta, timezone

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter

from odoo.addons.customer_handover.tools import checklist as ck
from odoo.addons.customer_handover.tools.checklist_columns import LINE_COLUMNS, position
from odoo.addons.customer_handover.tools.checklist_countersign import countersign
from odoo.addons.customer_handover.tools.checklist_verify import MESSAGES
from odoo.addons.customer_handover.wizard.customer_handover_verify import FINDINGS
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .common import HandoverCase, note_text
from .test_handover import SIGNATURE

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _zipped(parts):
    """A zip of ``parts`` (name: bytes), as a workbook is packed."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as target:
        for name, content in parts.items():
            target.writestr(name, content)
    return output.getvalue()


@tagged("post_install", "-at_install")
class TestChecklistExport(HandoverCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a.partner_id.email = cls.company_a.partner_id.email or "a@example.com"
        cls.company_b.partner_id.email = "b@example.com"
        cls.company_a.with_user(cls.officer).action_handover_create_signing_key()
        cls.handover = cls._signed_handover(cls.env["res.partner"].create(
            {"name": "杭州新锦贸易有限公司", "is_company": True, "email": "legal@xinjin.example.cn"}
        ))

    @classmethod
    def _signed_handover(cls, receiver, **values):
        handover = cls.env["customer.handover"].create(
            {"receiver_id": receiver.id, "reason": "shop_transfer", **values})
        lines = cls.env["customer.handover.line"].create([
            {"handover_id": handover.id, "name": "王芳 · 客户档案", "line_type": "item",
             "remarks": '=HYPERLINK("x")'},
            {"handover_id": handover.id, "name": "Purchase history 2024", "line_type": "item", "remarks": "-12"},
            {"handover_id": handover.id, "name": "@preferences", "line_type": "item"},
        ])
        handover.write({"nda_reference": "NDA-1", "nda_date": "2026-11-01", "nda_document": base64.b64encode(b"%PDF")})
        handover.with_user(cls.manager).action_confirm()
        handover.with_user(cls.manager).action_start()
        lines.with_user(cls.handover_user).action_verify()
        handover.with_user(cls.handover_user).action_mark_verified()
        handover.with_user(cls.manager)._sign("transfer", "王经理", SIGNATURE, channel="in_person")
        handover.with_user(cls.manager)._sign("receiver", "Li Lei", SIGNATURE, channel="in_person")
        return handover

    def _export(self, handover=None, user=None):
        handover = handover or self.handover
        return self.env["customer.handover.export"].with_user(user or self.manager)._create_for(
            handover.with_user(user or self.manager)
        )

    def _bytes(self, attachment):
        return base64.b64decode(attachment.sudo().datas)

    def _verify(self, data, user=None, handover=None):
        form = Form(self.env["customer.handover.verify"].with_user(user or self.handover_user).with_context(
            default_handover_id=(handover or self.handover).id))
        form.file = base64.b64encode(data)
        wizard = form.save()
        wizard.action_verify()
        return wizard

    # ------------------------------------------------------------------------------------------ signing key

    def test_only_an_officer_creates_the_signing_key_once(self):
        company = self.env["res.company"].create({"name": "Company C"})
        with self.assertRaises(AccessError):
            company.with_user(self.officer).action_handover_create_signing_key()
        with self.assertRaises(AccessError):
            self.company_a.with_user(self.manager).action_handover_create_signing_key()
        with self.assertRaisesRegex(UserError, "already has a valid signing key"):
            self.company_a.with_user(self.officer).action_handover_create_signing_key()
        fingerprint = self.company_a.with_user(self.officer).handover_certificate_fingerprint
        self.assertRegex(fingerprint, r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$")
        self.env.invalidate_all()
        with self.assertRaises(AccessError):
            self.company_a.with_user(self.manager).read(["handover_certificate_fingerprint"])

    def test_an_officer_creates_the_key_from_a_handover(self):
        self.company_a.sudo().handover_certificate_id = False
        handover = self.handover.with_user(self.officer)
        self.assertTrue(handover.signing_key_missing)
        with self.assertRaises(AccessError):
            self.handover.with_user(self.manager).action_create_signing_key()
        handover.action_create_signing_key()
        handover.invalidate_recordset()
        self.assertFalse(handover.signing_key_missing)
        self.assertEqual(self._export().fingerprint,
                         self.company_a.with_user(self.officer).handover_certificate_fingerprint)

    # ------------------------------------------------------------------------------------------ export

    def test_export_is_signed_kept_privately_and_announced(self):
        export = self._export()
        self.assertEqual((export.number, export.state, export.line_count), (1, "current", 3))
        attachment = export.attachment_id.sudo()
        self.assertEqual((attachment.res_model, attachment.res_id, attachment.public, attachment.handover_evidence),
                         ("customer.handover.export", export.id, False, "served"))
        message = self.handover.message_ids[0]
        self.assertIn(f"Fingerprint (SHA-256):  → {export.fingerprint}", note_text(message))
        self.assertFalse(message.attachment_ids, "the chatter announces the export; the export serves its files")
        workbook = load_workbook(io.BytesIO(self._bytes(export.attachment_id)))
        self.assertEqual(workbook.sheetnames, ["Cover", "Checklist", "Signatures"])
        sheet = workbook["Checklist"]
        self.assertEqual(sheet.max_row, 4)
        self.assertEqual(sheet.freeze_panes, "B2")
        self.assertTrue(sheet.auto_filter.ref)
        rows = {row[1].value: row for row in sheet.iter_rows(min_row=2)}
        self.assertEqual(rows["王芳 · 客户档案"][16].value, '=HYPERLINK("x")')
        self.assertEqual(rows["王芳 · 客户档案"][16].data_type, "s", "text that looks like a formula stays text")
        self.assertEqual(rows["王芳 · 客户档案"][11].value, "Verified")
        self.assertEqual(rows["Purchase history 2024"][16].value, "-12")
        cover = {row[0].value: row[1].value for row in workbook["Cover"].iter_rows(min_row=2)}
        self.assertEqual(cover["Handover"], self.handover.name)
        self.assertEqual(cover["Receiving party"], "杭州新锦贸易有限公司 · legal@xinjin.example.cn")
        self.assertEqual(cover["Checklist lines"], "3")
        self.assertEqual(cover["How the receiving party signed"], f"Signed in person, witnessed by {self.manager.name}")
        self.assertEqual(cover["Receiving signature image (SHA-256)"],
                         hashlib.sha256(base64.b64decode(self.handover.receiver_signature)).hexdigest())

    def test_the_checklist_prints_one_page_wide_and_as_many_pages_long_as_it_needs(self):
        workbook = load_workbook(io.BytesIO(self._bytes(self._export().attachment_id)))
        sheet = workbook["Checklist"]
        setup = sheet.page_setup
        self.assertEqual((setup.orientation, int(setup.paperSize), setup.fitToHeight), ("landscape", 9, 0), "A4")
        self.assertIn(setup.fitToWidth, (None, 1), "one page wide (1 is the default)")
        self.assertTrue(sheet.sheet_properties.pageSetUpPr.fitToPage)
        self.assertEqual(sheet.print_title_rows, "$1:$1", "the header row repeats on every page")
        columns = 1 + len(LINE_COLUMNS)
        widths = {get_column_letter(column): sheet.column_dimensions[get_column_letter(column)].width
                  for column in range(1, columns + 1)}
        # An A4 landscape page holds about 150 characters of 11 points: 230 print at about two thirds of that size.
        self.assertLess(sum(widths.values()), 230, widths)
        contact = get_column_letter(position("snapshot_contact") + 1)
        self.assertGreaterEqual(widths[contact], 20, "contact data has room, and wraps")
        for row in sheet.iter_rows(min_row=1, max_row=sheet.max_row, max_col=columns):
            for cell in row:
                if cell.value:
                    self.assertTrue(cell.alignment.wrap_text, f"{cell.coordinate} wraps")
        self.assertGreaterEqual(sheet.row_dimensions[1].height, 30, "the header row is as high as its wrapped titles")

    def test_an_excluded_line_reads_excluded_not_pending(self):
        handover = self.env["customer.handover"].create({"receiver_id": self.handover.receiver_id.id})
        lines = self.env["customer.handover.line"].create([
            {"handover_id": handover.id, "name": "Kept item", "line_type": "item"},
            {"handover_id": handover.id, "name": "Dropped item", "line_type": "item",
             "exclusion_reason": "Destroyed in 2025"},
        ])
        lines[1].with_user(self.handover_user).action_exclude()
        handover.write({"nda_reference": "NDA-2", "nda_date": "2026-11-01", "nda_document": base64.b64encode(b"%PDF")})
        handover.with_user(self.manager).action_confirm()
        handover.with_user(self.manager).action_start()
        lines[0].with_user(self.handover_user).action_verify()
        handover.with_user(self.handover_user).action_mark_verified()
        handover.with_user(self.manager)._sign("transfer", "王经理", SIGNATURE, channel="in_person")
        handover.with_user(self.manager)._sign("receiver", "Li Lei", SIGNATURE, channel="in_person")
        workbook = load_workbook(io.BytesIO(self._bytes(self._export(handover).attachment_id)))
        rows = {row[1].value: [cell.value for cell in row] for row in workbook["Checklist"].iter_rows(min_row=2)}
        self.assertEqual(rows["Kept item"][11], "Verified")
        self.assertEqual(rows["Dropped item"][11], "Excluded", "an excluded line was never checked: not Pending")
        self.assertEqual(rows["Dropped item"][15], "Destroyed in 2025")

    def test_a_new_export_supersedes_the_earlier_ones(self):
        first = self._export()
        second = self._export()
        self.assertEqual((first.state, second.state, second.number), ("superseded", "current", 2))
        wizard = self._verify(self._bytes(first.attachment_id))
        self.assertEqual(wizard.status, "superseded")
        self.assertIn("Export 2 supersedes it.", wizard.summary)
        self.assertEqual(self._verify(self._bytes(second.attachment_id)).status, "valid")

    def test_export_is_refused_with_a_reason_and_changes_nothing(self):
        unsigned = self.env["customer.handover"].create({"receiver_id": self.handover.receiver_id.id})
        with self.assertRaisesRegex(UserError, "once both parties have signed"):
            self._export(unsigned)
        self.assertFalse(unsigned.export_ids)
        for user in (self.handover_user, self.employee):
            with self.assertRaises(AccessError):
                self._export(user=user)
        with self.assertRaises(AccessError):
            self._export(user=self.user_b)
        certificate = self.company_a.sudo().handover_certificate_id
        certificate.sudo().active = False
        self.company_a.sudo().handover_certificate_id = False
        with self.assertRaisesRegex(UserError, "no checklist signing key"):
            self._export()
        key = ck.load_private_key(base64.b64decode(certificate.private_key_id.pem_key))
        old = ck.make_self_signed(key, "Company A", days=10, now=datetime.now(timezone.utc) - timedelta(days=40))
        expired = self.env["certificate.certificate"].sudo().create({
            "content": base64.b64encode(ck.certificate_pem(old).encode()),
            "private_key_id": certificate.private_key_id.id,
            "company_id": self.company_a.id,
        })
        self.company_a.sudo().handover_certificate_id = expired
        with self.assertRaisesRegex(UserError, "cannot sign now"):
            self._export()
        self.assertFalse(self.handover.export_ids)
        self.assertFalse(self.env["ir.attachment"].sudo().search(
            [("res_model", "=", "customer.handover"), ("res_id", "=", self.handover.id)]
        ))

    def test_the_files_are_read_through_the_export_only(self):
        export = self._export()
        self.env.flush_all()
        self.env.invalidate_all()
        for user in (self.handover_user, self.manager, self.officer, self.employee, self.user_b):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                export.attachment_id.with_user(user).datas  # noqa: B018
        attachment = export.with_user(self.handover_user)._download_attachment("signed")
        self.assertEqual(attachment.raw, export.attachment_id.sudo().raw)
        for user in (self.employee, self.user_b):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                export.with_user(user)._download_attachment("signed")

    # ------------------------------------------------------------------------------------------ verification

    def test_verification_in_odoo_names_what_changed(self):
        data = self._bytes(self._export().attachment_id)
        valid = self._verify(data)
        self.assertEqual(valid.status, "valid", valid.summary)
        self.assertIn(self.handover.name, valid.summary)
        workbook = load_workbook(io.BytesIO(data))
        workbook["Checklist"]["C3"] = "Changed"
        output = io.BytesIO()
        workbook.save(output)
        tampered = self._verify(output.getvalue())
        self.assertEqual(tampered.status, "invalid")
        self.assertIn("Checklist, row 3, cell C3: the value changed.", tampered.summary)

    def test_verification_of_unsigned_foreign_and_broken_files(self):
        data = self._bytes(self._export().attachment_id)
        self.assertEqual(self._verify(data[:2000]).status, "unreadable")
        self.assertEqual(self._verify(b"plain text").status, "unreadable")
        other = Workbook()
        other.active.append(["Invoice", "Amount"])
        output = io.BytesIO()
        other.save(output)
        foreign = self._verify(output.getvalue())
        self.assertEqual(foreign.status, "not_checklist")
        self.assertIn("not a customer handover checklist", foreign.summary)
        with zipfile.ZipFile(io.BytesIO(data)) as source:
            parts = {item.filename: source.read(item) for item in source.infolist()}
        declaration = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
        parts["xl/workbook.xml"] = declaration + parts["xl/workbook.xml"][38:]
        entities = self._verify(_zipped(parts))
        self.assertEqual(entities.status, "unreadable")
        self.assertIn("declares XML entities", entities.summary)
        parts["xl/workbook.xml"] = parts["xl/workbook.xml"].decode().replace('"1.0"?>', '"1.0" encoding="UTF-16"?>', 1)
        parts["xl/workbook.xml"] = parts["xl/workbook.xml"].encode("utf-16")
        encoded = self._verify(_zipped(parts))
        self.assertEqual(encoded.status, "unreadable")
        self.assertIn("xl/workbook.xml is not UTF-8 XML", encoded.summary)
        # The same content signed with a key this database does not know.
        stranger = ck.generate_key("ec")
        certificate = ck.make_self_signed(stranger, "Company A")
        result = self._reader_rows(data)
        rows = result.signature_rows[: -7]
        rows += ck.signature_rows({}, 1, "transferring", "Company A", ck.utc_timestamp(), certificate, stranger, rows)
        from odoo.addons.customer_handover.tools.checklist_countersign import replace_signature_sheet

        forged = replace_signature_sheet(data, result.signature_sheet, rows)
        self.assertEqual(self._reader_rows(forged).status, "unknown_key", "the forgery is intact, its key unknown")
        self.assertEqual(self._verify(forged).status, "unknown_key")
        unsigned = replace_signature_sheet(data, result.signature_sheet, result.signature_rows[: -7])
        self.assertEqual(self._verify(unsigned).status, "not_signed")

    def test_resaved_and_hostile_workbooks_get_their_own_results(self):
        data = self._bytes(self._export().attachment_id)
        output = io.BytesIO()
        load_workbook(io.BytesIO(data)).save(output)
        resaved = self._verify(output.getvalue())
        self.assertEqual((resaved.status, resaved.countersigned), ("resaved", False))
        self.assertIn("not the signed original", resaved.summary)
        with zipfile.ZipFile(io.BytesIO(data)) as source:
            parts = {item.filename: source.read(item) for item in source.infolist()}
        macro = self._verify(_zipped({**parts, "xl/vbaProject.bin": b"\xd0\xcf\x11\xe0"}))
        self.assertEqual(macro.status, "invalid")
        self.assertIn("Part xl/vbaProject.bin is content a signed checklist never holds", macro.summary)
        hidden = dict(parts)
        hidden["xl/worksheets/sheet2.xml"] = parts["xl/worksheets/sheet2.xml"].replace(
            b'<row r="3"', b'<row r="3" hidden="1"', 1)
        refused = self._verify(_zipped(hidden))
        self.assertEqual(refused.status, "invalid")
        self.assertIn("row 3 is hidden or too low to show its text", refused.summary)

    def test_oversized_uploads_are_refused_before_reading(self):
        data = self._bytes(self._export().attachment_id)
        self.env["ir.config_parameter"].sudo().set_param("customer_handover.max_checklist_bytes", "1000")
        form = Form(self.env["customer.handover.verify"].with_user(self.handover_user))
        form.file = base64.b64encode(data)
        wizard = form.save()
        with self.assertRaisesRegex(UserError, "larger than 1000 bytes"):
            wizard.action_verify()

    def test_users_outside_the_groups_cannot_verify(self):
        with self.assertRaises(AccessError):
            self.env["customer.handover.verify"].with_user(self.employee).create({"file": base64.b64encode(b"x")})

    # ------------------------------------------------------------------------------------------ countersigning

    def test_offline_countersignature_uploaded_back_is_recorded(self):
        export = self._export()
        receiver_key = ck.generate_key("rsa")
        receiver_certificate = ck.make_self_signed(receiver_key, "杭州新锦贸易有限公司")
        countersigned, _result = countersign(
            self._bytes(export.attachment_id), receiver_key, receiver_certificate, "杭州新锦 · 李雷",
            trusted={export.fingerprint},
        )
        wizard = self._verify(countersigned)
        self.assertEqual((wizard.status, wizard.countersigned, wizard.can_record), ("valid", True, True))
        workbook = load_workbook(io.BytesIO(countersigned))
        workbook["Checklist"]["B2"] = "Changed after both signed"
        output = io.BytesIO()
        workbook.save(output)
        tampered = self._verify(output.getvalue(), user=self.manager)
        self.assertEqual((tampered.status, tampered.countersigned, tampered.can_record), ("invalid", False, False))
        with self.assertRaisesRegex(UserError, "Only a valid, countersigned checklist"):
            tampered.action_record_countersignature()
        with self.assertRaises(AccessError):
            wizard.action_record_countersignature()
        self._verify(countersigned, user=self.manager).action_record_countersignature()
        self.assertEqual(export.countersigner, "杭州新锦 · 李雷")
        self.assertEqual(export.countersign_fingerprint, ck.fingerprint(receiver_certificate))
        self.assertTrue(export.countersigned_attachment_id)
        self.assertIn(f"Countersigned By:  → {export.countersigner}", note_text(self.handover.message_ids[0]))
        with self.assertRaisesRegex(UserError, "already countersigned"):
            self._verify(countersigned, user=self.manager).action_record_countersignature()

    def test_countersigning_inside_odoo_with_the_receiving_company_key(self):
        # A company of this database receives: its customers move to one of its users (test_transfer_move).
        handover = self._signed_handover(self.company_b.partner_id, receiver_user_id=self.user_b.id)
        export = self._export(handover)
        with self.assertRaisesRegex(UserError, "not one of your companies"):
            export.with_user(self.manager).action_countersign()
        manager_ab = self._new_user("ch_manager_ab", "customer_handover.group_handover_manager")
        manager_ab.company_ids = [(4, self.company_b.id)]
        with self.assertRaisesRegex(UserError, "no checklist signing key"):
            export.with_user(manager_ab).action_countersign()
        officer_b = self._new_user("ch_officer_b", "customer_handover.group_data_protection_officer",
                                   company=self.company_b)
        self.company_b.with_user(officer_b).action_handover_create_signing_key()
        export.with_user(manager_ab).action_countersign()
        self.assertEqual(export.countersigner, "Company B")
        wizard = self._verify(self._bytes(export.countersigned_attachment_id), handover=handover)
        self.assertEqual((wizard.status, wizard.countersigned), ("valid", True))
        self._export(handover)
        self.assertEqual(export.state, "superseded")

    def test_countersign_is_offered_only_where_the_receiver_is_one_of_the_users_companies(self):
        outside = self._export()
        self.assertFalse(outside.with_user(self.manager).can_countersign, "the receiver is outside this database")
        handover = self._signed_handover(self.company_b.partner_id, receiver_user_id=self.user_b.id)
        export = self._export(handover)
        manager_ab = self._new_user("ch_manager_ab", "customer_handover.group_handover_manager")
        manager_ab.company_ids = [(4, self.company_b.id)]
        self.assertFalse(export.with_user(self.manager).can_countersign, "Company B is not one of the user's")
        self.assertTrue(export.with_user(manager_ab).can_countersign)
        officer_b = self._new_user("ch_officer_b", "customer_handover.group_data_protection_officer",
                                   company=self.company_b)
        self.company_b.with_user(officer_b).action_handover_create_signing_key()
        export.with_user(manager_ab).action_countersign()
        self.assertFalse(export.with_user(manager_ab).can_countersign, "already countersigned")
        newer = self._export(handover)
        self.assertTrue(newer.with_user(manager_ab).can_countersign)
        self._export(handover)
        self.assertFalse(newer.with_user(manager_ab).can_countersign, "superseded")

    # ------------------------------------------------------------------------------------------ translations

    def test_every_finding_has_a_translatable_text_with_the_same_placeholders(self):
        self.assertEqual(set(FINDINGS), set(MESSAGES))
        for code, template in FINDINGS.items():
            self.assertEqual(set(PLACEHOLDER.findall(template._source)), set(re.findall(r"{(\w+)}", MESSAGES[code])))

    def _reader_rows(self, data):
        from odoo.addons.customer_handover.tools.checklist_verify import verify

        return verify(data)
