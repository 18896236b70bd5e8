"""The Spark engine: Spark SQL computes, delta-spark commits (AWS Glue 5: Spark 3.5, Delta 3.x).

The shared flow (`engines/flow.py`) runs here exactly as on the local engine: the validation
statement, the merge SQL and the gold models, rendered to Spark SQL. Tables are created and
evolved by the shared `lakehouse.store.delta.ensure_table` (delta-rs, metadata only), so both
engines write the same layouts and protocol. Every row is computed by Spark and written by
delta-spark, except small appends and gold results (`spark.writes.driver_write_rows`): those
are collected to the driver and committed by delta-rs, as on the local engine
(`SparkAdapter.append`, `SparkAdapter.write_gold`); tables as small are read by the driver
with delta-rs too (`writes.driver_read_rows`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.config.settings import IntakeSettings
from lakehouse.contracts import Contract
from lakehouse.engines.adapter import Merge, Merged, Target
from lakehouse.engines.append import append_arrow, as_schema
from lakehouse.engines.base import Capabilities
from lakehouse.engines.dialect import Dialect
from lakehouse.engines.flow import FlowEngine
from lakehouse.engines.spark import writes
from lakehouse.engines.spark.frames import (
    append_with_transactions,
    collect_arrow,
    collect_at_most,
    commit_metadata,
    conflicts_retryable,
    last_commit,
    materialized,
    quote,
    to_spark,
    user_metadata,
)
from lakehouse.engines.spark.intake import ENTITY, read_on_executors
from lakehouse.engines.spark.session import new_session
from lakehouse.engines.spark.writes import driver_write_rows, write_on_executors
from lakehouse.engines.sql import columns_of, render
from lakehouse.faults import fault_point
from lakehouse.gold.builds import SILVER
from lakehouse.gold.commit import commit_arrow
from lakehouse.gold.session import GoldWrite
from lakehouse.ingest.intake import Intake
from lakehouse.store import zones
from lakehouse.store.delta import CommitInfo, open_table, try_open
from lakehouse.store.root import LandedFile, Root

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import Column, DataFrame

CAPABILITIES = Capabilities(name="spark", sql_dialect="spark", distributed=True, gold_writers=4)


class SparkAdapter:
    """Relations are temp views of this engine's own Spark session (Arrow tables converted once,
    Delta tables read by path, computed frames persisted); writes are delta-spark commits, but
    for small appends (`append`) and gold results (`write_gold`)."""

    dialect: Dialect = "spark"

    def __init__(self, root: Root) -> None:
        self.root = root
        # a session of its own: temp views and commit metadata never mix with another engine's
        self.spark = new_session(object_store=not root.is_local)
        # MERGE sources here are persisted and deterministic: Delta need not copy them again
        self.spark.conf.set("spark.databricks.delta.merge.materializeSource", "none")
        self.sources: Mapping[str, str] = {f"silver.{e}": f"__silver_{e}" for e in SILVER}
        self._arrow: dict[str, tuple[pa.Table, DataFrame]] = {}  # converted once per table
        self._views: set[str] = set()
        self._computed: list[DataFrame] = []
        self._counted: dict[int, tuple[DataFrame, int]] = {}  # id -> frame, its rows
        self._big: set[tuple[str, str, int]] = set()  # past the driver's read limit

    def close(self) -> None:
        """Forget this engine's data; the Spark context stays up for the next engine."""
        for name in list(self._views):
            self.forget(name)
        for frame in self._computed:
            frame.unpersist()
        self._computed.clear()
        self._counted.clear()

    def _sql(self, shared_sql: str) -> DataFrame:
        return self.spark.sql(render(shared_sql, self.dialect))

    def _read(
        self, zone: str, name: str, version: int | None = None, opened: DeltaTable | None = None
    ) -> DataFrame:
        """The snapshot (now, or `version`; `opened` if the caller has it) as a frame: small,
        read by the driver (`writes.driver_read_rows`); bigger, by the executors, and then not
        opened again by this adapter (tables seldom shrink; each look is a delta-rs open)."""
        limit = writes.driver_read_rows()
        if limit > 0 and (zone, name, limit) not in self._big:
            table = opened or try_open(self.root, zone, name, version)
            small = None if table is None else writes.small_rows(table, limit)
            if small is not None:
                return to_spark(self.spark, small)
            if table is not None:  # gone: delta-spark's read below says so
                self._big.add((zone, name, limit))
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.root.table_uri(zone, name))

    # --- relations -------------------------------------------------------------------------
    def hold(self, name: str, rows: DataFrame) -> None:
        rows.createOrReplaceTempView(name)
        self._views.add(name)

    def _persisted(self, frame: DataFrame) -> DataFrame:
        """`frame` computed once, when first read (memory, spilling to disk), until `close`."""
        from pyspark import StorageLevel

        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        self._computed.append(frame)
        return frame

    def put_arrow(self, name: str, table: pa.Table) -> None:
        """Rows from the readers are converted once for bronze and silver; only the latest
        table of each name is kept (a big run passes one chunk after another)."""
        cached = self._arrow.get(name)
        if cached is None or cached[0] is not table:
            cached = self._arrow[name] = (table, to_spark(self.spark, table))
        self.hold(name, cached[1])

    def put_rows(self, name: str, rows: pa.Table | DataFrame) -> int:
        if isinstance(rows, pa.Table):
            self.put_arrow(name, rows)
            return int(rows.num_rows)
        self.hold(name, rows)
        known = self._counted.get(id(rows))
        return known[1] if known is not None and known[0] is rows else int(rows.count())

    def count_known(self, frame: DataFrame, rows: int) -> DataFrame:
        """`frame`, whose row count `put_rows` then takes from here instead of a Spark job."""
        self._counted[id(frame)] = (frame, rows)
        return frame

    def put_delta(
        self,
        name: str,
        zone: str,
        table: str,
        columns: Sequence[str],
        *,
        reread: bool = False,
        version: int | None = None,
    ) -> None:
        frame = self._read(zone, table, version)
        frame = frame.select(*[quote(c) for c in columns]) if columns else frame
        self.hold(name, self._persisted(frame) if reread else frame)

    def view(self, name: str, sql: str) -> None:
        self.hold(name, self._sql(sql))

    def union(self, name: str, first: str, second: str) -> None:
        both = self.spark.table(first).unionByName(
            self.spark.table(second), allowMissingColumns=True
        )
        self.hold(name, both)

    @contextmanager
    def materialized(self, name: str, sql: str) -> Iterator[int]:
        with materialized(self._sql(sql)) as (frame, n):
            self.hold(name, frame)
            try:
                yield n
            finally:
                self.forget(name)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._sql(sql).collect()]

    def forget(self, name: str) -> None:
        if name in self._views:
            self.spark.catalog.dropTempView(name)
            self._views.discard(name)
        self._arrow.pop(name, None)

    def read_delta(self, zone: str, table: str) -> DataFrame | None:
        """The table's snapshot now, pinned to its version: Spark recomputes a cached frame
        that reads a path it then writes, and a frame that adds to what it read (an additive
        gold model) must read the same rows again."""
        dt_ = try_open(self.root, zone, table)
        return None if dt_ is None else self._read(zone, table, dt_.version(), dt_)

    # --- the gold session ------------------------------------------------------------------
    def time_zone(self) -> str:
        return str(self.spark.conf.get("spark.sql.session.timeZone"))

    def scalar(self, sql: str) -> Any:
        row = self.spark.sql(sql).first()
        return None if row is None else row[0]

    def compute(self, sql: str) -> DataFrame:
        """Lazy: a result is computed by its write, and persisted only when a later model
        reads it too (`keep`)."""
        return self.spark.sql(sql)

    def keep(self, name: str, rows: DataFrame) -> None:
        self.hold(name, self._persisted(rows))

    def temp_table(self, name: str, sql: str) -> None:
        self.hold(name, self._persisted(self.spark.sql(sql)))

    def columns(self, rows: DataFrame) -> list[str]:
        return list(rows.columns)

    def select(self, rows: DataFrame, columns: Sequence[str]) -> DataFrame:
        return rows.select(*[quote(c) for c in columns])

    def replace_keys(
        self, stored: DataFrame, key: str, values: Sequence[object], rows: DataFrame
    ) -> DataFrame | None:
        from pyspark.sql import functions as F

        wanted = {f.name: f.dataType for f in rows.schema.fields}
        if set(stored.columns) != set(wanted):
            return None
        typed = stored.select(*[F.col(quote(c)).cast(t).alias(c) for c, t in wanted.items()])
        replaced = F.coalesce(F.col(quote(key)).isin(list(values)), F.lit(False))
        return typed.where(~replaced).unionByName(rows)

    # --- writes ----------------------------------------------------------------------------
    def append(
        self,
        target: Target,
        sql: str,
        transactions: Mapping[str, str] = {},
        *,
        rows: int | None = None,
    ) -> int:
        """Rows known to be at most `driver_write_rows()` are collected to the driver and
        appended by delta-rs, as the local engine appends them (`engines.append`): a
        delta-spark append costs 1.4-4.8 s of jobs (snapshot, write, commit) however few its
        rows. Others, and rows of unknown count, are appended by the executors."""
        frame = self._sql(sql)
        limit = driver_write_rows()
        if rows is not None and limit > 0 and rows <= limit:
            held = collect_arrow(frame)
            return append_arrow(
                self.root, target, lambda: as_schema(held, target.schema), transactions
            )
        uri = self.root.table_uri(target.zone, target.name)
        label = f"{target.zone}.{target.name}"
        if transactions:
            parts = {
                app: frame.where(frame["_file_sha256"] == sha) for app, sha in transactions.items()
            }
            with conflicts_retryable(label):
                append_with_transactions(
                    self.spark, uri, frame, parts, user_metadata(target.commit)
                )
        else:
            with conflicts_retryable(label), commit_metadata(self.spark, target.commit) as meta:
                self._before_write(target)
                frame.write.format("delta").mode("append").option("userMetadata", meta).save(uri)
        return last_commit(self.root, target.zone, target.name)[0]

    def append_relation(
        self,
        target: Target,
        name: str,
        transactions: Mapping[str, str] = {},
        *,
        rows: int | None = None,
    ) -> int:
        sql = columns_of(name, target.schema.names)
        return self.append(target, sql, transactions, rows=rows)

    def _before_write(self, target: Target) -> None:
        if target.pause_point:
            fault_point(target.pause_point)
        # delta-spark reads its snapshot when the write starts, after any pause: check the
        # fence on the newest snapshot right before (lakehouse.store.fencing)
        open_table(self.root, target.zone, target.name)

    def merge(self, target: Target, sql: str, merge: Merge) -> Merged:
        from delta.tables import DeltaTable

        uri = self.root.table_uri(target.zone, target.name)
        every: dict[str, str | Column] = {quote(c): f"s.{quote(c)}" for c in target.schema.names}
        with (
            conflicts_retryable(f"{target.zone}.{target.name}"),
            commit_metadata(self.spark, target.commit),
        ):
            self._before_write(target)
            builder = (
                DeltaTable.forPath(self.spark, uri)
                .alias("t")
                .merge(self._sql(sql).alias("s"), render(merge.on, self.dialect))
            )
            if merge.delete_when is not None:
                builder = builder.whenMatchedDelete(
                    condition=render(merge.delete_when, self.dialect)
                )
            builder = builder.whenMatchedUpdate(
                condition=render(merge.update_when, self.dialect), set=every
            )
            if merge.insert_when is None:
                builder = builder.whenNotMatchedInsert(values=every)
            else:
                condition = render(merge.insert_when, self.dialect)
                builder = builder.whenNotMatchedInsert(condition=condition, values=every)
            builder.execute()
        version, metrics = last_commit(self.root, target.zone, target.name)
        return Merged(
            version,
            int(metrics.get("numTargetRowsInserted") or 0),
            int(metrics.get("numTargetRowsUpdated") or 0),
        )

    def write_gold(
        self, w: GoldWrite[DataFrame], description: str, commit: CommitInfo
    ) -> tuple[int, int]:
        """A result of at most `driver_write_rows()` rows is collected to the driver and
        committed by delta-rs, as the local engine commits it (`gold.commit`): a delta-spark
        commit costs about a second of jobs (snapshot, write, commit) however few its rows,
        against 0.2 s for the collect and 0.01 s for the commit. A bigger one is written by
        the executors."""
        from pyspark import StorageLevel

        limit = driver_write_rows()
        if limit == 0:
            return write_on_executors(self.spark, self.root, w, description, commit)
        # persisted: partitions the collect read whole are not computed again by a write on
        # the executors (nor is the shuffle before them)
        owned = not w.table.is_cached
        if owned:
            w.table.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            small = collect_at_most(w.table, limit)
            if small is not None:
                return commit_arrow(self.root, replace(w, table=small), description, commit)
            return write_on_executors(self.spark, self.root, w, description, commit)
        finally:
            if owned:
                w.table.unpersist()


class SparkEngine(FlowEngine):
    """The shared flow on Spark; the run's files are read by the executors
    (`engines/spark/intake.py`), so the driver never holds their rows."""

    capabilities = CAPABILITIES
    adapter: SparkAdapter

    def __init__(self, root: Root, contracts_dir: str | None = None) -> None:
        super().__init__(SparkAdapter(root), contracts_dir)
        self._landed: DataFrame | None = None  # this run's rows, as the executors read them

    def take_in_all(
        self,
        landed: Sequence[LandedFile],
        contracts: Mapping[str, Contract],
        limits: IntakeSettings,
        run_id: str,
        now: dt.datetime,
    ) -> Iterator[Intake]:
        items, self._landed = read_on_executors(
            self.adapter.spark, self.root, landed, contracts, limits, run_id, now
        )
        return iter(items)

    def bronze_rows(
        self,
        contract: Contract,
        items: list[Intake],
        seqs: dict[str, int],
        run_id: str,
        now: dt.datetime,
    ) -> DataFrame:
        from pyspark.sql import functions as F

        assert self._landed is not None, "take_in_all reads the files first"
        # by name and hash: a same-bytes copy in the run (a duplicate) was read too
        files = [(i.landed.relative, i.sha256, seqs[i.sha256]) for i in items]
        order = self.adapter.spark.createDataFrame(
            files, "_source_file string, _file_sha256 string, _seq long"
        )
        names = zones.bronze_batch_schema(contract).names
        rows = (
            self._landed.where(F.col(ENTITY) == contract.entity)
            .join(F.broadcast(order), ["_source_file", "_file_sha256"])
            .select(*[quote(c) for c in names], "_seq", F.lit(False).alias("_recheck"))
        )
        return self.adapter.count_known(rows, sum(i.rows for i in items))  # each file's rows

    def close(self) -> None:
        self._landed = None  # its checkpoint's blocks are freed once nothing refers to it
        super().close()
