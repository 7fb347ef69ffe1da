"""Stable codes of purposes, retention policies and business domains: what other companies and databases match on."""

import re

_NOT_WORD = re.compile(r"[\W_]+")


def slug(text):
    """A code made of ``text``: lowercase words joined by ``_`` (any script: a Chinese name keeps its characters)."""
    return _NOT_WORD.sub("_", (text or "").casefold()).strip("_")
