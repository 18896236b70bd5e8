"""The local executor of a `PipelineDefinition`: order, parallel branches, retries, failure path.

Semantics match the exported state machine (asl.py): a Task is retried only for transient
errors (`RetryableError`, connection/timeouts, Delta commit conflicts), pausing
`interval * backoff^n` capped at `max_delay_seconds`, at most `max_attempts` times in all; a
Gate skips to its `otherwise` node when the step output it reads is not above its threshold; a
failure anywhere runs `on_failure` (which marks the run FAILED and notifies) and re-raises.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from lakehouse.errors import LakehouseError, storage_failure
from lakehouse.log import event
from lakehouse.orchestration.definition import Gate, Parallel, PipelineDefinition, StepFn, Task
from lakehouse.orchestration.results import StepResult
from lakehouse.orchestration.state import RunState

Sleep = Callable[[float], None]


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the product says so, or the network / a concurrent commit got in the way."""
    if isinstance(exc, LakehouseError):
        return exc.retryable
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    failure = storage_failure(exc)  # e.g. a commit PUT reset: delta-rs does not retry it
    if failure is not None:
        return failure.retryable
    try:
        from deltalake.exceptions import CommitFailedError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, CommitFailedError)


def resolve(task: Task) -> StepFn:
    if callable(task.fn):
        return task.fn
    module, _, name = task.fn.partition(":")
    return cast(StepFn, getattr(importlib.import_module(module), name))


def run_task(task: Task, state: RunState, sleep: Sleep = time.sleep) -> dict[str, Any]:
    fn = resolve(task)
    delays = task.retry.delays()
    t0 = time.perf_counter()
    attempt = 0
    if state.lineage is not None:
        state.lineage.step_start(task.name)
    try:
        while True:
            attempt += 1
            if state.lock is not None:
                state.lock.check()
            try:
                out = fn(state, **task.params)
                break
            except Exception as exc:
                if not is_transient(exc) or attempt > len(delays):
                    if state.lineage is not None:
                        state.lineage.step_end(task.name, state, f"{type(exc).__name__}: {exc}")
                    raise
                pause = delays[attempt - 1]
                event(
                    "step_retry",
                    run_id=state.run_id,
                    step=task.name,
                    attempt=attempt,
                    pause_s=pause,
                    error=f"{type(exc).__name__}: {exc}",
                )
                sleep(pause)
    finally:
        with state._lock:
            state.summary.steps[task.name] = time.perf_counter() - t0
            state.summary.attempts[task.name] = attempt
    result = out.to_output() if isinstance(out, StepResult) else dict(out or {})
    with state._lock:
        state.outputs[task.name] = result
    if state.lineage is not None:
        state.lineage.step_end(task.name, state)
    return result


def execute(definition: PipelineDefinition, state: RunState, sleep: Sleep = time.sleep) -> None:
    """Run every node in order; on failure run `on_failure`, then re-raise the error."""
    try:
        _nodes(definition, state, sleep)
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        # an Exception, or a Rust panic from delta-rs (pyo3's PanicException is no Exception:
        # it left the run RUNNING, with no FAILED record and no alert)
        state.summary.status = "FAILED"
        failure = None if isinstance(exc, LakehouseError) else storage_failure(exc, state.root.uri)
        state.summary.error = str(failure or f"{type(exc).__name__}: {exc}")
        event(
            "run_failed",
            run_id=state.run_id,
            error=state.summary.error,
            trace=traceback.format_exc(),
        )
        try:
            run_task(definition.on_failure, state, sleep)
        except Exception as again:  # the original error is what the caller must see
            event("record_failure_failed", run_id=state.run_id, error=repr(again))
        if failure is not None:
            raise failure from exc
        raise


def _nodes(definition: PipelineDefinition, state: RunState, sleep: Sleep) -> None:
    nodes = definition.nodes
    names = [n.name for n in nodes]
    i = 0
    while i < len(nodes):
        node = nodes[i]
        if isinstance(node, Task):
            run_task(node, state, sleep)
        elif isinstance(node, Parallel):
            _parallel(node, state, sleep)
        elif isinstance(node, Gate) and not gate_open(node, state.outputs):
            i = names.index(node.otherwise)
            continue
        i += 1


def gate_open(gate: Gate, outputs: Mapping[str, Mapping[str, Any]]) -> bool:
    """Continue unless the output is a number not above the threshold (as the ASL Choice)."""
    step, _, key = gate.output.partition(".")
    value = outputs.get(step, {}).get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return value > gate.above


def _parallel(node: Parallel, state: RunState, sleep: Sleep) -> None:
    workers = min(state.settings.pipeline.max_parallel, len(node.branches))
    if workers <= 1 or state.engine().capabilities.distributed:
        for branch in node.branches:  # a distributed engine parallelises inside each step
            for task in branch:
                run_task(task, state, sleep)
        return

    def branch_fn(branch: tuple[Task, ...]) -> None:
        for task in branch:
            run_task(task, state, sleep)

    with ThreadPoolExecutor(workers, thread_name_prefix=f"lakehouse-{node.name}") as pool:
        futures = [pool.submit(branch_fn, b) for b in node.branches]
        errors = [f.exception() for f in futures]  # waits for every branch
    for err in errors:
        if err is not None:
            raise err
