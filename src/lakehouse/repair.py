"""Duplicate primary keys in silver: found, and repaired in one Delta commit (newest row wins).

Fencing (`lakehouse.fencing`) keeps a stalled writer from committing; this is the defence
behind it. A silver table must hold one row per primary key; a second row of a key (left by a
writer from before fencing, or by a bug) would make every later MERGE of that key fail with
"multiple source rows matched". The rows of each duplicated key are replaced by the newest one
(`_ingested_at`, then the run id, file and row, descending) in a single overwrite commit whose
metadata says `lakehouse.operation = repair`, so `lakehouse history` shows what was done.

Checked: after each entity's silver commits (the keys this run wrote), after a lock takeover
(every silver table), when a silver step fails (that table, then the step is tried once more),
and by `lakehouse repair`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from lakehouse.delta import CommitInfo, retry_conflicts, try_open
from lakehouse.log import event

if TYPE_CHECKING:
    import duckdb
    from deltalake import DeltaTable

    from lakehouse.contracts import Contract
    from lakehouse.storage import Root

NEWEST_FIRST = '"_ingested_at" DESC NULLS LAST, "_run_id" DESC, "_source_file" DESC, "_row" DESC'


@dataclass(frozen=True)
class Repaired:
    table: str  # zone.table
    keys: int  # primary keys that had more than one row
    rows_removed: int
    version: int | None  # the repair commit's version; None when nothing was wrong


def repair_entity(
    root: Root, contract: Contract, run_id: str, *, written_by: str | None = None
) -> Repaired:
    """Find silver keys with more than one row (only keys of rows `written_by` a run, when
    given: the cheap check after a commit) and keep the newest row of each, in one commit."""
    name = f"silver.{contract.entity}"

    def attempt() -> Repaired:
        table = try_open(root, "silver", contract.entity)
        if table is None:
            return Repaired(name, 0, 0, None)
        con = _connect(table, contract, written_by)
        try:
            keys = _duplicate_keys(con, contract, written_by is not None)
            if keys.num_rows == 0:
                return Repaired(name, 0, 0, None)
            winners = _newest_rows(con, contract, pa.schema(table.schema()))
            removed = int(_count(con, "SELECT sum(n) FROM dup_keys")) - winners.num_rows
        finally:
            con.close()
        from deltalake import write_deltalake

        write_deltalake(
            table,
            winners,
            mode="overwrite",
            predicate=_key_predicate(contract, keys),
            commit_properties=CommitInfo(
                run_id,
                "repair",
                extra={"duplicate_keys": keys.num_rows, "rows_removed": removed},
            ).properties(),
        )
        return Repaired(name, keys.num_rows, removed, int(table.version()))

    done = retry_conflicts(attempt)
    if done.keys:
        event(
            "duplicate_keys_repaired",
            table=name,
            keys=done.keys,
            rows_removed=done.rows_removed,
            version=done.version,
            run_id=run_id,
        )
    return done


def repair_all(root: Root, contracts: dict[str, Contract], run_id: str) -> list[Repaired]:
    """Every silver table, whole (`lakehouse repair`, and a run that took a lock over)."""
    return [
        repair_entity(root, c, run_id)
        for c in contracts.values()
        if try_open(root, "silver", c.entity) is not None
    ]


def _connect(
    table: DeltaTable, contract: Contract, written_by: str | None
) -> duckdb.DuckDBPyConnection:
    """`silver_rows`: the table; `written`, with `written_by`: the keys of rows that run wrote
    (filtered by pyarrow: DuckDB's pushed-down string filters do not match delta-rs's
    string_view columns)."""
    import pyarrow.dataset as ds

    from lakehouse.query import new_connection

    con = new_connection()
    rows = table.to_pyarrow_dataset()
    con.register("silver_rows", rows)
    if written_by is not None:
        keys = list(contract.primary_key)
        con.register(
            "written",
            rows.to_table(columns=keys, filter=ds.field("_run_id").cast(pa.string()) == written_by),
        )
    return con


def _keys_sql(contract: Contract) -> str:
    return ", ".join(f'"{k}"' for k in contract.primary_key)


def _duplicate_keys(con: duckdb.DuckDBPyConnection, contract: Contract, scoped: bool) -> pa.Table:
    keys = _keys_sql(contract)
    # scoped: only keys the run wrote, a semi-join instead of a whole-table aggregation
    scope = f"SEMI JOIN (SELECT DISTINCT {keys} FROM written) USING ({keys})" if scoped else ""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE dup_keys AS SELECT {keys}, count(*) AS n "
        f"FROM silver_rows {scope} GROUP BY {keys} HAVING count(*) > 1"
    )
    return con.sql(f"SELECT {keys} FROM dup_keys ORDER BY {keys}").to_arrow_table()


def _newest_rows(con: duckdb.DuckDBPyConnection, contract: Contract, schema: pa.Schema) -> pa.Table:
    keys = _keys_sql(contract)
    rows = con.sql(
        f"SELECT * FROM silver_rows SEMI JOIN dup_keys USING ({keys}) "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {NEWEST_FIRST}) = 1"
    ).to_arrow_table()
    return rows.select(schema.names).cast(schema)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _key_predicate(contract: Contract, keys: pa.Table) -> str:
    """A Delta predicate matching exactly these keys."""
    cols = list(contract.primary_key)
    if len(cols) == 1:
        values = ", ".join(_literal(v) for v in keys[cols[0]].to_pylist())
        return f'"{cols[0]}" IN ({values})'
    return " OR ".join(
        "(" + " AND ".join(f'"{c}" = {_literal(r[c])}' for c in cols) + ")"
        for r in keys.to_pylist()
    )


def _literal(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "'" + str(value).replace("'", "''") + "'"
    return str(value)
