"""Duplicate primary keys in silver: found, and repaired in one Delta commit (newest row wins).

Fencing (`lakehouse.store.fencing`) keeps a stalled writer from committing; this is the defence
behind it. A silver table must hold one row per primary key; a second row of a key (left by a
writer from before fencing, or by a bug) would make every later MERGE of that key fail with
"multiple source rows matched". The rows of each duplicated key are replaced by the newest one
(`_ingested_at`, then the run id, file and row, descending) in a single overwrite commit whose
metadata says `lakehouse.operation = repair`, so `lakehouse history` shows what was done.

Checked: after each entity's silver commits (the keys this run wrote; every key when the
table holds only as many rows as the run wrote), after a lock takeover
(every silver table), when a silver step fails (that table, then the step is tried once more),
and by `lakehouse repair`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from lakehouse.engines.dialect import literal, quote
from lakehouse.log import event
from lakehouse.store.delta import CommitInfo, retry_conflicts, try_open, writer_properties
from lakehouse.store.scan import duckdb_scan

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from lakehouse.contracts import Contract
    from lakehouse.store.root import Root

NEWEST_FIRST = '"_ingested_at" DESC NULLS LAST, "_run_id" DESC, "_source_file" DESC, "_row" DESC'


@dataclass(frozen=True)
class Repaired:
    table: str  # zone.table
    keys: int  # primary keys that had more than one row
    rows_removed: int
    version: int | None  # the repair commit's version; None when nothing was wrong


def repair_entity(
    root: Root,
    contract: Contract,
    run_id: str,
    *,
    written_by: str | None = None,
    written_rows: int | None = None,
) -> Repaired:
    """Find silver keys with more than one row (only keys of rows `written_by` a run, when
    given: the cheap check after a commit) and keep the newest row of each, in one commit.

    `written_rows`: how many rows that run wrote. When the table holds just that many rows (a
    first load), every key is checked: the whole table in one pass costs less than finding the
    run's keys first (10 M lines: 0.76-0.85 against 1.61-2.09 s), and it checks no fewer keys."""
    name = f"silver.{contract.entity}"

    def attempt() -> Repaired:
        table = try_open(root, "silver", contract.entity)
        if table is None:
            return Repaired(name, 0, 0, None)
        local = root.local_path("silver", contract.entity)
        scope = written_by
        if written_rows is not None and row_count(table) == written_rows:
            scope = None
        keys = duplicate_keys(table, local, list(contract.primary_key), scope)
        if keys.num_rows == 0:
            return Repaired(name, 0, 0, None)
        rows = table.to_pyarrow_dataset()
        winners, removed = _newest_rows(rows, contract, keys, pa.schema(table.schema()))
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
            writer_properties=writer_properties(),
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


def row_count(table: DeltaTable) -> int | None:
    """Rows in the table's snapshot, from the log's file statistics; None when a file has none."""
    counts = table.get_add_actions(flatten=True).column("num_records").to_pylist()
    return None if None in counts else sum(counts)


def duplicate_keys(
    table: DeltaTable, local: str | None, keys: list[str], written_by: str | None
) -> pa.Table:
    """Keys with more than one row, with their row count `n`; with `written_by`, only keys that
    run wrote. `local`: the table's folder when it is on the local disk.

    Read by DuckDB's Parquet reader where it reads the table as delta-rs does (a day into
    10 M lines: silver order_items 1.74-1.79 s with pyarrow, 1.59-1.60 s with DuckDB), else by
    pyarrow, key columns only (DuckDB streaming a delta-rs dataset can stall on its Python file
    system)."""
    from lakehouse.store.query import new_connection

    con = new_connection()
    try:
        scan = duckdb_scan(con, table, local)
        if scan is not None:
            names = ", ".join(quote(k) for k in keys)
            written, bounds, params = "", "", None
            if written_by is not None:
                run = f"SELECT {names} FROM t WHERE _run_id = {literal(written_by)}"
                # the run's range of the first key, given as values: the reader then skips the
                # files and row groups of older keys by their statistics (a day into 10 M
                # lines: 0.22 -> 0.09 s), which a range computed in the query does not do; on
                # the run's own rows too, or DuckDB reads both as one scan of every row group
                # (`first >= low OR _run_id = ...`: 0.11 against 0.03 s)
                first = quote(keys[0])
                [(low, high)] = con.sql(
                    f"WITH t AS ({scan}) SELECT min({first}), max({first}) FROM ({run}) AS w"
                ).fetchall()
                if low is not None:
                    bounds, params = f" WHERE t.{first} BETWEEN $1 AND $2", [low, high]
                    run += f" AND {first} BETWEEN $1 AND $2"
                written = f" SEMI JOIN ({run}) AS w USING ({names})"
            return con.sql(
                f"WITH t AS ({scan}) SELECT {names}, count(*) AS n FROM t{written}{bounds} "
                f"GROUP BY {names} HAVING count(*) > 1",
                params=params,
            ).to_arrow_table()
    finally:
        con.close()
    return _duplicates_by_pyarrow(table.to_pyarrow_dataset(), keys, written_by)


def _duplicates_by_pyarrow(rows: ds.Dataset, keys: list[str], written_by: str | None) -> pa.Table:
    present = rows.to_table(columns=keys)
    if written_by is not None:
        run = ds.field("_run_id").cast(pa.string()) == written_by
        written = rows.to_table(columns=keys, filter=run).group_by(keys).aggregate([])
        present = present.join(written, keys, join_type="left semi")
    counts = present.group_by(keys).aggregate([([], "count_all")]).rename_columns([*keys, "n"])
    return counts.filter(pc.greater(counts["n"], 1))


def _newest_rows(
    rows: ds.Dataset, contract: Contract, keys: pa.Table, schema: pa.Schema
) -> tuple[pa.Table, int]:
    """The newest row of each duplicated key, and how many rows the others are."""
    from lakehouse.store.query import new_connection

    first = contract.primary_key[0]
    dups = rows.to_table(filter=ds.field(first).isin(keys[first]))  # the few rows involved
    names = ", ".join(f'"{k}"' for k in contract.primary_key)
    con = new_connection()
    try:
        con.register("dups", dups)
        con.register("dup_keys", keys)
        winners = con.sql(
            f"SELECT * FROM dups SEMI JOIN dup_keys USING ({names}) "
            f"QUALIFY row_number() OVER (PARTITION BY {names} ORDER BY {NEWEST_FIRST}) = 1"
        ).to_arrow_table()
    finally:
        con.close()
    removed = int(pc.sum(keys["n"]).as_py()) - winners.num_rows
    return winners.select(schema.names).cast(schema), removed


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
        return literal(str(value))
    return str(value)
