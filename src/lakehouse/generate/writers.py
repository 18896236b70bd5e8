"""Write tables as csv, jsonl, parquet or xlsx, each file under a temporary name until complete.

Every sink appends tables and returns the position of the first row it wrote, counted the way
the pipeline reports rows: csv/xlsx the spreadsheet row (header = 1), jsonl the line number,
parquet the 1-based row index. A file appears under its final name (an atomic rename) only
when closed; until then it is `.<name>.tmp`, which readers of the folder skip.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lakehouse.generate.schema import Kind, as_text

Format = Literal["xlsx", "csv", "jsonl", "parquet"]
FORMATS: tuple[Format, ...] = ("xlsx", "csv", "jsonl", "parquet")
XLSX_CREATED = dt.datetime(2025, 1, 1)  # fixed document date: same inputs, same bytes


class Sink(ABC):
    header_rows = 0

    def __init__(self, out: Path, name: str, schema: pa.Schema, kinds: dict[str, Kind]) -> None:
        self.path = out / name
        self.tmp = out / f".{name}.tmp"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.kinds = kinds
        self.rows = 0

    def write(self, table: pa.Table, sheet: str = "") -> int:
        """Append rows; return the position of the first one."""
        first = self._start(sheet) + self.header_rows + 1
        if table.num_rows:
            self._append(table.select(self.schema.names).cast(self.schema))
            self.rows += table.num_rows
        return first

    def _start(self, sheet: str) -> int:
        """Get ready for rows of `sheet`; return how many data rows it already holds."""
        return self.rows

    @abstractmethod
    def _append(self, table: pa.Table) -> None: ...

    def close(self) -> Path:
        self._finish()
        os.replace(self.tmp, self.path)
        return self.path

    @abstractmethod
    def _finish(self) -> None: ...


class _ByteSink(Sink):
    """A sink that writes bytes to an open file."""

    def __init__(self, out: Path, name: str, schema: pa.Schema, kinds: dict[str, Kind]) -> None:
        super().__init__(out, name, schema, kinds)
        self._fh: IO[bytes] = open(self.tmp, "wb")  # noqa: SIM115 - closed in _finish

    def _finish(self) -> None:
        self._fh.close()


class CsvSink(_ByteSink):
    """Comma separated, UTF-8, header row; values quoted only when they must be (RFC 4180)."""

    header_rows = 1

    def __init__(self, out: Path, name: str, schema: pa.Schema, kinds: dict[str, Kind]) -> None:
        super().__init__(out, name, schema, kinds)
        self._fh.write((",".join(schema.names) + "\n").encode())
        self._options = pacsv.WriteOptions(include_header=False, quoting_style="none")

    def _append(self, table: pa.Table) -> None:
        buf = io.BytesIO()
        try:  # fast path: nothing to quote
            pacsv.write_csv(table, buf, self._options)
        except pa.ArrowInvalid:  # a value holds a comma, quote or line break
            text = io.StringIO(newline="")
            columns = [c.to_pylist() for c in as_text(table).columns]
            csv.writer(text, lineterminator="\n").writerows(zip(*columns, strict=True))
            buf = io.BytesIO(text.getvalue().encode())
        self._fh.write(buf.getbuffer())


class JsonlSink(_ByteSink):
    """One JSON object per line; every value a JSON string, nulls as null."""

    _ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))

    def __init__(self, out: Path, name: str, schema: pa.Schema, kinds: dict[str, Kind]) -> None:
        super().__init__(out, name, schema, kinds)
        self._keys = [json.dumps(n) for n in schema.names]

    def _append(self, table: pa.Table) -> None:
        parts: list[object] = []
        for i, col in enumerate(table.columns):
            text = col.cast(pa.string())
            for old, new in self._ESCAPES:
                text = pc.replace_substring(text, old, new)
            token = pc.fill_null(pc.binary_join_element_wise('"', text, '"', ""), "null")
            parts += [("{" if i == 0 else ",") + self._keys[i] + ":", token]
        lines = pc.binary_join_element_wise(*parts, "}\n", "").combine_chunks()
        if len(lines) == 0:
            return
        width = np.int64 if pa.types.is_large_string(lines.type) else np.int32
        offsets = np.frombuffer(lines.buffers()[1], dtype=width)
        lo, hi = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
        self._fh.write(memoryview(lines.buffers()[2])[lo:hi])


class ParquetSink(Sink):
    def __init__(self, out: Path, name: str, schema: pa.Schema, kinds: dict[str, Kind]) -> None:
        super().__init__(out, name, schema, kinds)
        self._writer = pq.ParquetWriter(self.tmp, schema, compression="snappy")

    def _append(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def _finish(self) -> None:
        self._writer.close()


_INT_CELL = re.compile(r"-?(0|[1-9][0-9]{0,14})")
_MONEY_CELL = re.compile(r"-?(0|[1-9][0-9]{0,12})\.[0-9]{2}")


class XlsxSink(Sink):
    """A workbook, one sheet per `sheet` name. Integers and money are number cells (money shown
    with two decimals) when they are well-formed numbers; everything else is a text cell."""

    header_rows = 1

    def __init__(self, out: Path, name: str, schema: pa.Schema, kinds: dict[str, Kind]) -> None:
        import xlsxwriter  # type: ignore[import-untyped]

        super().__init__(out, name, schema, kinds)
        self._wb = xlsxwriter.Workbook(str(self.tmp), {"constant_memory": True})
        self._wb.set_properties({"created": XLSX_CREATED})
        self._money = self._wb.add_format({"num_format": "0.00"})
        self._ws: Any = None
        self._sheet: str | None = None

    def _start(self, sheet: str) -> int:
        if sheet != self._sheet:
            self._ws = self._wb.add_worksheet(sheet)
            self._ws.write_row(0, 0, self.schema.names)
            self._sheet = sheet
            self.rows = 0
        return self.rows

    def _append(self, table: pa.Table) -> None:
        ws = self._ws
        write_number, write_string = ws.write_number, ws.write_string
        cols = [self._cells(table.column(n), self.kinds[n]) for n in table.column_names]
        fmts = [self._money if self.kinds[n] == "money" else None for n in table.column_names]
        for r, row in enumerate(zip(*cols, strict=True), start=self.rows + 1):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, str):
                    write_string(r, c, value)
                else:
                    write_number(r, c, value, fmts[c])

    @staticmethod
    def _cells(col: pa.ChunkedArray, kind: Kind) -> list[object]:
        values: list[Any] = col.to_pylist()
        if kind == "text":
            return values
        if not pa.types.is_string(col.type):  # typed: int64 or decimal
            return values if kind == "int" else [None if v is None else float(v) for v in values]
        pattern, number = (_INT_CELL, int) if kind == "int" else (_MONEY_CELL, float)
        return [number(v) if v is not None and pattern.fullmatch(v) else v for v in values]

    def _finish(self) -> None:
        self._wb.close()


SINKS: dict[Format, type[Sink]] = {
    "csv": CsvSink,
    "jsonl": JsonlSink,
    "parquet": ParquetSink,
    "xlsx": XlsxSink,
}


def open_sink(fmt: Format, out: Path, name: str, schema: pa.Schema, kinds: dict[str, Kind]) -> Sink:
    return SINKS[fmt](out, name, schema, kinds)
