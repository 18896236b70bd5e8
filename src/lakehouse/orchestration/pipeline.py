"""One run: take the root's lock, execute the pipeline definition, record the outcome.

The steps and their order are declared once in `lakehouse.orchestration.definition` (the
same graph is exported for Step Functions); `orchestration.runner` executes it here. Each
table is written in one Delta commit per run; every write is idempotent, so a run killed at
any point is converged by the next run. Files leave landing only after everything they fed
committed. Runs on one root are serialised by `lakehouse.store.lock.RunLock`; a run left RUNNING by
a killed process is marked FAILED ('abandoned') by the next run to take the lock.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.config.settings import Settings
from lakehouse.contracts import Contract
from lakehouse.errors import LakehouseError, TerminalError
from lakehouse.log import event
from lakehouse.orchestration.definition import PipelineDefinition
from lakehouse.orchestration.runner import Sleep
from lakehouse.orchestration.state import Progress, RunState, RunSummary
from lakehouse.store import ops
from lakehouse.store.deliveries import is_delivery, is_inside, link_refusal
from lakehouse.store.fencing import LockLost
from lakehouse.store.lock import RunLock
from lakehouse.store.root import Root

if TYPE_CHECKING:
    from lakehouse.gold.freshness import GoldRefresh
    from lakehouse.lineage.emitter import Emitter

__all__ = [
    "Delivery",
    "Progress",
    "RunSummary",
    "check_run_id",
    "copy_sources",
    "new_run_id",
    "run",
]

#: A run id given from outside (a Step Functions execution name: 1-80 of these characters). It
#: lands in paths (archive/<date>/<run id>/), SQL literals and commit metadata: nothing else.
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


def new_run_id(now: dt.datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def check_run_id(run_id: str) -> str:
    """`run_id` if it is safe to use as a run id; TerminalError naming the rule otherwise."""
    if not RUN_ID.fullmatch(run_id):
        raise TerminalError(
            f"run id {run_id[:100]!r}: use 1-80 characters of A-Z, a-z, 0-9, '_' and '-' "
            "(a Step Functions execution name)"
        )
    return run_id


@dataclass
class Delivery:
    """What `copy_sources` did. `landed`: the names given in landing/ (the producer's, or its
    next version, `products~2.csv`, while an earlier `products.csv` is still there);
    `refused`: source files not copied, with why (recorded by the run as rejected files)."""

    landed: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def copy_sources(root: Root, sources: Iterable[Path]) -> Delivery:
    """Drop the given files (or folders' files) into landing/, keeping relative names.

    Nothing in landing/ is replaced (`Root.copy_in`). In a folder, hidden names ('.', '_')
    are skipped; partial copies (`*.part`, ...) and symbolic links leading outside the folder
    are refused without being read; links to folders are not followed. A name that is not
    UTF-8 is delivered with its odd bytes written as `\\xNN`.
    """
    delivery = Delivery()
    base = root.path("landing")
    for src in sources:
        src = Path(src)
        if not src.exists():
            raise LakehouseError(f"--source {src}: no such file or folder")
        if src.is_dir():
            files = _folder_files(src, delivery.refused)
        elif is_delivery(src.name):  # a file named on purpose: taken even through a link
            files = [(src, src.name)]
        else:
            delivery.refused[_utf8(src.name)] = "a hidden or partial copy's name: rename it"
            files = []
        for f, rel in files:
            landed = root.copy_in(f, root.path("landing", _utf8(rel)))
            delivery.landed.append(landed[len(base) :].lstrip("/"))
    for name, why in delivery.refused.items():
        event("source_refused", file=name, reason=why)
    return delivery


def _folder_files(folder: Path, refused: dict[str, str]) -> list[tuple[Path, str]]:
    """(file, name in landing/) of a source folder's deliveries, in name order; what is
    refused goes to `refused` (the same names, as the user will look for them)."""
    top = os.path.realpath(folder)
    prefix = folder.name or Path(top).name
    found = []
    for here, dirs, names in os.walk(folder):
        rel_here = Path(here).relative_to(folder)
        for d in list(dirs):
            path = os.path.join(here, d)
            if d.startswith((".", "_")):
                dirs.remove(d)
            elif os.path.islink(path) and not is_inside(path, top):
                refused[_utf8(f"{prefix}/{(rel_here / d).as_posix()}/")] = (
                    "symlinked folder leading outside the source folder: not read"
                )
        for n in names:
            path = os.path.join(here, n)
            rel = f"{prefix}/{(rel_here / n).as_posix()}"
            if n.startswith((".", "_")):
                continue
            why = link_refusal(path, top, "the source folder")
            if why is None and not os.path.isfile(path):
                why = "not a regular file: not read"
            if why is not None:
                refused[_utf8(rel)] = why
            elif not is_delivery(rel):
                refused[_utf8(rel)] = "a partial copy by its name: rename it once complete"
            else:
                found.append((Path(path), rel))
    return sorted(found, key=lambda x: x[1])


def _utf8(name: str) -> str:
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def run(
    root: Root,
    *,
    engine_name: str = "local",
    trigger: str = "manual",
    contracts_dir: str | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    files: Collection[str] | None = None,
    settings: Settings | None = None,
    definition: PipelineDefinition | None = None,
    sleep: Sleep = time.sleep,
    lock: RunLock | None = None,
    refused: Mapping[str, str] | None = None,
    run_id: str | None = None,
    refresh: GoldRefresh = "due",
    gold_gives_way: Callable[[], bool] | None = None,
) -> RunSummary:
    """Process every file in landing/ (or only `files`, relative to landing/).

    Waits for the root's lock (`[lock] wait_seconds`). Raises after recording a FAILED run
    (and notifying) if anything fails. `now` fixes the run's clock (tests); `definition`
    replaces the pipeline (tests inject failing steps); `sleep` is used between retries;
    `lock` is one the caller already holds (and releases); `refused`: files a delivery
    refused (`copy_sources`), recorded by this run as rejected; `run_id`: the run's id, given by
    the caller (a Step Functions execution name; default a new one), checked by `check_run_id`.
    `refresh`: "due" refreshes the budget gold models whose staleness budget is spent, "all"
    every one that is behind (`lakehouse.gold.freshness`). `gold_gives_way`: asked between
    budget gold models; when it says other work waits, the rest stay behind for the next
    refresh (`lakehouse.gold.refresh.GiveWay`; `watch` asks whether another drop has landed).
    A run id already in `_ops.runs` (a retried attempt) names this attempt too: its row is
    replaced, and the Delta history keeps every attempt's commits under that id.
    """
    from lakehouse.config import loader
    from lakehouse.contracts import load_contracts
    from lakehouse.engines import create_engine
    from lakehouse.orchestration.definition import pipeline_definition
    from lakehouse.orchestration.runner import execute

    if run_id is not None:
        check_run_id(run_id)
    if engine_name == "local" and (files if files is not None else root.list_files("landing")):
        # the reader server's interpreter imports the readers (about a second) while this one
        # loads settings, takes the lock and records the run
        from lakehouse.ingest.sandbox import start_reader_server

        start_reader_server()
    contracts = load_contracts(contracts_dir)
    settings = settings or loader.load(root, entities=contracts)
    definition = definition or pipeline_definition(contracts)
    own_lock = lock is None
    if lock is None:
        lock = RunLock.configured(root, settings.lock).acquire()
    try:
        started = now or dt.datetime.now(dt.UTC)
        summary = RunSummary(run_id or new_run_id(started), "RUNNING", started, 0.0)
        lock.run_id = summary.run_id
        if lock.took_over is not None:
            _fence_takeover(root, contracts, summary.run_id)
        _abandon_leftovers(root, lock, summary.run_id)
        ops.record_run(
            root,
            {
                "run_id": summary.run_id,
                "trigger": trigger,
                "engine": engine_name,
                "status": "RUNNING",
                "started_at": started,
            },
        )
        state = RunState(
            root=root,
            summary=summary,
            contracts=contracts,
            settings=settings,
            engine_factory=lambda: create_engine(engine_name, root, contracts_dir),
            trigger=trigger,
            engine_name=engine_name,
            only=files,
            progress=progress,
            lock=lock,
            delivery_refused=refused or {},
            refresh_all=refresh == "all",
            gold_gives_way=gold_gives_way,
        )
        state.lineage = _lineage_emitter(state)
        if state.lineage is not None:
            state.lineage.pipeline_start()
        try:
            execute(definition, state, sleep)
            summary.status = "SUCCEEDED"
        except LockLost:
            raise
        except Exception as exc:
            _explain_by_lost_lock(lock, exc)
            raise
        finally:
            state.close_engines()
            state.remove_scratch()
            order = [e for e in contracts if e in summary.entities]
            summary.entities = {e: summary.entities[e] for e in order}
            summary.seconds = state.elapsed()
            _finish(state, failing=summary.status != "SUCCEEDED")
            if state.lineage is not None:
                state.lineage.pipeline_end(summary.status, summary.error)
    finally:
        if own_lock:
            lock.release()
    return summary


def _lineage_emitter(state: RunState) -> Emitter | None:
    """The run's OpenLineage emitter (`[lineage]`), or None when lineage is off."""
    if state.settings.lineage.transport == "off":
        return None
    from lakehouse.gold.model import all_models
    from lakehouse.lineage.emitter import Emitter

    return Emitter(
        state.settings.lineage,
        state.root,
        state.run_id,
        state.now,
        state.contracts,
        all_models,
        state.engine_name,
    )


def _explain_by_lost_lock(lock: RunLock, failure: Exception) -> None:
    """A step refused by the fence fails with the storage's words (a commit conflict, a table
    that already exists); when this run lost its lock, that loss is the error to report."""
    try:
        lock.check()
    except LockLost as lost:
        raise lost from failure


def _fence_takeover(root: Root, contracts: dict[str, Contract], run_id: str) -> None:
    """Before anything else commits: stamp this holder's epoch into every table, so the run it
    took over cannot commit if it resumes (`lakehouse.store.fencing`); then repair any duplicate key
    a writer from before fencing could have left in silver."""
    from lakehouse.orchestration.repair import repair_all
    from lakehouse.store.fencing import stamp_tables

    stamp_tables(root, run_id)
    repair_all(root, contracts, run_id)


def _abandon_leftovers(root: Root, lock: RunLock, run_id: str) -> None:
    """Holding the lock, no other run can be live: a RUNNING row is a killed run's."""
    prev = lock.took_over
    who = prev.describe() if prev else "a process that is gone"
    ids = ops.mark_abandoned(
        root,
        f"abandoned: {who} stopped without finishing; run {run_id} took the lock over",
        dt.datetime.now(dt.UTC),
    )
    if ids:
        event("runs_abandoned", run_ids=ids, took_over=prev is not None)


def _finish(state: RunState, *, failing: bool) -> None:
    """Write the run's metrics and its final row in `_ops.runs` (errors only logged if the run
    is already failing, so they cannot hide the original error)."""
    from lakehouse.monitoring.metrics import collect_steps

    s = state.summary
    try:
        collect_steps(state)
        ops.record_metrics(state.root, state.metrics, s.run_id)
        ops.record_run(state.root, _run_row(state))
    except Exception as exc:
        if not failing:
            raise
        event("run_record_failed", run_id=s.run_id, error=repr(exc))


def _run_row(state: RunState) -> dict[str, object]:
    s = state.summary
    details: dict[str, object] = {
        name: {
            k: (sorted(map(str, v)) if isinstance(v, set) else v)
            for k, v in e.__dict__.items()
            if not k.startswith("touched")
        }
        for name, e in s.entities.items()
    }
    details["_files"] = {"rejected": s.files_rejected, "duplicate": s.files_duplicate}
    if s.requarantined:
        details["_requarantined"] = s.requarantined
    details["_steps"] = {
        k: {"seconds": round(v, 4), "attempts": s.attempts.get(k, 1)} for k, v in s.steps.items()
    }
    return {
        "run_id": s.run_id,
        "trigger": state.trigger,
        "engine": state.engine_name,
        "status": s.status,
        "started_at": s.started_at,
        "ended_at": dt.datetime.now(dt.UTC),
        "duration_s": s.seconds,
        "error": s.error,
        "files": s.files_loaded,
        "rows_in": s.rows_in,
        "rows_valid": sum(e.valid for e in s.entities.values()),
        "rows_quarantined": s.rows_quarantined,
        "details": details,
    }
