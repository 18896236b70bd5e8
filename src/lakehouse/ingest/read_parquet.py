"""Read a Parquet file into one batch of text (1-based row numbers)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.config.settings import IntakeSettings
from lakehouse.ingest.batch import Batch, _check_header, _check_width, _text_table, _to_text


def _read_parquet(data: bytes, limits: IntakeSettings) -> list[Batch]:
    source = pa.BufferReader(data)
    _check_width(pq.read_schema(source).__len__(), "columns", limits)
    table = pq.read_table(pa.BufferReader(data))
    header = table.column_names
    _check_header(header, "columns", limits)
    arrays = [_to_text(col) for col in table.columns]
    return [Batch("", 0, header, _text_table(header, arrays, 1))]
