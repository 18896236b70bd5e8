"""Monitoring: run metrics (`_ops.metrics`), SLA checks, alerts (`_ops.alerts`), notifiers,
and the status report behind `lakehouse status`.

Modules, one job each: `metrics` (what a run measured), `sla` (objectives → findings),
`alerts` (findings → open/resolved alerts, de-duplicated), `notifiers` (console, JSON-lines
file, webhook, SNS), `status` (the health report).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakehouse.config.settings import Settings
    from lakehouse.contracts import Contract
    from lakehouse.monitoring.alerts import AlertChange
    from lakehouse.store.root import Root


def check(
    root: Root,
    settings: Settings,
    contracts: dict[str, Contract],
    now: dt.datetime | None = None,
) -> list[AlertChange]:
    """Evaluate freshness now (no run needed) and open/resolve alerts; call holding the lock."""
    from lakehouse.monitoring import alerts, sla

    moment = now or dt.datetime.now(dt.UTC)
    findings = sla.freshness_findings(sla.freshness(root, contracts, settings, moment))
    return alerts.apply(root, settings, findings, moment, f"check-{moment:%Y%m%dT%H%M%SZ}")
