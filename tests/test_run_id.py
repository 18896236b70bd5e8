"""A run id given from outside (the state machine's execution name, `--run-id`) is the run's id:
in `_ops.runs`, in every Delta commit of the run; an id that could break a path or SQL is
refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import lab_csvs
from lakehouse import Lakehouse
from lakehouse.errors import TerminalError
from lakehouse.glue.job import parse_args, run_job
from lakehouse.orchestration.pipeline import copy_sources, run


def test_the_given_run_id_is_the_run_id_in_ops_and_in_every_commit(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    copy_sources(lh.root, lab_csvs(tmp_path / "lab"))
    summary = run(lh.root, run_id="lakehouse-run_2026-12-03T10-00-00Z")
    assert summary.status == "SUCCEEDED"
    assert summary.run_id == "lakehouse-run_2026-12-03T10-00-00Z"
    runs = lh.sql("SELECT run_id, status FROM _ops.runs").to_pylist()
    assert runs == [{"run_id": "lakehouse-run_2026-12-03T10-00-00Z", "status": "SUCCEEDED"}]
    for table in ("bronze.orders", "silver.orders", "silver.order_items", "_ops.files"):
        ids = {h["run_id"] for h in lh.history(table) if h["operation"] != "CREATE TABLE"}
        assert ids == {"lakehouse-run_2026-12-03T10-00-00Z"}, table


@pytest.mark.parametrize(
    "bad",
    ["", "a" * 81, "../landing", "run/1", "x'; DROP TABLE t; --", "run id", "run.1", "é"],
)
def test_a_run_id_that_could_break_a_path_or_sql_is_refused_before_anything_is_written(
    tmp_path: Path, bad: str
) -> None:
    root = tmp_path / "lake"
    with pytest.raises(TerminalError, match=r"run id .*1-80 characters of A-Z, a-z, 0-9"):
        run(Lakehouse(root).root, run_id=bad)
    assert not root.exists() or not any(root.iterdir())


def test_the_glue_job_takes_the_state_machines_run_id(tmp_path: Path) -> None:
    argv = ["job.py", "--root", str(tmp_path), "--step", "run", "--run-id", "exec-42", "--x", "1"]
    assert parse_args(argv).run_id == "exec-42"
    assert parse_args(["job.py", "--root", str(tmp_path)]).run_id is None
    bad = parse_args(["job.py", "--root", str(tmp_path / "lake"), "--run-id", "a/b"])
    with pytest.raises(TerminalError, match="run id 'a/b'"):
        run_job(bad)
    assert not (tmp_path / "lake").exists()  # refused before Spark or storage were touched
