"""What a run carries from step to step, and the summary it returns."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakehouse.engines.base import EntityResult

if TYPE_CHECKING:
    import pyarrow as pa

    from lakehouse.config import Settings
    from lakehouse.contracts import Contract
    from lakehouse.engines.base import Engine
    from lakehouse.ingest.intake import Intake
    from lakehouse.lineage.openlineage import Emitter
    from lakehouse.monitoring.sla import Finding
    from lakehouse.store import ops
    from lakehouse.store.lock import RunLock
    from lakehouse.store.root import LandedFile, Root

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
    """Shared by the steps of one run. Entity steps may run in threads: each gets its own
    engine from `engine()`, and writes only its own entity's slots."""

    root: Root
    summary: RunSummary
    contracts: dict[str, Contract]
    settings: Settings
    engine_factory: Callable[[], Engine]
    trigger: str = "manual"
    engine_name: str = "local"
    only: Collection[str] | None = None  # relative paths to process (watch); None: all
    refresh_all: bool = False  # gold: rebuild every budget model that is behind, now
    progress: Progress | None = None
    lock: RunLock | None = None
    t0: float = field(default_factory=time.perf_counter)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # discover / bronze
    landed: list[LandedFile] = field(default_factory=list)
    known: dict[str, ops.KnownFile] = field(default_factory=dict)
    # files not read at all, name -> (why, their path in landing/ or None if never copied in)
    refused: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    fresh: list[Intake] = field(default_factory=list)
    records: list[ops.FileRecord] = field(default_factory=list)
    moves: list[tuple[str, str, str | None]] = field(default_factory=list)
    seqs: dict[str, int] = field(default_factory=dict)
    rows: dict[str, pa.Table] = field(default_factory=dict)  # entity -> bronze rows of this run
    # a run too big for memory: entity -> [(scratch Parquet file of one chunk's rows, its files)]
    spills: dict[str, list[tuple[str, list[Intake]]]] = field(default_factory=dict)
    scratch: str | None = None  # local folder of those files, removed when the run ends
    bytes_in: dict[str, int] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)  # entity -> max landing->silver s
    # Delta versions this run wrote ("bronze.orders" -> 7), for the lineage events
    versions: dict[str, int] = field(default_factory=dict)
    rows_written: dict[str, int] = field(default_factory=dict)  # gold: rows of each write
    lineage: Emitter | None = None  # OpenLineage events of this run (None: not sent)
    # quality / notify
    findings: list[Finding] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
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
