"""Moving data between Arrow, Spark and Delta: the Spark engine's plumbing, no business rules."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.engines import dialect
from lakehouse.errors import RetryableError
from lakehouse.store.delta import PLAIN_TEXT, CommitInfo
from lakehouse.store.root import Root

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
#: a Spark identifier, for column names handed to DataFrame methods (`dialect.quote`)
quote = partial(dialect.quote, dialect="spark")


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` in Arrow types Spark 3.5 reads (plain utf8 strings, no dictionaries: a bronze
    batch's per-file lineage is dictionary-encoded)."""
    fields = []
    for f in schema:
        kind = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        fields.append(f.with_type(PLAIN_TEXT.get(kind, kind)))
    return pa.schema(fields, metadata=schema.metadata)


def to_spark(spark: SparkSession, table: pa.Table) -> DataFrame:
    """An Arrow table held by the driver as a DataFrame, types exactly kept.

    Spark 3.5 has no `createDataFrame(pyarrow.Table)` (Spark 4 has): the record batches are
    streamed to the JVM the way `createDataFrame(pandas)` does after its pandas-to-Arrow step,
    so nulls in integer columns and microsecond timestamps survive unchanged.
    """
    from pyspark.sql import DataFrame
    from pyspark.sql.pandas.types import from_arrow_schema

    table = table.cast(plain_schema(table.schema))
    schema = from_arrow_schema(table.schema)
    step = max(int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") or 0), 1000)
    batches = table.combine_chunks().to_batches(max_chunksize=step) if table.num_rows else []
    if not batches:
        return spark.createDataFrame([], schema)
    try:
        from pyspark.sql.pandas.serializers import ArrowStreamSerializer

        jvm: Any = spark._jvm
        jiter = spark.sparkContext._serialize_to_jvm(
            batches,
            ArrowStreamSerializer(),
            lambda path: jvm.PythonSQLUtils.readArrowStreamFromFile(path),
            lambda: jvm.ArrowIteratorServer(),
        )
        jdf = jvm.PythonSQLUtils.toDataFrame(jiter, schema.json(), spark._jsparkSession)
        return DataFrame(jdf, spark)
    except (AttributeError, ImportError, TypeError):  # private API moved: the public route
        return spark.createDataFrame(table.to_pandas(), schema=schema)


def collect_at_most(frame: DataFrame, rows: int) -> pa.Table | None:
    """`frame`'s rows as an Arrow table on the driver (`collect_arrow`), or None when it has
    more than `rows` (no more than `rows + 1` of them are brought over to tell)."""
    table = collect_arrow(frame.limit(rows + 1))
    return table if table.num_rows <= rows else None


def collect_arrow(frame: DataFrame) -> pa.Table:
    """All of `frame`'s rows as an Arrow table on the driver.

    Spark 3.5 has no public `toArrow` (Spark 4's calls this too): this is the Arrow stream
    `toPandas` reads. Every column is nullable, as a table delta-spark writes has them (and a
    DuckDB result).
    """
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = pa.schema([f.with_nullable(True) for f in to_arrow_schema(frame.schema)])
    batches = frame._collect_as_arrow()
    table = pa.Table.from_batches(batches) if batches else schema.empty_table()
    return table.cast(schema)


def map_in_arrow(
    frame: DataFrame,
    fn: Callable[[Iterable[pa.RecordBatch]], Iterable[pa.RecordBatch]],
    schema: StructType,
) -> DataFrame:
    """`frame.mapInArrow(fn, schema)`, without pandas on the driver.

    Spark 3.5's `mapInArrow` builds its UDF through `pandas_udf`, which insists on pandas
    although an Arrow map never uses it, and a Glue runtime need not have pandas. The UDF is
    built here the way `mapInArrow` builds it, minus that check.
    """
    from pyspark.sql import DataFrame

    try:
        from pyspark.rdd import PythonEvalType
        from pyspark.sql.udf import _create_udf

        udf: Any = _create_udf(fn, schema, PythonEvalType.SQL_MAP_ARROW_ITER_UDF)
        column = udf(*[frame[c] for c in frame.columns])
        jdf = frame._jdf.pythonMapInArrow(column._jc.expr(), False)
        return DataFrame(jdf, frame.sparkSession)
    except (AttributeError, ImportError, TypeError):  # private API moved: the public route
        return frame.mapInArrow(fn, schema)


def user_metadata(info: CommitInfo) -> str:
    """The commit metadata delta-rs writes as commitInfo keys, as one JSON text.

    delta-spark cannot add keys to commitInfo; it records this text as `userMetadata`.
    """
    meta = info.properties().custom_metadata or {}
    return json.dumps(meta)


@contextmanager
def commit_metadata(spark: SparkSession, info: CommitInfo) -> Iterator[str]:
    """Every Delta commit inside the block (MERGE included) records `info` as userMetadata."""
    text = user_metadata(info)
    spark.conf.set(USER_METADATA, text)
    try:
        yield text
    finally:
        spark.conf.unset(USER_METADATA)


@contextmanager
def materialized(frame: DataFrame) -> Iterator[tuple[DataFrame, int]]:
    """Compute a frame once (memory, spilling to disk) for the block, which gets it and its
    row count; it is read several times.

    No input of a frame materialized here changes while the block runs (the Delta tables it
    reads are written at the end of the block, in one commit) and every window is totally
    ordered, so a block evicted and recomputed gives the same rows.
    """
    from pyspark import StorageLevel

    frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        yield frame, frame.count()
    finally:
        frame.unpersist()


def append_with_transactions(
    spark: SparkSession,
    uri: str,
    data: DataFrame,
    parts: Mapping[str, DataFrame],
    user_meta: str,
) -> None:
    """Append `data` (the union of `parts`) in ONE commit recording the app transaction
    (version 1) named by each part's key — what delta-rs writes for
    `CommitProperties(app_transactions=...)`.

    delta-spark's writer options (`txnAppId`/`txnVersion`) take one id per write, so this calls
    the transaction API behind them (`OptimisticTransaction.updateSetTransaction`). Should that
    internal API change in a later Delta, each part is appended with the public options instead:
    one commit per part, each as idempotent.
    """
    from py4j.protocol import Py4JError, Py4JJavaError  # type: ignore[import-untyped]

    try:
        jvm: Any = spark._jvm
        delta = jvm.org.apache.spark.sql.delta
        none = jvm.scala.Option.apply(None)
        txn = delta.DeltaLog.forTable(spark._jsparkSession, uri).startTransaction()
        operation = getattr(delta, "DeltaOperations$Write")(
            jvm.org.apache.spark.sql.SaveMode.Append, none, none, jvm.scala.Option.apply(user_meta)
        )
        for app_id in parts:
            if txn.txnVersion(app_id) >= 1:
                raise RetryableError(f"{uri}: {app_id} was committed meanwhile; retry the step")
            txn.updateSetTransaction(app_id, 1, none)
    except Py4JJavaError:
        raise
    except Py4JError:  # the internal API moved: the public options, one commit per part
        for app_id, part in parts.items():
            (
                part.write.format("delta")
                .mode("append")
                .option("txnAppId", app_id)
                .option("txnVersion", 1)
                .option("userMetadata", user_meta)
                .save(uri)
            )
        return
    txn.commit(txn.writeFiles(data._jdf), operation)


# delta-spark's optimistic-concurrency failures: another writer committed first
CONFLICTS = (
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "ConcurrentWriteException",
    "MetadataChangedException",
    "ProtocolChangedException",
)


@contextmanager
def conflicts_retryable(table: str) -> Iterator[None]:
    """A Delta commit in the block that lost a race becomes a RetryableError (nothing of it was
    written; the step re-reads the table when retried)."""
    try:
        yield
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}"
        conflict = next((c for c in CONFLICTS if c in text), None)
        if conflict is None:
            raise
        raise RetryableError(
            f"{table}: another writer committed first ({conflict}); retry the step"
        ) from exc


def last_commit(root: Root, zone: str, name: str) -> tuple[int, dict[str, Any]]:
    """(version, operation metrics) of a table's latest commit (read with delta-rs: no job)."""
    from lakehouse.store.delta import open_table

    dt = open_table(root, zone, name)
    history = dt.history(1)
    return int(dt.version()), dict((history[0].get("operationMetrics") if history else None) or {})
