"""The terminal sink of every command: Rich consoles that never read data as markup or as
terminal control sequences.

File names, headers, reason codes, table names, descriptions and error messages reach the
terminal. A Rich console with markup on reads `[bold]` in them as a style and fails on `[/x]`
(so a run that succeeded would exit 1), and reads `:name:` as an emoji; and Rich passes escape
sequences through, so a name holding `ESC [2J` would clear the screen and `ESC ]8;;` would make
a link. These consoles have markup, emoji and highlighting off and show control characters as
`\\x1b`-style escapes: every string prints as written. A command that wants a colour says so
with `rich.text.Text(visible(text), style=...)`.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

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


def visible(text: str) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\u202e`)."""
    return text.translate(_VISIBLE)


class DataConsole(Console):
    """A console whose strings (printed, table cells, titles) are shown as written."""

    def __init__(self, stderr: bool = False) -> None:
        super().__init__(stderr=stderr, markup=False, emoji=False, highlight=False)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(visible(text), **kwargs)


def console(stderr: bool = False) -> Console:
    return DataConsole(stderr)
