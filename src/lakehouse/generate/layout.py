"""Where rows go: file names and sheets per format, and the set of files open while writing.

xlsx: one workbook per month and entity (`orders_2025_04.xlsx`), one sheet per day named
YYYY-MM-DD (a day without orders still has its sheet, header only), plus `products.xlsx`.
csv/jsonl/parquet: one file per day and entity (`orders_2025-04-01.csv`) plus
`products.<ext>`; a day without rows has no file (a JSON-lines file cannot be empty).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from lakehouse.generate.schema import Entity, Kind, arrow_schema, kinds
from lakehouse.generate.writers import Format, Sink, open_sink

PRODUCTS_SHEET = "products"


def target(fmt: Format, entity: Entity, day: dt.date | None, suffix: str = "") -> tuple[str, str]:
    """(file name, sheet) for the rows of `entity` on `day` (None for products)."""
    if day is None:
        return f"{entity}{suffix}.{fmt}", PRODUCTS_SHEET if fmt == "xlsx" else ""
    if fmt == "xlsx":
        return f"{entity}_{day:%Y_%m}{suffix}.xlsx", day.isoformat()
    return f"{entity}_{day.isoformat()}{suffix}.{fmt}", ""


class Output:
    """Sinks for the data files of one generation, one open file per entity at a time."""

    def __init__(self, out: Path, fmt: Format, *, text: bool) -> None:
        self.out, self.fmt, self.text = out, fmt, text
        self.files: list[Path] = []
        self._open: dict[Entity, Sink] = {}

    def write(self, entity: Entity, table: pa.Table, day: dt.date | None) -> tuple[str, str, int]:
        """Append rows; return (file name, sheet, position of the first row written)."""
        name, sheet = target(self.fmt, entity, day)
        if table.num_rows == 0 and self.fmt != "xlsx":
            return name, sheet, 0
        sink = self._open.get(entity)
        if sink is None or sink.path.name != name:
            if sink is not None:
                self.files.append(sink.close())
            sink = open_sink(
                self.fmt, self.out, name, arrow_schema(entity, self.text), kinds(entity)
            )
            self._open[entity] = sink
        return name, sheet, sink.write(table, sheet)

    def close(self) -> list[Path]:
        for sink in self._open.values():
            self.files.append(sink.close())
        self._open.clear()
        return self.files


def write_file(
    out: Path, fmt: Format, name: str, table: pa.Table, sheet: str, kind: dict[str, Kind]
) -> Path:
    """A whole file in one go (for files whose columns differ from the entity's)."""
    sink = open_sink(fmt, out, name, table.schema, kind)
    sink.write(table, sheet)
    return sink.close()
