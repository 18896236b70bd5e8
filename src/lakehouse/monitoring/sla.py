"""Service-level objectives → findings (breached or not), one per rule and subject.

Rules: `freshness` (per silver table: time since a run last loaded a file of the entity, on
the run's clock, against `freshness_minutes`; a table never loaded counts from the first run),
`reject_rate` (per table: share of a run's new rows quarantined, against `max_reject_rate`),
`run_duration` (against `[sla] max_run_seconds`), `run_failed` (the last run failed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakehouse import ops

if TYPE_CHECKING:
    from lakehouse.config import Settings
    from lakehouse.contracts import Contract
    from lakehouse.orchestration.state import RunState
    from lakehouse.storage import Root


@dataclass(frozen=True)
class Finding:
    rule: str
    subject: str
    breached: bool
    value: float
    threshold: float
    message: str
    severity: str = "warning"


@dataclass(frozen=True)
class Freshness:
    table: str
    entity: str
    last_loaded: dt.datetime | None
    lag_seconds: float
    objective_seconds: float

    @property
    def breached(self) -> bool:
        return self.lag_seconds > self.objective_seconds


def freshness(
    root: Root,
    contracts: dict[str, Contract],
    settings: Settings,
    now: dt.datetime,
    loaded_now: set[str] | frozenset[str] = frozenset(),
) -> list[Freshness]:
    """Freshness of each silver table at `now`; entities in `loaded_now` were just loaded."""
    last = ops.last_loaded(root)
    since = ops.first_run_at(root) or now
    out = []
    for entity, contract in contracts.items():
        loaded = now if entity in loaded_now else last.get(entity)
        reference = loaded or since
        out.append(
            Freshness(
                f"silver.{entity}",
                entity,
                loaded,
                max(0.0, (now - reference).total_seconds()),
                settings.sla.freshness_minutes(entity, contract) * 60,
            )
        )
    return out


def freshness_findings(items: list[Freshness]) -> list[Finding]:
    out = []
    for f in items:
        when = f.last_loaded.isoformat() if f.last_loaded else "never"
        out.append(
            Finding(
                "freshness",
                f.table,
                f.breached,
                f.lag_seconds,
                f.objective_seconds,
                f"{f.table}: newest data loaded {f.lag_seconds / 60:.1f} min ago (last load: "
                f"{when}); objective {f.objective_seconds / 60:g} min — check that the shop "
                "still delivers files to landing/ and that runs succeed",
                "critical",
            )
        )
    return out


def run_findings(state: RunState) -> list[Finding]:
    """Everything a finished run's data is checked against (recorded as metrics too)."""
    from lakehouse.monitoring.metrics import reject_rate

    out: list[Finding] = []
    sla = state.settings.sla
    for entity, r in state.summary.entities.items():
        rate = reject_rate(r)
        if rate is None:
            continue
        limit = sla.max_reject_rate(entity, state.contracts.get(entity))
        top = ", ".join(f"{k} ({v})" for k, v in sorted(r.reasons.items(), key=lambda x: -x[1])[:3])
        out.append(
            Finding(
                "reject_rate",
                f"silver.{entity}",
                rate > limit,
                rate,
                limit,
                f"silver.{entity}: {rate:.1%} of {r.rows_in} new rows quarantined in run "
                f"{state.run_id} (limit {limit:.1%}); top reasons: {top or 'none'} — see "
                f"quarantine.{entity}",
            )
        )
    loaded = {i.entity for i in state.fresh if i.entity}
    items = freshness(state.root, state.contracts, state.settings, state.now, loaded)
    for f in items:
        state.metric("freshness_lag_s", f.table, f.lag_seconds, "s")
    out += freshness_findings(items)
    elapsed = state.elapsed()
    out.append(
        Finding(
            "run_duration",
            "pipeline",
            elapsed > sla.max_run_seconds,
            elapsed,
            sla.max_run_seconds,
            f"run {state.run_id} took {elapsed:.1f} s (objective {sla.max_run_seconds:g} s)",
        )
    )
    out.append(failure_finding(None))
    return out


def failure_finding(error: str | None) -> Finding:
    """Breached with the run's error; not breached (resolving the alert) after a success."""
    return Finding(
        "run_failed",
        "pipeline",
        error is not None,
        1.0 if error else 0.0,
        0.0,
        f"run failed: {error}" if error else "runs succeed again",
        "critical",
    )
