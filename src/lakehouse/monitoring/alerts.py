"""Findings → alerts in `_ops.alerts`, and which of them to notify.

One open alert per (rule, subject). A breach with no open alert opens one and notifies; a
breach that continues updates the open alert (`occurrences`, `last_seen_at`) and stays quiet,
unless `[notify] repeat_minutes` has passed since it was last notified; a check that passes
resolves the open alert (and notifies when `[notify] resolved = true`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from lakehouse.store import ops

if TYPE_CHECKING:
    from lakehouse.config.settings import Settings
    from lakehouse.monitoring.sla import Finding
    from lakehouse.store.root import Root

Change = Literal["opened", "repeat", "resolved"]


@dataclass(frozen=True)
class AlertChange:
    change: Change
    alert: dict[str, Any]  # the `_ops.alerts` row after the change


def plan(
    open_alerts: list[dict[str, Any]],
    settings: Settings,
    findings: list[Finding],
    now: dt.datetime,
    run_id: str,
) -> tuple[list[AlertChange], list[dict[str, Any]]]:
    """(changes to notify, rows to write) — pure, so the de-duplication rules are testable."""
    current = {(a["rule"], a["subject"]): a for a in open_alerts}
    changes: list[AlertChange] = []
    rows: list[dict[str, Any]] = []
    repeat = dt.timedelta(minutes=settings.notify.repeat_minutes)
    for f in findings:
        cur = current.get((f.rule, f.subject))
        common = {"value": f.value, "threshold": f.threshold, "run_id": run_id}
        if f.breached and cur is None:
            row = {
                "alert_id": f"{f.rule}:{f.subject}:{now:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}",
                "rule": f.rule,
                "subject": f.subject,
                "severity": f.severity,
                "status": "open",
                "message": f.message,
                "opened_at": now,
                "last_seen_at": now,
                "resolved_at": None,
                "occurrences": 1,
                "notified_at": now,
                **common,
            }
            changes.append(AlertChange("opened", row))
        elif f.breached and cur is not None:
            row = {
                **cur,
                **common,
                "message": f.message,
                "last_seen_at": now,
                "occurrences": int(cur["occurrences"] or 0) + 1,
            }
            last = cur["notified_at"] or cur["opened_at"]
            if settings.notify.repeat_minutes > 0 and now - last >= repeat:
                row["notified_at"] = now
                changes.append(AlertChange("repeat", row))
        elif cur is not None:
            row = {**cur, **common, "status": "resolved", "resolved_at": now, "last_seen_at": now}
            row["message"] = f"resolved: {f.message}"
            if settings.notify.resolved:
                row["notified_at"] = now
                changes.append(AlertChange("resolved", row))
        else:
            continue
        rows.append(row)
    return changes, rows


def apply(
    root: Root,
    settings: Settings,
    findings: list[Finding],
    now: dt.datetime,
    run_id: str,
) -> list[AlertChange]:
    """Reconcile findings with `_ops.alerts`, send what changed, record the alerts."""
    from lakehouse.monitoring.notifiers import build, dispatch

    changes, rows = plan(ops.read_alerts(root, open_only=True), settings, findings, now, run_id)
    if changes:
        dispatch(build(settings, root), changes, root)
    ops.upsert_alerts(root, rows, run_id)
    return changes
