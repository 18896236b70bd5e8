"""Read a Parquet file into one batch of text (1-based row numbers); integer and decimal
columns are marked as written from typed values (`Batch.canonical`)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.config.settings import IntakeSettings
from lakehouse.ingest.batch import (
    Batch,
    canonical_kind,
    check_header,
    check_width,
    normalise_header,
    text_table,
    to_text,
)


def read_parquet(data: bytes, limits: IntakeSettings) -> list[Batch]:
    source = pa.BufferReader(data)
    check_width(pq.read_schema(source).__len__(), "columns", limits)
    table = pq.read_table(pa.BufferReader(data))
    header = table.column_names
    check_header(header, "columns", limits)
    arrays = [to_text(col) for col in table.columns]
    kinds = zip(header, map(canonical_kind, table.columns), strict=True)
    canonical = {normalise_header(name): kind for name, kind in kinds if kind}
    return [Batch("", 0, header, text_table(header, arrays, 1), canonical)]
