"""The ground truth of a dirty data set: `_dirty_manifest.json`, and the files rejected whole.

Format (rows and files sorted; reasons sorted):
{
  "rows":  [{"entity": "orders", "file": "orders_2025-04-01.csv", "sheet": "", "row": 17,
             "reasons": ["invalid_enum:status"]}, ...],
  "files": [{"entity": "orders", "file": "orders_2025-04-01_extra.csv",
             "reasons": ["missing_column:total_amount"]}, ...],
  "counts": {"rows": .., "files": .., "rows_by_entity": {..}, "rows_by_reason": {..},
             "valid_rows": {..}, "whitespace_padded": ..}
}
`file` is relative to the output folder; `row` is the position the pipeline reports (csv/xlsx:
spreadsheet row, header = 1; jsonl: line number; parquet: 1-based index); `sheet` is the sheet
name for xlsx, "" otherwise. Every row listed is quarantined with exactly these reasons; every
other row of the data files is valid. The rows of rejected files are not listed.
The name starts with '_' so that the pipeline never takes the manifest for data.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakehouse.generate.dirty import PRIMARY_KEY, Ids
from lakehouse.generate.layout import target, write_file
from lakehouse.generate.schema import Entity, as_text, kinds, names
from lakehouse.generate.writers import Format

MANIFEST_NAME = "_dirty_manifest.json"


class Manifest:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.files: list[dict[str, Any]] = []
        self.valid: Counter[str] = Counter()

    def add_rows(
        self, entity: Entity, file: str, sheet: str, first: int, found: list[tuple[int, list[str]]]
    ) -> None:
        for index, reasons in found:
            row = {"entity": entity, "file": file, "sheet": sheet, "row": first + index}
            self.rows.append({**row, "reasons": reasons})

    def add_file(self, entity: Entity, file: str, reasons: list[str]) -> None:
        self.files.append({"entity": entity, "file": file, "reasons": sorted(reasons)})

    def write(self, out: Path, padded: int) -> Path:
        rows = sorted(self.rows, key=lambda r: (r["entity"], r["file"], r["sheet"], r["row"]))
        files = sorted(self.files, key=lambda f: (f["entity"], f["file"]))
        counts = {
            "rows": len(rows),
            "files": len(files),
            "rows_by_entity": dict(sorted(Counter(r["entity"] for r in rows).items())),
            "rows_by_reason": dict(sorted(Counter(x for r in rows for x in r["reasons"]).items())),
            "valid_rows": dict(sorted(self.valid.items())),
            "whitespace_padded": padded,
        }
        text = (
            f'{{\n "rows": {_json_lines(rows)},\n "files": {_json_lines(files)},\n'
            f' "counts": {json.dumps(counts)}\n}}\n'
        )
        path = out / MANIFEST_NAME
        path.write_text(text, encoding="utf-8")
        return path


def _json_lines(items: list[dict[str, Any]]) -> str:
    """A JSON array with one item per line (diff-friendly, still one JSON document)."""
    return "[" + ",".join("\n  " + json.dumps(x) for x in items) + ("\n ]" if items else "]")


# File-level rejects: (entity, column removed, column added). Each such file holds a few extra
# rows with keys of their own, so rejecting it whole takes nothing else with it.
REJECTED_FILES: tuple[tuple[Entity, str | None, str | None], ...] = (
    ("products", "product_name", "title"),  # a renamed column: missing and unexpected
    ("orders", "total_amount", None),
    ("order_items", None, "coupon_code"),
)


def write_rejected_files(
    out: Path,
    fmt: Format,
    samples: dict[Entity, pa.Table],
    day: dt.date,
    ids: Ids,
    manifest: Manifest,
) -> list[Path]:
    """Per entity with sample rows, one file whose header breaks the contract."""
    written = []
    for entity, drop, add in REJECTED_FILES:
        sample = samples.get(entity)
        rows = [] if sample is None else as_text(sample.slice(0, 3)).to_pylist()
        if not rows:
            continue  # a JSON-lines file cannot be empty, and nothing needs rejecting
        for row in rows:
            row[PRIMARY_KEY[entity]] = ids.take("extra")
            if add:
                row[add] = "SPRING10"
        cols = [add if c == drop and add else c for c in names(entity) if c != drop or add]
        cols += [add] if add and not drop else []
        table = pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in cols]))
        col_kinds = {c: kinds(entity).get(c, "text") for c in cols}
        name, sheet = target(fmt, entity, None if entity == "products" else day, "_extra")
        written.append(write_file(out, fmt, name, table, sheet, col_kinds))
        reasons = [f"missing_column:{drop}"] * bool(drop) + [f"unexpected_column:{add}"] * bool(add)
        manifest.add_file(entity, name, reasons)
    return written
