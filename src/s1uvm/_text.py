"""Text that came from a console, made safe for where it is shown.

``terminal``: every value printed to a terminal — hostnames, titles, site names, error details
— may hold what a console put there: an escape sequence that clears the screen, sets the
window title or plants a hyperlink (OSC 8), a bidi override that shows a name reversed, a
newline that starts a fake row. Control characters (C0, DEL, C1), the bidi controls and the
line and paragraph separators are shown escaped instead (``\\x1b``, ``\\n``, ``\\u202e``), so
the text is visible, one value stays on one line and the terminal receives no instruction.

``csv_cell``: a spreadsheet runs a cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab
or carriage return before one) as a formula, ``=HYPERLINK(…)`` and ``+cmd|…`` included. Such a
cell gets a leading apostrophe (OWASP's "CSV injection" advice): shown as text, and the
apostrophe itself is not displayed by spreadsheets. Machine consumers that want the values
unchanged ask for ``--csv-raw``."""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls; the bidi marks, embeddings, overrides and isolates
# (U+061C, U+200E-200F, U+202A-202E, U+2066-2069); the line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal(value: object) -> str:
    """``value`` as text for a terminal, its control characters escaped."""
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escape, text)


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run as a formula; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
