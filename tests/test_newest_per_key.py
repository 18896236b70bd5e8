"""One row per key from a batch of valid rows (`newest_per_key_sql`), on both engines, against
an independent choice in Python: the newest recency wins, then the later file in the run
(`_seq`), then the later ingestion, then the larger file hash. Keys that come once are kept as
they are; only repeated keys are ranked."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pyarrow as pa
import pytest

from lakehouse.contracts import contract_for
from lakehouse.engines.sql import newest_per_key_sql, render
from lakehouse.store import zones
from lakehouse.store.query import new_connection
from spark_fixtures import spark_session_fixture  # noqa: F401

T0 = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
COLUMNS = ["order_id", "user_id", "order_timestamp", "_seq", "_ingested_at", "_file_sha256"]


def batch(seed: int, n: int = 400) -> pa.Table:
    """`n` order rows over n/3 keys (most keys repeated, some once), with ties on recency, on
    `_seq` and on ingestion so that every tie-break decides some key."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        rows.append(
            {
                "order_id": rng.randrange(1, n // 3),
                "user_id": i,  # tells the rows apart
                "order_timestamp": T0 + dt.timedelta(hours=rng.randrange(3)),
                "_seq": rng.choice([-1, 0, 1]),
                "_ingested_at": T0 + dt.timedelta(minutes=rng.randrange(2)),
                "_file_sha256": rng.choice("abc") * 64,
            }
        )
    schema = pa.schema(
        [
            ("order_id", pa.int64()),
            ("user_id", pa.int64()),
            ("order_timestamp", zones.TS),
            ("_seq", pa.int64()),
            ("_ingested_at", zones.TS),
            ("_file_sha256", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema)


def oracle(rows: pa.Table) -> dict[int, int]:
    """key -> user_id of the winning row (the batch has no two rows of a key that tie on
    every tie-break: `unique_winners`)."""
    best: dict[int, dict[str, Any]] = {}
    rank = ("order_timestamp", "_seq", "_ingested_at", "_file_sha256")
    for r in rows.to_pylist():
        k = r["order_id"]
        if k not in best or tuple(r[c] for c in rank) > tuple(best[k][c] for c in rank):
            best[k] = r
    return {k: r["user_id"] for k, r in best.items()}


def unique_winners(rows: pa.Table) -> pa.Table:
    """Drop rows that tie with another of their key on every tie-break (no order decides)."""
    seen: set[tuple[Any, ...]] = set()
    keep = []
    for r in rows.to_pylist():
        sig = (r["order_id"], r["order_timestamp"], r["_seq"], r["_ingested_at"], r["_file_sha256"])
        keep.append(sig not in seen)
        seen.add(sig)
    return rows.filter(pa.array(keep))


def sql() -> str:
    return newest_per_key_sql(contract_for("orders"), "SELECT * FROM v", COLUMNS[:3])


@pytest.mark.parametrize("seed", range(5))
def test_duckdb_keeps_the_newest_row_of_each_key(seed: int) -> None:
    rows = unique_winners(batch(seed))
    con = new_connection()
    try:
        con.register("v", rows)
        out = con.sql(sql()).to_arrow_table()
    finally:
        con.close()
    got = dict(zip(out["order_id"].to_pylist(), out["user_id"].to_pylist(), strict=True))
    assert out.num_rows == len(got)  # one row per key
    assert got == oracle(rows)
    singles = [k for k, n in _counts(rows).items() if n == 1]
    assert singles and all(k in got for k in singles)


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_spark_keeps_the_same_rows(spark: Any) -> None:
    for seed in range(3):
        rows = unique_winners(batch(seed))
        spark.createDataFrame(rows.to_pandas()).createOrReplaceTempView("v")
        out = spark.sql(render(sql(), "spark")).collect()
        got = {r["order_id"]: r["user_id"] for r in out}
        assert len(out) == len(got)
        assert got == oracle(rows)


def _counts(rows: pa.Table) -> dict[int, int]:
    counts: dict[int, int] = {}
    for k in rows["order_id"].to_pylist():
        counts[k] = counts.get(k, 0) + 1
    return counts
