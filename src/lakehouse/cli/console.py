"""The terminal sink of every command: Rich consoles that never read data as markup or as
terminal control sequences.

File names, headers, reason codes, table names, descriptions and error messages reach the
terminal. A Rich console with markup on reads `[bold]` in them as a style and fails on `[/x]`
(so a run that succeeded would exit 1), and reads `:name:` as an emoji; and Rich passes escape
sequences through, so a name holding `ESC [2J` would clear the screen and `ESC ]8;;` would make
a link. These consoles have markup, emoji and highlighting off and show control characters as
`\\x1b`-style escapes (`lakehouse.printable`): every string prints as written. A value shown
on one line (a table cell, a file name in a summary line) has its line breaks escaped too
(`one_line`). A command that wants a colour says so with `rich.text.Text(visible(text), ...)`.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from lakehouse.printable import one_line, visible

__all__ = ["DataConsole", "console", "one_line", "visible"]


class DataConsole(Console):
    """A console whose strings (printed, table cells, titles) are shown as written."""

    def __init__(self, stderr: bool = False) -> None:
        super().__init__(stderr=stderr, markup=False, emoji=False, highlight=False)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(visible(text), **kwargs)


def console(stderr: bool = False) -> Console:
    return DataConsole(stderr)
