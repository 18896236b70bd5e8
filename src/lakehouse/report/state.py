"""A cheap fingerprint of a root's tables (their newest Delta versions), for live refresh.

Listing each table's `_delta_log` is enough: every commit (a run, a restore, a maintenance
job) adds a log file, so the fingerprint changes exactly when some table changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pyarrow.fs as pafs

from lakehouse.storage import ZONES, Root


def table_versions(root: Root) -> dict[str, int]:
    """`zone.table` -> newest committed version, read from the Delta logs' file names."""
    out: dict[str, int] = {}
    for zone in ZONES:
        base = root.path(zone)
        if root.fs.get_file_info(base).type != pafs.FileType.Directory:
            continue
        for fi in root.fs.get_file_info(pafs.FileSelector(base, recursive=False)):
            if fi.type != pafs.FileType.Directory:
                continue
            log = f"{fi.path}/_delta_log"
            if root.fs.get_file_info(log).type != pafs.FileType.Directory:
                continue
            versions = [
                int(f.base_name.split(".")[0])
                for f in root.fs.get_file_info(pafs.FileSelector(log, recursive=False))
                if f.base_name.endswith(".json") and f.base_name.split(".")[0].isdigit()
            ]
            if versions:
                out[f"{zone}.{fi.base_name}"] = max(versions)
    return out


def fingerprint(versions: dict[str, int]) -> str:
    text = ";".join(f"{k}={v}" for k, v in sorted(versions.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def gold_freshness(root: Root, now: dt.datetime | None = None) -> dict[str, dict[str, object]]:
    """Each gold model with a staleness budget: as-of time, minutes behind silver, budget (as
    `lakehouse status` shows them)."""
    from lakehouse import config
    from lakehouse.gold.freshness import freshness

    moment = now or dt.datetime.now(dt.UTC)
    out: dict[str, dict[str, object]] = {}
    for f in freshness(root, config.load(root).gold).values():
        if f.budget is None:
            continue
        out[f"gold.{f.model}"] = {
            "as_of": f.as_of.isoformat() if f.as_of else None,
            "behind": f.behind,
            "staleness_minutes": round(f.staleness(moment).total_seconds() / 60, 2),
            "budget_minutes": f.budget.total_seconds() / 60,
            "within_budget": not f.past_budget(moment),
        }
    return out


def state(root: Root) -> dict[str, object]:
    """What `/api/state` answers: the fingerprint and the versions behind it."""
    versions = table_versions(root)
    return {"fingerprint": fingerprint(versions), "tables": versions}
