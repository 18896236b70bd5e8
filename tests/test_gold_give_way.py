"""A drop is not queued behind the budget gold models: a refresh that has taken one of them up
gives way to waiting work before the next, and leaves the rest due; nothing is lost, and no
staleness alert opens for the models it left."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lakehouse import Lakehouse
from lakehouse.gold.refresh import freshest_first
from lakehouse.orchestration import pipeline
from lakehouse.orchestration.give_way import landed_since
from lakehouse.store import ops
from lakehouse.store.root import Root
from test_gold_freshness import BUDGET, T0, days, deferred, full_load, versions
from test_gold_pipeline import assert_gold_equal
from test_watch import drop, wait_for

__all__ = ["days"]  # the module's fixture, used here

#: budget models in the order a refresh takes them up
IN_ORDER = [m.name for m in freshest_first() if m.freshness == "budget"]


@pytest.fixture(scope="module")
def behind(tmp_path_factory: pytest.TempPathFactory, days: tuple[list[Path], list[Path]]) -> Path:
    """A lakehouse of every day but the last at T0, then the last day's orders and half its
    lines at T0 + 5 min: the budget models are behind (deferred), due 15 min after T0. Beside
    it, `order_items_second.csv`: the other half of the lines, not loaded."""
    base = tmp_path_factory.mktemp("behind")
    orders = next(p for p in days[1] if p.name.startswith("orders"))
    lines = next(p for p in days[1] if p.name.startswith("order_items"))
    header, *rows = lines.read_text().splitlines()
    first, second = base / "order_items_first.csv", base / "order_items_second.csv"
    first.write_text("\n".join([header, *rows[: len(rows) // 2]]) + "\n")
    second.write_text("\n".join([header, *rows[len(rows) // 2 :]]) + "\n")
    lh = Lakehouse(base / "lake")
    lh.run(days[0], now=T0)
    lh.run([orders, first], now=T0 + dt.timedelta(minutes=5))
    assert deferred(lh)[-1] == BUDGET
    return base


@pytest.fixture(scope="module")
def full(
    tmp_path_factory: pytest.TempPathFactory, days: tuple[list[Path], list[Path]]
) -> Lakehouse:
    """Every day in one run: the gold tables every test here must end with."""
    return full_load(tmp_path_factory.mktemp("full"), days)


def behind_lake(behind: Path, tmp_path: Path) -> tuple[Lakehouse, Path]:
    """A copy of the `behind` lakehouse of its own, and the lines not loaded."""
    shutil.copytree(behind / "lake", tmp_path / "lake")
    return Lakehouse(tmp_path / "lake"), behind / "order_items_second.csv"


def staleness_alerts(lh: Lakehouse) -> list[str]:
    return sorted(a["subject"] for a in ops.read_alerts(lh.root) if a["rule"] == "gold_staleness")


def test_a_refresh_gives_way_after_one_budget_model_and_the_next_takes_the_rest(
    behind: Path, full: Lakehouse, tmp_path: Path
) -> None:
    lh, lines = behind_lake(behind, tmp_path)
    lh.run([lines], now=T0 + dt.timedelta(minutes=6))
    before = versions(lh)
    asked: list[bool] = []

    def waiting() -> bool:
        asked.append(True)
        return True

    later = T0 + dt.timedelta(days=1)  # every budget is spent
    summary = pipeline.run(lh.root, files=[], now=later, gold_gives_way=waiting)
    assert summary.status == "SUCCEEDED"
    after = versions(lh)
    taken = {n.removeprefix("gold.") for n in after if after[n] > before[n]}
    assert taken == {IN_ORDER[0]}  # one model taken up, then asked once before the next
    assert asked == [True]
    assert deferred(lh)[-1] == sorted(IN_ORDER[1:])  # the rest: still behind, still due
    assert staleness_alerts(lh) == []  # a day past their budget, but left for waiting work

    pipeline.run(lh.root, files=[], now=later + dt.timedelta(minutes=1))  # takes the rest up
    assert deferred(lh)[-1] == []
    assert_gold_equal(lh, full)


def test_a_refresh_with_no_waiting_work_takes_every_due_model_up(
    behind: Path, tmp_path: Path
) -> None:
    lh, _ = behind_lake(behind, tmp_path)
    asked: list[bool] = []

    def waiting() -> bool:
        asked.append(False)
        return False

    pipeline.run(lh.root, files=[], now=T0 + dt.timedelta(days=1), gold_gives_way=waiting)
    assert deferred(lh)[-1] == []
    assert len(asked) == len(IN_ORDER) - 1  # asked before each budget model but the first


def test_a_watcher_whose_listing_fails_mid_run_goes_on_with_the_refresh(
    behind: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look that starts the refresh lists landing/; every later listing fails (a storage
    outage): asking whether a drop waits says no, and the run takes every due model up."""
    from lakehouse.config.settings import Settings
    from lakehouse.orchestration.watch import Watcher

    lh, _ = behind_lake(behind, tmp_path)
    listings: list[bool] = []
    landed = Watcher._landed

    def flaky(self: Watcher) -> tuple[dict[str, tuple[int, int]], set[str]]:
        listings.append(True)
        if len(listings) > 1:
            raise OSError("listing landing/ failed")
        return landed(self)

    monkeypatch.setattr(Watcher, "_landed", flaky)
    summary = Watcher(lh.root, Settings(notifiers=())).step()
    assert summary is not None and summary.status == "SUCCEEDED"
    assert len(listings) == len(IN_ORDER)  # the look, then one before each model but the first
    assert deferred(lh)[-1] == []


def stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


@pytest.mark.slow
def test_a_drop_landing_during_a_budget_refresh_is_not_queued_behind_it(
    behind: Path, full: Lakehouse, tmp_path: Path
) -> None:
    """`lakehouse watch` finds the budget models due (the wall clock is days past T0) and
    refreshes them with a run of no files. It is stopped (SIGSTOP) once the first one is
    written; a file lands; it goes on. The refresh stops there, the drop's run comes next, and
    the models left are taken up after it: the gold tables end equal to a full load's."""
    lh, lines = behind_lake(behind, tmp_path)
    root = tmp_path / "lake"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    env.update(
        LAKEHOUSE__WATCH__POLL_SECONDS="0.1",
        LAKEHOUSE__WATCH__BATCH_WINDOW_SECONDS="0.3",
        LAKEHOUSE_PAUSE=f"gold_written:{IN_ORDER[0]}",
    )
    watcher = subprocess.Popen(
        [sys.executable, "-m", "lakehouse", "watch", "--root", str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: stopped(watcher.pid), 60, "the first budget model's write")
        drop(lines, root / "landing")

        def caught_up() -> bool:
            if stopped(watcher.pid):  # the model written again by a later run: go on
                watcher.send_signal(signal.SIGCONT)
            loaded = lh.sql("SELECT count(*) AS n FROM _ops.runs WHERE status = 'SUCCEEDED'")
            return loaded.to_pylist() == [{"n": 4}]

        watcher.send_signal(signal.SIGCONT)
        wait_for(caught_up, 90, "the refresh's run and the drop's")
    finally:
        watcher.send_signal(signal.SIGCONT)
        watcher.send_signal(signal.SIGTERM)
        _, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    builds = deferred(lh)
    # T0; T0 + 5 min; the refresh that gave way: the first model written, the second computed
    # meanwhile (one write at a time, beside the next compute), then the drop had landed; the
    # drop's run: its every-run models, then the models left (due, and no other drop waits)
    assert builds[2:] == [sorted(IN_ORDER[2:]), []], err
    runs = lh.sql("SELECT files FROM _ops.runs ORDER BY started_at").to_pylist()
    assert [r["files"] or [] for r in runs][2:] == [[], [lines.name]]
    assert staleness_alerts(lh) == []
    assert_gold_equal(lh, full)


def test_a_run_of_all_landing_gives_way_to_a_batch_landing_during_its_budget_refresh(
    behind: Path, full: Lakehouse, tmp_path: Path
) -> None:
    """The Glue job's check (`landed_since`, made before the run lists landing/): a batch that
    lands while the first budget model is written has an execution waiting for the lock. The
    refresh leaves the rest to it; the waiting run takes the batch, then the models left."""
    lh, lines = behind_lake(behind, tmp_path)
    check = landed_since(lh.root)
    asked: list[bool] = []

    def a_batch_lands_then_check() -> bool:
        if not asked:
            drop(lines, tmp_path / "lake" / "landing")
        asked.append(check())
        return asked[-1]

    later = T0 + dt.timedelta(days=1)  # every budget is spent
    before = versions(lh)
    summary = pipeline.run(lh.root, now=later, gold_gives_way=a_batch_lands_then_check)
    assert summary.status == "SUCCEEDED" and summary.files_loaded == []
    after = versions(lh)
    assert {n.removeprefix("gold.") for n in after if after[n] > before[n]} == {IN_ORDER[0]}
    assert asked == [True]
    assert deferred(lh)[-1] == sorted(IN_ORDER[1:])
    assert [f.relative for f in lh.root.list_files("landing")] == [lines.name]

    waiting = pipeline.run(lh.root, now=later + dt.timedelta(minutes=1))  # the batch's run
    assert waiting.files_loaded == [lines.name]
    assert deferred(lh)[-1] == []
    assert_gold_equal(lh, full)


def test_what_counts_as_landed_since(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What starts an execution (the trigger's rule): a file directly under landing/, new or
    put again with other bytes, or a folder's marker; not a file of a folder still uploading.
    A listing that fails says no."""
    landing = tmp_path / "lake" / "landing"
    landing.mkdir(parents=True)
    (landing / "orders_1.csv").write_text("order_id\n1\n")
    root = Root(tmp_path / "lake")
    check = landed_since(root)
    assert check() is False  # what was there before
    (landing / ".orders_2.csv.part").write_text("order_id\n")  # a hidden name starts nothing
    assert check() is False
    (landing / "orders_1.csv").write_text("order_id\n1\n2\n")  # the same name, other bytes
    assert check() is True

    check = landed_since(root)
    (landing / "shop-a" / "2026-12-05T06").mkdir(parents=True)
    (landing / "shop-a" / "2026-12-05T06" / "orders_3.csv").write_text("order_id\n3\n")
    assert check() is False  # its batch is not complete: no execution waits
    (landing / "shop-a" / "2026-12-05T06" / "_SUCCESS").write_text("")
    assert check() is True
    monkeypatch.setattr(Root, "walk_files", lambda self, *parts: 1 / 0)
    assert check() is False
    assert landed_since(root)() is False  # nothing seen at the start: never gives way


def test_the_glue_job_hands_its_run_the_landing_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakehouse.glue import job

    handed: dict[str, Any] = {}

    def run(root: Root, **kwargs: Any) -> pipeline.RunSummary:
        handed.update(kwargs)
        return pipeline.RunSummary("r1", "SUCCEEDED", dt.datetime.now(dt.UTC), 0.0)

    monkeypatch.setattr(pipeline, "run", run)
    lake = tmp_path / "lake"
    (lake / "landing").mkdir(parents=True)
    assert job.run_job(job.JobArgs(root=str(lake))) == 0
    assert handed["engine_name"] == "spark"
    assert handed["gold_gives_way"]() is False
    (lake / "landing" / "orders_1.csv").write_text("order_id\n1\n")
    assert handed["gold_gives_way"]() is True
