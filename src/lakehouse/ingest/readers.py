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

from collections.abc import Callable

from lakehouse.config.settings import IntakeSettings
from lakehouse.errors import FileRejected
from lakehouse.ingest.batch import Batch, OverLimit, check_field_sizes
from lakehouse.ingest.read_csv import read_csv
from lakehouse.ingest.read_jsonl import read_jsonl
from lakehouse.ingest.read_parquet import read_parquet
from lakehouse.ingest.read_xlsx import read_xlsx

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


def file_format(name: str) -> str | None:
    lower = name.lower()
    for ext, fmt in FORMATS.items():
        if lower.endswith(ext):
            return fmt
    return None


def read_file(name: str, data: bytes, limits: IntakeSettings | None = None) -> list[Batch]:
    """Parse one file; raise FileRejected('unreadable_file') with the cause if it cannot be read."""
    limits = limits or IntakeSettings()
    fmt = file_format(name)
    readers: dict[str, Callable[[bytes, IntakeSettings], list[Batch]]] = {
        "csv": read_csv,
        "xlsx": read_xlsx,
        "jsonl": read_jsonl,
        "parquet": read_parquet,
    }
    if fmt is None:
        raise FileRejected(name, ["unreadable_file"], f"unknown file type; expected {_exts()}")
    try:
        batches = readers[fmt](data, limits)
        for batch in batches:
            check_field_sizes(batch, limits)
        return batches
    except FileRejected:
        raise
    except OverLimit as exc:
        raise FileRejected(name, ["unreadable_file"], str(exc)) from exc
    except Exception as exc:  # any parser failure means the file as a whole is unreadable
        raise FileRejected(name, ["unreadable_file"], f"{type(exc).__name__}: {exc}") from exc


def _exts() -> str:
    return ", ".join(sorted(FORMATS))
