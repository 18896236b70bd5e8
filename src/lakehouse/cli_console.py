"""The terminal sink of every command: Rich consoles that never read data as markup.

File names, headers, reason codes, table names, descriptions and error messages reach the
terminal. A Rich console with markup on reads `[bold]` in them as a style and fails on `[/x]`
(so a run that succeeded would exit 1), and reads `:name:` as an emoji. These consoles have
markup, emoji and highlighting off: every string prints as written, and a command that wants a
colour says so with `rich.text.Text(..., style=...)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, markup=False, emoji=False, highlight=False)
