"""Rows on stdout in the format a command was asked for: a table for people, CSV or a JSON
array (and nothing else) for machines."""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from decimal import Decimal
from typing import TYPE_CHECKING

from lakehouse.cli.options import Fmt

if TYPE_CHECKING:
    from collections.abc import Callable

    import pyarrow as pa

    from lakehouse.cli.layout import Col


def print_rows(
    table: pa.Table, fmt: Fmt, title: str | None = None, known: dict[str, Col] | None = None
) -> None:
    """`table` as `fmt`; on a screen, laid out by `layout` (`known` gives the kind and
    priority of some columns, the others are guessed from their types)."""
    if fmt is Fmt.json:
        sys.stdout.write(json_text(table.to_pylist()) + "\n")
        return
    if fmt is Fmt.csv:
        import pyarrow.csv as pacsv

        sink = sys.stdout.buffer
        pacsv.write_csv(_flat(table), sink)
        sink.flush()
        return
    from lakehouse.cli import layout
    from lakehouse.cli.console import console

    rows = (["" if v is None else cell(v) for v in row.values()] for row in table.to_pylist())
    layout.show(console(), layout.columns_of(table, known), rows, title)


def _flat(table: pa.Table) -> pa.Table:
    """`table` with each list or struct column as JSON text (a CSV cell holds one value; Arrow's
    writer refuses nested types, so `SELECT _reasons FROM quarantine.orders` failed), and each
    interval or blob column as the text `plain` gives it (Arrow's writer refused those after
    the header was printed)."""
    import pyarrow as pa

    untyped = (
        pa.types.is_interval,
        pa.types.is_binary,
        pa.types.is_large_binary,
        pa.types.is_fixed_size_binary,
    )
    as_text: Callable[[object], str]
    for i, field in enumerate(table.schema):
        if pa.types.is_nested(field.type):
            as_text = json_text
        elif any(kind(field.type) for kind in untyped):
            as_text = lambda v: str(plain(v))  # noqa: E731
        else:
            continue
        text = [None if v is None else as_text(v) for v in table.column(i).to_pylist()]
        table = table.set_column(i, field.name, pa.array(text, pa.string()))
    return table


def plain(value: object) -> object:
    """A value JSON and CSV have no type for, as text: an interval as an ISO 8601 duration
    (`P1M2DT3.5S`), bytes as DuckDB writes a blob (`ab\\xAA`: printable ASCII kept, every other
    byte and the backslash as `\\xHH`); any other value as it is."""
    import pyarrow as pa

    if isinstance(value, pa.MonthDayNano):
        months, days, nanoseconds = value
        seconds = Decimal(nanoseconds).scaleb(-9).normalize()
        time = f"T{seconds:f}S" if nanoseconds or not (months or days) else ""
        return f"P{f'{months}M' if months else ''}{f'{days}D' if days else ''}{time}"
    if isinstance(value, bytes):
        return "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02X}" for b in value)
    return value


def cell(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".")
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(plain(v))


def json_text(value: object) -> str:
    """`value` (rows from `to_pylist`) as strict JSON: a decimal as its exact number (it was a
    float: 12345678901234567.89 came out as 1.2345678901234568e+16), NaN and infinities as
    null (they were written as `NaN`, `Infinity`, which JSON parsers refuse), times in ISO."""
    import re
    import secrets

    mark = f"\x00{secrets.token_hex(8)}:"  # no value can hold it: a string stays a string

    def default(v: object) -> object:
        if isinstance(v, Decimal):
            return f"{mark}{v}" if v.is_finite() else None
        if isinstance(v, dt.datetime | dt.date | dt.time):
            return v.isoformat()
        return str(v)

    text = json.dumps(_finite(value), default=default, allow_nan=False)
    quoted = re.escape(json.dumps(mark)[:-1])
    return re.sub(quoted + r'([-+0-9.eE]+)"', r"\1", text)


def _finite(value: object) -> object:
    """`value` with every NaN or infinite float (nested too) as None, intervals and bytes as
    `plain` text (an interval was a list of three numbers, bytes their Python repr)."""
    import pyarrow as pa

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes | pa.MonthDayNano):
        return plain(value)
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
