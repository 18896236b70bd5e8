"""The commands over the tables: `sql`, `tables`, `describe`, `history`, `restore`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakehouse.cli import layout
from lakehouse.cli.options import Fmt, RootOpt, lakehouse
from lakehouse.cli.output import print_rows

if TYPE_CHECKING:
    from lakehouse.contracts.model import Column

# on a screen: names and values whole, descriptions cut to fit, then columns left out
TABLES = {
    "table": layout.name("table"),
    "rows": layout.value("rows", drop=4),
    "version": layout.value("version", drop=2),
    "files": layout.value("files", drop=1),
    "last_update": layout.value("last_update", drop=3),
    "description": layout.text("description"),
}
HISTORY = {
    "version": layout.value("version"),
    "timestamp": layout.value("timestamp", drop=5),
    "operation": layout.value("operation"),
    "run_id": layout.name("run_id"),
    "step": layout.value("step", drop=3),
    "source_files": layout.text("source_files"),
    "rows_added": layout.value("rows_added", drop=4),
    "rows_updated": layout.value("rows_updated", drop=2),
    "rows_deleted": layout.value("rows_deleted", drop=1),
}
DESCRIBE = (
    layout.name("column"),
    layout.value("type"),
    layout.value("required", drop=2),
    layout.text("checks", drop=1),
    layout.text("description"),
)


def sql(
    statement: Annotated[str, typer.Argument(help="SELECT over zone.table names.")],
    root: RootOpt = None,
    format: Annotated[Fmt, typer.Option("--format")] = Fmt.table,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Version or ISO timestamp.")] = None,
    allow_file_access: Annotated[
        bool,
        typer.Option(
            "--allow-file-access",
            help="Let the statement read and write any file this user can (read_csv, COPY TO, "
            "ATTACH, extensions).",
        ),
    ] = False,
) -> None:
    """Run SQL (DuckDB) over the lakehouse tables, e.g. SELECT * FROM silver.orders.

    The statement sees only the lakehouse tables (zone.table): reading, writing or listing
    files, ATTACH, INSTALL/LOAD and changing settings are refused unless --allow-file-access.
    The tables are read-only views; other statements act on a throw-away in-memory database.
    """
    lh = lakehouse(root)
    print_rows(lh.sql(statement, as_of=as_of, allow_file_access=allow_file_access), format)


def tables(
    root: RootOpt = None, format: Annotated[Fmt, typer.Option("--format")] = Fmt.table
) -> None:
    """Every table with rows, version, last update and description."""
    import pyarrow as pa

    brief = format is Fmt.table  # a screen wants the first sentence; machines get it all
    lh = lakehouse(root)
    rows = [
        {
            "table": t.name,
            "rows": t.rows,
            "version": t.version,
            "files": t.files,
            "last_update": f"{t.last_update:%Y-%m-%d %H:%M:%S}"
            if brief and t.last_update
            else t.last_update,
            "description": _first_sentence(t.description) if brief else t.description,
        }
        for t in lh.tables()
    ]
    data = pa.Table.from_pylist(rows) if rows else pa.table({"table": []})
    print_rows(data, format, known=TABLES)
    if not rows:  # an empty frame alone did not tell a wrong --root from a new lakehouse
        typer.echo(
            f"no tables under {lh.root.uri}: is this the lakehouse's root? "
            "(`lakehouse run --root ... --source FILES` loads one)",
            err=True,
        )


def _first_sentence(text: str) -> str:
    first = text.split(". ")[0].split(": ")[0].strip().rstrip(".")
    return first if len(first) <= 60 else first[:57].rstrip() + "…"


def describe(name: Annotated[str, typer.Argument(help="zone.table")], root: RootOpt = None) -> None:
    """Contract (columns, types, checks) and Delta statistics of one table."""
    from rich.text import Text

    from lakehouse.cli.console import console, visible

    d = lakehouse(root).describe(name)
    con = console()
    i = d.info
    con.print(Text(visible(i.name), "bold"), f"— {i.description}")
    con.print(
        f"rows {i.rows:,} · version {i.version} · files {i.files} · "
        f"{i.size_bytes / 1e6:,.2f} MB · partitioned by {', '.join(d.partition_by) or 'nothing'} · "
        f"protocol r{d.protocol['min_reader_version']}/w{d.protocol['min_writer_version']}"
        f" · last update {i.last_update:%Y-%m-%d %H:%M:%S} UTC"
    )
    h = d.health

    def when(e: dict[str, Any] | None) -> str:
        return (
            f"{e['timestamp']:%Y-%m-%d %H:%M} UTC ({e['run_id'] or 'no run id'})" if e else "never"
        )

    con.print(
        f"files {h['files']:,} · avg {h['avg_file_bytes'] / 1e6:,.2f} MB · "
        f"small {h['small_files']:,} · {h['versions_retained']:,} versions kept · "
        f"Z-order {', '.join(h['zorder_by']) or '—'} · last optimize {when(h['last_optimize'])}"
        f" · last vacuum {when(h['last_vacuum'])}"
    )
    c = d.contract
    if c:
        con.print(
            f"contract {c.entity} v{c.version} · key {', '.join(c.primary_key)} · "
            f"evolution {c.evolution}"
        )
    # the stored columns; a silver column with its contract's type and checks (bronze keeps the
    # text as delivered, quarantine the text and reasons: the contract's types are not theirs)
    checked = {col.name: col for col in c.columns} if c and i.name.startswith("silver.") else {}
    rows = []
    for f in d.schema:
        col = checked.get(f.name)
        if col is None:
            comment = (f.metadata or {}).get(b"comment", b"").decode(errors="replace")
            rows.append((f.name, str(f.type), "no" if f.nullable else "yes", "", comment))
        else:
            rows.append(
                (col.name, col.type, "yes" if col.required else "no", _checks(col), col.description)
            )
    layout.show(con, DESCRIBE, rows)
    for fk in c.foreign_keys if c else []:
        con.print(
            f"foreign key {fk.column} → {fk.references}.{fk.ref_column}"
            + (f" (must agree: {', '.join(fk.must_agree)})" if fk.must_agree else "")
        )


def _checks(col: Column) -> str:
    """A contract column's checks, in words."""
    checks = []
    if col.min is not None and col.max is not None:
        checks.append(f"range [{col.min}, {col.max}]")
    elif col.min is not None or col.max is not None:
        checks.append(f">= {col.min}" if col.min is not None else f"<= {col.max}")
    if col.enum:
        checks.append("one of " + ", ".join(col.enum))
    if col.date_of:
        checks.append(f"= date({col.date_of})")
    if col.not_in_future:
        checks.append("not in future")
    return "; ".join(checks)


def history(
    name: Annotated[str, typer.Argument(help="zone.table")],
    root: RootOpt = None,
    format: Annotated[Fmt, typer.Option("--format")] = Fmt.table,
    limit: Annotated[int | None, typer.Option(help="Newest N versions.", min=1)] = None,
) -> None:
    """Delta history with run ids and source files."""
    import pyarrow as pa

    rows = lakehouse(root).history(name, limit)
    for r in rows:
        r["source_files"] = ", ".join(r["source_files"])
    print_rows(pa.Table.from_pylist(rows), format, known=HISTORY)


def restore(
    name: Annotated[str, typer.Argument(help="zone.table")],
    version: Annotated[int, typer.Option("--version", help="Version to roll back to.")],
    root: RootOpt = None,
) -> None:
    """Roll a table back to an earlier version (a new commit; history is kept)."""
    from lakehouse.cli.console import console

    new = lakehouse(root).restore(name, version)
    console().print(f"{name} restored to version {version} (now at version {new})")


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    for command in (sql, tables, describe, history, restore):
        app.command()(command)
