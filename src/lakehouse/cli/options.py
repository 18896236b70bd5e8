"""What the commands share, declared once: the options (`--root`), the output formats, the
engine names, and the one way a command opens its root."""

from __future__ import annotations

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


def lakehouse(root: str | None) -> Lakehouse:
    """The lakehouse a command works on, with logging set up for it. The root (`--root`, else
    $LAKEHOUSE_ROOT, else the default) and the contracts folder are resolved by `Lakehouse`,
    and only there."""
    from lakehouse.api import Lakehouse
    from lakehouse.log import configure

    configure()
    return Lakehouse(root)
