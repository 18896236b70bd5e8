"""What gold was last built from, and what changed in silver since: the input to a refresh.

Gold records the silver versions each build read (`_ops.gold_builds`). The next refresh reads
silver's change data feed between those versions and now, so it recomputes exactly the dates,
customers and products that changed — whichever run changed them, even one that was killed
before its gold step. No record, or a history the feed cannot describe (a RESTORE), means a
full rebuild.

Additive models (running totals) also read silver *as of* those versions, to subtract what the
touched dates held then. Each gold commit records the silver versions its table reflects
(`lakehouse.silver_versions`), so a running total is only added to when it reflects the
previous build's rows; after a failed refresh, or once a vacuum may have removed the old files,
it is rebuilt instead (`additive_rebuilds`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.gold import Touched, list_models
from lakehouse.gold.model import GoldModel, get_model
from lakehouse.gold.plan import Override, silver_inputs
from lakehouse.gold.render import reads
from lakehouse.log import event
from lakehouse.maintenance.settings import TIME_TRAVEL_PROMISE_HOURS
from lakehouse.store.delta import (
    CommitInfo,
    commit_time,
    ensure_table,
    is_committed,
    lakehouse_metadata,
    log_state,
    plain_text,
    read_arrow,
    try_open,
)
from lakehouse.store.root import Root

if TYPE_CHECKING:
    from deltalake import DeltaTable

SILVER = ("products", "orders", "order_items")
BUILDS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("built_at", pa.timestamp("us", tz="UTC")),
        ("mode", pa.string()),  # full | incremental
        ("silver_versions", pa.string()),  # JSON {"orders": 3, ...}
        ("models_written", pa.int64()),
        # JSON list: the "budget" models this build left behind silver (not due yet)
        ("deferred", pa.string()),
    ]
)
# operations whose data changes the change data feed records
FEED_OPS = {
    "WRITE",
    "MERGE",
    "DELETE",
    "UPDATE",
    "CREATE TABLE",
    "OPTIMIZE",
    "VACUUM START",
    "VACUUM END",
    "ADD COLUMN",
    "SET TBLPROPERTIES",
}
_KEYS = {"dates": "date", "users": "user_id", "products": "product_id"}


@dataclass(frozen=True)
class Pending:
    touched: Touched
    versions: dict[str, int]  # silver versions the refresh will have read
    missing: frozenset[str] = frozenset()  # models without a table yet (always built)
    #: the previous build's silver versions, while silver as of them can still be read
    before: dict[str, int] | None = None

    @property
    def nothing(self) -> bool:
        return self.touched.is_empty


def silver_versions(root: Root) -> dict[str, int] | None:
    """Each silver table's newest version (one listing of its log); None until all exist."""
    out = {}
    for entity in SILVER:
        log = log_state(root, root.path("silver", entity))
        if log is None:
            return None
        out[entity] = log.version
    return out


@dataclass(frozen=True)
class Build:
    built_at: dt.datetime
    silver_versions: dict[str, int]  # what it read
    deferred: frozenset[str]  # the budget models it left behind silver


def builds(root: Root) -> list[Build]:
    """Every gold build, newest first (read once per gold step: `pending`, `freshness`)."""
    dt_ = try_open(root, "_ops", "gold_builds")
    if dt_ is None:
        return []
    names = pa.schema(dt_.schema()).names
    columns = [c for c in ("built_at", "silver_versions", "deferred") if c in names]
    out = [
        Build(
            row["built_at"],
            json.loads(row["silver_versions"]),
            frozenset(json.loads(row.get("deferred") or "[]")),
        )
        for row in read_arrow(dt_, columns).to_pylist()
    ]
    # two builds of one instant (runs given the same `now`): the later read newer silver
    return sorted(out, key=lambda b: (b.built_at, sum(b.silver_versions.values())), reverse=True)


def missing_models(root: Root) -> frozenset[str]:
    """The gold models without a table (one listing of each model's log, no table opened)."""
    return frozenset(
        m.name for m in list_models() if not is_committed(root, root.path("gold", m.name))
    )


def pending(root: Root, history: list[Build] | None = None) -> Pending | None:
    """Changes to refresh gold for since the newest of `history` (default: `builds(root)`);
    None when silver is not complete yet (no gold possible)."""
    now = silver_versions(root)
    if now is None:
        return None
    history = builds(root) if history is None else history
    before = history[0].silver_versions if history else None
    missing = missing_models(root)
    if before is None:
        return Pending(Touched.full(), now, missing)
    found: dict[str, set[object]] = {k: set() for k in _KEYS}
    changed: set[str] = set()
    built_at = history[0].built_at
    readable = dt.datetime.now(dt.UTC) - built_at < dt.timedelta(hours=TIME_TRAVEL_PROMISE_HOURS)
    for entity, version in now.items():
        start = before.get(entity, -1)
        if version == start:
            continue
        changed.add(f"silver.{entity}")
        dt_ = try_open(root, "silver", entity)
        assert dt_ is not None
        commits = [h for h in dt_.history(version - start) if h["version"] > start]
        ops = {h["operation"] for h in commits}
        readable = readable and not any(may_have_vacuumed(h, built_at) for h in commits)
        if start < 0 or not ops <= FEED_OPS or len(commits) < version - start:
            # e.g. RESTORE: the feed cannot say what moved; or commits whose log entries
            # expired (a gold outage longer than the log retention)
            return Pending(Touched.full(), now, missing)
        catalog = entity == "products"  # read whole: its changes may restate history
        names = pa.schema(dt_.schema()).names
        cols = None if catalog else [c for c in _KEYS.values() if c in names]
        feed = change_feed(dt_, start + 1, version, cols)
        if feed is None:
            return Pending(Touched.full(), now, missing)
        if catalog and _catalog_restated(feed):
            return Pending(Touched.full(), now, missing, before if readable else None)
        for field, col in _KEYS.items():
            if col in feed.column_names:
                found[field] |= set(pc.unique(feed[col]).drop_null().to_pylist())
    touched = Touched(
        dates=frozenset(x for x in found["dates"] if isinstance(x, dt.date)),
        users=frozenset(int(x) for x in found["users"]),  # type: ignore[call-overload]
        products=frozenset(int(x) for x in found["products"]),  # type: ignore[call-overload]
        tables=frozenset(changed),
    )
    return Pending(touched, now, missing, before if readable else None)


def change_feed(
    table: DeltaTable, first: int, last: int, columns: list[str] | None
) -> pa.Table | None:
    """The table's change data feed from version `first` to `last`, text as plain text; None
    when it can no longer be read: its files vacuumed or its log entries expired since (every
    later run failed on it, and gold stayed stuck until `_ops/gold_builds` was deleted by
    hand). A network error is raised, for the step's retries."""
    try:
        feed = table.load_cdf(starting_version=first, ending_version=last, columns=columns)
        return plain_text(pa.table(feed))
    except (ConnectionError, TimeoutError):
        raise
    except Exception as exc:  # delta-rs and Arrow name no finer class for "gone"
        event(
            "change_feed_unreadable", logging.WARNING, versions=f"{first}..{last}", error=str(exc)
        )
        return None


def _catalog_restated(feed: pa.Table) -> bool:
    """Whether the catalog's change feed restates history: a product deleted, or one
    whose department, name, ... (a column a gold model reads) is not what it was. Gold's
    by-date and by-customer models re-read only the days and customers a run touched, and a
    catalog change touches none: a product moved to another department left every stored day
    and profile with the old one (an adversarial pass found it; no later run healed it)."""
    kinds = feed["_change_type"]
    if pc.any(pc.equal(kinds, "delete")).as_py():
        return True
    read = sorted((_gold_reads("silver.products") | {"product_id"}) & set(feed.column_names))

    def rows(kind: str) -> set[tuple[object, ...]]:
        part = feed.filter(pc.equal(kinds, kind)).select(read)
        return set(zip(*(part[c].to_pylist() for c in part.column_names), strict=True))

    return rows("update_preimage") != rows("update_postimage")


def _gold_reads(table: str) -> set[str]:
    """The columns of `table` (`silver.x`) some gold model reads, by the models' lineage."""
    from lakehouse.contracts import load_contracts
    from lakehouse.gold.model import all_models
    from lakehouse.lineage.cache import cached_graph

    graph = cached_graph(load_contracts(), all_models())
    return {e.source.column for e in graph.edges if e.source.table == table}


def may_have_vacuumed(commit: dict[str, Any], built_at: dt.datetime) -> bool:
    """A vacuum deletes the files removed more than its retention before it ran; the files a
    build read were removed after the build, so they are gone only when that is after it."""
    if commit.get("operation") != "VACUUM START":
        return False
    params = commit.get("operationParameters") or {}
    kept = params.get("specifiedRetentionMillis") or params.get("defaultRetentionMillis") or 0
    return commit_time(commit, int(kept)) >= built_at


def definition_digest(model: str) -> str:
    """A digest of everything the model's rows are computed from: its SQL, columns and measures,
    and the same of every gold model it reads (ephemeral ones included). Every gold commit
    records it (`lakehouse.model_digest`)."""
    m = get_model(model)
    parts = [m.sql, json.dumps(m.column_names), json.dumps(list(m.measures))]
    parts += [definition_digest(t) for t in sorted(reads(m)) if t.startswith("gold.")]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class BuiltFrom(NamedTuple):
    silver_versions: dict[str, int]  # the silver versions the table reflects
    digest: str  # the model definition it was computed by ("": written before digests)


def built_from(root: Root, model: str, commits: int = 20) -> BuiltFrom | None:
    """What the model's table was computed from: the newest of its last `commits` commits that
    records it (maintenance commits do not); None when none does."""
    dt_ = try_open(root, "gold", model)
    if dt_ is None:
        return None
    for commit in dt_.history(commits):
        meta = lakehouse_metadata(commit)
        recorded = meta.get("lakehouse.silver_versions")
        if recorded:
            versions = json.loads(recorded) if isinstance(recorded, str) else recorded
            digest = meta.get("lakehouse.model_digest") or ""
            return BuiltFrom({str(k): int(v) for k, v in versions.items()}, str(digest))
    return None


def _additive(exclude: Collection[str] = ()) -> list[GoldModel]:
    return [m for m in list_models() if m.refresh == "additive" and m.name not in exclude]


def additive_inputs(exclude: Collection[str] = ()) -> list[str]:
    """The silver tables the additive models (but those in `exclude`) read."""
    return sorted({t for m in _additive(exclude) for t in silver_inputs(m.name)})


def additive_rebuilds(root: Root, p: Pending) -> dict[str, Override]:
    """The additive models that cannot be added to this refresh, as plan overrides (rebuilt):
    silver as the previous build read it is gone, or the table does not reflect that build's
    rows (a refresh that failed after writing it, or a table rebuilt by hand), since adding to
    it would count changes twice; or it was computed by another definition of the model (a
    release that changed it), since its totals would mix both. A table a build skipped (no
    touched dates) while silver was only compacted still reflects its rows."""
    models = _additive(exclude=p.missing)
    before = p.before
    if before is None:
        return {m.name: "overwrite" for m in models}
    # the additive models read the same silver table: its history is read once, not per model
    same_rows = cache(lambda entity, held: _same_rows(root, entity, held, before.get(entity)))
    out: dict[str, Override] = {}
    for model in models:
        inputs = [t.removeprefix("silver.") for t in silver_inputs(model.name)]
        found = built_from(root, model.name)
        if (
            found is None
            or found.digest != definition_digest(model.name)
            or not all(same_rows(e, found.silver_versions.get(e)) for e in inputs)
        ):
            out[model.name] = "overwrite"
    return out


#: commits that rewrite files or settings but no rows
_SAME_ROWS_OPS = {"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES"}


def _same_rows(root: Root, entity: str, held: int | None, before: int | None) -> bool:
    """Whether silver `entity` holds the same rows at version `held` as at `before`."""
    if held is None or before is None or held > before:
        return False
    if held == before:
        return True
    dt_ = try_open(root, "silver", entity)
    if dt_ is None:
        return False
    between = [h for h in dt_.history(dt_.version() - held) if held < h["version"] <= before]
    return len(between) == before - held and all(
        h.get("operation") in _SAME_ROWS_OPS for h in between
    )


def record_build(
    root: Root,
    p: Pending,
    run_id: str,
    now: dt.datetime,
    models_written: int,
    deferred: Collection[str] = (),
) -> None:
    from deltalake import write_deltalake

    row = {
        "run_id": run_id,
        "built_at": now,
        "mode": "full" if p.touched.is_full else "incremental",
        "silver_versions": json.dumps(p.versions, sort_keys=True),
        "models_written": models_written,
        "deferred": json.dumps(sorted(deferred)),
    }
    dt_ = ensure_table(
        root,
        "_ops",
        "gold_builds",
        BUILDS_SCHEMA,
        description="Gold builds: the silver versions each one read.",
    )
    write_deltalake(
        dt_,
        pa.Table.from_pylist([row], schema=BUILDS_SCHEMA),
        mode="append",
        commit_properties=CommitInfo(run_id, "gold_build").properties(),
    )
