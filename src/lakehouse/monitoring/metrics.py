"""What a run measured, as rows of `_ops.metrics` (metric, subject, value, unit)."""

from __future__ import annotations

from lakehouse.engines.base import EntityResult
from lakehouse.orchestration.state import RunState


def reject_rate(r: EntityResult) -> float | None:
    """Share of this run's *new* rows quarantined (rows still waiting for a parent and
    re-checked are not new); None when the run read no rows of the entity."""
    if r.rows_in == 0:
        return None
    still_waiting = r.rows_rechecked - r.released
    return max(0, r.quarantined - still_waiting) / r.rows_in


def collect_run(state: RunState) -> None:
    """Per-entity counts, bytes, reject rate and landing-to-silver latency of this run."""
    s = state.summary
    for entity, r in s.entities.items():
        table = f"silver.{entity}"
        for metric, value in (
            ("rows_in", r.rows_in),
            ("rows_valid", r.valid),
            ("rows_quarantined", r.quarantined),
            ("rows_released", r.released),
            ("rows_superseded", r.superseded),
            ("rows_inserted", r.inserted),
            ("rows_updated", r.updated),
        ):
            state.metric(metric, table, value, "rows")
        rate = reject_rate(r)
        if rate is not None:
            state.metric("reject_rate", table, rate, "ratio")
        state.metric("bytes_in", table, state.results.bronze.bytes_in.get(entity, 0), "bytes")
        latency = state.results.silver[entity].latency
        if latency is not None:
            state.metric("latency_s", table, latency, "s")
    for entity, moved in s.requarantined.items():
        state.metric("rows_requarantined", f"silver.{entity}", moved, "rows")
    state.metric("files_loaded", "pipeline", len(s.files_loaded), "files")
    state.metric("files_rejected", "pipeline", len(s.files_rejected), "files")
    state.metric("files_duplicate", "pipeline", len(s.files_duplicate), "files")


def collect_steps(state: RunState) -> None:
    """Duration and attempts per step, and the whole run (called when the run ends)."""
    for step, seconds in state.summary.steps.items():
        state.metric("step_seconds", step, seconds, "s")
        state.metric("step_attempts", step, state.summary.attempts.get(step, 1), "attempts")
    state.metric("run_seconds", "pipeline", state.summary.seconds, "s")
