"""Rows waiting in quarantine for a parent: which are re-checked, and which a later delivery
of their key replaced (`superseded`), written once for every engine.

A row whose only reasons are about a parent waits in quarantine and is re-checked by the first
chunk of every run that loads files; it is released into silver when its parent agrees. A
later delivery of its key replaces it, and it stops waiting (`superseded` is added to its
reasons; it stays in quarantine as a record, never released). Released, it would overwrite the
later row in silver (the same recency: the later delivery should win the tie), and the later
row would then be in neither silver nor quarantine. What is a later delivery is decided when
it arrives, by the batch's arrival order (`_seq`), never by clocks or lineage:

- a row of this batch, valid or waiting too, with at least the same recency, replaces the rows
  of its key that the batch re-checks or that wait from an earlier file of the batch
  (`replaced_in_batch_sql`), and, in a run's later chunks, the stored waiting rows
  (`superseded_sql`, `later`): every one is an earlier delivery. A waiting row replaces a
  waiting one only: a valid re-checked row is released while the later one waits, as it
  would have been in a run of its own;
- silver holding a row of its key with a newer recency replaces it too, whenever that row
  came (`superseded_sql` against silver): released, it could never win.
"""

from __future__ import annotations

from contextlib import ExitStack

from lakehouse.contracts import Contract
from lakehouse.contracts.validation import key_ranges_sql
from lakehouse.engines.adapter import Adapter
from lakehouse.engines.base import EntityResult, RunContext
from lakehouse.engines.sql import (
    PARENT_CODES,
    QUARANTINE_KEY,
    arrived_sql,
    key_matches_sql,
    parent_rows_sql,
    replaced_in_batch_sql,
    superseded_sql,
    waiting_keys_sql,
    waiting_rows_sql,
    waiting_sql,
)
from lakehouse.store import zones
from lakehouse.store.delta import holds_files, try_open
from lakehouse.store.root import Root

#: the relations `put_waiting_keys` holds
KEYS = ("q_keys", "waiting_keys")
#: the relations this module holds while an entity is processed
RELATIONS = ("q_all", "q_waiting", "waiting", "silver_keys", "silver_keys__all", "arrived")


def put_waiting(
    a: Adapter,
    root: Root,
    contract: Contract,
    ctx: RunContext,
    result: EntityResult,
    held: ExitStack,
) -> int:
    """The entity's stored waiting rows (but those of this chunk's and later chunks' files,
    checked as new rows) as relation `q_waiting`; how many (0: none, and no relation). With
    `ctx.recheck_waiting` (a run's first chunk): those silver replaced as relation
    `superseded` (`result.superseded`, held by `held`), the others as batch rows to re-check,
    relation `waiting` (`result.rows_rechecked`)."""
    if not contract.foreign_keys:
        return 0
    quarantine = try_open(root, "quarantine", contract.entity)
    if quarantine is None or not holds_files(quarantine):
        return 0  # nothing quarantined: nothing waits
    if ctx.recheck_waiting:
        _put_quarantine(a, contract)
    else:  # a later chunk reads the rest only when a key of its own matches (`put_replaced`)
        key = [*contract.primary_key, "_reasons", "_file_sha256"]
        a.put_delta("q_all", "quarantine", contract.entity, key)
    a.view("q_waiting", waiting_sql("q_all", ctx.current_shas - ctx.done_shas))
    [(waiting,)] = a.fetch("SELECT count(*) FROM q_waiting")
    if not (waiting and ctx.recheck_waiting):
        return int(waiting)
    silver = try_open(root, "silver", contract.entity)
    if contract.recency_column and silver is not None and holds_files(silver):
        _put_silver_keys(a, contract)
        sql = superseded_sql(contract, "q_waiting", "silver_keys", later=False)
        result.superseded = held.enter_context(a.materialized("superseded", sql))
    replaced = "superseded" if result.superseded else None
    a.view("waiting", waiting_rows_sql(contract, "q_waiting", replaced))
    result.rows_rechecked = int(waiting) - result.superseded
    return int(waiting)


def _put_quarantine(a: Adapter, contract: Contract) -> None:
    """The entity's quarantine rows, every column a row is written back with, as `q_all`."""
    columns = [*contract.names, *zones.LINEAGE_NAMES, "_sheet_index", "_reasons"]
    a.put_delta("q_all", "quarantine", contract.entity, [*columns, "_quarantined_at"])


def _put_silver_keys(a: Adapter, contract: Contract) -> None:
    """Silver's keys and recency as relation `silver_keys`: of a bigint key, only those within
    the waiting rows' (few, usually) keys' range."""
    pk, recency = contract.primary_key, contract.recency_column
    assert recency is not None  # only a newer recency in silver replaces a waiting row
    a.put_delta("silver_keys__all", "silver", contract.entity, [*pk, recency])
    bounds = None
    if len(pk) == 1 and contract.column(pk[0]).kind == "bigint":
        [bounds] = a.fetch(key_ranges_sql(contract, list(pk), [], "q_waiting"))
    a.view("silver_keys", parent_rows_sql("silver_keys__all", pk[0], bounds))


def put_replaced(
    a: Adapter,
    contract: Contract,
    ctx: RunContext,
    result: EntityResult,
    stored: int,
    held: ExitStack,
) -> tuple[str | None, str | None]:
    """After validation (relation `checked`): the batch's rows a later row of the batch
    replaced, as relation `replaced` (batch positions), and, in a run's later chunks, the
    stored waiting rows it replaced, as relation `superseded` (quarantine rows); each name, or
    None when it holds no row. Both are counted in `result.superseded` and held by `held`."""
    parents_wait = any(code.partition(":")[0] in PARENT_CODES for code in result.reasons)
    later_chunk = bool(stored) and not ctx.recheck_waiting
    stored_superseded = result.superseded  # silver's, in a run's first chunk (`put_waiting`)
    replaced = None
    if result.rows_rechecked or parents_wait or later_chunk:
        a.view("arrived", arrived_sql(contract, "checked"))
    if result.rows_rechecked or parents_wait:
        sql = replaced_in_batch_sql(contract, "checked", "arrived")
        n = held.enter_context(a.materialized("replaced", sql))
        result.superseded += n
        replaced = "replaced" if n else None
    if later_chunk and a.fetch(key_matches_sql(contract, "q_waiting", "arrived"))[0][0]:
        _put_quarantine(a, contract)
        a.view("q_waiting", waiting_sql("q_all", ctx.current_shas - ctx.done_shas))
        sql = superseded_sql(contract, "q_waiting", "arrived", later=True)
        n = held.enter_context(a.materialized("superseded", sql))
        result.superseded += n
        stored_superseded += n
    return replaced, "superseded" if stored_superseded else None


def put_waiting_keys(a: Adapter, root: Root, contract: Contract) -> str | None:
    """The rows waiting in quarantine (`waiting_keys_sql`: typed key and recency, position) as
    relation `waiting_keys`, read from the keys, recency, reasons and positions alone; its
    name, or None when nothing is quarantined. The gold step's re-check moves a silver row
    back to quarantine as `superseded` when another row of its key waits there with at least
    its recency."""
    quarantine = try_open(root, "quarantine", contract.entity)
    if quarantine is None or not holds_files(quarantine):
        return None
    recency = [contract.recency_column] if contract.recency_column else []
    columns = [*contract.primary_key, *recency, "_reasons", *QUARANTINE_KEY]
    a.put_delta("q_keys", "quarantine", contract.entity, columns)
    a.view("waiting_keys", waiting_keys_sql(contract, "q_keys"))
    return "waiting_keys"
