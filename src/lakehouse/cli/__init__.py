"""The `lakehouse` command: a thin layer over `lakehouse.Lakehouse` (see docs/cli.md)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from lakehouse.cli.options import RootOpt

if TYPE_CHECKING:
    import pyarrow as pa

    from lakehouse.api import Lakehouse

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="E-commerce lakehouse: shop files in, ACID Delta tables and answers out.",
)


class Fmt(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class EngineName(StrEnum):
    local = "local"
    spark = "spark"


class FileFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"


def _lh(root: str | None) -> Lakehouse:
    from lakehouse.api import Lakehouse
    from lakehouse.log import configure

    configure()
    return Lakehouse(root)


def _console(stderr: bool = False) -> Any:
    from lakehouse.cli.console import console

    return console(stderr)


def _print_table(table: pa.Table, fmt: Fmt, title: str | None = None) -> None:
    if fmt is Fmt.json:
        sys.stdout.write(json.dumps(table.to_pylist(), default=_json_default) + "\n")
        return
    if fmt is Fmt.csv:
        import pyarrow.csv as pacsv

        sink = sys.stdout.buffer
        pacsv.write_csv(table, sink)
        sink.flush()
        return
    from rich.table import Table

    out = Table(title=title, show_lines=False)
    for i, name in enumerate(table.column_names):
        out.add_column(name, overflow="fold", no_wrap=i == 0)  # names stay on one line
    for row in table.to_pylist():
        out.add_row(*["" if v is None else _cell(v) for v in row.values()])
    _console().print(out)


def _cell(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".")
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _json_default(v: object) -> object:
    from decimal import Decimal

    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return str(v)


@app.command()
def run(
    root: RootOpt = None,
    source: Annotated[
        list[Path] | None,
        typer.Option("--source", help="File or folder to copy into landing/ first (repeatable)."),
    ] = None,
    engine: Annotated[EngineName, typer.Option(help="Where to compute.")] = EngineName.local,
    summary: Annotated[bool, typer.Option(help="Print a per-table summary.")] = True,
) -> None:
    """Copy --source files to landing/, then process everything in landing/."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    lh = _lh(root)
    with Progress(
        TextColumn("{task.description:10}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}", markup=False),
        TimeElapsedColumn(),
        console=_console(stderr=True),
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def tick(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        result = lh.run(source or [], engine=engine.value, progress=tick)
    if summary:
        _print_run(lh, result)


def _print_run(lh: Lakehouse, s: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    con = _console()
    t = Table(title=f"run {s.run_id} — {s.status} in {s.seconds:.2f} s")
    for col in ("entity", "rows in", "valid", "quarantined", "inserted", "updated", "released"):
        t.add_column(col, justify="left" if col == "entity" else "right")
    for e in s.entities.values():
        t.add_row(
            e.entity,
            *(
                f"{v:,}"
                for v in (e.rows_in, e.valid, e.quarantined, e.inserted, e.updated, e.released)
            ),
        )
    con.print(t)
    con.print(
        f"files loaded: {len(s.files_loaded)}, rejected: {len(s.files_rejected)}, "
        f"already seen: {len(s.files_duplicate)}"
    )
    for f, reasons in s.files_rejected.items():
        con.print(Text("  rejected", "red"), f"{f}: {', '.join(reasons)}")
    con.print(f"root: {lh.root.uri}")


@app.command()
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
    lh = _lh(root)
    _print_table(lh.sql(statement, as_of=as_of, allow_file_access=allow_file_access), format)


@app.command()
def tables(
    root: RootOpt = None, format: Annotated[Fmt, typer.Option("--format")] = Fmt.table
) -> None:
    """Every table with rows, version, last update and description."""
    import pyarrow as pa

    brief = format is Fmt.table  # a screen wants the first sentence; machines get it all
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
        for t in _lh(root).tables()
    ]
    _print_table(pa.Table.from_pylist(rows) if rows else pa.table({"table": []}), format)


def _first_sentence(text: str) -> str:
    first = text.split(". ")[0].split(": ")[0].strip().rstrip(".")
    return first if len(first) <= 60 else first[:57].rstrip() + "…"


@app.command()
def describe(name: Annotated[str, typer.Argument(help="zone.table")], root: RootOpt = None) -> None:
    """Contract (columns, types, checks) and Delta statistics of one table."""
    from rich.table import Table
    from rich.text import Text

    from lakehouse.cli.console import visible

    d = _lh(root).describe(name)
    con = _console()
    i = d.info
    con.print(Text(visible(i.name), "bold"), f"— {i.description}")
    con.print(
        f"rows {i.rows:,} · version {i.version} · files {i.files} · "
        f"{i.size_bytes / 1e6:,.2f} MB · partitioned by {d.partition_by or 'nothing'} · "
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
    if d.contract:
        c = d.contract
        con.print(
            f"contract {c.entity} v{c.version} · key {', '.join(c.primary_key)} · "
            f"evolution {c.evolution}"
        )
        t = Table()
        for heading in ("column", "type", "required", "checks", "description"):
            t.add_column(heading, overflow="fold")
        for col in c.columns:
            checks = []
            if col.min is not None or col.max is not None:
                checks.append(f"range [{col.min}, {col.max}]")
            if col.enum:
                checks.append("one of " + ", ".join(col.enum))
            if col.date_of:
                checks.append(f"= date({col.date_of})")
            if col.not_in_future:
                checks.append("not in future")
            t.add_row(
                col.name,
                col.type,
                "yes" if col.required else "no",
                "; ".join(checks),
                col.description,
            )
        con.print(t)
        for fk in c.foreign_keys:
            con.print(
                f"foreign key {fk.column} → {fk.references}.{fk.ref_column}"
                + (f" (must agree: {', '.join(fk.must_agree)})" if fk.must_agree else "")
            )


@app.command()
def history(
    name: Annotated[str, typer.Argument(help="zone.table")],
    root: RootOpt = None,
    format: Annotated[Fmt, typer.Option("--format")] = Fmt.table,
    limit: Annotated[int | None, typer.Option(help="Newest N versions.")] = None,
) -> None:
    """Delta history with run ids and source files."""
    import pyarrow as pa

    rows = _lh(root).history(name, limit)
    for r in rows:
        r["source_files"] = ", ".join(r["source_files"])
    _print_table(pa.Table.from_pylist(rows), format)


@app.command()
def restore(
    name: Annotated[str, typer.Argument(help="zone.table")],
    version: Annotated[int, typer.Option("--version", help="Version to roll back to.")],
    root: RootOpt = None,
) -> None:
    """Roll a table back to an earlier version (a new commit; history is kept)."""
    new = _lh(root).restore(name, version)
    _console().print(f"{name} restored to version {version} (now at version {new})")


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write into.")],
    orders: Annotated[int, typer.Option(help="Number of orders.")] = 5000,
    customers: Annotated[int | None, typer.Option(help="Customers (default orders/4).")] = None,
    products: Annotated[int, typer.Option(help="Catalog size.")] = 500,
    days: Annotated[int, typer.Option(help="Days of orders.")] = 30,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2025-04-01",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 42,
    format: Annotated[FileFormat, typer.Option("--format")] = FileFormat.xlsx,
    dirty_rate: Annotated[float, typer.Option(help="Share of rows to corrupt (0..1).")] = 0.0,
    stream: Annotated[bool, typer.Option(help="Keep dropping small files until stopped.")] = False,
    rate: Annotated[float, typer.Option(help="With --stream: batches per second.")] = 1.0,
) -> None:
    """Generate realistic shop data (products, orders, order items) with known ground truth."""
    from lakehouse import generate as gen

    if stream:
        gen.stream(out, rate=rate, seed=seed, fmt=format.value)
        return
    r = gen.generate(
        out,
        orders=orders,
        customers=customers,
        products=products,
        days=days,
        start=dt.date.fromisoformat(start),
        seed=seed,
        fmt=format.value,
        dirty_rate=dirty_rate,
    )
    _console().print(
        f"wrote {len(r.files)} files to {out}: {r.products:,} products, "
        f"{r.orders:,} orders, {r.order_items:,} order items in {r.seconds:.1f} s"
    )


def _register_areas() -> None:
    from lakehouse.cli import aws, lineage, maintenance, ops, repair, report

    for area in (ops, aws, report, maintenance, repair, lineage):
        area.register(app)


_register_areas()


def main() -> None:
    """Entry point: usage errors as typer prints them; any other error as one red line."""
    from lakehouse.errors import LakehouseError, storage_failure

    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("lakehouse: aborted\n")
        sys.exit(130)
    except SystemExit as exc:  # a non-zero verdict (`status` breached) skips the teardown too
        if isinstance(exc.code, int) and exc.code != 0:
            _exit_now(exc.code)
        raise
    except LakehouseError as exc:
        _fail(str(exc), exc)
    except Exception as exc:  # a storage failure in the libraries' words: name its cause
        _fail(str(storage_failure(exc) or f"{type(exc).__name__}: {exc}"), exc)


def _fail(message: str, exc: BaseException) -> None:
    import re

    from lakehouse.cli.console import visible

    line = visible(" ".join(re.sub(r"\x1b\[[0-9;]*m", "", message).split()))
    sys.stderr.write(f"lakehouse: error: {line}\n")
    if os.environ.get("LAKEHOUSE_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    _exit_now(1)


def _exit_now(code: int) -> NoReturn:
    """Exit with `code` once the reason is written, without the interpreter's teardown: after a
    storage failure, native work may still be in flight in other threads (an S3 request that
    pyarrow or delta-rs keeps retrying), and tearing their libraries down under it can hang the
    exit or crash it (exit -11) after the error was reported. Nothing is left to save: every
    write is committed or abandoned whole, and the streams are flushed here."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
