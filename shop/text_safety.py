"""Characters that have no place in a title: control characters and bidi overrides.

C0 and C1 control characters (and DEL) are what terminals read as escape sequences and mail
headers as line breaks; the bidi embeddings, overrides and isolates (U+202A to U+202E,
U+2066 to U+2069) make text display in another order than it is stored. Text typed by an
operator is refused when it holds any (:func:`unsafe_character`); text read from files'
tags is refused at import the same way. Text printed to a terminal goes through
:func:`for_terminal`, and a mail header through :func:`for_header`, whatever the database holds.
"""

from __future__ import annotations

import re
import unicodedata

_CONTROLS = "\x00-\x1f\x7f-\x9f"
_BIDI = "\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[{_CONTROLS}{_BIDI}]")
#: Multi-line text (a blurb) may hold line breaks and tabs, nothing else of the above.
_UNSAFE_IN_LINES = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")

_NAMES = {"\x00": "NUL", "\x07": "BEL", "\x08": "BS", "\t": "TAB", "\n": "LF", "\r": "CR", "\x1b": "ESC",
          "\x7f": "DEL", "\x9b": "CSI"}


def describe(char: str) -> str:
    """``U+001B (ESC)``, ``U+202E (RIGHT-TO-LEFT OVERRIDE)``."""
    name = _NAMES.get(char) or unicodedata.name(char, "control character")
    return f"U+{ord(char):04X} ({name})"


def unsafe_character(text: str, *, multiline: bool = False) -> str | None:
    """The first control character or bidi override in ``text``, described; ``None`` when clean.

    :param multiline: allow line breaks (LF, CR) and tabs, as a text area sends them.
    """
    match = (_UNSAFE_IN_LINES if multiline else _UNSAFE).search(text)
    return describe(match.group()) if match else None


def refusal(what: str, text: str, *, multiline: bool = False) -> str | None:
    """What an operator is told about ``text`` holding a control or bidi character, or ``None``."""
    found = unsafe_character(text, multiline=multiline)
    if found is None:
        return None
    return f"the {what} holds the control or direction character {found}"


def for_terminal(text: str, *, lines: bool = False) -> str:
    """``text`` with every control and bidi character written as an escape (``\\x1b``,
    ``\\u202e``), so printing it can never drive the terminal.

    :param lines: keep line breaks (LF) as they are, for a message of several lines.
    """
    if lines:
        return "\n".join(for_terminal(line) for line in text.split("\n"))
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def for_header(text: str) -> str:
    """``text`` on one line for a mail header: each control or bidi character becomes a space."""
    return " ".join(_UNSAFE.sub(" ", text).split())
