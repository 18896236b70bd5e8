"""How the spark engine commits and reads: which writes its driver commits with delta-rs (and
which tables it reads itself), and the gold writes its executors make with delta-spark."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pyarrow as pa

from lakehouse.engines.spark.frames import conflicts_retryable, last_commit, quote, user_metadata
from lakehouse.engines.sql import render
from lakehouse.errors import TerminalError
from lakehouse.faults import fault_point
from lakehouse.gold.session import GoldWrite
from lakehouse.store.delta import CommitInfo, ensure_table, open_table, read_arrow, try_open
from lakehouse.store.root import Root

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession


def driver_write_rows() -> int:
    """The most rows of an append or a gold result the driver collects and commits itself,
    and of a Delta table it reads itself (`LAKEHOUSE_SPARK_DRIVER_WRITE_ROWS`; 0: the executors
    write and read every table)."""
    text = os.environ.get("LAKEHOUSE_SPARK_DRIVER_WRITE_ROWS", "500000").strip()
    if not text.isdigit():
        raise TerminalError(
            f"LAKEHOUSE_SPARK_DRIVER_WRITE_ROWS must be a whole number of rows (0 or more), "
            f"not {text!r}"
        )
    return int(text)


#: the most rows of a Delta table the driver reads itself (`driver_read_rows`)
DRIVER_READ_ROWS = 10_000


def driver_read_rows() -> int:
    """The most rows of a Delta table the driver reads with delta-rs and hands to Spark as
    Arrow: `DRIVER_READ_ROWS`, none when `driver_write_rows()` is 0. Delta-spark's read costs
    0.3-0.7 s of jobs (the log's snapshot) however few its rows, against 0.05-0.1 s; past this
    limit the executors read (a frame of local rows made every later query slower: the lab run
    on Spark took 62-66 s instead of 40-48 s with tables of up to 500,000 rows read so)."""
    return min(driver_write_rows(), DRIVER_READ_ROWS)


def small_rows(table: DeltaTable, limit: int) -> pa.Table | None:
    """The opened snapshot's rows when its files count at most `limit` of them; None when
    they count more, or do not all count their rows."""
    counts = table.get_add_actions(flatten=True).column("num_records").to_pylist()
    return None if None in counts or sum(counts) > limit else read_arrow(table)


def write_on_executors(
    spark: SparkSession, root: Root, w: GoldWrite[DataFrame], description: str, commit: CommitInfo
) -> tuple[int, int]:
    """Write `w` with delta-spark, the executors writing the rows; (version, rows)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    created = try_open(root, "gold", w.model) is None
    if created:  # created empty first and fenced, as on the local engine
        schema = to_arrow_schema(w.table.schema)
        ensure_table(root, "gold", w.model, schema, description=description)
    uri = root.table_uri("gold", w.model)
    # the writer's own option, not the session's setting: the gold step writes several
    # tables at once (`Capabilities.gold_writers`)
    with conflicts_retryable(f"gold.{w.model}"):
        meta = user_metadata(commit)  # the lease is checked here
        fault_point(f"before_gold_write:{w.model}")
        open_table(root, "gold", w.model)  # the fence, on the newest snapshot
        frame, option = w.table, ("overwriteSchema", "true")
        if not (created or w.mode == "overwrite"):  # the stored types, the rows replaced
            stored = spark.read.format("delta").load(uri).schema
            frame = w.table.select(
                *[w.table[quote(f.name)].cast(f.dataType).alias(f.name) for f in stored.fields]
            )
            assert w.predicate is not None
            option = ("replaceWhere", render(w.predicate, "spark"))
        writer = frame.write.format("delta").mode("overwrite").option("userMetadata", meta)
        writer.option(*option).save(uri)
    version, metrics = last_commit(root, "gold", w.model)
    return version, int(metrics.get("numOutputRows") or 0)
