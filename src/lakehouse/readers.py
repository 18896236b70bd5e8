"""Read producer files into batches of text values, never losing or reinterpreting a value.

Every reader returns the same shape: one `Batch` per sheet (workbooks) or per file, with all
values as text and the position a person would look for the row (`_row`):
csv/xlsx: the spreadsheet row (header = 1, first data row = 2); jsonl: the line number;
parquet: the 1-based row index.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree import ElementTree

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from lakehouse.errors import FileRejected

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


def read_file(name: str, data: bytes) -> list[Batch]:
    """Parse one file; raise FileRejected('unreadable_file') with the cause if it cannot be read."""
    fmt = file_format(name)
    readers: dict[str, Callable[[bytes], list[Batch]]] = {
        "csv": _read_csv,
        "xlsx": _read_xlsx,
        "jsonl": _read_jsonl,
        "parquet": _read_parquet,
    }
    if fmt is None:
        raise FileRejected(name, ["unreadable_file"], f"unknown file type; expected {_exts()}")
    try:
        return readers[fmt](data)
    except FileRejected:
        raise
    except Exception as exc:  # any parser failure means the file as a whole is unreadable
        raise FileRejected(name, ["unreadable_file"], f"{type(exc).__name__}: {exc}") from exc


def _exts() -> str:
    return ", ".join(sorted(FORMATS))


def _text_table(columns: list[str], arrays: list[pa.Array], first_row: int) -> pa.Table:
    names = [normalise_header(c) for c in columns]
    n = len(arrays[0]) if arrays else 0
    rows = pa.array(range(first_row, first_row + n), pa.int64())
    return pa.table([*arrays, rows], names=[*names, ROW])


def _check_header(columns: list[str], where: str) -> None:
    names = [normalise_header(c) for c in columns]
    if any(not n for n in names):
        raise ValueError(f"{where}: empty column name in header {columns}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{where}: duplicate column names {dupes}")


# --- CSV -------------------------------------------------------------------
def _read_csv(data: bytes) -> list[Batch]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    header = (
        pacsv.read_csv(
            io.BytesIO(data), read_options=pacsv.ReadOptions(block_size=1 << 20)
        ).column_names
        if data.strip()
        else []
    )
    if not header:
        raise ValueError("empty file: no header row")
    _check_header(header, "header")
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(use_threads=True),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False
        ),
    )
    return [Batch("", 0, header, _text_table(header, list(table.columns), 2))]


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


def _read_xlsx(data: bytes) -> list[Batch]:
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    formulas = _xlsx_formulas(data)
    batches = []
    for index, sheet_name in enumerate(wb.sheet_names):
        rows = wb.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
        rows = [r for r in rows]
        while rows and all(v in (None, "") for v in rows[-1]):
            rows.pop()
        if not rows:
            continue  # an empty sheet holds no rows
        header = [_cell_text(v) for v in rows[0]]
        while header and header[-1] == "":
            header.pop()
        _check_header(header, f"sheet {sheet_name!r} header")
        width = len(header)
        sheet_formulas = formulas.get(index, {})
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


_CELL_REF = re.compile(r"^([A-Z]+)(\d+)$")
_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _xlsx_formulas(data: bytes) -> dict[int, dict[tuple[int, int], str]]:
    """Formula text by sheet index and (row, col), 0-based; formulas are kept, never evaluated."""
    out: dict[int, dict[tuple[int, int], str]] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        sheets = _sheet_paths(zf)
        for index, path in enumerate(sheets):
            xml = zf.read(path)
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
def _read_jsonl(data: bytes) -> list[Batch]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.splitlines()
    if any(not line.strip() for line in lines) or not lines:
        return _read_jsonl_slow(lines)
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
        return _read_jsonl_slow(lines)
    if table.num_rows != len(lines) or any(pa.types.is_nested(t) for t in table.schema.types):
        return _read_jsonl_slow(lines)
    header = table.column_names
    _check_header(header, "keys")
    arrays = [_to_text(col) for col in table.columns]
    return [Batch("", 0, header, _text_table(header, arrays, 1))]


def _read_jsonl_slow(lines: list[bytes]) -> list[Batch]:
    records: list[tuple[int, dict[str, object]]] = []
    header: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise ValueError(f"line {number}: expected a JSON object")
        for key in obj:
            if key not in header:
                header.append(key)
        records.append((number, obj))
    if not header:
        raise ValueError("no JSON objects")
    _check_header(header, "keys")
    arrays = [pa.array([_json_text(obj.get(k)) for _, obj in records], pa.string()) for k in header]
    names = [normalise_header(c) for c in header]
    rows = pa.array([n for n, _ in records], pa.int64())
    return [Batch("", 0, header, pa.table([*arrays, rows], names=[*names, ROW]))]


def _json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return _cell_text(value) if isinstance(value, float) else str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


# --- Parquet ---------------------------------------------------------------
def _read_parquet(data: bytes) -> list[Batch]:
    table = pq.read_table(pa.BufferReader(data))
    header = table.column_names
    _check_header(header, "columns")
    arrays = [_to_text(col) for col in table.columns]
    return [Batch("", 0, header, _text_table(header, arrays, 1))]


def _to_text(col: pa.ChunkedArray) -> pa.Array:
    """Values as text; nulls become '' (the same as an empty cell)."""
    import pyarrow.compute as pc

    arr = col.combine_chunks()
    t = arr.type
    if pa.types.is_floating(t):
        text = pa.array(
            [None if v is None else _cell_text(v) for v in arr.to_pylist()], pa.string()
        )
    elif pa.types.is_timestamp(t):
        naive = arr.cast(pa.timestamp(t.unit, tz=t.tz)) if t.tz else arr
        text = pc.replace_substring(
            pc.strftime(naive, format="%Y-%m-%dT%H:%M:%S"), ".000000", ""
        )  # whole seconds print without a fraction
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
