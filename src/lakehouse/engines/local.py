"""The embedded engine: DuckDB computes over Arrow, delta-rs commits Delta tables."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse import zones
from lakehouse.contracts import Contract
from lakehouse.delta import CDF, CommitInfo, ensure_table, read_arrow, try_open
from lakehouse.engines.base import Capabilities, EntityResult, RunContext
from lakehouse.engines.sql import (
    BATCH_LINEAGE,
    any_known_key_sql,
    changed_rows_sql,
    merge_predicates,
    outcome_counts_sql,
    quarantine_changes_sql,
    quarantine_merge_predicates,
    quarantine_rows_sql,
    reason_counts_sql,
    valid_rows_sql,
    waiting_rows_sql,
)
from lakehouse.faults import checkpoint
from lakehouse.log import event
from lakehouse.storage import Root
from lakehouse.validation import validation_query

if TYPE_CHECKING:
    from lakehouse.gold import GoldWrite

CAPABILITIES = Capabilities(name="local", sql_dialect="duckdb", distributed=False, supports_s3=True)


class LocalEngine:
    capabilities = CAPABILITIES

    def __init__(self, root: Root, contracts_dir: str | None = None) -> None:
        from lakehouse.query import new_connection

        self.root = root
        self.contracts_dir = contracts_dir
        self.con = new_connection()
        self.gold_rows: dict[str, int] = {}  # "gold.<model>" -> rows of its last write

    def close(self) -> None:
        self.con.close()

    # --- bronze ----------------------------------------------------------------
    def write_bronze(
        self, contract: Contract, rows: pa.Table, shas: list[str], ctx: RunContext
    ) -> int | None:
        from deltalake import write_deltalake

        schema = zones.bronze_schema(contract)
        dt = ensure_table(
            self.root,
            "bronze",
            contract.entity,
            schema,
            description=zones.descriptions(contract)["bronze"],
        )
        done = {s for s in shas if dt.transaction_version(_bronze_app_id(s)) is not None}
        todo = [s for s in shas if s not in done]
        if not todo:
            return None
        if done:
            rows = rows.filter(pc.is_in(rows["_file_sha256"], pa.array(todo)))
        write_deltalake(
            dt,
            rows.select(schema.names).cast(schema),
            mode="append",
            schema_mode="merge",
            commit_properties=ctx.commit("bronze", contract).properties(
                [_bronze_app_id(s) for s in todo]
            ),
        )
        return int(dt.version())

    # --- silver + quarantine -----------------------------------------------------------
    def process_entity(self, contract: Contract, rows: pa.Table, ctx: RunContext) -> EntityResult:
        result = EntityResult(contract.entity, rows_in=rows.num_rows)
        waiting = self._waiting(contract, ctx)
        result.rows_rechecked = waiting.num_rows
        batch = pa.concat_tables([rows, waiting], promote_options="permissive")
        self._register_parents(contract)
        self.con.register("batch", batch)
        query = validation_query(contract, BATCH_LINEAGE, ctx.now)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE checked AS {query.sql}")
        self.con.unregister("batch")
        counts = self.con.execute(outcome_counts_sql("checked")).fetchone()
        assert counts is not None
        result.valid, result.quarantined = int(counts[0]), int(counts[1])
        result.reasons = self._reason_counts()
        self._merge_silver(contract, ctx, result)
        checkpoint(f"between_silver_and_quarantine:{contract.entity}")
        self._write_quarantine(contract, ctx, result)
        return result

    def _waiting(self, contract: Contract, ctx: RunContext) -> pa.Table:
        """Quarantined rows that only wait for a parent: re-checked once per run."""
        empty = zones.bronze_schema(contract).empty_table()
        if not (contract.foreign_keys and ctx.recheck_waiting):
            return empty
        dt = try_open(self.root, "quarantine", contract.entity)
        if dt is None:
            return empty
        self.con.register("q_all", read_arrow(dt))
        table = self.con.sql(waiting_rows_sql(contract, "q_all", ctx.current_shas)).to_arrow_table()
        self.con.unregister("q_all")
        return table

    def _register_parents(self, contract: Contract) -> None:
        for fk in contract.foreign_keys:
            dt = try_open(self.root, "silver", fk.references)
            cols = [fk.ref_column, *fk.must_agree]
            if dt is None:
                parent = pa.schema(
                    [
                        zones.silver_schema(_contract(fk.references, self.contracts_dir)).field(c)
                        for c in cols
                    ]
                ).empty_table()
            else:
                parent = dt.to_pyarrow_dataset()
            self.con.register(f"_parent_src_{fk.references}", parent)
            select = ", ".join(f'"{c}"' for c in cols)
            self.con.execute(
                f"CREATE OR REPLACE TEMP VIEW parent_{fk.references} AS "
                f"SELECT {select} FROM _parent_src_{fk.references}"
            )

    def _reason_counts(self) -> dict[str, int]:
        rows = self.con.execute(reason_counts_sql("checked")).fetchall()
        return {str(r): int(n) for r, n in rows}

    def _merge_silver(self, contract: Contract, ctx: RunContext, result: EntityResult) -> None:
        from deltalake import write_deltalake

        schema = zones.silver_schema(contract)
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE valid AS {valid_rows_sql(contract, 'checked')}"
        )
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
        self.con.register("silver_now", dt.to_pyarrow_dataset())
        [(known,)] = self.con.execute(any_known_key_sql(contract, "valid", "silver_now")).fetchall()
        changed_sql = changed_rows_sql(contract, "valid", "silver_now", any_known=known)
        changed = self.con.sql(changed_sql).to_arrow_table()
        self.con.unregister("silver_now")
        result.unchanged = result.valid - changed.num_rows
        if changed.num_rows == 0:
            return
        commit = ctx.commit("silver_merge", contract).properties()
        new_key = changed["_new_key"]
        inserts = changed.filter(new_key).select(schema.names).cast(schema)
        updates = changed.filter(pc.invert(new_key)).select(schema.names).cast(schema)
        del changed
        # New keys are appended: a MERGE would read the whole table to learn what it already
        # knows (the run holds the root's lock, so no one else adds keys in between).
        if inserts.num_rows:
            checkpoint(f"before_silver_append:{contract.entity}")
            write_deltalake(dt, inserts, mode="append", commit_properties=commit)
            result.inserted = inserts.num_rows
        if updates.num_rows:
            on, update_when = merge_predicates(contract)
            metrics = (
                dt.merge(
                    updates,
                    predicate=on,
                    source_alias="s",
                    target_alias="t",
                    commit_properties=commit,
                )
                .when_matched_update_all(predicate=update_when)
                .when_not_matched_insert_all()
                .execute()
            )
            result.inserted += int(metrics["num_target_rows_inserted"])
            result.updated = int(metrics["num_target_rows_updated"])
            result.unchanged += (
                updates.num_rows - result.updated - int(metrics["num_target_rows_inserted"])
            )
        result.versions[f"silver.{contract.entity}"] = int(dt.version())

    def _write_quarantine(self, contract: Contract, ctx: RunContext, result: EntityResult) -> None:
        rows = self.con.sql(quarantine_rows_sql(contract, "checked", ctx.now)).to_arrow_table()
        result.released = int(pc.sum(pc.equal(rows["_action"], "release")).as_py() or 0)
        dt = try_open(self.root, "quarantine", contract.entity)
        if rows.num_rows == 0:
            return
        schema = zones.quarantine_schema(contract)
        if dt is not None:
            # a re-checked row whose reasons did not change needs no rewrite
            self.con.register("q_rows", rows)
            self.con.register("q_now", dt.to_pyarrow_dataset())
            rows = self.con.sql(quarantine_changes_sql("q_rows", "q_now")).to_arrow_table()
            self.con.unregister("q_rows")
            self.con.unregister("q_now")
            if rows.num_rows == 0:
                return
        dt = ensure_table(
            self.root,
            "quarantine",
            contract.entity,
            schema,
            description=zones.descriptions(contract)["quarantine"],
            configuration=CDF,
        )
        on, delete_when, upsert_when = quarantine_merge_predicates()
        updates = {f'"{n}"': f's."{n}"' for n in schema.names}
        source = pa.Table.from_arrays(
            [*rows.select(schema.names).cast(schema).columns, rows["_action"]],
            names=[*schema.names, "_action"],
        )
        (
            dt.merge(
                source,
                predicate=on,
                source_alias="s",
                target_alias="t",
                commit_properties=ctx.commit("quarantine", contract).properties(),
            )
            .when_matched_delete(predicate=delete_when)
            .when_matched_update(updates=updates, predicate=upsert_when)
            .when_not_matched_insert(updates=updates, predicate=upsert_when)
            .execute()
        )
        result.versions[f"quarantine.{contract.entity}"] = int(dt.version())

    # --- gold ---------------------------------------------------------------------
    def refresh_gold(self, run_id: str, now: dt.datetime) -> dict[str, int]:
        """Refresh gold for what changed in silver since the last build; versions written."""
        from lakehouse.gold import refresh_gold
        from lakehouse.gold_state import SILVER, pending, record_build
        from lakehouse.query import connect

        todo = pending(self.root)
        if todo is None or todo.nothing:
            return {}
        con = connect(self.root, [f"silver.{e}" for e in SILVER], None)
        computed: dict[str, float] = {}
        versions: dict[str, int] = {}
        written: dict[str, float] = {}
        commit = CommitInfo(run_id, "gold_refresh", (), {"touched": _describe(todo.touched)})
        writes = refresh_gold(con, todo.touched, self._read_gold, timings=computed)
        try:  # each table is written as soon as its model is computed: daily sales first
            for w in writes:
                began = time.perf_counter()
                versions[f"gold.{w.model}"] = self._write_gold(w, commit)
                self.gold_rows[f"gold.{w.model}"] = w.table.num_rows
                written[w.model] = time.perf_counter() - began
                checkpoint(f"gold_written:{w.model}")
        finally:
            writes.close()  # a failed write: the models' relations are dropped while `con` is open
            con.close()
        record_build(self.root, todo, run_id, now, len(versions))
        event(
            "gold_refreshed",
            run_id=run_id,
            touched=_describe(todo.touched),
            compute_s=_slowest_first(computed),
            write_s=_slowest_first(written),
        )
        return versions

    def _write_gold(self, w: GoldWrite, commit: CommitInfo) -> int:
        """Commit one gold write (a whole table, or the rows replacing its predicate); the
        table's new version."""
        from deltalake import write_deltalake

        from lakehouse.gold import get_model

        current = try_open(self.root, "gold", w.model)
        created = current is None
        if current is None:
            # Created empty first (version 0, fenced: it carries this run's epoch and the lease
            # is checked after it), so that the write below goes on an opened snapshot: a
            # delta-rs write to a URI that finds version 0 taken meanwhile commits as version 1
            # instead of failing, which would let a paused writer overwrite a new holder's table.
            current = ensure_table(
                self.root,
                "gold",
                w.model,
                w.table.schema,
                description=get_model(w.model).description,
            )
        properties = commit.properties()  # the lease is checked here
        checkpoint(f"before_gold_write:{w.model}")
        if created or w.mode == "overwrite":
            write_deltalake(
                current,
                w.table,
                mode="overwrite",
                schema_mode="overwrite",
                name=f"gold.{w.model}",
                description=get_model(w.model).description,
                commit_properties=properties,
            )
        else:  # the table object follows its own write: no re-open needed
            write_deltalake(
                current,
                w.table.cast(pa.schema(current.schema())),
                mode="overwrite",
                predicate=w.predicate,
                commit_properties=properties,
            )
        return int(current.version())

    def _read_gold(self, name: str) -> pa.Table | None:
        dt_ = try_open(self.root, "gold", name)
        return None if dt_ is None else read_arrow(dt_)


def _slowest_first(seconds: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])}


def _describe(t: object) -> str:
    from lakehouse.gold import Touched

    assert isinstance(t, Touched)
    if t.is_full:
        return "full"
    return (
        f"{len(t.dates or ())} dates, {len(t.users or ())} customers, "
        f"{len(t.products or ())} products"
    )


def _bronze_app_id(sha: str) -> str:
    return f"lakehouse-bronze-{sha}"


def _contract(entity: str, directory: str | None) -> Contract:
    from lakehouse.contracts import contract_for

    return contract_for(entity, directory)
