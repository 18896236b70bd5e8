"""Read a Parquet file into one batch of text (1-based row numbers); integer and decimal
columns are marked as written from typed values (`Batch.canonical`)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.config.settings import IntakeSettings
from lakehouse.ingest.batch import Batch, check_header, check_width, typed_batch


def read_parquet(data: bytes, limits: IntakeSettings) -> list[Batch]:
    source = pa.BufferReader(data)
    check_width(pq.read_schema(source).__len__(), "columns", limits)
    table = pq.read_table(pa.BufferReader(data))
    check_header(table.column_names, "columns", limits)
    return [typed_batch(table)]
