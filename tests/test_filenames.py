"""Safe file names for zips and Content-Disposition."""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote

import pytest

from shop.filenames import (
    MAX_COMPONENT_BYTES,
    UniqueNames,
    ascii_fallback,
    content_disposition,
    safe_component,
    truncate_utf8,
)

FORBIDDEN = set('/\\:*?"<>|')


def assert_safe(name: str) -> None:
    assert name
    assert not FORBIDDEN & set(name)
    assert all(unicodedata.category(c) != "Cc" for c in name)
    assert not name.startswith((".", " "))
    assert not name.endswith((".", " "))
    assert len(name.encode("utf-8")) <= MAX_COMPONENT_BYTES
    assert name.split(".")[0].strip().upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}


@pytest.mark.parametrize("raw", [
    "../../etc/passwd", "..", ".", "", "   ", "a/b\\c:d*e?f\"g<h>i|j", ".hidden", "  .x. ",
    "CON", "con.txt", "Nul .flac", "LPT1", "COM9.wav", "aux", "evil\u202egpj.exe",
    "tab\tnew\nline\x00nul\x7fdel\x85", "trailing...", "東京" * 100, "é" * 200, "x" * 500,
    "\u2028line\u2029para",
])
def test_safe_component_is_safe_everywhere(raw: str) -> None:
    assert_safe(safe_component(raw))
    assert_safe(safe_component(raw, ".flac"))
    assert safe_component(raw, ".flac").endswith(".flac")


def test_safe_component_keeps_ordinary_unicode() -> None:
    assert safe_component("Björk Ørsted - Intro: 東京") == "Björk Ørsted - Intro_ 東京"
    # Decomposed input comes out composed (NFC), as macOS and Windows users type it.
    assert safe_component("Bjo\u0308rk") == "Björk"


def test_reserved_windows_names_are_prefixed() -> None:
    assert safe_component("CON") == "_CON"
    assert safe_component("con", ".flac") == "_con.flac"
    assert safe_component("CONCERT") == "CONCERT"


def test_truncation_never_splits_a_character() -> None:
    cut = truncate_utf8("東" * 50, 10)
    assert cut == "東東東"
    name = safe_component("東京" * 100, ".flac")
    assert name.endswith(".flac")
    assert len(name.encode()) <= MAX_COMPONENT_BYTES
    name.encode("utf-8").decode("utf-8")


def test_unique_names_are_deterministic_and_case_insensitive() -> None:
    names = UniqueNames()
    got = [names.claim(t, ".mp3") for t in ["Same", "same", "SAME", "Same", "Other"]]
    assert got == ["Same.mp3", "same (2).mp3", "SAME (3).mp3", "Same (4).mp3", "Other.mp3"]
    again = UniqueNames()
    assert [again.claim(t, ".mp3") for t in ["Same", "same", "SAME", "Same", "Other"]] == got


def test_unique_names_respect_the_length_cap_with_a_suffix() -> None:
    names = UniqueNames()
    first = names.claim("é" * 200, ".flac")
    second = names.claim("é" * 200, ".flac")
    assert first != second
    assert second.endswith(" (2).flac")
    assert len(second.encode()) <= MAX_COMPONENT_BYTES


@pytest.mark.parametrize("name, expected", [
    ("Björk Ørsted - Ünïcode.zip", "Bjork Orsted - Unicode.zip"),
    ("東京.flac", "download.flac"),
    ('say "hi"; 100%.mp3', "say _hi__ 100_.mp3"),
    ("東京", "download"),
])
def test_ascii_fallback(name: str, expected: str) -> None:
    assert ascii_fallback(name) == expected


def test_content_disposition_has_both_forms() -> None:
    header = content_disposition("Björk - 東京 \"live\"; x=y.flac")
    assert header.startswith('attachment; filename="')
    plain = header.split('filename="', 1)[1].split('"', 1)[0]
    assert plain.isascii() and ";" not in plain and '"' not in plain
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert all(c.isascii() and c not in ' ";' for c in encoded)
    assert unquote(encoded) == "Björk - 東京 _live_; x=y.flac"


def test_content_disposition_cannot_inject_header_text() -> None:
    header = content_disposition("a\r\nSet-Cookie: x=1\"; filename=evil.exe")
    assert "\r" not in header and "\n" not in header
    # The quote ends the value where we put it, not where the title says.
    assert header.startswith('attachment; filename="a__Set-Cookie_ x=1__ filename=evil.exe"; ')
    assert "/" not in unquote(header.split("''", 1)[1])
