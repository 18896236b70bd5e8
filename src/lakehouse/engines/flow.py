"""The pipeline's data flow, written once for every engine.

Bronze: append the files not yet in the table, each file's hash recorded as a Delta app
transaction in the same commit. An entity: waiting rows -> parents -> validate -> counts ->
reasons -> append new keys / merge changed keys -> quarantine. Gold (`engines.gold_step`):
refresh what changed in silver since the last build, each table committed as soon as its model
is computed.

Every step is shared SQL (`engines/sql.py`, `contracts/validation.py`, the gold models) over
relations an `Adapter` holds; the adapter runs it on its engine and commits the Delta writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

import pyarrow as pa

from lakehouse.contracts import Contract, contract_for
from lakehouse.contracts.validation import key_ranges_sql, validation_query
from lakehouse.engines import gold_step, recheck, waiting
from lakehouse.engines.adapter import Adapter, Merge, Target
from lakehouse.engines.base import Capabilities, EntityResult, Rows, RunContext
from lakehouse.engines.dialect import literal
from lakehouse.engines.recheck import Rechecked
from lakehouse.engines.sql import (
    BATCH_LINEAGE,
    QUARANTINE_KEY,
    any_known_key_sql,
    changed_rows_sql,
    checked_valid_sql,
    columns_of,
    merge_predicates,
    outcome_counts,
    parent_rows_sql,
    quarantine_changes_sql,
    quarantine_merge_predicates,
    quarantine_rows_sql,
    quote_all,
    reason_sets_sql,
    repeated_keys_sql,
    valid_rows_sql,
)
from lakehouse.faults import fault_point
from lakehouse.ingest.intake import Intake, bronze_rows, take_in_all
from lakehouse.store import zones
from lakehouse.store.delta import CDF, CommitInfo, ensure_table, holds_files, try_open
from lakehouse.store.root import LandedFile

if TYPE_CHECKING:
    from lakehouse.config.settings import GoldSettings, IntakeSettings
    from lakehouse.gold.builds import Build
    from lakehouse.gold.refresh import GiveWay


def bronze_app_id(sha: str) -> str:
    """The Delta app transaction recording that a file's rows are in bronze."""
    return f"lakehouse-bronze-{sha}"


class FlowEngine:
    """An engine: the shared flow over one adapter."""

    capabilities: Capabilities

    def __init__(self, adapter: Adapter, contracts_dir: str | None = None) -> None:
        self.adapter = adapter
        self.root = adapter.root
        self.contracts_dir = contracts_dir
        self.gold_rows: dict[str, int] = {}  # "gold.<model>" -> rows of its last write

    def close(self) -> None:
        self.adapter.close()

    # --- intake and bronze -----------------------------------------------------------------
    def take_in_all(
        self,
        landed: Sequence[LandedFile],
        contracts: Mapping[str, Contract],
        limits: IntakeSettings,
        run_id: str,
        now: dt.datetime,
    ) -> Iterator[Intake]:
        """Each landed file read and checked (`ingest.intake.take_in`), in order; here on the
        driver, the next file read while the caller handles this one."""
        return take_in_all(self.root, list(landed), dict(contracts), limits)

    def bronze_rows(
        self,
        contract: Contract,
        items: list[Intake],
        seqs: dict[str, int],
        run_id: str,
        now: dt.datetime,
    ) -> Rows:
        """The accepted files' rows in the bronze layout, with the run's `_seq` and `_recheck`."""
        return bronze_rows(contract, items, seqs, run_id, now)

    def write_bronze(
        self, contract: Contract, rows: Rows, shas: list[str], ctx: RunContext
    ) -> int | None:
        """Append rows of files not yet in bronze (idempotent per file hash); version or None."""
        a, entity = self.adapter, contract.entity
        schema = zones.bronze_schema(contract)
        table = ensure_table(
            self.root, "bronze", entity, schema, description=zones.descriptions(contract)["bronze"]
        )
        todo = [s for s in shas if table.transaction_version(bronze_app_id(s)) is None]
        if not todo:
            return None
        n = a.put_rows(_rows(entity), rows)
        target = Target("bronze", entity, schema, ctx.commit("bronze", contract))
        transactions = {bronze_app_id(s): s for s in todo}
        if len(todo) == len(shas):
            return a.append_relation(target, _rows(entity), transactions, rows=n)
        sql = f"{columns_of(_rows(entity), schema.names)} "
        sql += f"WHERE _file_sha256 IN ({', '.join(literal(s) for s in todo)})"
        return a.append(target, sql, transactions)

    # --- silver + quarantine ---------------------------------------------------------------
    def process_entity(self, contract: Contract, rows: Rows, ctx: RunContext) -> EntityResult:
        """Validate new rows (and waiting orphans), merge valid rows into silver, quarantine."""
        a, entity = self.adapter, contract.entity
        result = EntityResult(entity, rows_in=a.put_rows(_rows(entity), rows))
        try:
            with ExitStack() as held:
                stored = waiting.put_waiting(a, self.root, contract, ctx, result, held)
                if result.rows_rechecked:
                    a.union("batch", _rows(entity), "waiting")
                else:
                    a.view("batch", f"SELECT * FROM {_rows(entity)}")
                self._put_parents(contract)
                query = validation_query(contract, BATCH_LINEAGE, ctx.now)
                with a.materialized("checked", query.sql):
                    counts = outcome_counts(a.fetch(reason_sets_sql("checked")))
                    result.valid, result.quarantined, result.reasons = counts
                    replaced = waiting.put_replaced(a, contract, ctx, result, stored, held)
                    self._merge_silver(contract, ctx, result)
                    fault_point(f"between_silver_and_quarantine:{entity}")
                    self._write_quarantine(contract, ctx, result, *replaced)
        finally:  # these rows are done with
            names = ("batch", "valid", "q_rows", "q_new", "q_now", *waiting.RELATIONS)
            for name in (_rows(entity), *names):
                a.forget(name)
            for fk in contract.foreign_keys:
                a.forget(f"parent_{fk.references}")
                a.forget(f"parent_{fk.references}__all")
        return result

    def _put_parents(self, contract: Contract) -> None:
        """Each parent table as relation `parent_<entity>`, only the keys a batch of a bigint
        key can look up (the reader skips the rest by its statistics: `parent_rows_sql`)."""
        a = self.adapter
        fks = contract.foreign_keys
        stored = [fk for fk in fks if try_open(self.root, "silver", fk.references) is not None]
        ranged = [fk.column for fk in stored if contract.column(fk.column).kind == "bigint"]
        bounds: dict[str, tuple[object, ...]] = {}
        if ranged:  # (least, greatest) of every ranged key in one scan of the batch
            [found] = a.fetch(key_ranges_sql(contract, ranged, BATCH_LINEAGE))
            bounds = {c: tuple(found[2 * i : 2 * i + 2]) for i, c in enumerate(ranged)}
        for fk in fks:
            name, cols = f"parent_{fk.references}", [fk.ref_column, *fk.must_agree]
            if fk not in stored:
                parent = zones.silver_schema(contract_for(fk.references, self.contracts_dir))
                a.put_arrow(name, pa.schema([parent.field(c) for c in cols]).empty_table())
                continue
            a.put_delta(f"{name}__all", "silver", fk.references, cols)
            a.view(name, parent_rows_sql(f"{name}__all", fk.ref_column, bounds.get(fk.column)))

    def _merge_silver(self, contract: Contract, ctx: RunContext, result: EntityResult) -> None:
        a, entity = self.adapter, contract.entity
        schema = zones.silver_schema(contract)
        stored = ensure_table(
            self.root,
            "silver",
            entity,
            schema,
            partition_by=contract.partition_by,
            description=contract.description,
            configuration=CDF,
            evolve=contract.evolution == "evolve",
        )
        # `valid`, a view over `checked`: only keys repeated across files are kept (few or none)
        repeats = repeated_keys_sql(contract, checked_valid_sql(contract, "checked"))
        with a.materialized("repeated", repeats) as n_repeated:
            [(extra,)] = a.fetch("SELECT sum(__n - 1) FROM repeated") if n_repeated else [(0,)]
            valid_rows = result.valid - int(extra)
            a.view("valid", valid_rows_sql(contract, "checked", repeated="repeated"))
            known = False  # a table without files holds no key: a first load asks nothing
            if holds_files(stored):
                a.put_delta("silver_now", "silver", entity, contract.names)
                [(known,)] = a.fetch(any_known_key_sql(contract, "valid", "silver_now"))
            changed = changed_rows_sql(contract, "valid", "silver_now", any_known=bool(known))
            with _computed(a, "changed", changed, rows=None if known else valid_rows) as n:
                a.forget("silver_now")
                result.unchanged = result.valid - n
                if n == 0:
                    return
                new, old = n, 0  # no key known: every valid row is new
                if known:
                    [(new, old)] = a.fetch(
                        "SELECT count(*) FILTER (WHERE _new_key), "
                        "count(*) FILTER (WHERE NOT _new_key) FROM changed"
                    )
                commit = ctx.commit("silver_merge", contract)
                cols = quote_all(schema.names)
                version = -1
                # New keys are appended: a MERGE would read the whole table to learn what it
                # already knows (the run holds the root's lock: no one else adds keys meanwhile).
                if new:
                    target = Target(
                        "silver", entity, schema, commit, f"before_silver_append:{entity}"
                    )
                    version = a.append(
                        target, f"SELECT {cols} FROM changed WHERE _new_key", rows=int(new)
                    )
                    result.inserted = int(new)
                if old:
                    on, update_when = merge_predicates(contract)
                    merged = a.merge(
                        Target("silver", entity, schema, commit),
                        f"SELECT {cols} FROM changed WHERE NOT _new_key",
                        Merge(on, update_when),
                    )
                    version = merged.version
                    result.inserted += merged.inserted
                    result.updated = merged.updated
                    result.unchanged += int(old) - merged.updated - merged.inserted
        result.versions[f"silver.{entity}"] = version

    def _write_quarantine(
        self,
        contract: Contract,
        ctx: RunContext,
        result: EntityResult,
        replaced: str | None,
        superseded: str | None,
    ) -> None:
        """Upsert the batch's rejected rows, release its re-checked rows that passed; the rows
        a later delivery replaced (`lakehouse.engines.waiting`: `replaced` batch positions,
        `superseded` stored rows) stay with `superseded` added to their reasons."""
        a, entity = self.adapter, contract.entity
        if not (result.quarantined or result.rows_rechecked or result.superseded):
            return  # no row rejected, none re-checked: quarantine keeps what it holds
        rows = quarantine_rows_sql(contract, "checked", "batch", ctx.now, replaced)
        if try_open(self.root, "quarantine", entity) is not None:
            # a re-checked row whose reasons did not change needs no rewrite
            a.view("q_new", rows)
            if superseded is not None:
                a.union("q_rows", "q_new", superseded)
            else:
                a.view("q_rows", "SELECT * FROM q_new")
            a.put_delta("q_now", "quarantine", entity, [*QUARANTINE_KEY, "_reasons"])
            rows = quarantine_changes_sql("q_rows", "q_now")
        with a.materialized("q_changes", rows) as n:
            if n == 0:
                return
            [(released,)] = a.fetch("SELECT count(*) FROM q_changes WHERE _action = 'release'")
            result.released = int(released)
            version = self.merge_quarantine(
                contract, "q_changes", ctx.commit("quarantine", contract)
            )
        result.versions[f"quarantine.{entity}"] = version

    def merge_quarantine(self, contract: Contract, changes: str, commit: CommitInfo) -> int:
        """MERGE relation `changes` (quarantine rows with `_action` 'upsert' or 'release') into
        the entity's quarantine table, by row position; the table's new version."""
        schema = zones.quarantine_schema(contract)
        ensure_table(
            self.root,
            "quarantine",
            contract.entity,
            schema,
            description=zones.descriptions(contract)["quarantine"],
            configuration=CDF,
        )
        on, delete_when, upsert_when = quarantine_merge_predicates()
        merged = self.adapter.merge(
            Target("quarantine", contract.entity, schema, commit),
            f"SELECT {quote_all(schema.names)}, _action FROM {changes}",
            Merge(on, upsert_when, insert_when=upsert_when, delete_when=delete_when),
        )
        return merged.version

    def recheck_children(
        self, contracts: Mapping[str, Contract], ctx: RunContext, history: list[Build]
    ) -> Rechecked:
        """Move child rows that disagree with a parent changed since the last gold build from
        silver to quarantine (`lakehouse.engines.recheck`)."""
        return recheck.recheck_children(self, contracts, ctx, history)

    # --- gold ------------------------------------------------------------------------------
    def refresh_gold(
        self,
        run_id: str,
        now: dt.datetime,
        settings: GoldSettings | None = None,
        *,
        refresh_all: bool = False,
        give_way: GiveWay | None = None,
        history: list[Build] | None = None,
    ) -> dict[str, int]:
        """Refresh gold for what changed in silver since the last build; versions written
        (`lakehouse.engines.gold_step`)."""
        return gold_step.refresh(
            self,
            run_id,
            now,
            settings,
            refresh_all=refresh_all,
            give_way=give_way,
            history=history,
        )


@contextmanager
def _computed(a: Adapter, name: str, sql: str, *, rows: int | None) -> Iterator[int]:
    """`sql` as relation `name` for the block, which gets its row count: computed and counted
    (`rows` None), or a view of known count (a chunk whose keys silver does not hold yet)."""
    if rows is None:
        with a.materialized(name, sql) as n:
            yield n
        return
    a.view(name, sql)
    try:
        yield rows
    finally:
        a.forget(name)


def _rows(entity: str) -> str:
    return f"rows_{entity}"
