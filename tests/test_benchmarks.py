"""The benchmark scripts run against the code they measure: a change that breaks one is caught
here, not on the next benchmark day (`bench_floor` once stopped when catalog_summary started to
read gold.product_days; `bench_gold` when refresh_gold became a stream of writes;
`bench_maintenance` when its settings lost `from_env`). Each runs on small data, its data and
results in the test's folder, and what it reports is checked against the data it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from gold_oracle import compare
from lakehouse import Lakehouse
from lakehouse.generate import generate

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_the_floor_computes_the_lakehouse_s_numbers_for_clean_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench_floor's gold models, every one the lakehouse writes (`--models all`, the five of
    the issue's floor among them), computed by the floor (no validation) from clean generated
    files, equal the lakehouse's own tables for the same files: the floor does the same work,
    only less of it."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_floor

    source = tmp_path / "delivery"
    generate(source, orders=400, products=60, days=4, seed=7, fmt="parquet")
    bench_floor.floor(str(source), str(tmp_path / "floor"), str(tmp_path / "floor.json"), "all")
    lake = Lakehouse(tmp_path / "lake")
    assert lake.run([source]).status == "SUCCEEDED"
    models = bench_floor.every_model()
    assert {*bench_floor.GOLD} < {*models}
    built = [t.name.removeprefix("gold.") for t in lake.tables() if t.name.startswith("gold.")]
    assert sorted(models) == sorted(built)
    for model in models:
        floor = DeltaTable(str(tmp_path / "floor" / "gold" / model)).to_pyarrow_table()
        ours = lake.sql(f"SELECT * FROM gold.{model}").to_pylist()
        assert floor.num_rows == len(ours), model
        assert compare(model, floor, ours) == [], model


# --- every `make bench` script, on small data ---------------------------------------------------
def _bench(script: str, *args: str, tmp_path: Path) -> dict[str, Any]:
    """Run `benchmarks/<script>` as `make bench` does, with its data and results in `tmp_path`;
    the one result file it writes."""
    results = tmp_path / "results"
    env = {
        **os.environ,
        "LAKEHOUSE_BENCH_DATA": str(tmp_path / "data"),
        "LAKEHOUSE_BENCH_RESULTS": str(results),
    }
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [written] = list(results.glob("*.json"))
    result: dict[str, Any] = json.loads(written.read_text())
    return result


def _parquet_rows(folder: Path, prefix: str) -> int:
    return sum(pq.read_metadata(p).num_rows for p in folder.glob(f"{prefix}_*.parquet"))


def test_bench_pipeline_reports_the_lines_it_generated_and_every_dashboard_query(
    tmp_path: Path,
) -> None:
    result = _bench("bench_pipeline.py", "--items", "4400", "--queries", "1", tmp_path=tmp_path)
    generated = tmp_path / "data" / "items_4400"
    assert result["order_items"] == _parquet_rows(generated, "order_items") > 4000
    assert set(result["dashboard_query_median_ms"]) == {
        "sales_trend",
        "top_products",
        "heatmap",
        "payments",
        "segments",
        "pairs",
    }
    current = result["incremental_current_after_s"]
    assert current["silver.order_items"] <= current["every gold table"]


def test_bench_freshness_reports_the_ratio_of_the_days_it_timed(tmp_path: Path) -> None:
    result = _bench("bench_freshness.py", "--items", "4400", "--repeat", "1", tmp_path=tmp_path)
    day = result["day_s_median"]
    # the script divides unrounded medians and reports every number rounded
    ratio = day["history_due"] / day["products_due"]
    assert result["ratio_history_over_products_due"] == pytest.approx(ratio, rel=0.02)
    for side, seconds in result["every_run_models_current_after_run_start_s_median"].items():
        assert 0 < seconds < day[side]


def test_bench_small_run_reports_one_day_s_rows_and_its_fixed_cost(tmp_path: Path) -> None:
    result = _bench("bench_small_run.py", "--repeat", "1", tmp_path=tmp_path)
    day = tmp_path / "data" / "small_run"
    rows = sum(pacsv.read_csv(day / name).num_rows for name in result["files"])
    assert len(result["files"]) == 3
    assert result["rows"] == rows > 10_000
    wall = result["wall_s_median"]
    assert result["fixed_s"] == pytest.approx(wall["cli"] - wall["rows"], abs=0.002)


@pytest.mark.parametrize("busy", [False, True], ids=["quiet", "during_budget_refresh"])
def test_bench_watch_sees_each_drop_in_silver_before_gold(tmp_path: Path, busy: bool) -> None:
    drops = 1 if busy else 2  # a busy drop follows a run of its own
    mode = ["--during-budget-refresh"] if busy else []
    result = _bench(
        "bench_watch.py", "--drops", str(drops), "--rows", "500", *mode, tmp_path=tmp_path
    )
    assert result["during_budget_refresh"] is busy
    assert len(result["silver_all_s"]) == len(result["gold_all_s"]) == drops
    seconds = (result[f"{n}_all_s"] for n in ("silver", "gold", "gold_build"))
    for silver, gold, built in zip(*seconds, strict=True):
        assert 0 < silver <= gold <= built


def test_bench_lab_ingest_reports_the_lab_rows(tmp_path: Path) -> None:
    result = _bench("bench_lab_ingest.py", "--repeat", "1", tmp_path=tmp_path)
    assert result["rows"] == 49_303
    ratio = result["pipeline_median_s"] / result["read_only_median_s"]
    assert result["ratio_pipeline_to_read"] == pytest.approx(ratio, rel=0.02)


def test_bench_gold_s_incremental_day_equals_the_full_build(tmp_path: Path) -> None:
    result = _bench(
        "bench_gold.py", "--items", "4400", "--days", "5", "--repeat", "1", "--verify",
        tmp_path=tmp_path,
    )  # fmt: skip
    [run] = result["runs"].values()
    assert run["incremental_equals_full"] is True
    assert run["full_build"]["rows_written"] > run["incremental_one_day"]["rows_written"] > 0
    assert len(run["full_build"]["writes"]) == run["models"]


def test_bench_generate_reports_what_it_wrote(tmp_path: Path) -> None:
    result = _bench(
        "bench_generate.py", "--items", "20000", "--out", str(tmp_path / "gen"), tmp_path=tmp_path
    )
    assert 19_000 <= result["order_items"] <= 21_000
    assert result["items_per_second"] == pytest.approx(
        result["order_items"] / result["seconds"], rel=0.02
    )


def test_bench_maintenance_compacts_without_changing_any_query_s_rows(tmp_path: Path) -> None:
    result = _bench(
        "bench_maintenance.py", "--items", "5000", "--batches", "20", "--days", "5",
        "--repeat", "1", "--log-commits", "30", "--no-docs", tmp_path=tmp_path,
    )  # fmt: skip
    for entity in ("orders", "order_items"):
        before = result["before"][entity]["files"]
        assert result["after"][entity]["files"] < before >= 20  # at least a file per batch
        assert result["vacuum_after_optimize"][entity]["files_removed"] == before
    for query, before in result["queries_before"].items():
        assert result["queries_after"][query]["rows"] == before["rows"] > 0


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_bench_engines_runs_the_lab_data_on_both_engines_to_the_same_silver(
    tmp_path: Path,
) -> None:
    result = _bench("bench_engines.py", "--repeat", "1", tmp_path=tmp_path)
    lab = result["datasets"]["lab"]
    assert lab["same_silver_counts"] is True
    for engine in ("local", "spark"):
        run = lab[engine]
        assert run["status"] == "SUCCEEDED"
        assert sum(run["silver_rows"].values()) + run["quarantined"] == run["rows_in"] == 49_303


def test_bench_reader_isolation_times_each_side_in_its_own_tree(tmp_path: Path) -> None:
    """The A/B tool runs side A in the tree given as A (here this one, on the lab data) and side
    B in the one given as B: a stand-in package whose run does nothing takes no time."""
    stand_in = tmp_path / "b" / "lakehouse"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text(
        "from types import SimpleNamespace\n"
        "class Lakehouse:\n"
        "    def __init__(self, root):\n"
        "        pass\n"
        "    def run(self, sources):\n"
        "        return SimpleNamespace(status='SUCCEEDED', files_rejected=[])\n"
    )
    src = Path(__file__).resolve().parents[1] / "src"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_reader_isolation.py"),
         "--a", str(src), "--b", str(tmp_path / "b"), "--repeat", "2"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lab = json.loads(done.stdout[done.stdout.rindex("\n{") :])["lab"]
    assert len(lab["a_runs"]) == len(lab["b_runs"]) == 2
    assert min(lab["a_runs"]) > 0.3 > 0.01 > max(lab["b_runs"])  # the lab data, then nothing
    assert lab["b_over_a"] == pytest.approx(lab["b_median_s"] / lab["a_median_s"], abs=0.002)
