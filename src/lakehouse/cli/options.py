"""What the commands share, declared once: the options (`--root`), the output formats, the
engine names, and the one way a command opens its root."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from lakehouse.api import Lakehouse

RootOpt = Annotated[
    str | None,
    typer.Option(
        "--root",
        help="Lakehouse root (folder or s3://).",
        envvar="LAKEHOUSE_ROOT",
        show_envvar=True,
    ),
]


class Fmt(StrEnum):
    """`--format` of the commands that print rows (`sql`, `tables`, `history`)."""

    table = "table"
    csv = "csv"
    json = "json"


class TableOrJson(StrEnum):
    """`--format` of the commands that print a report (`status`, `catalog sync`, `lineage`)."""

    table = "table"
    json = "json"


class EngineName(StrEnum):
    local = "local"
    spark = "spark"


#: `--engine` of the commands that compute (`run`) or maintain tables (`optimize`, `vacuum`)
EngineOpt = Annotated[EngineName, typer.Option(help="Where to compute.")]


def lakehouse(root: str | None, *, create: bool = False) -> Lakehouse:
    """The lakehouse a command works on, with logging set up for it. The root (`--root`, else
    $LAKEHOUSE_ROOT, else the default) and the contracts folder are resolved by `Lakehouse`,
    and only there. Only a command that `create`s one (`run`, `watch`) accepts a local root
    that does not exist: any other read a mistyped root as an empty lakehouse, and `status`
    said "OK: every SLA is met" of it."""
    from lakehouse.api import Lakehouse
    from lakehouse.errors import TerminalError
    from lakehouse.log import configure

    configure()
    lh = Lakehouse(root)
    folder = lh.root.local_path()
    if not create and folder is not None and not os.path.isdir(folder):
        raise TerminalError(
            f"no lakehouse at {folder}: the folder does not exist (check --root or "
            "LAKEHOUSE_ROOT; `lakehouse run` creates one)"
        )
    return lh
