"""Clean text: what every free-text field a caller fills may hold.

Names, emails, descriptions, reasons and justifications are bounded (each field's own
maximum) and refuse control characters (ESC, NUL, ...), the Unicode bidirectional
overrides and isolates (U+202A-U+202E, U+2066-U+2069), which can make a dashboard or
a receipt show text other than what is stored, and lone surrogates, which no encoder
can write. A multi-line field (`clean_text`) keeps newlines and tabs.
"""

from __future__ import annotations

import re

from payledger.domain.errors import ValidationError

_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_BIDI = "\u202a-\u202e\u2066-\u2069"
_SURROGATES = "\ud800-\udfff"
_UNSAFE_TEXT = re.compile(f"[{_CONTROLS}{_BIDI}{_SURROGATES}]")
_UNSAFE_LINE = re.compile(f"[\t\n\r{_CONTROLS}{_BIDI}{_SURROGATES}]")


def _refuse(value: str, unsafe: re.Pattern[str]) -> str:
    found = unsafe.search(value)
    if found is not None:
        raise ValidationError("text", f"holds U+{ord(found.group()):04X}, a control, "
                                      "bidirectional-override or surrogate character")
    return value


def clean_line(value: str) -> str:
    """One line of text: no control characters at all."""
    return _refuse(value, _UNSAFE_LINE)


def clean_text(value: str) -> str:
    """Text that may span lines (newlines and tabs kept)."""
    return _refuse(value, _UNSAFE_TEXT)
