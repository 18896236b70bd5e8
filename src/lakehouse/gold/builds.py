"""What gold was last built from, and what changed in silver since: the input to a refresh.

Gold records the silver versions each build read (`_ops.gold_builds`). The next refresh reads
silver's change data feed between those versions and now, so it recomputes exactly the dates,
customers and products that changed — whichever run changed them, even one that was killed
before its gold step. No record, or a history the feed cannot describe (a RESTORE), means a
full rebuild.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.gold import Touched, list_models
from lakehouse.store.delta import CommitInfo, ensure_table, read_arrow, try_open
from lakehouse.store.root import Root

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
_FEED_OPS = {
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

    @property
    def nothing(self) -> bool:
        return self.touched.is_empty


def silver_versions(root: Root) -> dict[str, int] | None:
    out = {}
    for entity in SILVER:
        dt_ = try_open(root, "silver", entity)
        if dt_ is None:
            return None
        out[entity] = int(dt_.version())
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
    return sorted(out, key=lambda b: b.built_at, reverse=True)


def missing_models(root: Root) -> frozenset[str]:
    return frozenset(m.name for m in list_models() if try_open(root, "gold", m.name) is None)


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
    for entity, version in now.items():
        start = before.get(entity, -1)
        if version == start:
            continue
        changed.add(f"silver.{entity}")
        dt_ = try_open(root, "silver", entity)
        assert dt_ is not None
        ops = {h["operation"] for h in dt_.history(version - start) if h["version"] > start}
        if start < 0 or not ops <= _FEED_OPS:
            return Pending(
                Touched.full(), now, missing
            )  # e.g. RESTORE: the feed cannot say what moved
        names = pa.schema(dt_.schema()).names
        cols = [c for c in _KEYS.values() if c in names]
        feed = pa.table(
            dt_.load_cdf(starting_version=start + 1, ending_version=version, columns=cols)
        )
        for field, col in _KEYS.items():
            if col in feed.column_names:
                found[field] |= set(pc.unique(feed[col]).drop_null().to_pylist())
    touched = Touched(
        dates=frozenset(x for x in found["dates"] if isinstance(x, dt.date)),
        users=frozenset(int(x) for x in found["users"]),  # type: ignore[call-overload]
        products=frozenset(int(x) for x in found["products"]),  # type: ignore[call-overload]
        tables=frozenset(changed),
    )
    return Pending(touched, now, missing)


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
