"""Children that no longer agree with their parent go back from silver to quarantine.

Validation makes a row agree with its parent (a foreign key's `must_agree` columns) when the row
arrives. A later correction of the parent alone — an order moved to another day without all
its lines sent again — left silver holding the order on one day and those lines on another:
rows in silver that their own contract refuses, and date-sliced gold refreshes that drifted from
a rebuild (an adversarial pass found it). So before gold reads silver (`steps.gold`), the
children of every parent whose `must_agree` columns changed since the last gold build are
checked against the parent as it is now. A child that disagrees is quarantined with
`parent_mismatch:<column>` (its original text from bronze) and deleted from silver. There it
waits like a row that disagrees on arrival: released when its parent agrees again.

Which parents changed is read from the parent's change data feed after the versions the last
gold build read (`_ops.gold_builds`). When the feed cannot say (a RESTORE of the parent, an
overwrite, vacuumed or expired history), every child is checked, and one whose parent is gone
goes back too (`orphan:<column>`: a restored parent table had left 895 lines without their
order in silver). The build is recorded only after this check, so a run
killed anywhere before it is checked again by the next run, with files or without; quarantine is
written before silver, both by key, so a kill between the two converges too.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.contracts import Contract, ForeignKey
from lakehouse.contracts.validation import REASON_SEPARATOR, parent_mismatches
from lakehouse.engines import waiting
from lakehouse.engines.adapter import Merge, Target
from lakehouse.engines.base import RunContext
from lakehouse.engines.dialect import literal, quote
from lakehouse.engines.sql import (
    QUARANTINE_KEY,
    outrun_sql,
    quarantined_at,
    quote_all,
    reason_list,
    with_superseded,
)
from lakehouse.faults import fault_point
from lakehouse.gold.builds import FEED_OPS, Build, change_feed, may_have_vacuumed
from lakehouse.log import event
from lakehouse.store import zones
from lakehouse.store.delta import commit_time, holds_files, try_open
from lakehouse.store.root import Root

if TYPE_CHECKING:
    from lakehouse.engines.flow import FlowEngine

#: operations that rewrite rows in place: their change feed's update images say what changed
_REWRITES = {"MERGE", "UPDATE"}
#: operations that change no kept row's values (an overwrite WRITE is not one of them)
_KEEPS = FEED_OPS - _REWRITES
_IMAGES = pa.array(["update_preimage", "update_postimage"])


@dataclass(frozen=True)
class Restated:
    """Parents whose `must_agree` columns changed: their keys (None: any may have, check every
    child) and, for each of those columns, every value it had meanwhile (a child agreed with
    its parent before, so it holds one of them: the partitions to read)."""

    keys: pa.Table | None
    values: Mapping[str, list[object]] = field(default_factory=dict)

    @property
    def nothing(self) -> bool:
        return self.keys is not None and self.keys.num_rows == 0


NOTHING = Restated(pa.table({}))  # no parent changed: no child to check


@dataclass
class Rechecked:
    moved: dict[str, int] = field(default_factory=dict)  # entity -> rows moved to quarantine
    versions: dict[str, int] = field(default_factory=dict)  # "silver.order_items" -> version


def restated_parents(root: Root, fk: ForeignKey, since: int) -> Restated:
    """The parents of `fk` whose `must_agree` columns changed after version `since` of their
    silver table, by its change data feed (only the commits that rewrite rows are read)."""
    table = try_open(root, "silver", fk.references)
    version = -1 if table is None else table.version()
    if table is None or version <= since:
        return NOTHING
    rewrites, vacuums = [], []
    commits = table.history(version - since)
    if len(commits) < version - since:  # log entries expired: the feed cannot say
        return Restated(None)
    for commit in commits:
        op, mode = commit["operation"], commit.get("operationParameters", {}).get("mode")
        if commit["version"] <= since:
            continue
        if op in _REWRITES:
            rewrites.append(commit)
        elif op not in _KEEPS or mode == "Overwrite":
            return Restated(None)  # e.g. RESTORE, a repair's overwrite: the feed cannot say
        elif op == "VACUUM START":
            vacuums.append(commit)
    if not rewrites or not fk.must_agree:  # no value to disagree on: only a key that is gone
        return NOTHING
    if since < 0 or any(
        may_have_vacuumed(v, commit_time(r)) for r in rewrites for v in vacuums
    ):  # no build to start from, or the feed's files may be gone: check every child
        return Restated(None)
    columns = [fk.ref_column, *fk.must_agree, "_change_type"]
    feeds = [change_feed(table, r["version"], r["version"], columns) for r in rewrites]
    if any(f is None for f in feeds):
        return Restated(None)
    feed = pa.concat_tables(f for f in feeds if f is not None)
    images = feed.filter(pc.is_in(feed["_change_type"], _IMAGES))
    every = pc.CountOptions(mode="all")
    counts = images.group_by(fk.ref_column).aggregate(
        [(c, "count_distinct", every) for c in fk.must_agree]
    )
    changed = functools.reduce(
        pc.or_, [pc.greater(counts[f"{c}_count_distinct"], 1) for c in fk.must_agree]
    )
    keys = counts.filter(changed).select([fk.ref_column])
    theirs = images.filter(pc.is_in(images[fk.ref_column], keys[fk.ref_column]))
    return Restated(keys, {c: pc.unique(theirs[c]).to_pylist() for c in fk.must_agree})


def disagreeing_sql(contract: Contract, fk: ForeignKey, restated: Restated) -> str:
    """Rows of relation `children` (the child's silver rows) whose row of `parents` is gone
    (`orphan`: a parent restored to a version before it) or disagrees, with `_reasons` joined
    by `REASON_SEPARATOR`; only the children of relation `restated`'s keys, in the partitions
    their parents' old values name, unless every child is to be checked."""
    child, ref = quote(fk.column), quote(fk.ref_column)
    checks = [(f"c.{child} IS NOT NULL AND p.{ref} IS NULL", f"orphan:{fk.column}")]
    checks += parent_mismatches(fk, lambda n: f"c.{quote(n)}", lambda n: f"p.{quote(n)}")
    reasons = ", ".join(f"CASE WHEN {cond} THEN {literal(code)} END" for cond, code in checks)
    joins = f"LEFT JOIN parents AS p ON p.{ref} = c.{child}"
    where = [" OR ".join(f"({cond})" for cond, _ in checks)]
    if restated.keys is not None:
        joins = f"JOIN restated AS r ON r.{ref} = c.{child} {joins}"
        where += _partitions(contract, restated.values, "c")
    return (
        f"SELECT c.*, CONCAT_WS('{REASON_SEPARATOR}', {reasons}) AS _reasons "
        f"FROM children AS c {joins} WHERE ({') AND ('.join(where)})"
    )


def _partitions(contract: Contract, values: Mapping[str, list[object]], alias: str) -> list[str]:
    """Conditions that `alias`'s partition columns hold one of `values` (lets a reader skip the
    other partitions)."""
    out = []
    for name, seen in values.items():
        kind = contract.column(name).kind
        if name not in contract.partition_by or None in seen or kind not in ("date", "bigint"):
            continue
        texts = [f"DATE '{v}'" if kind == "date" else str(int(str(v))) for v in seen]
        out.append(f"{alias}.{quote(name)} IN ({', '.join(texts)})")
    return out


def requarantine_sql(
    contract: Contract,
    disagreeing: str,
    bronze: str,
    shas: list[str],
    now: dt.datetime,
    waiting_rows: str | None = None,
) -> str:
    """Quarantine rows (`upsert`) for the rows of `disagreeing`: their text as bronze holds it
    (read for their files only), or their silver values as text should bronze no longer hold
    the row. Those `outrun_sql` finds (`waiting_rows` given) are `superseded` too."""
    on = " AND ".join(f"b.{k} = d.{k}" for k in QUARANTINE_KEY)
    reasons, join = "d._reasons", ""
    if waiting_rows is not None:
        same = " AND ".join(f"x.{k} = d.{k}" for k in QUARANTINE_KEY)
        join = f" LEFT JOIN ({outrun_sql(contract, disagreeing, waiting_rows)}) AS x ON {same}"
        reasons = (
            f"CASE WHEN x._row IS NOT NULL THEN {with_superseded('d._reasons')} ELSE d._reasons END"
        )
    text = ", ".join(
        f"CASE WHEN b._row IS NULL THEN CAST(d.{c} AS VARCHAR) ELSE b.{c} END AS {c}"
        for c in map(quote, contract.names)
    )
    lineage = ", ".join(f"d.{quote(c)}" for c in zones.LINEAGE_NAMES)
    files = ", ".join(literal(s) for s in shas)
    return (
        f"SELECT {text}, {reason_list(reasons)} AS _reasons, {lineage}, b._sheet_index, "
        f"{quarantined_at(now)} AS _quarantined_at, 'upsert' AS _action FROM {disagreeing} AS d "
        f"LEFT JOIN (SELECT * FROM {bronze} WHERE _file_sha256 IN ({files})) AS b ON {on}{join}"
    )


def recheck_children(
    engine: FlowEngine, contracts: Mapping[str, Contract], ctx: RunContext, history: list[Build]
) -> Rechecked:
    """Move every child row that disagrees with a parent changed since the last gold build
    (the newest of `history`, `gold.builds.builds`) from silver to quarantine (see the
    module's doc); what moved and the versions written."""
    read = history[0].silver_versions if history else {}
    out = Rechecked()
    for contract in contracts.values():
        stored = try_open(engine.root, "silver", contract.entity)
        if stored is None or not holds_files(stored):
            continue
        for fk in contract.foreign_keys:
            if fk.references not in contracts:
                continue
            restated = restated_parents(engine.root, fk, read.get(fk.references, -1))
            if not restated.nothing:
                _move(engine, contract, fk, restated, ctx, out)
    return out


def _move(
    engine: FlowEngine,
    contract: Contract,
    fk: ForeignKey,
    restated: Restated,
    ctx: RunContext,
    out: Rechecked,
) -> None:
    a, entity = engine.adapter, contract.entity
    a.put_delta("children", "silver", entity, [*contract.names, *zones.LINEAGE_NAMES])
    a.put_delta("parents", "silver", fk.references, [fk.ref_column, *fk.must_agree])
    if restated.keys is not None:
        a.put_arrow("restated", restated.keys)
    try:
        with a.materialized("disagreeing", disagreeing_sql(contract, fk, restated)) as n:
            if n == 0:
                return
            shas = [str(s) for (s,) in a.fetch("SELECT DISTINCT _file_sha256 FROM disagreeing")]
            text = [*contract.names, *QUARANTINE_KEY, "_sheet_index"]
            a.put_delta("bronze_rows", "bronze", entity, text)
            rows = waiting.put_waiting_keys(a, engine.root, contract)
            a.view(
                "requarantined",
                requarantine_sql(contract, "disagreeing", "bronze_rows", shas, ctx.now, rows),
            )
            commit = ctx.commit("quarantine_recheck", contract)
            out.versions[f"quarantine.{entity}"] = engine.merge_quarantine(
                contract, "requarantined", commit
            )
            fault_point(f"between_recheck_quarantine_and_silver:{entity}")
            schema = zones.silver_schema(contract)
            # the rows' partitions named in the match: the MERGE then reads those alone, not
            # the whole table (2.8 s of 2.9 at 10 M lines)
            parts = {
                c: [v for (v,) in a.fetch(f"SELECT DISTINCT {quote(c)} FROM disagreeing")]
                for c in contract.partition_by
            }
            on = " AND ".join(
                [f"t.{quote(k)} = s.{quote(k)}" for k in contract.primary_key]
                + _partitions(contract, parts, "t")
            )
            merged = a.merge(
                Target("silver", entity, schema, ctx.commit("silver_recheck", contract)),
                f"SELECT {quote_all(schema.names)} FROM disagreeing",
                Merge(on, "false", insert_when="false", delete_when="true"),
            )
            out.versions[f"silver.{entity}"] = merged.version
            out.moved[entity] = out.moved.get(entity, 0) + n
            event(
                "children_requarantined",
                run_id=ctx.run_id,
                entity=entity,
                parent=fk.references,
                rows=n,
                parents_changed=None if restated.keys is None else restated.keys.num_rows,
            )
    finally:
        names = ("children", "parents", "restated", "bronze_rows", "requarantined")
        for name in (*names, *waiting.KEYS):
            a.forget(name)
