"""CLI commands for lineage and data docs (`lineage`, `docs`), registered on the main app by
`lakehouse.cli`. Lineage needs only the definitions (contracts and gold models), so `--root`
is optional for it; `docs` reads the tables' state from the root as well.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lakehouse.cli.options import RootOpt, TableOrJson, lakehouse, out_path


class Kind(StrEnum):
    direct = "direct"
    all = "all"


ModelsOpt = Annotated[
    Path | None,
    typer.Option(
        "--models",
        help="Folder of gold model files (default: the packaged models).",
        exists=True,  # a missing folder failed with FileNotFoundError's words
        file_okay=False,
        envvar="LAKEHOUSE_MODELS",
        show_envvar=True,
    ),
]


def lineage(
    table: Annotated[str, typer.Argument(help="zone.table, e.g. gold.product_performance")],
    column: Annotated[str | None, typer.Option("--column", help="One column of the table.")] = None,
    downstream: Annotated[
        bool, typer.Option("--downstream", help="What is built from it (impact of a change).")
    ] = False,
    kind: Annotated[
        Kind | None,
        typer.Option(
            "--kind",
            help="direct: columns whose values flow in; all: also columns that decide which "
            "rows a table holds (joins, filters, groups, checks). Default: direct upstream, "
            "all downstream.",
        ),
    ] = None,
    format: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
    root: RootOpt = None,  # accepted like every command; lineage reads only the definitions
    models: ModelsOpt = None,
) -> None:
    """Where a table or column comes from (upstream), or what is built from it (--downstream),
    transitively, derived from the contracts and the gold models' SQL."""
    from lakehouse.lineage import lakehouse_graph
    from lakehouse.log import configure

    configure()
    graph = lakehouse_graph(os.environ.get("LAKEHOUSE_CONTRACTS") or None, models)
    chosen = kind or (Kind.all if downstream else Kind.direct)
    walk = graph.downstream if downstream else graph.upstream
    hits = walk(table, column, direct_only=chosen is Kind.direct)
    rows = [
        {"table": h.ref.table, "column": h.ref.column, "kind": h.kind, "depth": h.depth}
        for h in hits
    ]
    if format is TableOrJson.json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    from lakehouse.cli import layout
    from lakehouse.cli.console import console

    subject = f"{table}.{column}" if column else table
    title = f"{'downstream of' if downstream else 'upstream of'} {subject} ({chosen.value})"
    cols = (
        layout.name("table"),
        layout.name("column"),
        layout.value("kind", drop=2),
        layout.number("depth", drop=1),
    )
    con = console()
    layout.show(
        con,
        cols,
        [(str(r["table"]), str(r["column"]), str(r["kind"]), str(r["depth"])) for r in rows],
        title,
    )
    if not rows:
        con.print("nothing")


def docs(
    out: Annotated[str, typer.Option("--out", help="HTML file to write.")],
    root: RootOpt = None,
    models: ModelsOpt = None,
) -> None:
    """Write the data docs: every table by zone with its columns, checks, descriptions,
    lineage, rows, version, freshness and reject rate, as one searchable offline HTML file."""
    from lakehouse.datadocs import write

    lh = lakehouse(root)
    path = write(lh.root, out_path(out, example="docs.html"), lh.contracts_dir, models)
    size = path.stat().st_size / 1e6
    sys.stdout.write(f"data docs written to {path} ({size:,.1f} MB)\n")


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.command()(lineage)
    app.command()(docs)
