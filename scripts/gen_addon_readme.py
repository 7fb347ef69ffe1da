#!/usr/bin/env python3
"""Writes the addon's README.rst and Apps page from sections of the repository's README.md.

README.md is the one source: the addon's README.rst (read by OCA tooling and PyPI) and
static/description/index.html (the Apps list shows only that page for an application) are generated
from it, and tests/unit/test_addon_readme.py fails when either differs from what this script writes.

    python3 scripts/gen_addon_readme.py            # rewrite both files
    python3 scripts/gen_addon_readme.py --check    # exit 1 when either is out of date

The converter knows the Markdown that README.md uses (headings, paragraphs, nested lists, indented
code, pipe tables, code spans, links); it needs no Odoo, and docutils (an Odoo requirement) only for
the HTML page.
"""

import argparse
import ast
import re
import sys
from pathlib import Path

from docutils.core import publish_parts

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "customer_handover"
README_MD = ROOT / "README.md"
README_RST = ADDON / "README.rst"
INDEX_HTML = ADDON / "static" / "description" / "index.html"
# The sections of README.md the Apps list and PyPI show; the intro before the first one always comes.
SECTIONS = ("What it does today", "Install", "Configuration")
NOTICE = ".. Generated from README.md by scripts/gen_addon_readme.py: edit README.md, then run the script."

CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
LIST_ITEM = re.compile(r"(\s*)(?:[-*]|\d+\.) ")


def _website():
    return ast.literal_eval((ADDON / "__manifest__.py").read_text(encoding="utf-8"))["website"].rstrip("/")


def _url(target):
    """A link that works outside the repository: relative paths point into it on its website."""
    if re.match(r"[a-z]+:", target):
        return target
    if target.startswith("#"):
        return _website() + target
    return f"{_website()}/blob/HEAD/{target}"


def _inline(text):
    """Markdown code spans and links as reStructuredText; emphasis is written the same in both."""
    out = []
    for number, part in enumerate(CODE_SPAN.split(text)):
        if number % 3 == 2:
            out.append(f"``{part.strip()}``")
        elif number % 3 == 0:
            out.append(LINK.sub(lambda m: f"`{m.group(1)} <{_url(m.group(2))}>`__", part))
    return "".join(out)


def _table(rows, indent):
    """A pipe table as a list-table, its first row the header."""
    pad = " " * indent
    out = [f"{pad}.. list-table::", f"{pad}   :header-rows: 1", ""]
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        for position, cell in enumerate(cells):
            marker = "* -" if position == 0 else "  -"
            out.append(f"{pad}   {marker} {cell}".rstrip())
    return [*out, ""]


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _content_indent(line):
    """Where the text of a line starts: after the marker, for a list item."""
    item = LIST_ITEM.match(line)
    return item.end() if item else _indent(line)


def markdown_to_rst(lines):
    """reStructuredText for Markdown lines, as README.md writes them."""
    out = []
    literal = set()  # positions in out of the lines of literal blocks, which stay as they are
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        previous = next((text for text in reversed(out) if text.strip()), "")
        if stripped.startswith("|"):
            rows = []
            while index < len(lines) and lines[index].strip().startswith("|"):
                if not re.fullmatch(r"\|[\s|:-]+\|", lines[index].strip()):  # the header's rule
                    rows.append(lines[index])
                index += 1
            out += ([""] if out and out[-1] else []) + _table(rows, _indent(line))
            continue
        if _indent(line) >= 4 and out and not out[-1] and _indent(previous) == 0 and not LIST_ITEM.match(previous):
            # an indented code block after a top-level paragraph: its colon introduces a literal block
            if out[-2].endswith(":"):
                out[-2] += ":"
            else:
                out += ["::", ""]
            while index < len(lines) and (_indent(lines[index]) >= 4 or not lines[index].strip()):
                literal.add(len(out))
                out.append(lines[index].rstrip())
                index += 1
            continue
        if stripped.startswith("#"):
            level = len(stripped) - len(stripped.lstrip("#"))
            title = _inline(stripped[level:].strip())
            rule = ("=" if level <= 2 else "-") * len(title)
            out += ([rule] if level == 1 else []) + [title, rule, ""]
            index += 1
            continue
        item_follows_item = LIST_ITEM.match(line) and LIST_ITEM.match(out[-1] if out else "") and (
            _indent(out[-1]) == _indent(line))
        if stripped and out and out[-1] and not item_follows_item and (
                LIST_ITEM.match(line) or _indent(line) < _content_indent(out[-1])):
            out.append("")  # reStructuredText wants a blank line where a list starts or its item ends
        if stripped or (out and out[-1]):
            out.append(line.rstrip())
        index += 1
    while out and not out[-1]:
        out.pop()
    return _inline_outside(out, literal)


def _inline_outside(out, literal):
    """The lines with inline markup converted, a paragraph at a time (a link may span two lines)."""
    converted, run = [], []
    for position, line in enumerate([*out, None]):
        if line is None or position in literal:
            converted += _inline("\n".join(run)).split("\n") if run else []
            run = []
            if line is not None:
                converted.append(line)
        else:
            run.append(line)
    return converted


def _sections(markdown):
    """The title, the intro and the chosen sections of README.md, as Markdown lines."""
    lines = markdown.splitlines()
    starts = [number for number, line in enumerate(lines) if line.startswith("## ")]
    chosen = lines[:starts[0]]
    for number, start in enumerate(starts):
        if lines[start][3:].strip() in SECTIONS:
            chosen += lines[start:starts[number + 1] if number + 1 < len(starts) else len(lines)]
    missing = set(SECTIONS) - {line[3:].strip() for line in chosen if line.startswith("## ")}
    if missing:
        raise SystemExit(f"README.md has no section {sorted(missing)}: update SECTIONS in {__file__}")
    return chosen


def readme_rst(markdown):
    """The addon's README.rst for the text of README.md."""
    body = markdown_to_rst(_sections(markdown))
    footer = ["", "More", "====", "",
              f"The demo, the offline commands, the tests and the benchmarks: `README.md <{_url('README.md')}>`__."]
    return "\n".join([NOTICE, "", *body, *footer]) + "\n"


def index_html(rst):
    """The Apps page: the README.rst rendered by docutils, as Odoo renders a module's README."""
    parts = publish_parts(rst, writer_name="html", settings_overrides={
        "report_level": 2, "halt_level": 2, "doctitle_xform": False, "file_insertion_enabled": False,
        "raw_enabled": False})
    return "<!-- Generated from README.md by scripts/gen_addon_readme.py. -->\n" + parts["html_body"]


def generated():
    """{path: text} of the files this script writes."""
    rst = readme_rst(README_MD.read_text(encoding="utf-8"))
    return {README_RST: rst, INDEX_HTML: index_html(rst)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="only say whether the files are up to date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated().items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"out of date, run {Path(__file__).name}: {', '.join(map(str, stale))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
