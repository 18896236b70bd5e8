"""The Spark engine: Spark SQL computes, delta-spark commits (AWS Glue 5: Spark 3.5, Delta 3.x).

It runs the shared definitions exactly as the local engine does: the validation statement and
the merge SQL of `engines/sql.py`, rendered to Spark SQL by `engines.sql.render`. Tables are
created and evolved by the shared `lakehouse.delta.ensure_table` (delta-rs, metadata only), so
both engines write the same layouts and protocol; every row is computed and written by Spark.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pyarrow as pa

from lakehouse import zones
from lakehouse.contracts import Contract, contract_for
from lakehouse.delta import CDF, ensure_table, open_table, try_open
from lakehouse.engines.base import Capabilities, EntityResult, RunContext
from lakehouse.engines.local import _bronze_app_id as bronze_app_id
from lakehouse.engines.spark.frames import (
    append_with_transactions,
    commit_metadata,
    conflicts_retryable,
    last_commit,
    materialized,
    quote,
    to_spark,
    user_metadata,
)
from lakehouse.engines.spark.session import new_session
from lakehouse.engines.sql import (
    BATCH_LINEAGE,
    changed_rows_sql,
    merge_predicates,
    outcome_counts_sql,
    quarantine_changes_sql,
    quarantine_merge_predicates,
    quarantine_rows_sql,
    reason_counts_sql,
    render,
    valid_rows_sql,
    waiting_rows_sql,
)
from lakehouse.faults import checkpoint
from lakehouse.storage import Root
from lakehouse.validation import validation_query

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

CAPABILITIES = Capabilities(name="spark", sql_dialect="spark", distributed=True, supports_s3=True)


class SparkEngine:
    capabilities = CAPABILITIES

    def __init__(self, root: Root, contracts_dir: str | None = None) -> None:
        self.root = root
        self.contracts_dir = contracts_dir
        self.gold_rows: dict[str, int] = {}  # "gold.<model>" -> rows of its last write
        # a session of its own: temp views and commit metadata never mix with another engine's
        self.spark: SparkSession = new_session(object_store=not root.is_local)
        # MERGE sources here are persisted and deterministic: Delta need not copy them again
        self.spark.conf.set("spark.databricks.delta.merge.materializeSource", "none")
        self._frames: dict[str, tuple[pa.Table, DataFrame]] = {}  # by entity: its latest rows
        self._views: set[str] = set()

    def close(self) -> None:
        """Forget this engine's data; the Spark context stays up for the next engine."""
        for view in self._views:
            self.spark.catalog.dropTempView(view)
        self._views.clear()
        self._frames.clear()

    # --- helpers ---------------------------------------------------------------------------
    def _sql(self, shared_sql: str) -> DataFrame:
        return self.spark.sql(render(shared_sql, self.capabilities.sql_dialect))

    def _view(self, name: str, frame: DataFrame) -> None:
        frame.createOrReplaceTempView(name)
        self._views.add(name)

    def _frame(self, entity: str, rows: pa.Table) -> DataFrame:
        """Rows from the readers as a DataFrame, converted once for bronze and silver. Only the
        entity's latest rows are kept: a big run passes one chunk after another (each held in
        the driver's memory, Python and JVM, while it is kept), and silver is their last use."""
        cached = self._frames.get(entity)
        if cached is None or cached[0] is not rows:
            cached = self._frames[entity] = (rows, to_spark(self.spark, rows))
        return cached[1]

    def _read(self, zone: str, name: str) -> DataFrame:
        return self.spark.read.format("delta").load(self.root.table_uri(zone, name))

    # --- bronze ----------------------------------------------------------------------------
    def write_bronze(
        self, contract: Contract, rows: pa.Table, shas: list[str], ctx: RunContext
    ) -> int | None:
        schema = zones.bronze_schema(contract)
        dt = ensure_table(
            self.root,
            "bronze",
            contract.entity,
            schema,
            description=zones.descriptions(contract)["bronze"],
        )
        todo = [s for s in shas if dt.transaction_version(bronze_app_id(s)) is None]
        if not todo:
            return None
        frame = self._frame(contract.entity, rows).select(*[quote(n) for n in schema.names])
        data = frame.where(frame["_file_sha256"].isin(todo)) if len(todo) < len(shas) else frame
        parts = {bronze_app_id(s): frame.where(frame["_file_sha256"] == s) for s in todo}
        meta = user_metadata(ctx.commit("bronze", contract))
        uri = self.root.table_uri("bronze", contract.entity)
        with conflicts_retryable(f"bronze.{contract.entity}"):
            append_with_transactions(self.spark, uri, data, parts, meta)
        return last_commit(self.root, "bronze", contract.entity)[0]

    # --- silver + quarantine ---------------------------------------------------------------
    def process_entity(self, contract: Contract, rows: pa.Table, ctx: RunContext) -> EntityResult:
        result = EntityResult(contract.entity, rows_in=rows.num_rows)
        batch = self._frame(contract.entity, rows)
        waiting = self._waiting(contract, ctx)
        if waiting is not None:
            result.rows_rechecked = waiting.count()
            batch = batch.unionByName(waiting)
        self._register_parents(contract)
        self._view("batch", batch)
        query = validation_query(contract, BATCH_LINEAGE, ctx.now)
        with materialized(self._sql(query.sql)) as (checked, _):
            self._view("checked", checked)
            counts = self._sql(outcome_counts_sql("checked")).first()
            assert counts is not None
            result.valid, result.quarantined = int(counts["valid"]), int(counts["quarantined"])
            reasons = self._sql(reason_counts_sql("checked")).collect()
            result.reasons = {str(r["reason"]): int(r["n"]) for r in reasons}
            self._merge_silver(contract, ctx, result)
            checkpoint(f"between_silver_and_quarantine:{contract.entity}")
            self._write_quarantine(contract, ctx, result)
        self._frames.pop(contract.entity, None)  # these rows are done with
        return result

    def _waiting(self, contract: Contract, ctx: RunContext) -> DataFrame | None:
        """Quarantined rows that only wait for a parent: re-checked once per run."""
        if not (contract.foreign_keys and ctx.recheck_waiting):
            return None
        if try_open(self.root, "quarantine", contract.entity) is None:
            return None
        self._view("q_all", self._read("quarantine", contract.entity))
        return self._sql(waiting_rows_sql(contract, "q_all", ctx.current_shas))

    def _register_parents(self, contract: Contract) -> None:
        for fk in contract.foreign_keys:
            cols = [fk.ref_column, *fk.must_agree]
            if try_open(self.root, "silver", fk.references) is None:
                parent = zones.silver_schema(contract_for(fk.references, self.contracts_dir))
                source = to_spark(
                    self.spark, pa.schema([parent.field(c) for c in cols]).empty_table()
                )
            else:
                source = self._read("silver", fk.references).select(*[quote(c) for c in cols])
            self._view(f"parent_{fk.references}", source)

    def _merge_silver(self, contract: Contract, ctx: RunContext, result: EntityResult) -> None:
        from delta.tables import DeltaTable

        schema = zones.silver_schema(contract)
        self._view("valid", self._sql(valid_rows_sql(contract, "checked")))
        dt = ensure_table(
            self.root,
            "silver",
            contract.entity,
            schema,
            partition_by=contract.partition_by,
            description=contract.description,
            configuration=CDF,
            evolve=contract.evolution == "evolve",
        )
        uri = self.root.table_uri("silver", contract.entity)
        self._view("silver_now", self._read("silver", contract.entity))
        changed_sql = changed_rows_sql(contract, "valid", "silver_now")
        with materialized(self._sql(changed_sql)) as (changed, n):
            result.unchanged = result.valid - n
            if n == 0:
                return
            source = changed.select(*[quote(c) for c in schema.names])
            with (
                conflicts_retryable(f"silver.{contract.entity}"),
                commit_metadata(self.spark, ctx.commit("silver_merge", contract)) as meta,
            ):
                checkpoint(f"before_silver_append:{contract.entity}")
                # delta-spark reads its snapshot when the write starts, after any pause: check
                # the fence on the newest snapshot right before (lakehouse.fencing)
                open_table(self.root, "silver", contract.entity)
                if dt.version() == 0 and len(dt.file_uris()) == 0:
                    source.write.format("delta").mode("append").option("userMetadata", meta).save(
                        uri
                    )
                    result.inserted = n
                else:
                    on, update_when = (render(p, "spark") for p in merge_predicates(contract))
                    (
                        DeltaTable.forPath(self.spark, uri)
                        .alias("t")
                        .merge(source.alias("s"), on)
                        .whenMatchedUpdateAll(condition=update_when)
                        .whenNotMatchedInsertAll()
                        .execute()
                    )
        version, metrics = last_commit(self.root, "silver", contract.entity)
        if metrics.get("numTargetRowsInserted") is not None:
            result.inserted = int(metrics["numTargetRowsInserted"])
            result.updated = int(metrics["numTargetRowsUpdated"])
            result.unchanged += n - result.inserted - result.updated
        result.versions[f"silver.{contract.entity}"] = version

    def _write_quarantine(self, contract: Contract, ctx: RunContext, result: EntityResult) -> None:
        from delta.tables import DeltaTable

        rows_sql = quarantine_rows_sql(contract, "checked", ctx.now)
        existing = try_open(self.root, "quarantine", contract.entity) is not None
        if existing:
            self._view("q_rows", self._sql(rows_sql))
            self._view("q_now", self._read("quarantine", contract.entity))
            rows_sql = quarantine_changes_sql("q_rows", "q_now")
        with materialized(self._sql(rows_sql)) as (rows, n):
            if n == 0:
                return
            result.released = rows.where("_action = 'release'").count()
            schema = zones.quarantine_schema(contract)
            ensure_table(
                self.root,
                "quarantine",
                contract.entity,
                schema,
                description=zones.descriptions(contract)["quarantine"],
                configuration=CDF,
            )
            uri = self.root.table_uri("quarantine", contract.entity)
            on, delete_when, upsert_when = (
                render(p, "spark") for p in quarantine_merge_predicates()
            )
            updates: dict[str, str | Column] = {quote(c): f"s.{quote(c)}" for c in schema.names}
            with (
                conflicts_retryable(f"quarantine.{contract.entity}"),
                commit_metadata(self.spark, ctx.commit("quarantine", contract)),
            ):
                (
                    DeltaTable.forPath(self.spark, uri)
                    .alias("t")
                    .merge(rows.alias("s"), on)
                    .whenMatchedDelete(condition=delete_when)
                    .whenMatchedUpdate(condition=upsert_when, set=updates)
                    .whenNotMatchedInsert(condition=upsert_when, values=updates)
                    .execute()
                )
        result.versions[f"quarantine.{contract.entity}"] = last_commit(
            self.root, "quarantine", contract.entity
        )[0]

    # --- gold ------------------------------------------------------------------------------
    def refresh_gold(self, run_id: str, now: dt.datetime) -> dict[str, int]:
        """Refresh gold with the shared runner (`lakehouse.gold`, DuckDB on the driver).

        The models' SQL renders to Spark and gives the same rows there (test_conformance), but
        the incremental refresh (what to recompute, how partial results are merged) is written
        against a DuckDB connection; until it takes a Spark session too, both engines refresh
        gold the same way, and the tables are identical by construction.
        """
        from lakehouse.engines.local import LocalEngine

        local = LocalEngine(self.root, self.contracts_dir)
        try:
            return local.refresh_gold(run_id, now)
        finally:
            self.gold_rows = local.gold_rows
            local.close()
