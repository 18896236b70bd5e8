"""Data made safe to print on a terminal or a log line: control characters written as escapes.

File names, headers, reason codes, table names and error messages quoting them reach stderr and
stdout. Written raw, `ESC [2J` in a name would clear the screen, `ESC ]8;;` would make a link, a
bidirectional override would make a name read as another, and a newline would start a line of
its own that reads like the program's (a forged "files loaded: 3, rejected: 0"). These helpers
have no dependencies, so the Glue job and the notifiers use them as the CLI does.
"""

from __future__ import annotations

# C0 and C1 controls (except tab and newline), DEL, and the bidirectional overrides that can
# make a name read differently from what it is
_CONTROLS = [
    *(c for c in range(0x20) if c not in (0x09, 0x0A)),
    0x7F,
    *range(0x80, 0xA0),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
_VISIBLE = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _CONTROLS}
# ... and what ends a line: newline, and the line and paragraph separators
_ONE_LINE = {**_VISIBLE, 0x0A: "\\n", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def visible(text: str) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\u202e`); its
    newlines kept (for the program's own text of several lines)."""
    return text.translate(_VISIBLE)


def one_line(text: str) -> str:
    """`text` as `visible` writes it, its line breaks written as escapes too (`\\n`): data
    shown on one line, a table cell or a message, stays on that line."""
    return text.translate(_ONE_LINE)
