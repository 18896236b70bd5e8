"""What the commands share, declared once: the options (`--root`), the output formats, the
engine names, and the one way a command opens its root."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
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


def out_path(value: str, *, folder: bool = False, example: str = "out.html") -> Path:
    """`--out` as given: a file to write (its folder is made; a folder is refused), or with
    `folder` a folder to write into. Text, not Path: Path("") is the current folder (`generate
    --out ""` wrote there, `docs --out ""` failed with IsADirectoryError: '.')."""
    from lakehouse.errors import TerminalError

    if not value.strip():
        what = "a folder to write into" if folder else f"a file to write, e.g. {example}"
        raise TerminalError(f"--out is empty: give {what}")
    path = Path(value)
    if folder:
        taken = next((p for p in (path, *path.parents) if p.exists()), None)
        if taken is not None and not taken.is_dir():  # NotADirectoryError's words, before
            raise TerminalError(f"--out {path}: {taken} is a file, not a folder")
        return path
    if path.is_dir():
        raise TerminalError(f"--out {path} is a folder: give a file name, e.g. {path}/{example}")
    if path.parent.exists() and not path.parent.is_dir():
        raise TerminalError(f"--out {path}: {path.parent} is not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
