"""The health report behind `lakehouse status`: runs, freshness vs SLA, reject rates, alerts."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc

from lakehouse.gold.freshness import ModelFreshness, freshness
from lakehouse.monitoring import sla
from lakehouse.store import ops
from lakehouse.store.lock import RunLock

if TYPE_CHECKING:
    from lakehouse.config.settings import GoldSettings, Settings
    from lakehouse.contracts import Contract
    from lakehouse.store.root import Root


@dataclass(frozen=True)
class TableStatus:
    table: str
    last_loaded: dt.datetime | None
    lag_minutes: float
    freshness_objective_minutes: float
    fresh: bool
    reject_rate: float | None  # the last run that read rows of this table
    max_reject_rate: float
    reject_ok: bool


@dataclass(frozen=True)
class GoldStatus:
    """A gold model with a staleness budget: how far behind silver it is."""

    table: str
    as_of: dt.datetime | None  # the silver it holds is as of this build
    behind: bool
    staleness_minutes: float
    budget_minutes: float
    within_budget: bool

    @property
    def state(self) -> str:
        """current | behind | past budget, as status, the dashboard and its script say it."""
        return "past budget" if not self.within_budget else "behind" if self.behind else "current"

    @classmethod
    def of(cls, model: ModelFreshness, now: dt.datetime) -> GoldStatus:
        assert model.budget is not None  # only budget models have a status
        return cls(
            f"gold.{model.model}",
            model.as_of,
            model.behind,
            round(model.staleness(now).total_seconds() / 60, 2),
            model.budget.total_seconds() / 60,
            not model.past_budget(now),
        )


def gold_statuses(
    root: Root, settings: GoldSettings, now: dt.datetime
) -> tuple[list[GoldStatus], list[ModelFreshness]]:
    """Each budget model's status at `now`, and the freshness it was derived from."""
    states = [f for f in freshness(root, settings).values() if f.budget is not None]
    return [GoldStatus.of(f, now) for f in states], states


@dataclass(frozen=True)
class StatusReport:
    root: str
    at: dt.datetime
    runs: list[dict[str, Any]]
    tables: list[TableStatus]
    alerts: list[dict[str, Any]]
    breaches: list[str] = field(default_factory=list)
    gold: list[GoldStatus] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaches

    def as_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "at": self.at,
            "ok": self.ok,
            "breaches": self.breaches,
            "runs": self.runs,
            "tables": [asdict(t) for t in self.tables],
            "gold": [asdict(g) for g in self.gold],
            "alerts": self.alerts,
        }


def report(
    root: Root,
    settings: Settings,
    contracts: dict[str, Contract],
    *,
    now: dt.datetime | None = None,
    limit: int = 10,
) -> StatusReport:
    """Freshness is computed at `now` (default: the wall clock), so the report is a health
    check even when no run has happened for a while; breaches are stale tables, reject rates
    over their limit in the latest run, open alerts, and runs recorded RUNNING that no live
    lock holder runs (shown ABANDONED), whose holder's process is alive here but stopped
    refreshing the lock (STALLED), or that run past `max_run_seconds`."""
    moment = now or dt.datetime.now(dt.UTC)
    lock = RunLock.configured(root, settings.lock)
    before = lock.holder()
    runs = [
        {k: r[k] for k in ("run_id", "trigger", "status", "started_at", "duration_s", "error")}
        for r in ops.recent_runs(root, limit)
    ]
    holders = [h for h in (before, lock.holder()) if h is not None]
    live = [h for h in holders if not lock.is_stale(h)]
    stalled = {h: how for h in holders if (how := lock.stalled_here(h)) is not None}
    stuck = sla.stuck_run_findings(runs, live, settings.sla.max_run_seconds, moment, stalled)
    for finding in stuck:  # a run that is not running is shown as what it is
        run = next(r for r in runs if r["run_id"] == finding.subject)
        shown = {"run_abandoned": "ABANDONED", "run_stalled": "STALLED"}.get(finding.rule)
        if shown:
            run.update(status=shown, error=run["error"] or finding.message)
    rates = _last_reject_rates(root)
    tables = []
    breaches = [finding.message for finding in stuck]
    if not runs:  # an empty folder is no healthy lakehouse: its tables were never loaded
        breaches.append(
            f"no run has loaded data under {root.uri} yet: is this the lakehouse's root? "
            "(`lakehouse run --root ... --source FILES` loads it)"
        )
    for f in sla.freshness(root, contracts, settings, moment):
        rate = rates.get(f.table)
        limit_rate = settings.sla.max_reject_rate(f.entity, contracts.get(f.entity))
        t = TableStatus(
            f.table,
            f.last_loaded,
            round(f.lag_seconds / 60, 2),
            f.objective_seconds / 60,
            not f.breached,
            rate,
            limit_rate,
            rate is None or rate <= limit_rate,
        )
        tables.append(t)
        if not t.fresh:
            breaches.append(
                f"{t.table} is stale: {t.lag_minutes:g} min since data last arrived "
                f"(objective {t.freshness_objective_minutes:g} min)"
            )
        if not t.reject_ok:
            breaches.append(f"{t.table} rejected {rate:.1%} of rows (limit {limit_rate:.1%})")
    gold, states = gold_statuses(root, settings.gold, moment)
    breaches += [f.message for f in sla.gold_staleness(states, moment) if f.breached]
    open_alerts = sorted(
        ops.read_alerts(root, open_only=True), key=lambda a: a["opened_at"], reverse=True
    )
    for a in open_alerts:  # freshness, reject rates and gold staleness are judged live above
        if a["rule"] not in ("freshness", "reject_rate", "gold_staleness"):
            breaches.append(f"open alert {a['rule']} {a['subject']}: {a['message']}")
    alerts = [
        {k: a[k] for k in ("alert_id", "rule", "subject", "severity", "opened_at", "occurrences")}
        | {"message": a["message"]}
        for a in open_alerts
    ]
    return StatusReport(root.uri, moment, runs, tables, alerts, breaches, gold)


def _last_reject_rates(root: Root) -> dict[str, float]:
    t = ops.read_metrics(root)
    t = t.filter(pc.equal(t["metric"], "reject_rate"))
    latest: dict[str, tuple[dt.datetime, float]] = {}
    for r in t.select(["measured_at", "subject", "value"]).to_pylist():
        if r["subject"] not in latest or r["measured_at"] >= latest[r["subject"]][0]:
            latest[r["subject"]] = (r["measured_at"], r["value"])
    return {k: v for k, (_, v) in latest.items()}
