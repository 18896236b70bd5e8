"""CLI commands for table maintenance, registered on the main app by `lakehouse.cli`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
