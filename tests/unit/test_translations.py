"""The zh_CN translation is shipped, complete and safe to format."""

import re
from pathlib import Path

import polib

I18N = Path(__file__).resolve().parents[2] / "customer_handover" / "i18n"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]|\{[a-z_]*\}")


def _entries(name):
    return [entry for entry in polib.pofile(str(I18N / name)) if not entry.obsolete]


def test_template_and_chinese_translation_are_shipped():
    assert _entries("customer_handover.pot"), "the .pot template is empty"
    assert polib.pofile(str(I18N / "zh_CN.po")).metadata["Language"] == "zh_CN"


def test_every_text_of_the_template_is_translated():
    translated = {(entry.msgctxt, entry.msgid): entry.msgstr for entry in _entries("zh_CN.po")}
    missing = [
        entry.msgid for entry in _entries("customer_handover.pot") if not translated.get((entry.msgctxt, entry.msgid))
    ]
    assert not missing, f"{len(missing)} texts lack a zh_CN translation, e.g. {missing[:5]}"


def test_translations_keep_the_placeholders():
    for entry in _entries("zh_CN.po"):
        if entry.msgstr:
            assert sorted(PLACEHOLDER.findall(entry.msgid)) == sorted(PLACEHOLDER.findall(entry.msgstr)), entry.msgid
