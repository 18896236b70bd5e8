"""Read every sheet of an Excel workbook into a batch of text per sheet: cells as a person sees
them, formulas kept as text and error values as Excel shows them (a zip/XML pass, never
evaluated), and the workbook's unpacked size and each sheet's declared range checked before the
grid is allocated."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from typing import Any

import pyarrow as pa
from defusedxml import ElementTree
from python_calamine import CalamineWorkbook

from lakehouse.config.settings import IntakeSettings
from lakehouse.ingest.batch import Batch, OverLimit, check_header, check_width, text_table


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


def read_xlsx(data: bytes, limits: IntakeSettings) -> list[Batch]:
    written = _cells_as_written(data, limits)
    wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    repeated = sorted({n for n in wb.sheet_names if wb.sheet_names.count(n) > 1})
    if repeated:  # Excel names each sheet once; rows are placed by sheet name and row
        raise ValueError(f"sheet names appear twice in the workbook: {repeated}")
    batches = []
    for index, sheet_name in enumerate(wb.sheet_names):
        sheet = wb.get_sheet_by_index(index)
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
        check_header(header, f"{where} header", limits)
        width = len(header)
        sheet_written = written.get(index, {})
        _nothing_right_of_sheet_header(rows, sheet_written, width, where)
        cols: list[list[str]] = [[] for _ in range(width)]
        for r, row in enumerate(rows[1:], start=1):
            for c in range(width):
                if (r, c) in sheet_written:
                    cols[c].append(sheet_written[(r, c)])
                else:
                    cols[c].append(_cell_text(row[c]) if c < len(row) else "")
        arrays = [pa.array(col, pa.string()) for col in cols]
        batches.append(Batch(sheet_name, index, header, text_table(header, arrays, 2)))
    return batches


def _check_cells(height: int, width: int, where: str, limits: IntakeSettings) -> None:
    """A sheet's used range is allocated cell by cell: refuse one over `intake.max_cells`."""
    check_width(width, where, limits)
    if height * width > limits.max_cells:
        raise OverLimit(
            f"{where} spans {height:,} rows x {width:,} columns = {height * width:,} cells, over "
            f"the limit intake.max_cells = {limits.max_cells:,}"
        )


def _nothing_right_of_sheet_header(
    rows: list[list[Any]], written: dict[tuple[int, int], str], width: int, where: str
) -> None:
    """A value right of the last header column has no column to go to: reject, as CSV does."""
    for r, row in enumerate(rows):
        for c in range(width, len(row)):
            if row[c] not in (None, "") or (r, c) in written:
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


def _cells_as_written(data: bytes, limits: IntakeSettings) -> dict[int, dict[tuple[int, int], str]]:
    """The text of the cells calamine does not give as written, by sheet index and (row, col),
    0-based: formulas ('=UPPER(A2)', kept, never evaluated; a cell sharing another's formula
    gets it with its relative references moved, as Excel shows it) and error values
    ('#DIV/0!', '#N/A', which calamine gives as empty: the value would have become null).

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
            if b"<f" in xml or b't="e"' in xml:
                out[index] = _sheet_cells_as_written(xml)
    return out


def _sheet_cells_as_written(xml: bytes) -> dict[tuple[int, int], str]:
    found: dict[tuple[int, int], str] = {}
    shared: dict[str, tuple[str, int, int]] = {}  # si -> (formula, row, col) of its first cell
    for cell in ElementTree.fromstring(xml).iter(f"{_NS}c"):
        m = _CELL_REF.match(cell.get("r", ""))
        if not m:
            continue
        at = (int(m.group(2)) - 1, _col_index(m.group(1)))
        f = cell.find(f"{_NS}f")
        if f is not None:
            si = f.get("si", "")
            if f.get("t") == "shared" and f.text:
                shared[si] = (f.text, *at)
            text = f.text
            if not text and si in shared:
                formula, row, col = shared[si]
                text = _moved(formula, at[0] - row, at[1] - col)
            found[at] = "=" + (text or "")
        elif cell.get("t") == "e":
            v = cell.find(f"{_NS}v")
            found[at] = v.text if v is not None and v.text else "#VALUE!"
    return found


#: a string literal (kept as it is), or an A1 reference: not inside a name or a number, and not
#: a function's name (LOG10 is followed by "(")
_REFERENCE = re.compile(r'("[^"]*")|(?<![A-Za-z0-9_.])(\$?)([A-Z]{1,3})(\$?)(\d+)(?![A-Za-z0-9_(])')


def _moved(formula: str, rows: int, cols: int) -> str:
    """`formula` as a cell `rows` below and `cols` right of the one it was written for shows it:
    its relative references moved, absolute ones (`$A$1`) kept."""

    def move(m: re.Match[str]) -> str:
        if m.group(1):
            return m.group(1)
        col_fixed, col, row_fixed, row = m.group(2, 3, 4, 5)
        col = col if col_fixed else _col_letters(_col_index(col) + cols)
        row = row if row_fixed else str(int(row) + rows)
        return f"{col_fixed}{col}{row_fixed}{row}"

    return _REFERENCE.sub(move, formula)


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
