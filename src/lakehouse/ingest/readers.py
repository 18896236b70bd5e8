"""Read producer files into batches of text values, never losing or reinterpreting a value.

Every reader returns the same shape: one `Batch` per sheet (workbooks) or per file, with all
values as text and the position a person would look for the row (`_row`):
csv/xlsx: the spreadsheet row (header = 1, first data row = 2); jsonl: the line number;
parquet: the 1-based row index.

A file is read whole or not at all: anything a reader cannot take (a parse error, a value right
of the last header column, a JSON object naming a key twice, a file over one of the `[intake]`
limits) raises `FileRejected` with `unreadable_file` and a detail naming the row, column, cell or
limit. These functions trust their process to survive the file; `lakehouse.ingest.sandbox` runs them
where a native abort or runaway allocation cannot take the pipeline down.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sys
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
from defusedxml import ElementTree
from python_calamine import CalamineWorkbook

from lakehouse.config.settings import IntakeSettings
from lakehouse.errors import FileRejected

T = TypeVar("T")

ROW = "_row"
FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True)
class Batch:
    sheet: str  # sheet name for workbooks, "" otherwise
    sheet_index: int
    columns: list[str]  # header as delivered, stripped
    table: pa.Table  # one string column per header column (normalised names) + `_row` (int64)


def file_format(name: str) -> str | None:
    lower = name.lower()
    for ext, fmt in FORMATS.items():
        if lower.endswith(ext):
            return fmt
    return None


def normalise_header(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


class OverLimit(ValueError):
    """The file is over one of the `[intake]` limits; the message names the limit."""


def read_file(name: str, data: bytes, limits: IntakeSettings | None = None) -> list[Batch]:
    """Parse one file; raise FileRejected('unreadable_file') with the cause if it cannot be read."""
    limits = limits or IntakeSettings()
    fmt = file_format(name)
    readers: dict[str, Callable[[bytes, IntakeSettings], list[Batch]]] = {
        "csv": _read_csv,
        "xlsx": _read_xlsx,
        "jsonl": _read_jsonl,
        "parquet": _read_parquet,
    }
    if fmt is None:
        raise FileRejected(name, ["unreadable_file"], f"unknown file type; expected {_exts()}")
    try:
        batches = readers[fmt](data, limits)
        for batch in batches:
            _check_field_sizes(batch, limits)
        return batches
    except FileRejected:
        raise
    except OverLimit as exc:
        raise FileRejected(name, ["unreadable_file"], str(exc)) from exc
    except Exception as exc:  # any parser failure means the file as a whole is unreadable
        raise FileRejected(name, ["unreadable_file"], f"{type(exc).__name__}: {exc}") from exc


def _exts() -> str:
    return ", ".join(sorted(FORMATS))


def _text_table(columns: list[str], arrays: list[Any], rows: pa.Array | range | int) -> pa.Table:
    """The batch table; `rows` is the first row's number (the rest follow) or every row's."""
    names = [normalise_header(c) for c in columns]
    if isinstance(rows, int):
        n = len(arrays[0]) if arrays else 0
        rows = range(rows, rows + n)
    if isinstance(rows, range):
        rows = pa.array(rows, pa.int64())
    return pa.table([*arrays, rows], names=[*names, ROW])


def _check_width(columns: int, where: str, limits: IntakeSettings) -> None:
    if columns > limits.max_columns:
        raise OverLimit(
            f"{where} has {columns:,} columns, over the limit intake.max_columns = "
            f"{limits.max_columns:,}"
        )


def _check_header(columns: list[str], where: str, limits: IntakeSettings) -> None:
    """Width within the limit, no empty and no repeated name (linear in the header's width)."""
    _check_width(len(columns), where, limits)
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


def _check_field_sizes(batch: Batch, limits: IntakeSettings) -> None:
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


# --- CSV -------------------------------------------------------------------
_BLOCK = 1 << 20  # pyarrow's default; grown only for a file with a longer record


def _read_csv(data: bytes, limits: IntakeSettings) -> list[Batch]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data or data.isspace():
        raise ValueError("empty file: no header row")
    delivered = _csv(data, lambda ro, po: pacsv.open_csv(io.BytesIO(data), ro, po).schema.names)
    header = list(delivered)
    while header and not normalise_header(header[-1]):
        header.pop()  # a trailing comma on every line: the empty last column is read, then checked
    _check_width(len(delivered), "header", limits)
    _check_header(header, "header", limits)
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
    return [Batch("", 0, header, _text_table(header, arrays, rows))]


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
    """Spreadsheet row of each data record: 2, 3, ... unless blank lines or line breaks inside
    values move them (then the records are counted the way a spreadsheet program shows them)."""
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines == records + 1:
        return range(2, records + 2)
    csv.field_size_limit(sys.maxsize)  # sizes are checked, with row and column, after reading
    text = io.StringIO(data.decode("utf-8", errors="replace"), newline="")
    numbers = [n for n, record in enumerate(csv.reader(text), start=1) if record]
    if len(numbers) != records + 1:
        raise ValueError(f"cannot place rows: {records:,} records but {len(numbers) - 1:,} lines")
    return pa.array(numbers[1:], pa.int64())


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


# --- Excel -----------------------------------------------------------------
def _cell_text(value: object) -> str:
    """Text of a cell as a person sees it; whole-number floats lose their '.0', nothing else."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return format(value, ".15g")  # Excel keeps 15 significant digits
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)


def _read_xlsx(data: bytes, limits: IntakeSettings) -> list[Batch]:
    formulas = _xlsx_formulas(data, limits)
    wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    batches = []
    for index, sheet_name in enumerate(wb.sheet_names):
        sheet = wb.get_sheet_by_name(sheet_name)
        where = f"sheet {sheet_name!r}"
        end = sheet.end  # the grid is read from A1 to here
        _check_cells(end[0] + 1 if end else 0, end[1] + 1 if end else 0, where, limits)
        rows = sheet.to_python(skip_empty_area=False)
        while rows and all(v in (None, "") for v in rows[-1]):
            rows.pop()
        if not rows:
            continue  # an empty sheet holds no rows
        header = [_cell_text(v) for v in rows[0]]
        while header and header[-1] == "":
            header.pop()
        _check_header(header, f"{where} header", limits)
        width = len(header)
        sheet_formulas = formulas.get(index, {})
        _nothing_right_of_sheet_header(rows, sheet_formulas, width, where)
        cols: list[list[str]] = [[] for _ in range(width)]
        for r, row in enumerate(rows[1:], start=1):
            for c in range(width):
                if (r, c) in sheet_formulas:
                    cols[c].append(sheet_formulas[(r, c)])
                else:
                    cols[c].append(_cell_text(row[c]) if c < len(row) else "")
        arrays = [pa.array(col, pa.string()) for col in cols]
        batches.append(Batch(sheet_name, index, header, _text_table(header, arrays, 2)))
    return batches


def _check_cells(height: int, width: int, where: str, limits: IntakeSettings) -> None:
    """A sheet's used range is allocated cell by cell: refuse one over `intake.max_cells`."""
    _check_width(width, where, limits)
    if height * width > limits.max_cells:
        raise OverLimit(
            f"{where} spans {height:,} rows x {width:,} columns = {height * width:,} cells, over "
            f"the limit intake.max_cells = {limits.max_cells:,}"
        )


def _nothing_right_of_sheet_header(
    rows: list[list[Any]], formulas: dict[tuple[int, int], str], width: int, where: str
) -> None:
    """A value right of the last header column has no column to go to: reject, as CSV does."""
    for r, row in enumerate(rows):
        for c in range(width, len(row)):
            if row[c] not in (None, "") or (r, c) in formulas:
                raise ValueError(
                    f"{where} cell {_col_letters(c)}{r + 1}: value "
                    f"{_cell_text(row[c])[:50]!r} right of the last header column "
                    f"({_col_letters(width - 1) if width else 'none'})"
                )


def _col_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_CELL_REF = re.compile(r"^([A-Z]+)(\d+)$")
_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?\"")


def _xlsx_formulas(data: bytes, limits: IntakeSettings) -> dict[int, dict[tuple[int, int], str]]:
    """Formula text by sheet index and (row, col), 0-based; formulas are kept, never evaluated.

    Also the checks the Excel reader needs before it allocates: the zip's uncompressed size
    within `intake.max_decompressed_bytes` and each sheet's declared range within the limits.
    """
    out: dict[int, dict[tuple[int, int], str]] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        inflated = sum(info.file_size for info in zf.infolist())
        if inflated > limits.max_decompressed_bytes:
            raise OverLimit(
                f"the workbook unpacks to {inflated:,} bytes, over the limit "
                f"intake.max_decompressed_bytes = {limits.max_decompressed_bytes:,}"
            )
        sheets = _sheet_paths(zf)
        for index, path in enumerate(sheets):
            xml = zf.read(path)
            declared = _DIMENSION.search(xml, 0, 4096)
            if declared:
                first_col, first_row, last_col, last_row = declared.groups()
                height = int(last_row or first_row) - int(first_row) + 1
                width = _col_index((last_col or first_col).decode()) - _col_index(
                    first_col.decode()
                )
                _check_cells(height, width + 1, f"sheet {index + 1} (declared range)", limits)
            if b"<f" not in xml:
                continue
            found: dict[tuple[int, int], str] = {}
            shared: dict[str, str] = {}
            for cell in ElementTree.fromstring(xml).iter(f"{_NS}c"):
                f = cell.find(f"{_NS}f")
                if f is None:
                    continue
                text = f.text or shared.get(f.get("si", ""), "")
                if f.get("t") == "shared" and f.text:
                    shared[f.get("si", "")] = f.text
                m = _CELL_REF.match(cell.get("r", ""))
                if m:
                    found[(int(m.group(2)) - 1, _col_index(m.group(1)))] = "=" + text
            out[index] = found
    return out


def _sheet_paths(zf: zipfile.ZipFile) -> list[str]:
    """Worksheet XML paths in workbook order (the order calamine reports sheet names in)."""
    rel_ns = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    pkg_ns = "{http://schemas.openxmlformats.org/package/2006/relationships}"
    wb = ElementTree.fromstring(zf.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{pkg_ns}Relationship")}
    paths = []
    for sheet in wb.iter(f"{_NS}sheet"):
        target = targets.get(sheet.get(f"{rel_ns}id"), "")
        paths.append(target.lstrip("/") if target.startswith("/") else f"xl/{target}")
    return paths


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


# --- JSON lines ----------------------------------------------------------------
def _read_jsonl(data: bytes, limits: IntakeSettings) -> list[Batch]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.splitlines()
    _no_repeated_keys(lines)
    if any(not line.strip() for line in lines) or not lines:
        return _read_jsonl_slow(lines, limits)
    try:
        table = pajson.read_json(io.BytesIO(data))
        inferred = [f.name for f in table.schema if pa.types.is_temporal(f.type)]
        if inferred:  # Arrow parses ISO strings into timestamps: read those columns as text
            schema = pa.schema(
                [pa.field(f.name, pa.string()) if f.name in inferred else f for f in table.schema]
            )
            opts = pajson.ParseOptions(explicit_schema=schema)
            table = pajson.read_json(io.BytesIO(data), parse_options=opts)
    except pa.ArrowInvalid:
        return _read_jsonl_slow(lines, limits)
    if (
        table.num_rows != len(lines)
        or any(pa.types.is_nested(t) for t in table.schema.types)
        or any(_may_be_rounded(col) for col in table.columns)
    ):
        return _read_jsonl_slow(lines, limits)
    header = table.column_names
    _check_header(header, "keys", limits)
    arrays = [_to_text(col) for col in table.columns]
    return [Batch("", 0, header, _text_table(header, arrays, 1))]


def _may_be_rounded(col: pa.ChunkedArray) -> bool:
    """A float column holding a whole number past 2**53 may be a large integer Arrow rounded."""
    if not pa.types.is_floating(col.type):
        return False
    return bool(pc.any(pc.greater_equal(pc.abs(col), 2.0**53)).as_py())


class _RepeatedKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _RepeatedKey(f"key {twice!r} appears twice in one object")
    return found


def _no_repeated_keys(lines: list[bytes]) -> None:
    """A JSON object naming a key twice would keep only one of its values: reject the file.

    One parse of the whole file (as an array) is cheap; the line is found only when needed.
    """
    try:
        json.loads(
            b"[" + b",".join(ln for ln in lines if ln.strip()) + b"]",
            object_pairs_hook=_unique_keys,
        )
    except _RepeatedKey:
        for number, line in enumerate(lines, start=1):
            try:
                json.loads(line, object_pairs_hook=_unique_keys) if line.strip() else None
            except _RepeatedKey as exc:
                raise ValueError(f"line {number}: {exc}") from None
    except json.JSONDecodeError:
        pass  # the reader below names the line that is not valid JSON


def _read_jsonl_slow(lines: list[bytes], limits: IntakeSettings) -> list[Batch]:
    records: list[tuple[int, dict[str, object]]] = []
    header: dict[str, None] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise ValueError(f"line {number}: expected a JSON object")
        header.update(dict.fromkeys(obj))
        if len(header) > limits.max_columns:
            _check_width(len(header), "keys", limits)
        records.append((number, obj))
    if not header:
        raise ValueError("no JSON objects")
    keys = list(header)
    _check_header(keys, "keys", limits)
    arrays = [pa.array([_json_text(obj.get(k)) for _, obj in records], pa.string()) for k in keys]
    names = [normalise_header(c) for c in keys]
    rows = pa.array([n for n, _ in records], pa.int64())
    return [Batch("", 0, keys, pa.table([*arrays, rows], names=[*names, ROW]))]


def _json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return _exact_float_text(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _exact_float_text(value: float) -> str:
    """The shortest text that reads back as the same float; whole numbers without '.0'."""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


# --- Parquet ---------------------------------------------------------------
def _read_parquet(data: bytes, limits: IntakeSettings) -> list[Batch]:
    source = pa.BufferReader(data)
    _check_width(pq.read_schema(source).__len__(), "columns", limits)
    table = pq.read_table(pa.BufferReader(data))
    header = table.column_names
    _check_header(header, "columns", limits)
    arrays = [_to_text(col) for col in table.columns]
    return [Batch("", 0, header, _text_table(header, arrays, 1))]


def _to_text(col: pa.ChunkedArray) -> pa.Array:
    """Values as text; nulls become '' (the same as an empty cell). Floats keep every digit that
    tells them apart; instants with a time zone are written in UTC with a 'Z'."""
    arr = col.combine_chunks()
    t = arr.type
    if pa.types.is_floating(t):
        text = pa.array(
            [None if v is None else _exact_float_text(v) for v in arr.to_pylist()], pa.string()
        )
    elif pa.types.is_timestamp(t):
        utc = arr.cast(pa.timestamp(t.unit, tz="UTC")) if t.tz else arr
        text = pc.strftime(utc, format="%Y-%m-%dT%H:%M:%S")
        text = pc.replace_substring_regex(text, r"\.0+$", "")  # whole seconds: no fraction
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
