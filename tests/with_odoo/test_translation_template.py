"""The shipped .pot holds exactly the texts the installed addon offers for translation."""

from pathlib import Path

import polib

from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import TranslationModuleReader

POT = Path(__file__).resolve().parents[2] / "customer_handover" / "i18n" / "customer_handover.pot"


@tagged("post_install", "-at_install")
class TestTranslationTemplate(TransactionCase):
    def test_the_template_is_what_odoo_exports(self):
        exported = {source for _module, _type, _name, _res_id, source, _value, _comments
                    in TranslationModuleReader(self.env.cr, modules=["customer_handover"])}
        shipped = {entry.msgid for entry in polib.pofile(str(POT)) if not entry.obsolete}
        self.assertFalse(sorted(exported - shipped)[:5], "texts of the code missing from the .pot: regenerate it")
        self.assertFalse(sorted(shipped - exported)[:5], "texts of the .pot no longer in the code: regenerate it")
