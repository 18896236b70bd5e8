"""Optimize or vacuum named tables on request (the `lakehouse optimize` / `vacuum` commands)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import Any

from lakehouse.contracts import load_contracts
from lakehouse.maintenance.executor import executor_for
from lakehouse.maintenance.optimize import OptimizeResult
from lakehouse.maintenance.policy import new_run_id
from lakehouse.maintenance.records import record
from lakehouse.maintenance.settings import MaintenanceSettings
from lakehouse.maintenance.vacuum import VacuumResult
from lakehouse.store.delta import open_table
from lakehouse.store.root import Root
from lakehouse.store.tables import list_tables, split_name


def optimize_tables(
    root: Root,
    tables: Sequence[str] = (),
    *,
    zorder: Sequence[str] | None = None,
    everything: bool = False,
    settings: MaintenanceSettings | None = None,
    contracts_dir: str | None = None,
    run_id: str | None = None,
    engine: str | Any | None = None,
) -> list[OptimizeResult]:
    """Optimize `tables` (default: all); Z-order by `zorder` or each contract's `zorder`.

    `engine` (a name or an engine; default local) executes the plan (`executor.py`)."""
    settings = settings or MaintenanceSettings.load(root)
    now = dt.datetime.now(dt.UTC)
    run_id = run_id or new_run_id(now)
    contracts = load_contracts(contracts_dir or os.environ.get("LAKEHOUSE_CONTRACTS") or None)
    names = _names(root, tables)
    run = executor_for(engine, root)
    results = []
    for name in names:
        results.append(
            run.optimize(
                root,
                name,
                run_id=run_id,
                settings=settings,
                contract=contracts.get(split_name(name)[1]),
                zorder=zorder,
                everything=everything,
            )
        )
    record(
        root,
        [
            {
                "run_id": run_id,
                "table": r.table,
                "action": "optimize",
                "reason": "manual",
                "status": "SUCCEEDED",
                "at": now,
                "version_after": r.versions[-1],
                "partitions_optimized": len(r.partitions),
                "files_before": r.files_before,
                "files_after": r.files_after,
                "seconds": r.seconds,
            }
            for r in results
            if not r.skipped
        ],
        run_id,
    )
    return results


def vacuum_tables(
    root: Root,
    tables: Sequence[str] = (),
    *,
    retention_hours: int | None = None,
    force: bool = False,
    dry_run: bool = False,
    full: bool = False,
    settings: MaintenanceSettings | None = None,
    run_id: str | None = None,
    engine: str | Any | None = None,
) -> list[VacuumResult]:
    """Vacuum `tables` (default: all); refused below the time-travel promise unless `force`.

    `engine` (a name or an engine; default local) executes the vacuum (`executor.py`)."""
    settings = settings or MaintenanceSettings.load(root)
    settings.check_retention(
        settings.retention_hours if retention_hours is None else retention_hours, force=force
    )
    now = dt.datetime.now(dt.UTC)
    run_id = run_id or new_run_id(now)
    names = _names(root, tables)
    run = executor_for(engine, root)
    results = [
        run.vacuum(
            root,
            name,
            run_id=run_id,
            settings=settings,
            retention_hours=retention_hours,
            force=force,
            dry_run=dry_run,
            full=full,
        )
        for name in names
    ]
    if not dry_run:
        record(
            root,
            [
                {
                    "run_id": run_id,
                    "table": r.table,
                    "action": "vacuum",
                    "reason": "manual",
                    "status": "SUCCEEDED",
                    "at": now,
                    "version_after": _version(root, r.table),
                    "files_vacuumed": r.files_removed,
                    "bytes_vacuumed": r.bytes_removed,
                    "checkpoint_version": r.checkpoint_version,
                    "seconds": r.seconds,
                }
                for r in results
            ],
            run_id,
        )
    return results


def _names(root: Root, tables: Sequence[str]) -> list[str]:
    if not tables:
        return list_tables(root)
    for name in tables:
        zone, table = split_name(name)
        open_table(root, zone, table)  # raises TableNotFound with the fix
    return list(tables)


def _version(root: Root, name: str) -> int:
    zone, table = split_name(name)
    return int(open_table(root, zone, table).version())
