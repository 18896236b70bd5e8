"""Service-level objectives → findings (breached or not), one per rule and subject.

Rules: `freshness` (per silver table: time since a run last loaded a file of the entity, on
the run's clock, against `freshness_minutes`; a table never loaded counts from the first run),
`reject_rate` (per table: share of a run's new rows quarantined, against `max_reject_rate`),
`run_duration` (against `[sla] max_run_seconds`), `run_failed` (the last run failed),
`run_abandoned` (a run recorded RUNNING that no live lock holder runs: killed, or its FAILED
record could not be written), `run_stalled` (its holder's process on this host is alive but
stopped refreshing the lock), `run_stuck` (RUNNING longer than `max_run_seconds`),
`gold_staleness` (per gold model with a staleness budget: behind silver for longer than its
budget, `lakehouse.gold.freshness`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse.store import ops

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from lakehouse.config.settings import Settings
    from lakehouse.contracts import Contract
    from lakehouse.gold.freshness import ModelFreshness
    from lakehouse.orchestration.state import RunState
    from lakehouse.store.lock_file import Holder
    from lakehouse.store.root import Root


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


def gold_staleness(states: Iterable[ModelFreshness], now: dt.datetime) -> list[Finding]:
    """One finding per gold model with a staleness budget: breached once it has been behind
    silver for longer than its budget (no run or `watch` refreshed it in time)."""
    out = []
    for f in states:
        if f.budget is None:
            continue
        lag = f.staleness(now)
        as_of = f.as_of.isoformat() if f.as_of else "never built"
        out.append(
            Finding(
                "gold_staleness",
                f"gold.{f.model}",
                f.past_budget(now),
                lag.total_seconds(),
                f.budget.total_seconds(),
                f"gold.{f.model}: {lag.total_seconds() / 60:.1f} min behind silver (as of "
                f"{as_of}); budget {f.budget.total_seconds() / 60:g} min — run `lakehouse run` "
                "(or keep `lakehouse watch` running) to refresh it",
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
    loaded = {i.entity for i in state.results.bronze.fresh if i.entity}
    items = freshness(state.root, state.contracts, state.settings, state.now, loaded)
    for f in items:
        state.metric("freshness_lag_s", f.table, f.lag_seconds, "s")
    out += freshness_findings(items)
    from lakehouse.gold.freshness import freshness as gold_freshness

    states = gold_freshness(state.root, state.settings.gold).values()
    # the models this run's gold left for a waiting drop are taken up by the next refresh: no
    # finding for them here, neither a breach nor the end of one
    gave_way = {f"gold.{m}" for m in state.results.gold.gave_way}
    out += [f for f in gold_staleness(states, state.now) if f.subject not in gave_way]
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


def stuck_run_findings(
    runs: list[dict[str, Any]],
    live: list[Holder],
    max_run_seconds: float,
    now: dt.datetime,
    stalled: Mapping[Holder, str] | None = None,
) -> list[Finding]:
    """A breached `run_abandoned` finding per run recorded RUNNING that is not running, a
    `run_stalled` one per run whose holder's process still lives on this host though its lease
    ran out (`stalled`: holder -> how, `RunLock.stalled_here`), and a `run_stuck` one per run
    running longer than `max_run_seconds` (a hung holder may keep its heartbeat). One writer
    per root: only a lock holder's run can be running — the run it names, or, when it names
    none (a local lock), the newest RUNNING run. `live`: the live holders seen reading the
    lock just before and just after `runs` were read, so a run that starts or ends meanwhile
    is not taken for an abandoned one."""
    stalled = stalled or {}
    running = sorted(
        (r for r in runs if r["status"] == "RUNNING"), key=lambda r: r["started_at"], reverse=True
    )
    out = []
    for i, r in enumerate(running):
        seconds = max(0.0, (now - r["started_at"]).total_seconds())

        def runs_it(h: Holder, run_id: str = r["run_id"], newest: bool = i == 0) -> bool:
            return run_id == h.run_id or (not h.run_id and newest)

        holder = next((h for h in live if runs_it(h)), None)
        paused = next((h for h in stalled if runs_it(h)), None)
        if holder is None and paused is not None:
            how = stalled[paused]
            message = (
                f"run {r['run_id']} is recorded RUNNING and its process ({paused.describe()}) "
                f"is alive but {how}: it has not refreshed the lock for {paused.age():.0f} s. "
                f"Resume it (kill -CONT {paused.pid}) or stop it; a next run takes the lock "
                "over, and the paused run then commits nothing more"
            )
            out.append(Finding("run_stalled", r["run_id"], True, seconds, 0, message, "critical"))
        elif holder is None:
            why = f"the lock is held by {live[0].describe()}" if live else "nobody holds the lock"
            message = (
                f"run {r['run_id']} is recorded RUNNING but no live process runs it ({why}): "
                "it was killed or could not record its failure (e.g. a full disk) — treat it "
                "as FAILED; the next run marks it so and converges"
            )
            out.append(Finding("run_abandoned", r["run_id"], True, seconds, 0, message, "critical"))
        elif seconds > max_run_seconds:
            message = (
                f"run {r['run_id']} has been RUNNING for {seconds:.0f} s (objective "
                f"{max_run_seconds:g} s) under {holder.describe()}: check that process"
            )
            out.append(
                Finding(
                    "run_stuck", r["run_id"], True, seconds, max_run_seconds, message, "critical"
                )
            )
    return out
