"""The local runner executes the one pipeline definition: order, parallel branches, retries of
transient errors only (bounded, with backoff), the gate, and the failure path."""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lakehouse import Lakehouse
from lakehouse.config.settings import Settings
from lakehouse.contracts import load_contracts
from lakehouse.errors import RetryableError, TerminalError
from lakehouse.maintenance import MaintenanceSettings
from lakehouse.orchestration import steps
from lakehouse.orchestration.definition import (
    Gate,
    Parallel,
    PipelineDefinition,
    RetryPolicy,
    Task,
    entity_levels,
    pipeline_definition,
)
from lakehouse.orchestration.pipeline import run
from lakehouse.orchestration.runner import execute, is_transient
from lakehouse.orchestration.state import RunState, RunSummary
from lakehouse.store.delta import try_open
from lakehouse.store.root import Root

SCENARIO = Path(__file__).parent / "scenarios" / "late_parent" / "input"
QUIET = Settings(notifiers=())


def small_delivery(dest: Path) -> list[Path]:
    """products (1000 rows), orders (20) and their items (95): a whole, clean delivery."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for src in (*sorted((SCENARIO / "run1").iterdir()), *sorted((SCENARIO / "run2").iterdir())):
        shutil.copy(src, dest / src.name)
        out.append(dest / src.name)
    return out


def flaky(real: Callable[..., Any], failures: int, error: Exception) -> Callable[..., Any]:
    calls = {"n": 0}

    def step(state: RunState, **params: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise error
        return real(state, **params)

    return step


def land(lh: Lakehouse, files: list[Path]) -> None:
    for f in files:
        lh.root.copy_in(f, lh.root.path("landing", f.name))


def count(lh: Lakehouse, table: str) -> int:
    return int(lh.sql(f"SELECT count(*) AS n FROM {table}")["n"][0].as_py())


def test_entities_run_parents_first_and_independent_ones_side_by_side() -> None:
    assert entity_levels(load_contracts()) == [["orders", "products"], ["order_items"]]
    d = pipeline_definition()
    names = [n.name for n in d.nodes]
    assert names[:3] == ["discover", "has_files", "bronze"]
    assert names[-5:] == ["catalog_sync", "quality", "archive", "maintain", "notify"]
    level0 = d.nodes[3]
    assert isinstance(level0, Parallel)
    assert [[t.name for t in b] for b in level0.branches] == [
        ["silver_orders"],
        ["silver_products"],
    ]
    assert isinstance(d.nodes[4], Task) and d.nodes[4].name == "silver_order_items"
    assert d.on_failure.name == "record_failure"


def test_transient_errors_are_retried_with_backoff_and_the_run_succeeds(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    land(lh, small_delivery(tmp_path / "in"))
    policy = RetryPolicy(max_attempts=3, interval_seconds=1.5, backoff_rate=2.0)
    d = pipeline_definition().replace_task(
        "silver_orders",
        fn=flaky(steps.silver, 2, RetryableError("object store timed out (test)")),
        retry=policy,
    )
    pauses: list[float] = []
    summary = run(lh.root, definition=d, settings=QUIET, sleep=pauses.append)
    assert summary.status == "SUCCEEDED"
    assert summary.attempts["silver_orders"] == 3
    assert pauses == [1.5, 3.0]
    assert count(lh, "silver.orders") == 20 and count(lh, "silver.order_items") == 95
    runs = lh.sql("SELECT status, details FROM _ops.runs").to_pylist()
    assert [r["status"] for r in runs] == ["SUCCEEDED"]
    assert '"silver_orders": {"seconds"' in runs[0]["details"]


def test_retries_are_bounded(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    land(lh, small_delivery(tmp_path / "in"))
    d = pipeline_definition().replace_task(
        "bronze",
        fn=flaky(steps.bronze, 99, RetryableError("still down")),
        retry=RetryPolicy(max_attempts=4, interval_seconds=1, backoff_rate=3, max_delay_seconds=5),
    )
    pauses: list[float] = []
    with pytest.raises(RetryableError, match="still down"):
        run(lh.root, definition=d, settings=QUIET, sleep=pauses.append)
    assert pauses == [1, 3, 5]  # capped by max_delay_seconds
    assert lh.sql("SELECT status FROM _ops.runs").to_pylist() == [{"status": "FAILED"}]


def test_terminal_errors_are_not_retried(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    land(lh, small_delivery(tmp_path / "in"))
    d = pipeline_definition().replace_task(
        "bronze", fn=flaky(steps.bronze, 1, TerminalError("contract is broken (test)"))
    )
    pauses: list[float] = []
    with pytest.raises(TerminalError):
        run(lh.root, definition=d, settings=QUIET, sleep=pauses.append)
    assert pauses == []
    row = lh.sql("SELECT status, error FROM _ops.runs").to_pylist()[0]
    assert row == {"status": "FAILED", "error": "TerminalError: contract is broken (test)"}
    assert sorted(p.name for p in (Path(lh.root.uri) / "landing").iterdir()) == [
        "order_items_early.csv",
        "orders_late.csv",
        "products.csv",
    ]


class Panic(BaseException):
    """What a Rust panic in delta-rs raises (pyo3's PanicException): no Exception."""


def test_a_panic_in_a_step_fails_the_run_on_record_instead_of_leaving_it_running(
    tmp_path: Path,
) -> None:
    """A retention of 10**14 hours panicked in delta-rs: the panic passed every `except
    Exception`, and the run stayed RUNNING with no FAILED record and no alert."""
    lh = Lakehouse(tmp_path / "lake")
    land(lh, small_delivery(tmp_path / "in"))

    def panics(state: RunState, **params: Any) -> Any:
        raise Panic("TimeDelta::hours out of bounds")

    d = pipeline_definition().replace_task("maintain", fn=panics)
    with pytest.raises(Panic):
        run(lh.root, definition=d, settings=QUIET)
    row = lh.sql("SELECT status, error FROM _ops.runs").to_pylist()[0]
    assert row == {"status": "FAILED", "error": "Panic: TimeDelta::hours out of bounds"}
    [alert] = lh.sql("SELECT rule, status FROM _ops.alerts").to_pylist()
    assert alert == {"rule": "run_failed", "status": "open"}


def test_what_counts_as_transient() -> None:
    from deltalake.exceptions import CommitFailedError

    assert is_transient(RetryableError("x"))
    assert is_transient(ConnectionResetError())
    assert is_transient(TimeoutError())
    assert is_transient(CommitFailedError("concurrent commit"))
    assert not is_transient(TerminalError("x"))
    assert not is_transient(ValueError("a bug"))
    # delta-rs does not retry a commit PUT whose connection was reset (seen through the fault
    # proxy in test_storage_faults): the step is retried instead; a full disk is not transient
    reset = OSError(
        "Generic S3 error: Error performing PUT http://127.0.0.1:1/b/lake/gold/t/_delta_log/"
        "00000000000000000001.json in 3ms - HTTP error: error sending request: client error "
        "(SendRequest): connection error: Connection reset by peer (os error 104)"
    )
    assert is_transient(reset)
    assert not is_transient(OSError("Failed to write parquet: No space left on device"))


def test_nothing_landed_skips_to_gold_and_the_quality_checks(tmp_path: Path) -> None:
    """Gold still runs: a budget model may be due (tests/test_gold_freshness.py)."""
    lh = Lakehouse(tmp_path / "lake")
    summary = run(lh.root, settings=QUIET)
    assert summary.status == "SUCCEEDED"
    assert list(summary.steps) == [
        "discover", "gold", "catalog_sync", "quality", "archive", "maintain", "notify"
    ]  # fmt: skip
    assert summary.entities == {}


def test_parallel_branches_overlap_and_errors_wait_for_every_branch(tmp_path: Path) -> None:
    barrier = threading.Barrier(2, timeout=10)
    finished: list[str] = []

    def meet(state: RunState, name: str) -> dict[str, Any]:
        barrier.wait()  # both branches must be running at once, or this times out
        finished.append(name)
        if name == "b":
            raise TerminalError("branch b failed")
        return {}

    d = PipelineDefinition(
        "test",
        (
            Parallel(
                "both",
                ((Task("a", meet, "a", {"name": "a"}),), (Task("b", meet, "b", {"name": "b"}),)),
            ),
            Task("after", lambda state: finished.append("after"), "never reached"),
        ),
        on_failure=Task("record", lambda state: finished.append("record"), "failure path"),
    )
    state = _state(tmp_path)
    with pytest.raises(TerminalError, match="branch b"):
        execute(d, state, sleep=lambda s: None)
    assert sorted(finished[:2]) == ["a", "b"] and finished[2:] == ["record"]
    assert state.summary.status == "FAILED"
    assert state.summary.error == "TerminalError: branch b failed"


def test_gate_reads_a_step_output(tmp_path: Path) -> None:
    seen: list[str] = []

    def out(n: int) -> Callable[..., dict[str, Any]]:
        return lambda state: {"files": n}

    def mark(name: str) -> Callable[..., None]:
        return lambda state: seen.append(name)

    for n, expect in ((0, ["end"]), (2, ["work", "end"])):
        seen.clear()
        d = PipelineDefinition(
            "gate",
            (
                Task("discover", out(n), ""),
                Gate("any", "discover.files", 0, otherwise="end"),
                Task("work", mark("work"), ""),
                Task("end", mark("end"), ""),
            ),
            on_failure=Task("record", mark("record"), ""),
        )
        execute(d, _state(tmp_path), sleep=lambda s: None)
        assert seen == expect


def _state(tmp_path: Path) -> RunState:
    import datetime as dt

    class NoEngine:
        class capabilities:
            distributed = False

        def close(self) -> None:
            pass

    return RunState(
        root=Root(tmp_path / "lake"),
        summary=RunSummary("test", "RUNNING", dt.datetime.now(dt.UTC), 0.0),
        contracts={},
        settings=Settings(),
        engine_factory=NoEngine,  # type: ignore[arg-type]
    )


def test_maintenance_step_maintains_due_tables_with_the_run_id(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    land(lh, small_delivery(tmp_path / "in"))
    first = run(lh.root, settings=QUIET)  # default policy: fresh tables are not due
    assert first.status == "SUCCEEDED" and "maintain" in first.steps
    assert try_open(lh.root, "_ops", "maintenance") is None  # nothing maintained, nothing logged
    silver = ["silver.products", "silver.orders", "silver.order_items"]
    before = {t: lh.sql(f"SELECT * FROM {t} ORDER BY ALL") for t in silver}

    every_commit = dataclasses.replace(QUIET, maintenance=MaintenanceSettings(commits_between=1))
    second = run(lh.root, settings=every_commit)  # nothing landed: discover → … → maintain
    assert second.status == "SUCCEEDED"
    done = lh.sql(
        'SELECT "table", status, run_id FROM _ops.maintenance ORDER BY "table"'
    ).to_pylist()
    assert {r["table"] for r in done} >= {*silver, "gold.sales_daily", "bronze.order_items"}
    assert {(r["status"], r["run_id"]) for r in done} == {("SUCCEEDED", second.run_id)}
    for t in silver:  # maintenance never changes what a table holds
        assert lh.sql(f"SELECT * FROM {t} ORDER BY ALL").equals(before[t])

    third = run(lh.root, settings=every_commit)  # silver untouched since: not due again
    again = lh.sql(f"SELECT \"table\" FROM _ops.maintenance WHERE run_id = '{third.run_id}'")
    assert not set(again["table"].to_pylist()) & {*silver, "gold.sales_daily"}
