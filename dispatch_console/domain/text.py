"""Text from outside (a device's name, a callsign, a school's message) made safe to show.

A sender's text reaches a terminal, a CSV file, a PDF and the console. Control characters
(an ANSI escape can rewrite a terminal line) and bidirectional overrides (U+202E shows
``exe.txt`` as ``txt.exe``, and can reverse a name in a table) are neutralised the same way
everywhere: a control character becomes its visible escape (``\\x1b``), a bidi or invisible
formatting character becomes ``<U+202E>``, so a reader sees that something odd was sent.

Identifiers (a TAK uid, a device id) are not repaired but refused: :func:`identifier_problem`.
"""

from __future__ import annotations

import unicodedata
from typing import Final

#: The longest identifier (TAK uid, device id) accepted from a sender.
MAX_ID_CHARS: Final = 128
#: The longest short text field (a callsign, a name, an agency) accepted from a sender.
MAX_SHORT_CHARS: Final = 200

#: Bidirectional embedding, override and isolate controls, and the marks.
_BIDI: Final = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _unsafe(ch: str) -> bool:
    if ch in _BIDI:
        return True
    category = unicodedata.category(ch)
    # Cc: C0/C1 controls (ESC, CR, BEL...); Cf: invisible formatting (zero-width, bidi);
    # Zl/Zp: line and paragraph separators (a second line where one is expected).
    return category in ("Cc", "Cf", "Zl", "Zp")


def _shown(ch: str) -> str:
    code = ord(ch)
    if unicodedata.category(ch) == "Cc" and code < 0x100:
        return f"\\x{code:02x}"
    return f"<U+{code:04X}>"


def neutralise(text: str) -> str:
    """``text`` with every control, bidi and invisible formatting character made visible."""
    if text.isprintable() and text.isascii():  # the usual case, at C speed
        return text
    return "".join(_shown(ch) if _unsafe(ch) else ch for ch in text)


def has_unsafe(text: str) -> bool:
    return not (text.isprintable() and text.isascii()) and any(_unsafe(ch) for ch in text)


def identifier_problem(value: str, what: str = "uid", limit: int = MAX_ID_CHARS) -> str | None:
    """Why ``value`` cannot be an identifier (too long, empty, spaces, control or bidi
    characters), or ``None``. The reason never repeats more than a bounded excerpt."""
    if len(value) <= limit and value.isascii() and value.isprintable() and " " not in value:
        return None  # the usual case, at C speed (a CoT flood runs through here)
    if not value.strip():
        return f"{what} is empty"
    if len(value) > limit:
        return f"{what} is {len(value)} characters, over the {limit}-character limit"
    if any(ch.isspace() or _unsafe(ch) for ch in value):
        return f"{what} {neutralise(value)[:60]!r} contains spaces, control or bidi characters"
    return None


def text_problem(value: str | None, what: str, limit: int = MAX_SHORT_CHARS) -> str | None:
    """Why a short text field is refused (longer than ``limit``), or ``None``."""
    if value is not None and len(value) > limit:
        return f"{what} is {len(value)} characters, over the {limit}-character limit"
    return None


__all__ = [
    "MAX_ID_CHARS",
    "MAX_SHORT_CHARS",
    "has_unsafe",
    "identifier_problem",
    "neutralise",
    "text_problem",
]
