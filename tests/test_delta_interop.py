"""delta-rs and delta-spark write the same tables: each appends to and merges into what the
other created, reads back what the other wrote, and neither loses a row or changes the protocol.

The table has every type the lakehouse uses (bigint, string, decimal(12,2), date partition,
UTC timestamp, array<string>), change data feed on, and a checkpoint every 2 commits, so both
sides also read each other's checkpoints and change files. See docs/delta-protocol.md.
"""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from spark_fixtures import SPARK_MARKS, spark_session_fixture  # noqa: F401

pytestmark = SPARK_MARKS

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False, metadata={"comment": "key"}),
        pa.field("name", pa.string()),
        pa.field("amount", pa.decimal128(12, 2)),
        pa.field("day", pa.date32(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("tags", pa.list_(pa.string())),
    ]
)
# writer features a delta-rs 1.x writer honours (see docs/delta-protocol.md)
DELTA_RS_WRITES = {
    "appendOnly", "invariants", "checkConstraints", "changeDataFeed", "generatedColumns",
    "timestampNtz",
}  # fmt: skip
PROPERTIES = {"delta.enableChangeDataFeed": "true", "delta.checkpointInterval": "2"}
SPARK_DDL = (
    "id BIGINT NOT NULL, name STRING, amount DECIMAL(12,2), day DATE NOT NULL, ts TIMESTAMP, "
    "tags ARRAY<STRING>"
)


def rows(ids: range, name: str) -> pa.Table:
    """Rows with predictable values: id n is on day 1 + n % 3 at n minutes past midnight."""
    return pa.Table.from_pylist(
        [
            {
                "id": n,
                "name": f"{name}-{n}",
                "amount": decimal.Decimal(n) / 100 + 1,
                "day": dt.date(2025, 4, 1 + n % 3),
                "ts": dt.datetime(2025, 4, 1 + n % 3, 0, n % 60, 30, 123456, tzinfo=dt.UTC),
                "tags": [name, str(n)] if n % 2 else [],
            }
            for n in ids
        ],
        schema=SCHEMA,
    )


def spark_frame(spark: Any, table: pa.Table) -> Any:
    from lakehouse.engines.spark.frames import to_spark

    return to_spark(spark, table)


def read_rs(uri: str) -> pa.Table:
    return DeltaTable(uri).to_pyarrow_table().cast(SCHEMA).sort_by("id")


def read_spark(spark: Any, uri: str) -> pa.Table:
    """What Spark reads, as Arrow in the test schema (timestamps as epoch micros on the wire)."""
    frame = spark.read.format("delta").load(uri).selectExpr("*", "unix_micros(ts) AS ts_us")
    out = [r.asDict() for r in frame.collect()]
    for r in out:
        us = r.pop("ts_us")
        r["ts"] = (
            None
            if us is None
            else dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)
        )
    return pa.Table.from_pylist(out, schema=SCHEMA).sort_by("id")


def expected(*parts: pa.Table, deleted: tuple[int, ...] = ()) -> pa.Table:
    """Later parts replace earlier rows of the same id; `deleted` ids are gone."""
    by_id: dict[int, dict[str, Any]] = {}
    for part in parts:
        for r in part.to_pylist():
            by_id[r["id"]] = r
    keep = [r for i, r in sorted(by_id.items()) if i not in deleted]
    return pa.Table.from_pylist(keep, schema=SCHEMA)


def protocol(uri: str) -> tuple[int, int, list[str] | None, list[str] | None]:
    p = DeltaTable(uri).protocol()
    return p.min_reader_version, p.min_writer_version, p.reader_features, p.writer_features


def spark_merge(spark: Any, uri: str, source: pa.Table, delete_ids: tuple[int, ...]) -> None:
    """Upsert `source` by id and delete `delete_ids`, with Spark's MERGE."""
    from delta.tables import DeltaTable as SparkDeltaTable

    upserts = spark_frame(spark, source).selectExpr("*", "false AS _delete")
    deletes = spark.createDataFrame([(i,) for i in delete_ids], "id BIGINT").selectExpr(
        "id", "true AS _delete"
    )
    src = upserts.unionByName(deletes, allowMissingColumns=True)
    cols = {c: f"s.{c}" for c in SCHEMA.names}
    (
        SparkDeltaTable.forPath(spark, uri)
        .alias("t")
        .merge(src.alias("s"), "t.id = s.id")
        .whenMatchedDelete(condition="s._delete")
        .whenMatchedUpdate(set=cols)  # type: ignore[arg-type]
        .whenNotMatchedInsert(condition="NOT s._delete", values=cols)  # type: ignore[arg-type]
        .execute()
    )


def rs_merge(uri: str, source: pa.Table, delete_ids: tuple[int, ...]) -> None:
    """Upsert `source` by id and delete `delete_ids`, with delta-rs's MERGE."""
    flags = pa.array([False] * source.num_rows + [True] * len(delete_ids))
    deletes = pa.Table.from_pylist([{"id": i, "day": dt.date(2025, 4, 1)} for i in delete_ids])
    src = pa.concat_tables(
        [source, deletes.cast(pa.schema([SCHEMA.field("id"), SCHEMA.field("day")]))],
        promote_options="permissive",
    )
    src = src.append_column("_delete", flags)
    cols = {c: f"s.{c}" for c in SCHEMA.names}
    (
        DeltaTable(uri)
        .merge(src, predicate="t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_delete(predicate="s._delete")
        .when_matched_update(updates=cols)
        .when_not_matched_insert(updates=cols, predicate="NOT s._delete")
        .execute()
    )


def test_delta_rs_table_written_by_spark(spark: Any, tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    DeltaTable.create(
        uri, schema=SCHEMA, partition_by=["day"], configuration=PROPERTIES, name="interop"
    )
    first = rows(range(1, 7), "rs")
    write_deltalake(uri, first, mode="append")
    before = protocol(uri)
    assert before[:2] == (1, 4)

    # Spark appends (idempotently, with an app transaction) and merges
    appended = rows(range(7, 10), "spark")
    for _ in range(2):  # the second write is skipped: same app id and version
        (
            spark_frame(spark, appended)
            .write.format("delta")
            .mode("append")
            .option("txnAppId", "interop-1")
            .option("txnVersion", 1)
            .save(uri)
        )
    changed = rows(range(5, 12), "spark-merge")
    spark_merge(spark, uri, changed, delete_ids=(2,))

    # delta-rs reads every row, the transaction, Spark's checkpoint and change files
    assert read_rs(uri).equals(expected(first, appended, changed, deleted=(2,)))
    table = DeltaTable(uri)
    assert table.transaction_version("interop-1") == 1
    assert protocol(uri) == before
    assert (tmp_path / "t" / "_delta_log" / "_last_checkpoint").exists()
    feed = table.load_cdf(starting_version=0).read_all()
    kinds = set(feed["_change_type"].to_pylist())
    assert {"insert", "update_preimage", "update_postimage", "delete"} <= kinds

    # and delta-rs writes on after Spark; Spark reads it all back
    more = rows(range(20, 23), "rs-again")
    write_deltalake(uri, more, mode="append")
    final = rows(range(9, 21), "rs-merge")
    rs_merge(uri, final, delete_ids=(1,))
    want = expected(first, appended, changed, more, final, deleted=(2, 1))
    assert read_spark(spark, uri).equals(want)
    assert read_rs(uri).equals(want)
    assert protocol(uri) == before


def test_spark_table_written_by_delta_rs(spark: Any, tmp_path: Path) -> None:
    from delta.tables import DeltaTable as SparkDeltaTable

    uri = str(tmp_path / "t")
    columns = spark.createDataFrame([], SPARK_DDL).schema
    builder = SparkDeltaTable.create(spark).location(uri).addColumns(columns)
    builder = builder.partitionedBy("day")
    for key, value in PROPERTIES.items():
        builder = builder.property(key, value)
    builder.execute()
    first = rows(range(1, 7), "spark")
    spark_frame(spark, first).write.format("delta").mode("append").save(uri)
    made = protocol(uri)
    # Delta 3.3 names the one feature CDF needs (writer 7); readers still need only version 1
    assert made[0] == 1 and made[2] is None, made
    assert set(made[3] or ()) <= DELTA_RS_WRITES, made

    # delta-rs appends (with an app transaction) and merges into Spark's table
    appended = rows(range(7, 10), "rs")
    write_deltalake(
        uri,
        appended,
        mode="append",
        commit_properties=CommitProperties(app_transactions=[Transaction("interop-2", 1)]),
    )
    changed = rows(range(5, 12), "rs-merge")
    rs_merge(uri, changed, delete_ids=(3,))
    want = expected(first, appended, changed, deleted=(3,))
    assert read_spark(spark, uri).equals(want)
    assert read_rs(uri).equals(want)
    assert protocol(uri) == made

    # Spark reads delta-rs's change feed and writes on; delta-rs reads it back
    feed = (
        spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0)
    ).load(uri)
    kinds = {r[0] for r in feed.select("_change_type").distinct().collect()}
    assert {"insert", "update_preimage", "update_postimage", "delete"} <= kinds
    last = rows(range(10, 14), "spark-again")
    spark_merge(spark, uri, last, delete_ids=(1,))
    assert read_rs(uri).equals(expected(first, appended, changed, last, deleted=(3, 1)))
    assert protocol(uri) == made
