"""`lakehouse run`: copy files to landing/, process landing/, print what each table got."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakehouse.cli.options import EngineName, EngineOpt, RootOpt, lakehouse


class GoldRefreshName(StrEnum):
    due = "due"
    all = "all"


if TYPE_CHECKING:
    from lakehouse.api import Lakehouse


def run(
    root: RootOpt = None,
    source: Annotated[
        list[str] | None,  # text, not Path: Path("") would be the current folder
        typer.Option("--source", help="File or folder to copy into landing/ first (repeatable)."),
    ] = None,
    engine: EngineOpt = EngineName.local,
    refresh: Annotated[
        GoldRefreshName,
        typer.Option(
            help="Gold models with a staleness budget: 'due' rebuilds those whose budget is "
            "spent, 'all' every one behind silver."
        ),
    ] = GoldRefreshName.due,
    summary: Annotated[bool, typer.Option(help="Print a per-table summary.")] = True,
) -> None:
    """Copy --source files to landing/, then process everything in landing/."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from lakehouse.cli.console import console

    lh = lakehouse(root, create=True)
    err = console(stderr=True)
    with Progress(
        TextColumn("{task.description:10}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}", markup=False),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # a bar for people: a log or a pipe got an empty line
    ) as bar:
        tasks: dict[str, Any] = {}

        def tick(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        result = lh.run(source or [], engine=engine.value, progress=tick, refresh=refresh.value)
    if summary:
        _print_run(lh, result)


def _print_run(lh: Lakehouse, s: Any) -> None:
    from rich.text import Text

    from lakehouse.cli import layout
    from lakehouse.cli.console import console, one_line

    con = console()
    cols = (
        layout.name("entity"),
        layout.number("rows in"),
        layout.number("valid"),
        layout.number("quarantined"),
        layout.number("inserted", drop=3),
        layout.number("updated", drop=2),
        layout.number("released", drop=1),
    )
    rows = [
        (
            e.entity,
            *(
                f"{v:,}"
                for v in (e.rows_in, e.valid, e.quarantined, e.inserted, e.updated, e.released)
            ),
        )
        for e in s.entities.values()
    ]
    layout.show(con, cols, rows, f"run {s.run_id} — {s.status} in {s.seconds:.2f} s")
    con.print(
        f"files loaded: {len(s.files_loaded)}, rejected: {len(s.files_rejected)}, "
        f"already seen: {len(s.files_duplicate)}"
    )
    for f, reasons in s.files_rejected.items():
        con.print(Text("  rejected", "red"), one_line(f"{f}: {', '.join(reasons)}"))
    for e in s.entities.values():
        if e.superseded:
            con.print(
                Text("  superseded", "yellow"),
                one_line(f"{e.entity}: {e.superseded:,} waiting rows a later delivery replaced"),
            )
    for entity, moved in s.requarantined.items():
        con.print(
            Text("  back to quarantine", "yellow"),
            one_line(f"{entity}: {moved:,} rows whose parent changed under them"),
        )
    con.print(f"root: {lh.root.uri}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.command()(run)
