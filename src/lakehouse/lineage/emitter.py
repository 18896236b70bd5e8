"""The run's OpenLineage emitter: events are built and sent on a thread of their own.

The steps only hand over what their events say (`StepFacts`, copied from the run's state when
the step ends); importing the OpenLineage client (≈ 0.2 s), reading the column lineage
(`lakehouse.lineage.cache`; ≈ 0.3 s when it must be derived), serializing each event and waiting
for a collector happen on the emitter's thread, one call at a time and in the order the run made
them, while the run goes on. The run's end waits for the last event, so
a finished run has sent (or, failing, logged) everything. What the events hold:
`lakehouse.lineage.openlineage`.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakehouse.log import event

if TYPE_CHECKING:
    import datetime as dt

    from lakehouse.config.settings import LineageSettings
    from lakehouse.contracts import Contract
    from lakehouse.engines.base import EntityResult
    from lakehouse.gold.model import GoldModel
    from lakehouse.lineage.openlineage import EventWriter
    from lakehouse.orchestration.state import RunState
    from lakehouse.store.root import Root


def log_failure(run_id: str, transport: str, exc: BaseException, what: str = "events") -> None:
    event(
        "lineage_emit_failed",
        logging.WARNING,
        run_id=run_id,
        transport=transport,
        what=what,
        error=f"{type(exc).__name__}: {exc}",
        action="the run goes on without lineage events",
    )


@dataclass(frozen=True)
class StepFacts:
    """What one step's end event reports, copied from the run's state as the step ends."""

    step: str
    versions: Mapping[str, int]  # every version this run committed so far ("bronze.orders" -> 7)
    landed_rows: Mapping[str, int]  # rows per entity of the files bronze took
    entity: EntityResult | None  # a silver_<entity> step's counts
    gold_rows: Mapping[str, int]  # rows per gold table written

    @classmethod
    def of(cls, step: str, state: RunState) -> StepFacts:
        """Everything a step's event may report (which of it the event uses is the event
        writer's business: `EventWriter._step_datasets`)."""
        landed: dict[str, int] = {}
        for intake in state.results.bronze.fresh:
            if intake.entity:
                landed[intake.entity] = landed.get(intake.entity, 0) + intake.rows
        return cls(
            step,
            dict(state.versions),  # one C-level copy: safe while other steps append
            dict(sorted(landed.items())),
            copy.deepcopy(state.summary.entities.get(step.removeprefix("silver_"))),
            dict(state.results.gold.rows_written),
        )


class Emitter:
    """Hands one run's events to the emitter's thread. Every method returns at once (but
    `pipeline_end`, which waits for the events before it) and never raises."""

    def __init__(
        self,
        settings: LineageSettings,
        root: Root,
        run_id: str,
        started: dt.datetime,
        contracts: Mapping[str, Contract],
        models: Callable[[], Mapping[str, GoldModel]],
        engine: str,
    ) -> None:
        self._writer: EventWriter | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="lakehouse-lineage")

        def open_writer() -> None:
            try:
                from lakehouse.lineage.openlineage import EventWriter

                self._writer = EventWriter(
                    settings, root, run_id, started, contracts, models, engine
                )
            except Exception as exc:  # the client cannot be imported: no events this run
                log_failure(run_id, settings.transport, exc)

        self._thread.submit(open_writer)

    def pipeline_start(self) -> None:
        self._later(lambda writer: writer.pipeline_start())

    def step_start(self, step: str) -> None:
        self._later(lambda writer: writer.step_start(step))

    def step_end(self, step: str, state: RunState, error: str | None = None) -> None:
        try:
            facts = StepFacts.of(step, state)
        except Exception as exc:
            failure = exc  # `exc` is unbound once the except block ends
            self._later(lambda writer: writer.failed(failure))
            return
        self._later(lambda writer: writer.step_end(facts, error))

    def pipeline_end(self, status: str, error: str | None) -> None:
        self._later(lambda writer: writer.pipeline_end(status, error))
        self._thread.shutdown(wait=True)

    def _later(self, call: Callable[[EventWriter], None]) -> None:
        def send() -> None:
            if self._writer is not None:  # None: the client could not be built (logged)
                call(self._writer)

        self._thread.submit(send)
