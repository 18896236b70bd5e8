"""Options every command shares, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

RootOpt = Annotated[
    str | None,
    typer.Option(
        "--root",
        help="Lakehouse root (folder or s3://).",
        envvar="LAKEHOUSE_ROOT",
        show_envvar=True,
    ),
]
