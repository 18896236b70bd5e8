"""The batch every reader returns (text columns and `_row`, see `lakehouse.ingest.readers`) and
what the format readers share to build it: header and size checks against the `[intake]`
limits, and typed Arrow values written as text."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.config.settings import IntakeSettings

ROW = "_row"


@dataclass(frozen=True)
class Batch:
    sheet: str  # sheet name for workbooks, "" otherwise
    sheet_index: int
    columns: list[str]  # header as delivered, stripped
    table: pa.Table  # one string column per header column (normalised names) + `_row` (int64)
    #: columns whose text was written from typed values, by the contract type that text is
    #: exactly (`canonical_kind`): validation can cast it without checking it
    canonical: Mapping[str, str] = field(default_factory=dict)


def normalise_header(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


class OverLimit(ValueError):
    """The file is over one of the `[intake]` limits; the message names the limit."""


def text_table(columns: list[str], arrays: list[Any], rows: pa.Array | range | int) -> pa.Table:
    """The batch table; `rows` is the first row's number (the rest follow) or every row's."""
    names = [normalise_header(c) for c in columns]
    if isinstance(rows, int):
        n = len(arrays[0]) if arrays else 0
        rows = range(rows, rows + n)
    if isinstance(rows, range):
        rows = pa.array(rows, pa.int64())
    return pa.table([*arrays, rows], names=[*names, ROW])


def check_width(columns: int, where: str, limits: IntakeSettings) -> None:
    if columns > limits.max_columns:
        raise OverLimit(
            f"{where} has {columns:,} columns, over the limit intake.max_columns = "
            f"{limits.max_columns:,}"
        )


def check_header(columns: list[str], where: str, limits: IntakeSettings) -> None:
    """Width within the limit, no empty and no repeated name (linear in the header's width)."""
    check_width(len(columns), where, limits)
    names = [normalise_header(c) for c in columns]
    empty = [i + 1 for i, n in enumerate(names) if not n]
    if empty:
        raise ValueError(f"{where}: empty column name at column {_places(empty)} of {columns}")
    dupes = sorted(n for n, count in Counter(names).items() if count > 1)
    if dupes:
        raise ValueError(f"{where}: duplicate column names {dupes}")


def _places(numbers: list[int], shown: int = 5) -> str:
    more = f" and {len(numbers) - shown:,} more" if len(numbers) > shown else ""
    return ", ".join(map(str, numbers[:shown])) + more


def check_field_sizes(batch: Batch, limits: IntakeSettings) -> None:
    """Reject the file if any value is longer than `intake.max_field_bytes` (UTF-8 bytes)."""
    table = batch.table
    for name in table.column_names:
        if name == ROW or table[name].nbytes <= limits.max_field_bytes:
            continue  # all of the column's text together is within the limit: nothing to look at
        lengths = pc.binary_length(table[name])
        longest = pc.max(lengths).as_py()
        if longest is None or longest <= limits.max_field_bytes:
            continue
        at = pc.index(pc.greater(lengths, limits.max_field_bytes), True).as_py()
        sheet = f"sheet {batch.sheet!r} " if batch.sheet else ""
        raise OverLimit(
            f"{sheet}row {table[ROW][at].as_py()} column {name!r}: a value of "
            f"{lengths[at].as_py():,} bytes, "
            f"over the limit intake.max_field_bytes = {limits.max_field_bytes:,}"
        )


def exact_float_text(value: float) -> str:
    """The shortest text that reads back as the same float; whole numbers without '.0'."""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


#: the largest integer whose text validation accepts as a bigint (18 digits: `INT_RE`)
MAX_BIGINT_TEXT = 10**18 - 1
#: decimals of a larger scale are written with an exponent ('1E-7'), which is not a decimal's text
MAX_PLAIN_SCALE = 6


def canonical_kind(col: pa.ChunkedArray) -> str | None:
    """The contract type whose checks `to_text(col)` is certain to pass, value by value: "bigint"
    for integers within ±`MAX_BIGINT_TEXT`, "decimal(p,s)" for decimals of scale 0 to
    `MAX_PLAIN_SCALE` (digits, an optional '-' and '.', as that type's text must be); None for
    any other type, or integers out of that range (their text is checked as any text is)."""
    t = col.type
    if pa.types.is_integer(t):
        low, high = (v.as_py() for v in pc.min_max(col).values())
        if low is not None and (low < -MAX_BIGINT_TEXT or high > MAX_BIGINT_TEXT):
            return None
        return "bigint"
    if pa.types.is_decimal(t) and 0 <= t.scale <= MAX_PLAIN_SCALE:
        return f"decimal({t.precision},{t.scale})"
    return None


def _stored_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _stored_text(t.value_type)
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def check_utf8(name: str, text: pa.Array) -> None:
    """Raise ValueError naming the first row (1-based) whose text is not UTF-8.

    Arrow's Parquet and JSON readers keep a string's bytes as stored, unchecked: a Latin-1
    'é' reached the validation query, whose engine gave up on the whole run ("database has been
    invalidated"), and every later run met the same file again. A full validation of the array
    checks the text (tens of milliseconds for 10 M values)."""
    try:
        text.validate(full=True)
    except pa.ArrowInvalid as exc:
        at = re.search(r"string index (\d+)", str(exc))
        row = f"row {int(at.group(1)) + 1} " if at else ""
        raise ValueError(
            f"{row}column {name!r}: text that is not UTF-8 (save the file as UTF-8)"
        ) from exc


def to_text(col: pa.ChunkedArray) -> pa.Array:
    """Values as text; nulls become '' (the same as an empty cell). Floats keep every digit that
    tells them apart; instants with a time zone are written in UTC with a 'Z'."""
    arr = col.combine_chunks()
    t = arr.type
    if pa.types.is_floating(t):
        text = pa.array(
            [None if v is None else exact_float_text(v) for v in arr.to_pylist()], pa.string()
        )
    elif pa.types.is_timestamp(t):
        utc = arr.cast(pa.timestamp(t.unit, tz="UTC")) if t.tz else arr
        text = pc.strftime(utc, format="%Y-%m-%dT%H:%M:%S")
        # the fraction without its trailing zeros, none for whole seconds: a nanosecond column
        # wrote '.123000000', which no timestamp's text may have (microseconds at the most)
        text = pc.replace_substring_regex(text, r"(\.\d*?)0+$", r"\1")
        text = pc.replace_substring_regex(text, r"\.$", "")
        if t.tz:
            text = pc.binary_join_element_wise(text, pa.scalar("Z"), "")
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        text = arr.cast(pa.string())
    elif pa.types.is_nested(t):
        text = pa.array(
            [None if v is None else json.dumps(v, default=str) for v in arr.to_pylist()]
        )
    else:
        text = arr.cast(pa.string())
    return pc.fill_null(text, "")


def typed_batch(table: pa.Table) -> Batch:
    """A table a typed source (Parquet, JSON lines read by Arrow) gave, as one batch of text
    (1-based row numbers), its integer and decimal columns marked as written from typed values
    (`canonical_kind`)."""
    header = table.column_names
    arrays = [to_text(col) for col in table.columns]
    for name, col, text in zip(header, table.columns, arrays, strict=True):
        if _stored_text(col.type):  # the text Arrow writes from other values is UTF-8
            check_utf8(name, text)
    kinds = zip(header, map(canonical_kind, table.columns), strict=True)
    canonical = {normalise_header(name): kind for name, kind in kinds if kind}
    return Batch("", 0, header, text_table(header, arrays, 1), canonical)
