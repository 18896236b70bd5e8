"""When tables need maintenance, and the maintenance step the pipeline runs.

A table is due when `commits_between` commits were made since its last maintenance, or when
`interval_hours` passed since then and it changed at all (a table never maintained counts from
its first commit). The step optimizes the partitions that need it, vacuums with the configured
retention, checkpoints and expires the log, then records one `_ops.maintenance` row per table.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lakehouse.contracts import Contract, load_contracts
from lakehouse.errors import LakehouseError, RetryableError, TerminalError
from lakehouse.maintenance.executor import Executor, executor_for
from lakehouse.maintenance.optimize import OptimizeResult
from lakehouse.maintenance.records import LastMaintenance, last_maintenance, record
from lakehouse.maintenance.settings import MaintenanceSettings
from lakehouse.maintenance.vacuum import VacuumResult
from lakehouse.store.delta import log_state, try_open
from lakehouse.store.root import Root
from lakehouse.store.tables import list_tables, split_name


@dataclass
class TableMaintenance:
    table: str
    reason: str
    optimize: OptimizeResult | None = None
    vacuum: VacuumResult | None = None
    error: str | None = None
    retryable: bool = False
    version_after: int | None = None
    seconds: float = 0.0


@dataclass
class MaintenanceReport:
    run_id: str
    now: dt.datetime
    maintained: list[TableMaintenance] = field(default_factory=list)
    not_due: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(t.error is None for t in self.maintained)

    @property
    def failed(self) -> list[TableMaintenance]:
        return [t for t in self.maintained if t.error is not None]

    def raise_for_errors(self) -> None:
        """Raise one error naming every failed table (retryable only if all of them are)."""
        if self.ok:
            return
        text = "; ".join(f"{t.table}: {t.error}" for t in self.failed)
        kind = RetryableError if all(t.retryable for t in self.failed) else TerminalError
        raise kind(f"maintenance run {self.run_id} failed for {len(self.failed)} table(s): {text}")


def new_run_id(now: dt.datetime) -> str:
    return f"maint-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def due_reason(
    root: Root,
    table: str,
    now: dt.datetime,
    *,
    settings: MaintenanceSettings | None = None,
    last: LastMaintenance | None = None,
    known: bool = False,
) -> str | None:
    """Why `zone.table` is due for maintenance at `now`, or None when it is not (or absent).

    `last` / `known` let a caller pass what it read from `_ops.maintenance` already.
    """
    settings = settings or MaintenanceSettings.load(root)
    now = _utc(now)
    zone, name = split_name(table)
    log = log_state(root, root.path(zone, name))  # one listing: every table, every run
    if log is None:
        return None
    version = log.version
    if not known:
        last = last_maintenance(root).get(table)
    if last is not None:
        since = version - last.version_after
        hours = (now - last.at).total_seconds() / 3600
        if since >= settings.commits_between:
            return f"{since} commits since the last maintenance"
        if since > 0 and hours >= settings.interval_hours:
            return f"{hours:.0f} h and {since} commit(s) since the last maintenance"
        return None
    if version + 1 >= settings.commits_between:
        return f"{version + 1} commits and never maintained"
    age = (now - log.oldest_at).total_seconds()  # fewer commits than the log keeps: the first
    if age / 3600 >= settings.interval_hours:
        return f"never maintained, first commit {age / 3600:.0f} h ago"
    return None


def maintenance_due(
    root: Root | str, table: str, now: dt.datetime, settings: MaintenanceSettings | None = None
) -> bool:
    """True when `zone.table` should be maintained at `now` (see the module docstring)."""
    return due_reason(_root(root), table, now, settings=settings) is not None


def run_maintenance(
    root: Root | str,
    tables: Sequence[str] | None = None,
    now: dt.datetime | None = None,
    *,
    settings: MaintenanceSettings | None = None,
    run_id: str | None = None,
    contracts_dir: str | None = None,
    contracts: Mapping[str, Contract] | None = None,
    only_due: bool = True,
    raise_on_error: bool = False,
    engine: str | Any | None = None,
) -> MaintenanceReport:
    """Maintain `tables` (default: every table) that are due at `now`; record the results.

    Z-order columns come from `contracts` (default: those in `contracts_dir`). `engine` (a
    name or an engine; default local) executes optimize and vacuum (`executor.py`).

    A failure on one table does not stop the others; it is recorded and reported
    (`report.failed`), and raised at the end when `raise_on_error`.
    """
    began = time.perf_counter()
    root = _root(root)
    now = _utc(now or dt.datetime.now(dt.UTC))
    settings = settings or MaintenanceSettings.load(root)
    run_id = run_id or new_run_id(now)
    report = MaintenanceReport(run_id, now)
    names = list(tables) if tables else list_tables(root)
    lasts = last_maintenance(root)
    if contracts is None:
        contracts = load_contracts(contracts_dir or os.environ.get("LAKEHOUSE_CONTRACTS") or None)
    run: Executor | None = None  # started for the first table due (a Spark session is not free)
    for name in names:
        reason: str | None = "requested"
        if only_due:
            reason = due_reason(
                root, name, now, settings=settings, last=lasts.get(name), known=True
            )
        if reason is None:
            report.not_due.append(name)
            continue
        run = run or executor_for(engine, root)
        report.maintained.append(
            _maintain(run, root, name, reason, run_id, settings, contracts.get(split_name(name)[1]))
        )
    record(root, [_row(t, run_id, now) for t in report.maintained], run_id)
    report.seconds = time.perf_counter() - began
    if raise_on_error:
        report.raise_for_errors()
    return report


def _maintain(
    run: Executor,
    root: Root,
    name: str,
    reason: str,
    run_id: str,
    settings: MaintenanceSettings,
    contract: Contract | None,
) -> TableMaintenance:
    began = time.perf_counter()
    out = TableMaintenance(name, reason)
    try:
        out.optimize = run.optimize(root, name, run_id=run_id, settings=settings, contract=contract)
        out.vacuum = run.vacuum(root, name, run_id=run_id, settings=settings)
        zone, table = split_name(name)
        opened = try_open(root, zone, table)
        out.version_after = int(opened.version()) if opened else None
    except Exception as exc:  # one table's failure is recorded, the others still run
        ours = isinstance(exc, LakehouseError)
        out.error = str(exc) if ours else f"{type(exc).__name__}: {exc}"
        out.retryable = ours and bool(getattr(exc, "retryable", False))
    out.seconds = time.perf_counter() - began
    return out


def _row(t: TableMaintenance, run_id: str, now: dt.datetime) -> dict[str, object]:
    o, v = t.optimize, t.vacuum
    return {
        "run_id": run_id,
        "table": t.table,
        "action": "maintain",
        "reason": t.reason,
        "status": "FAILED" if t.error else "SUCCEEDED",
        "error": t.error,
        "at": now,
        "version_after": t.version_after,
        "partitions_optimized": len(o.partitions) if o else None,
        "files_before": o.files_before if o else None,
        "files_after": o.files_after if o else None,
        "files_vacuumed": v.files_removed if v else None,
        "bytes_vacuumed": v.bytes_removed if v else None,
        "checkpoint_version": v.checkpoint_version if v else None,
        "seconds": t.seconds,
    }


def _utc(moment: dt.datetime) -> dt.datetime:
    """Naive times are taken as UTC, like everywhere else in the lakehouse."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _root(root: Root | str) -> Root:
    return root if isinstance(root, Root) else Root(root)
