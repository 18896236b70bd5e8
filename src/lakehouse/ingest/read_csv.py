"""Read a CSV file (UTF-8, a header row) into one batch of text, rows numbered as a spreadsheet
program shows them; nothing may stand right of the last header column."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from lakehouse.config.settings import IntakeSettings
from lakehouse.ingest.batch import Batch, check_header, check_width, normalise_header, text_table

T = TypeVar("T")

_BLOCK = 1 << 20  # pyarrow's default; grown only for a file with a longer record


def read_csv(data: bytes, limits: IntakeSettings) -> list[Batch]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data or data.isspace():
        raise ValueError("empty file: no header row")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # bytes UTF-8 never starts with
        raise ValueError("the file is UTF-16 text (save it as UTF-8)")
    try:
        return _read(data, limits)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if isinstance(exc, pa.ArrowInvalid) and "UTF8" not in str(exc):
            raise
        try:  # decoded only when the text was refused, to say where
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            line = data.count(b"\n", 0, bad.start) + 1
            raise ValueError(
                f"line {line}: text that is not UTF-8 (save the file as UTF-8)"
            ) from exc
        raise


def _read(data: bytes, limits: IntakeSettings) -> list[Batch]:
    delivered = _csv(data, lambda ro, po: pacsv.open_csv(io.BytesIO(data), ro, po).schema.names)
    header = list(delivered)
    while header and not normalise_header(header[-1]):
        header.pop()  # a trailing comma on every line: the empty last column is read, then checked
    check_width(len(delivered), "header", limits)
    check_header(header, "header", limits)
    table = _csv(
        data,
        lambda ro, po: pacsv.read_csv(
            io.BytesIO(data),
            ro,
            po,
            pacsv.ConvertOptions(
                column_types=dict.fromkeys(delivered, pa.string()), strings_can_be_null=False
            ),
        ),
    )
    rows = _csv_rows(data, table.num_rows)
    for index in range(len(header), len(delivered)):
        _nothing_right_of_header(table.column(index), rows, index, header)
    arrays = [table.column(i) for i in range(len(header))]
    return [Batch("", 0, header, text_table(header, arrays, rows))]


def _csv(data: bytes, read: Callable[[pacsv.ReadOptions, pacsv.ParseOptions], T]) -> T:
    """Run a pyarrow CSV read, growing the block for a record longer than a block and allowing
    line breaks inside quoted values when a block boundary falls inside one (Arrow detects that
    and says "out of sync"). Both only when needed: the defaults read faster."""
    block, newlines = _BLOCK, False
    while True:
        try:
            return read(
                pacsv.ReadOptions(use_threads=True, block_size=block),
                pacsv.ParseOptions(newlines_in_values=newlines),
            )
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if "straddling" in message and block <= len(data):
                block = min(block * 8, len(data) + 1, 2**31 - 1)
            elif "newlines_in_values" in message and not newlines:
                newlines = True
            else:
                raise


def _csv_rows(data: bytes, records: int) -> pa.Array | range:
    """Spreadsheet row of each data record: 2, 3, ... unless blank lines, line breaks inside
    values or lone carriage returns move them (then the records are counted the way a
    spreadsheet program shows them). A quote never closed rejects the file: Arrow's reader
    takes the rest of the file as that one value, and the rows after it were lost."""
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    one_record_a_line = (
        lines == records + 1
        and data.count(b"\r") == data.count(b"\r\n")
        and b"\n\n" not in data
        and b"\n\r\n" not in data
    )
    csv.field_size_limit(sys.maxsize)  # sizes are checked, with row and column, after reading
    if one_record_a_line:
        last = data.rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
        _records(io.StringIO(last.decode("utf-8", errors="replace"), newline=""), lines)
        return range(2, records + 2)
    numbers = _records(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
    if len(numbers) != records + 1:
        raise ValueError(f"cannot place rows: {records:,} records but {len(numbers) - 1:,} lines")
    return pa.array(numbers[1:], pa.int64())


def _records(text: io.StringIO, first: int = 1) -> list[int]:
    """The number of each record of `text` that holds a value (records counted from `first`);
    ValueError naming the record where a quote opens that is never closed."""
    numbers: list[int] = []
    at = first
    try:
        for record in csv.reader(text, strict=True):
            if record:
                numbers.append(at)
            at += 1
    except csv.Error as exc:
        if "unexpected end of data" not in str(exc):  # a quirk Arrow's reader accepts
            text.seek(0)
            lenient = enumerate(csv.reader(text), start=first)
            return [n for n, record in lenient if record]
        raise ValueError(
            f"row {at}: a quote opened in this row is never closed (the rest of the file "
            "would be one value)"
        ) from exc
    return numbers


def _nothing_right_of_header(
    column: pa.ChunkedArray, rows: pa.Array | range, index: int, header: list[str]
) -> None:
    filled = pc.greater(pc.binary_length(column), 0)
    if pc.any(filled).as_py():
        at = pc.index(filled, True).as_py()
        row = rows[at] if isinstance(rows, range) else rows[at].as_py()
        raise ValueError(
            f"row {row} column {index + 1}: value {column[at].as_py()[:50]!r} right of the "
            f"last header column ({header[-1] if header else 'none'!r})"
        )
