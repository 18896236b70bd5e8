"""The pipeline's maintenance step: `lakehouse.maintenance.step:maintain`.

Runs after the run's data is committed and archived. It maintains the tables the policy says
are due (see `policy.py`) on the run's engine, with the run's id in every commit, records
`_ops.maintenance`, and fails the step (retryable when every failure is a commit conflict) if
any table failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakehouse.maintenance.policy import run_maintenance

if TYPE_CHECKING:
    from lakehouse.orchestration.state import RunState


def maintain(state: RunState) -> dict[str, Any]:
    report = run_maintenance(
        state.root,
        None,
        state.now,
        settings=state.settings.maintenance,
        run_id=state.run_id,
        contracts=state.contracts,
        engine=state.engine_name,  # the run's engine executes maintenance too
    )
    for t in report.maintained:
        state.metric("maintenance_seconds", t.table, t.seconds, "s")
        if t.vacuum is not None:
            state.metric("vacuum_bytes_removed", t.table, t.vacuum.bytes_removed, "bytes")
    report.raise_for_errors()
    return {
        "maintained": len(report.maintained),
        "not_due": len(report.not_due),
        "files_compacted": sum(t.optimize.files_removed for t in report.maintained if t.optimize),
        "files_vacuumed": sum(t.vacuum.files_removed for t in report.maintained if t.vacuum),
    }
