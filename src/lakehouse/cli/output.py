"""Rows on stdout in the format a command was asked for: a table for people, CSV or a JSON
array (and nothing else) for machines."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING

from lakehouse.cli.options import Fmt

if TYPE_CHECKING:
    import pyarrow as pa


def print_rows(table: pa.Table, fmt: Fmt, title: str | None = None) -> None:
    if fmt is Fmt.json:
        sys.stdout.write(json.dumps(table.to_pylist(), default=json_default) + "\n")
        return
    if fmt is Fmt.csv:
        import pyarrow.csv as pacsv

        sink = sys.stdout.buffer
        pacsv.write_csv(table, sink)
        sink.flush()
        return
    from rich.table import Table

    from lakehouse.cli.console import console

    out = Table(title=title, show_lines=False)
    for i, name in enumerate(table.column_names):
        out.add_column(name, overflow="fold", no_wrap=i == 0)  # names stay on one line
    for row in table.to_pylist():
        out.add_row(*["" if v is None else cell(v) for v in row.values()])
    console().print(out)


def cell(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".")
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def json_default(v: object) -> object:
    from decimal import Decimal

    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return str(v)
