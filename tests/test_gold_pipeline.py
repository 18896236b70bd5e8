"""Gold inside the pipeline: refreshed incrementally after each run, equal to a full rebuild."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from deltalake import DeltaTable

from lakehouse import Lakehouse
from lakehouse.generate import generate
from lakehouse.gold import GoldWrite, list_models, refresh


def gold_rows(lh: Lakehouse, name: str) -> list[dict[str, object]]:
    t = lh.sql(f"SELECT * FROM gold.{name}")
    rows = t.to_pylist()
    return sorted(rows, key=lambda r: [str(v) for v in r.values()])


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return a == b


def assert_gold_equal(a: Lakehouse, b: Lakehouse) -> None:
    for m in list_models():
        ra, rb = gold_rows(a, m.name), gold_rows(b, m.name)
        assert len(ra) == len(rb), m.name
        for x, y in zip(ra, rb, strict=True):
            assert x.keys() == y.keys(), m.name
            bad = [k for k in x if not same(x[k], y[k])]
            assert not bad, (m.name, {k: (x[k], y[k]) for k in bad})


def generated_days(out: Path, **sizes: int) -> list[list[Path]]:
    """Generated CSV files by day (the products first, as day "0"), `sizes` as `generate`'s."""
    generate(out, fmt="csv", **sizes)
    by_day: dict[str, list[Path]] = {}
    for p in sorted(out.glob("*.csv")):
        key = p.stem.rsplit("_", 1)[-1] if not p.name.startswith("products") else "0"
        by_day.setdefault(key, []).append(p)
    return [by_day[k] for k in sorted(by_day)]


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> list[list[Path]]:
    return generated_days(
        tmp_path_factory.mktemp("gen"), orders=1200, products=80, days=10, seed=11
    )


@pytest.fixture(scope="module")
def four_days_at_once(
    days: list[list[Path]], tmp_path_factory: pytest.TempPathFactory
) -> Lakehouse:
    """The first four days loaded in one run: what the running-totals tests must end up equal to."""
    clean = Lakehouse(tmp_path_factory.mktemp("four_days"))
    clean.run([p for d in days[:4] for p in d])
    return clean


def incremental_then_full(days: list[list[Path]], tmp_path: Path) -> Lakehouse:
    """Load all days but the last, then the last (incremental); compare with one full load."""
    inc = Lakehouse(tmp_path / "inc")
    inc.run([p for d in days[:-1] for p in d])
    before = {t.name: t.version for t in inc.tables() if t.name.startswith("gold.")}
    s = inc.run(days[-1], refresh="all")  # budget models too (deferral: test_gold_freshness)
    assert s.status == "SUCCEEDED"
    builds = inc.sql("SELECT mode FROM _ops.gold_builds ORDER BY built_at").to_pylist()
    assert [b["mode"] for b in builds] == ["full", "incremental"]
    after = {t.name: t.version for t in inc.tables() if t.name.startswith("gold.")}
    assert any(after[n] > v for n, v in before.items())
    full = Lakehouse(tmp_path / "full")
    full.run([p for d in days for p in d])
    assert_gold_equal(inc, full)
    return inc


def last_write(lh: Lakehouse, model: str) -> dict[str, object]:
    (commit,) = DeltaTable(lh.root.table_uri("gold", model)).history(1)
    return dict(commit.get("operationParameters", {}))


def test_incremental_refresh_equals_full_rebuild(days: list[list[Path]], tmp_path: Path) -> None:
    inc = incremental_then_full(days, tmp_path)
    assert "predicate" in last_write(inc, "customer_profile")  # the day's customers replaced


def test_many_touched_keys_are_written_whole(
    days: list[list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tens of thousands of touched customers made delta-rs crash on the `user_id IN (...)`
    predicate; past MAX_PREDICATE_KEYS the table is written whole, with the same result."""
    monkeypatch.setattr(refresh, "MAX_PREDICATE_KEYS", 3)
    inc = incremental_then_full(days, tmp_path)
    write = last_write(inc, "customer_profile")
    assert write["mode"] == "Overwrite" and "predicate" not in write


def moved_products(days: list[list[Path]], out: Path, ids: tuple[int, ...]) -> Path:
    """The day-0 products file with products `ids` moved to a new department."""
    [products] = [p for p in days[0] if p.name.startswith("products")]
    table = pacsv.read_csv(products, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    moved = pc.is_in(table["product_id"], pa.array(ids, table["product_id"].type))
    dept = pc.if_else(moved, "Audit Dept", table["department"])
    out.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(
        table.set_column(table.schema.get_field_index("department"), "department", dept),
        out / "products_fix.csv",
    )
    return out / "products_fix.csv"


def test_a_product_moved_to_another_department_restates_gold(
    days: list[list[Path]], tmp_path: Path
) -> None:
    """A catalog correction touches no date and no customer: the by-date and by-customer
    models kept every stored day and profile with the old department (department_sales,
    customer_profile's favourite department, department_basket_days and department_pairs),
    and no later run healed them. Gold equals a lakehouse loaded with the corrected catalog."""
    lh = Lakehouse(tmp_path / "inc")
    lh.run([p for d in days[:3] for p in d])
    fix = moved_products(days, tmp_path / "fix", (1, 2, 3))
    assert lh.run([fix], refresh="all").status == "SUCCEEDED"
    names = lh.sql(
        "SELECT count(*) AS n FROM gold.department_sales WHERE department = 'Audit Dept'"
    )
    assert names["n"].to_pylist()[0] > 0
    full = Lakehouse(tmp_path / "full")
    full.run([p for d in days[:3] for p in d])
    full.run([fix], refresh="all")  # the same silver, its gold rebuilt from nothing below
    shutil.rmtree(full.root.path("gold"))
    shutil.rmtree(full.root.path("_ops", "gold_builds"))
    assert full.run([], refresh="all").status == "SUCCEEDED"
    assert_gold_equal(lh, full)


def test_no_silver_change_means_no_gold_commit(days: list[list[Path]], tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    lh.run([p for d in days[:3] for p in d])
    before = {t.name: t.version for t in lh.tables() if t.name.startswith("gold.")}
    copy = tmp_path / "again"
    copy.mkdir()
    for p in days[1]:
        shutil.copy(p, copy / ("re_" + p.name))  # same rows, new file names: silver unchanged
    lh.run([copy])
    assert {t.name: t.version for t in lh.tables() if t.name.startswith("gold.")} == before


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["after_silver:order_items", "gold_written:sales_daily"])
def test_run_killed_before_gold_is_done_is_caught_up(
    days: list[list[Path]], tmp_path: Path, fault: str
) -> None:
    """Killed before gold, or after the daily sales (written first) but before the global
    analyses: the next run, with nothing new landed, brings every gold table up to date."""
    import os
    import signal
    import subprocess
    import sys

    files = tmp_path / "drop"
    files.mkdir()
    for d in days[:4]:
        for p in d:
            shutil.copy(p, files / p.name)
    root = tmp_path / "lake"
    env = {**os.environ, "LAKEHOUSE_FAULT": fault}
    cmd = [sys.executable, "-m", "lakehouse", "run", "--root", str(root)]
    killed = subprocess.run(
        [*cmd, "--source", str(files)], env=env, capture_output=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL
    gold = {t.name for t in Lakehouse(root).tables() if t.name.startswith("gold.")}
    if fault.startswith("gold_written"):  # sales_daily is written before the global models
        assert "gold.sales_daily" in gold and "gold.product_pairs" not in gold
    else:
        assert gold == set()
    env.pop("LAKEHOUSE_FAULT")
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode == 0
    clean = Lakehouse(tmp_path / "clean")
    clean.run([files])
    assert_gold_equal(Lakehouse(root), clean)


def test_pair_counts_written_by_a_killed_run_are_not_added_to_twice(
    days: list[list[Path]], tmp_path: Path, four_days_at_once: Lakehouse
) -> None:
    """A run killed right after it added its day to the running pair counts leaves its build
    unrecorded; the next run sees the same day as new, and the table no longer reflects the
    last recorded build, so it is rebuilt rather than added to again."""
    import os
    import subprocess
    import sys

    root = tmp_path / "lake"
    Lakehouse(root).run([p for d in days[:3] for p in d])
    env = {**os.environ, "LAKEHOUSE_FAULT": "gold_written:product_pair_counts"}
    cmd = [sys.executable, "-m", "lakehouse", "run", "--root", str(root)]
    sources = [a for p in days[3] for a in ("--source", str(p))]
    killed = subprocess.run([*cmd, *sources], env=env, capture_output=True, timeout=300)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    pair_counts = DeltaTable(Lakehouse(root).root.table_uri("gold", "product_pair_counts"))
    assert pair_counts.history(1)[0]["lakehouse.operation"] == "gold_refresh"
    env.pop("LAKEHOUSE_FAULT")
    again = [*cmd, "--refresh", "all"]  # the budget models too, for the comparison
    assert subprocess.run(again, env=env, capture_output=True, timeout=300).returncode == 0
    assert_gold_equal(Lakehouse(root), four_days_at_once)


def test_silver_vacuumed_past_the_last_build_rebuilds_the_running_totals(
    days: list[list[Path]], tmp_path: Path, four_days_at_once: Lakehouse
) -> None:
    """A forced vacuum removed the files silver held at the last build: the additive models
    cannot subtract from that silver, so the next run rebuilds them (and does not fail)."""
    from lakehouse.maintenance.actions import optimize_tables, vacuum_tables

    lh = Lakehouse(tmp_path / "lake")
    for d in days[:3]:
        lh.run(d)
    actions = DeltaTable(lh.root.table_uri("silver", "order_items")).get_add_actions()
    files = pa.table(actions).column("path").to_pylist()
    optimize_tables(lh.root, ["silver.order_items"], zorder=["order_id"], everything=True)
    vacuum_tables(lh.root, ["silver.order_items"], retention_hours=0, force=True)
    folder = Path(lh.root.table_uri("silver", "order_items"))
    assert not any((folder / f).exists() for f in files)  # the last build's files are gone
    assert lh.run(days[3], refresh="all").status == "SUCCEEDED"
    assert_gold_equal(lh, four_days_at_once)


def test_silver_changes_no_build_read_then_vacuumed_rebuild_gold_instead_of_failing(
    days: list[list[Path]], tmp_path: Path, four_days_at_once: Lakehouse
) -> None:
    """A run's gold step failed after its silver commits; a forced vacuum then removed their
    change feed's files. Every later run failed reading that feed, and gold stayed stuck until
    `_ops/gold_builds` was deleted by hand. The next run now rebuilds gold in full."""
    from lakehouse.errors import TerminalError
    from lakehouse.maintenance.actions import optimize_tables, vacuum_tables
    from lakehouse.orchestration.definition import pipeline_definition
    from lakehouse.orchestration.pipeline import copy_sources, run

    def gold_down(state: Any, **params: Any) -> None:
        raise TerminalError("gold down (test)")

    lh = Lakehouse(tmp_path / "lake")
    for d in days[:3]:
        lh.run(d)
    copy_sources(lh.root, days[3])
    broken = pipeline_definition().replace_task("gold", fn=gold_down)
    with pytest.raises(TerminalError):
        run(lh.root, definition=broken)
    silver = ["silver.orders", "silver.order_items"]
    optimize_tables(lh.root, silver, zorder=["order_id"], everything=True)
    vacuum_tables(lh.root, silver, retention_hours=0, force=True)
    assert lh.run([], refresh="all").status == "SUCCEEDED"
    builds = lh.sql("SELECT mode FROM _ops.gold_builds ORDER BY built_at").to_pylist()
    assert builds[-1]["mode"] == "full"
    assert_gold_equal(lh, four_days_at_once)


def test_silver_compacted_since_the_running_totals_were_written_is_still_added_to(
    days: list[list[Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    four_days_at_once: Lakehouse,
) -> None:
    """Silver is compacted, then an idle run takes up the due budget models: that build touches
    no dates, so it leaves the running totals at the older silver version. The rows are the
    same, so the next run still adds its day to them instead of recounting everything."""
    from lakehouse.gold.builds import builds, built_from
    from lakehouse.maintenance.actions import optimize_tables

    lh = Lakehouse(tmp_path / "lake")
    for d in days[:3]:
        lh.run(d)
    optimize_tables(lh.root, ["silver.order_items"], zorder=["order_id"], everything=True)
    assert lh.run([], refresh="all").status == "SUCCEEDED"
    found = built_from(lh.root, "product_pair_counts")
    assert found is not None
    assert builds(lh.root)[0].silver_versions["order_items"] > found.silver_versions["order_items"]
    added: list[str] = []
    adding = refresh._added_sql
    monkeypatch.setattr(refresh, "_added_sql", lambda m, *a: added.append(m.name) or adding(m, *a))
    assert lh.run(days[3], refresh="all").status == "SUCCEEDED"
    assert sorted(added) == ["basket_sizes", "product_baskets", "product_pair_counts"]
    assert_gold_equal(lh, four_days_at_once)


def test_running_totals_of_another_definition_are_rebuilt_not_added_to(
    days: list[list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release that changes an additive model (here: basket_sizes stops counting baskets of
    more than 3 products) rebuilds its totals: adding the new definition's changes to the old
    one's totals would mix both for good."""
    import dataclasses

    from lakehouse.gold import model as gold_model

    lh = Lakehouse(tmp_path / "lake")
    for d in days[:2]:
        lh.run(d)
    packaged = gold_model.all_models()
    sizes = packaged["basket_sizes"]
    assert ") AS sized\nGROUP BY products" in sizes.sql
    edited = dataclasses.replace(
        sizes, sql=sizes.sql.replace(") AS sized\n", ") AS sized\nWHERE products <= 3\n")
    )
    monkeypatch.setattr(gold_model, "_load_all", lambda: {**packaged, "basket_sizes": edited})
    assert lh.run(days[2], refresh="all").status == "SUCCEEDED"  # budget models too
    sizes_now = {r["products"] for r in gold_rows(lh, "basket_sizes")}
    assert sizes_now and max(sizes_now) <= 3
    clean = Lakehouse(tmp_path / "clean")
    clean.run([p for d in days[:3] for p in d])
    assert_gold_equal(lh, clean)


def test_sales_daily_matches_silver(days: list[list[Path]], tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    lh.run([p for d in days for p in d])
    ours = lh.sql("SELECT date, orders, revenue FROM gold.sales_daily ORDER BY date")
    ref = lh.sql(
        "SELECT date, count(*) AS orders, sum(total_amount) AS revenue "
        "FROM silver.orders GROUP BY date ORDER BY date"
    )
    assert ours.select(["date", "orders"]).equals(ref.select(["date", "orders"]))
    assert [float(x) for x in ours["revenue"].to_pylist()] == [
        float(x) for x in ref["revenue"].to_pylist()
    ]
    assert isinstance(ours, pa.Table)


def test_orders_without_their_lines_leave_line_only_models_alone(
    days: list[list[Path]], tmp_path: Path
) -> None:
    """A run that changes silver.orders only does not rewrite the models that read only order
    lines and products (pairs, basket days, reorder patterns); gold still equals a full load."""
    orders = [p for p in days[-1] if p.name.startswith("orders")]
    assert len(orders) == 1 and len(days[-1]) > 1
    inc = Lakehouse(tmp_path / "inc")
    inc.run([p for d in days[:-1] for p in d])
    before = {t.name: t.version for t in inc.tables() if t.name.startswith("gold.")}
    assert inc.run(orders, refresh="all").status == "SUCCEEDED"  # budget models now, too
    after = {t.name: t.version for t in inc.tables() if t.name.startswith("gold.")}
    untouched = {n.removeprefix("gold.") for n in before if after[n] == before[n]}
    assert untouched == {
        "product_pairs", "product_companions", "department_pairs", "department_basket_days",
        "reorder_patterns", "reorder_patterns_department", "product_pair_counts",
        "product_baskets", "basket_sizes",
    }  # fmt: skip
    full = Lakehouse(tmp_path / "full")
    full.run([*[p for d in days[:-1] for p in d], *orders])
    assert_gold_equal(inc, full)


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_a_failed_gold_write_fails_the_run_with_its_own_error(
    days: list[list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails after others were committed: the run raises that error (not one from
    tidying the half-consumed refresh), and the next run catches gold up."""
    from lakehouse.engines.local import LocalAdapter

    write = LocalAdapter.write_gold

    def failing(self: LocalAdapter, w: GoldWrite[Any], description: str, commit: Any) -> int:
        if w.model == "customer_profile":
            raise ValueError("gold.customer_profile: simulated write failure")
        return write(self, w, description, commit)

    files = [p for d in days[:3] for p in d]
    lh = Lakehouse(tmp_path / "lake")
    monkeypatch.setattr(LocalAdapter, "write_gold", failing)
    with pytest.raises(ValueError, match="simulated write failure"):
        lh.run(files)
    written = {t.name for t in lh.tables() if t.name.startswith("gold.")}
    assert "gold.sales_daily" in written and "gold.customer_profile" not in written
    monkeypatch.setattr(LocalAdapter, "write_gold", write)
    assert lh.run([]).status == "SUCCEEDED"
    clean = Lakehouse(tmp_path / "clean")
    clean.run(files)
    assert_gold_equal(lh, clean)
