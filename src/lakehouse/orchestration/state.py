"""What a run carries from step to step, and the summary it returns."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakehouse.engines.base import EntityResult
from lakehouse.orchestration.results import StepResults

if TYPE_CHECKING:
    from lakehouse.config.settings import Settings
    from lakehouse.contracts import Contract
    from lakehouse.engines.base import Engine
    from lakehouse.lineage.emitter import Emitter
    from lakehouse.store.lock import RunLock
    from lakehouse.store.root import Root

Progress = Callable[[str, int, int], None]  # (step, done, total)


@dataclass
class RunSummary:
    run_id: str
    status: str
    started_at: dt.datetime
    seconds: float
    files_loaded: list[str] = field(default_factory=list)
    files_rejected: dict[str, list[str]] = field(default_factory=dict)
    files_duplicate: list[str] = field(default_factory=list)
    entities: dict[str, EntityResult] = field(default_factory=dict)
    # entity -> its rows moved from silver back to quarantine: a parent changed under them
    requarantined: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds (all attempts)
    attempts: dict[str, int] = field(default_factory=dict)  # step -> attempts made

    @property
    def rows_in(self) -> int:
        return sum(e.rows_in for e in self.entities.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(e.quarantined for e in self.entities.values())


@dataclass
class RunState:
    """Shared by the steps of one run, grouped by who writes what:

    - the run's inputs, set by `pipeline.run` before the first step and only read after;
    - `summary`, the run's report: the runner times each step and sets the outcome, bronze
      the files, silver the entities;
    - `results`, each step's typed result, written by that step alone (`results.bronze`, ...);
    - `outputs`, each step's output dict (from `result.to_output()`), written by the runner;
    - the run's ledgers, appended by any step under `_lock`: `versions` and `metrics`;
    - what this class's own methods keep: `t0`, `scratch` and the engines.

    Entity steps may run in threads: each gets its own engine from `engine()`, and writes only
    its own entity's slots."""

    root: Root
    summary: RunSummary
    contracts: dict[str, Contract]
    settings: Settings
    engine_factory: Callable[[], Engine]
    trigger: str = "manual"
    engine_name: str = "local"
    only: Collection[str] | None = None  # relative paths to process (watch); None: all
    # files the delivery refused (`copy_sources`), never copied in: name -> why
    delivery_refused: Mapping[str, str] = field(default_factory=dict)
    refresh_all: bool = False  # gold: rebuild every budget model that is behind, now
    # gold: stop between budget models while this says other work waits (`watch`'s next drop)
    gold_gives_way: Callable[[], bool] | None = None
    progress: Progress | None = None
    lock: RunLock | None = None
    lineage: Emitter | None = None  # OpenLineage events of this run (None: not sent)
    results: StepResults = field(default_factory=StepResults)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Delta versions of every commit of this run ("bronze.orders" -> 7), for the lineage
    # events; kept over a step's attempts, so a retry that finds its commit done still names it
    versions: dict[str, int] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)  # rows of `_ops.metrics`
    t0: float = field(default_factory=time.perf_counter)
    scratch: str | None = None  # local folder of bronze's spills, removed when the run ends
    _engines: dict[int, Engine] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    @property
    def now(self) -> dt.datetime:
        return self.summary.started_at

    def engine(self) -> Engine:
        """This thread's engine (created on first use; all closed by `close_engines`)."""
        key = threading.get_ident()
        with self._lock:
            eng = self._engines.get(key)
            if eng is None:
                eng = self._engines[key] = self.engine_factory()
            return eng

    def close_engines(self) -> None:
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for eng in engines:
            eng.close()

    def scratch_file(self, name: str) -> str:
        """A path in this run's local scratch folder (created on first use)."""
        if self.scratch is None:
            self.scratch = tempfile.mkdtemp(prefix=f"lakehouse-{self.run_id}-")
        return os.path.join(self.scratch, name)

    def remove_scratch(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def tick(self, step: str, done: int, total: int) -> None:
        if self.progress is not None:
            with self._lock:
                self.progress(step, done, total)

    def metric(self, metric: str, subject: str, value: float, unit: str) -> None:
        with self._lock:
            self.metrics.append(
                {
                    "run_id": self.run_id,
                    "measured_at": self.now,
                    "metric": metric,
                    "subject": subject,
                    "value": float(value),
                    "unit": unit,
                }
            )

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0
