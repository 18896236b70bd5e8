"""What the served dashboard polls (`/api/state`): a cheap fingerprint of a root's tables
(their newest Delta versions) and each budget gold model's freshness, for live refresh.

Listing each table's `_delta_log` is enough: every commit (a run, a restore, a maintenance
job) adds a log file, so the fingerprint changes exactly when some table changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict

import pyarrow.fs as pafs

from lakehouse.store.root import Root
from lakehouse.store.zones import ZONES


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
    """Each gold model with a staleness budget, as `lakehouse status` shows it, by table."""
    from lakehouse.config import loader
    from lakehouse.monitoring.status import gold_statuses

    moment = now or dt.datetime.now(dt.UTC)
    statuses, _ = gold_statuses(root, loader.load(root).gold, moment)
    out: dict[str, dict[str, object]] = {}
    for g in statuses:
        fields = asdict(g)
        del fields["table"]
        fields["as_of"] = g.as_of.isoformat() if g.as_of else None
        out[g.table] = fields
    return out


def state(root: Root) -> dict[str, object]:
    """What `/api/state` answers: the fingerprint and the versions behind it."""
    versions = table_versions(root)
    return {"fingerprint": fingerprint(versions), "tables": versions}
