"""Files a step writes (packages, decrypted uploads, received checklists) are stored from disk in chunks: the
attachment is the one ``raw`` would have made, and the worker never holds the file whole."""

import hashlib
import os
import tempfile
import tracemalloc

from odoo.addons.customer_handover.tools.digests import sha256_stream
from odoo.tests import TransactionCase, tagged

SIZE = 32 << 20  # 32 MiB: far above what reading in chunks of 1 MiB keeps


@tagged("post_install", "-at_install", "customer_handover_files")
class TestAttachmentFromFile(TransactionCase):
    def setUp(self):
        super().setUp()
        handle = tempfile.NamedTemporaryFile(prefix="customer-handover-test-", delete=False)  # noqa: SIM115
        self.addCleanup(os.unlink, handle.name)
        with handle:
            handle.write(os.urandom(SIZE))
        self.path = handle.name
        with open(self.path, "rb") as source:
            self.content = source.read()

    def _values(self, name):
        return {"name": name, "res_model": "res.partner", "res_id": self.env.user.partner_id.id}

    def test_the_attachment_is_the_one_raw_makes(self):
        stored = self.env["ir.attachment"]._create_from_file(self._values("from-file.bin"), self.path)
        made = self.env["ir.attachment"].create({**self._values("from-raw.bin"), "raw": self.content})
        self.env.invalidate_all()
        self.assertEqual((stored.store_fname, stored.checksum, stored.file_size),
                         (made.store_fname, made.checksum, made.file_size))
        self.assertEqual(stored.checksum, hashlib.sha1(self.content).hexdigest())
        self.assertEqual(stored.raw, self.content)
        self.assertEqual(stored.mimetype, "application/octet-stream")
        with stored._open_content() as handle:
            self.assertEqual(sha256_stream(handle), hashlib.sha256(self.content).hexdigest())
        # nothing left beside the stored file: it was copied beside its place, then renamed
        folder = os.path.dirname(stored._full_path(stored.store_fname))
        self.assertFalse([name for name in os.listdir(folder) if name.startswith(".handover-")])

    def test_the_file_is_never_held_whole(self):
        tracemalloc.start()
        try:
            self.env["ir.attachment"]._create_from_file(self._values("package.age"), self.path)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertLess(peak, SIZE // 4, f"{peak} bytes allocated while storing a file of {SIZE}")

    def test_an_attachment_kept_in_the_database_is_read_whole_there(self):
        self.env["ir.config_parameter"].sudo().set_param("ir_attachment.location", "db")
        stored = self.env["ir.attachment"]._create_from_file(self._values("in-db.bin"), self.path)
        self.env.invalidate_all()
        self.assertFalse(stored.store_fname)
        self.assertEqual(stored.raw, self.content)
        with stored._content_path() as path, open(path, "rb") as handle:
            self.assertEqual(handle.read(), self.content)
