"""The digest a customer notice keeps of the text it sent, without Odoo."""

import hashlib

import pytest
from customer_handover_tools.notice_text import DIGEST_VERSION, text_digest


def test_the_digest_covers_subject_and_body_in_canonical_json():
    expected = hashlib.sha256('["customer-handover-notice",1,"主题","<p>正文</p>"]'.encode()).hexdigest()
    assert text_digest("主题", "<p>正文</p>") == expected
    assert DIGEST_VERSION == 1


def test_any_change_of_the_text_changes_the_digest():
    base = text_digest("Subject", "<p>Body</p>")
    assert text_digest("Subject", "<p>Body.</p>") != base
    assert text_digest("Subject ", "<p>Body</p>") != base
    assert text_digest("", "Subject<p>Body</p>") != base


def test_an_unknown_version_is_refused():
    with pytest.raises(ValueError):
        text_digest("a", "b", version=2)
