"""Every console string is translated to English (Chinese is the source language)."""

import re
from pathlib import Path

PO = Path(__file__).resolve().parents[1] / "locale" / "en" / "LC_MESSAGES" / "django.po"


def test_english_catalogue_is_complete():
    text = PO.read_text(encoding="utf-8")
    entries = text.split("\n\n")[1:]  # the first block is the header
    untranslated = [
        e for e in entries if re.search(r'msgstr(\[\d\])? ""\n?$', e.strip() + "\n") and e.strip()
    ]
    fuzzy = [e for e in entries if "#, fuzzy" in e]
    assert not untranslated, untranslated[:3]
    assert not fuzzy, fuzzy[:3]
    assert PO.with_suffix(".mo").exists()
