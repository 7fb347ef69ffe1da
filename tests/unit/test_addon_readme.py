"""The addon's README.rst and Apps page are what scripts/gen_addon_readme.py makes of README.md."""

import importlib.util
import re
from pathlib import Path

from lxml import html

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gen_addon_readme", ROOT / "scripts" / "gen_addon_readme.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


def _text(page):
    """The words of an HTML page: its markup may differ between docutils releases, its text may not."""
    return re.sub(r"\s+", " ", html.fromstring(page).text_content()).strip()


def test_readme_rst_is_generated_from_readme_md():
    expected = gen.readme_rst(gen.README_MD.read_text(encoding="utf-8"))
    assert gen.README_RST.read_text(encoding="utf-8") == expected, "run scripts/gen_addon_readme.py"


def test_apps_page_is_generated_from_readme_md():
    expected = gen.index_html(gen.readme_rst(gen.README_MD.read_text(encoding="utf-8")))
    assert _text(gen.INDEX_HTML.read_text(encoding="utf-8")) == _text(expected), "run scripts/gen_addon_readme.py"


def test_markdown_becomes_restructuredtext():
    markdown = [
        "Run `pip install .` and read [the spec](docs/spec.md#top) or",
        "[age](https://age-encryption.org):",
        "",
        "    pip install .",
        "",
        "- **A** item",
        "  - nested, with `code`",
        "  Back in the item.",
        "",
        "  | | User |",
        "  |---|---|",
        "  | Read | yes |",
    ]
    site = gen._website()
    assert gen.markdown_to_rst(markdown) == [
        f"Run ``pip install .`` and read `the spec <{site}/blob/HEAD/docs/spec.md#top>`__ or",
        "`age <https://age-encryption.org>`__::",
        "",
        "    pip install .",
        "",
        "- **A** item",
        "",
        "  - nested, with ``code``",
        "",
        "  Back in the item.",
        "",
        "  .. list-table::",
        "     :header-rows: 1",
        "",
        "     * -",
        "       - User",
        "     * - Read",
        "       - yes",
    ]
