"""Gold freshness: every-run models are current after each run; budget models lag silver by at
most their staleness budget, then catch up; status and the SLA say which ones are behind."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from typer.testing import CliRunner

from lakehouse import Lakehouse
from lakehouse.cli import app
from lakehouse.config.loader import ConfigError, load
from lakehouse.generate import generate
from lakehouse.gold import get_model, list_models
from lakehouse.gold.builds import BUILDS_SCHEMA, builds, pending, silver_versions
from lakehouse.gold.model import ModelError, parse_model, read_models
from lakehouse.monitoring.status import report
from test_gold_pipeline import assert_gold_equal, gold_rows

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
BUDGET = sorted(m.name for m in list_models() if m.freshness == "budget")
EVERY_RUN = sorted(m.name for m in list_models() if m.freshness == "every run")


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path]]:
    """Products and the first days of orders, then the last day's orders and lines."""
    out = tmp_path_factory.mktemp("gen")
    generate(out, orders=600, products=60, days=6, seed=5, fmt="csv")
    files = sorted(out.glob("*.csv"))
    last = max(p.stem.rsplit("_", 1)[-1] for p in files if not p.name.startswith("products"))
    later = [p for p in files if p.stem.endswith(last) and not p.name.startswith("products")]
    return [p for p in files if p not in later], later


def versions(lh: Lakehouse) -> dict[str, int]:
    return {t.name: t.version for t in lh.tables() if t.name.startswith("gold.")}


def deferred(lh: Lakehouse) -> list[list[str]]:
    rows = lh.sql("SELECT deferred FROM _ops.gold_builds ORDER BY built_at").to_pylist()
    return [json.loads(r["deferred"]) for r in rows]


def full_load(tmp_path: Path, days: tuple[list[Path], list[Path]]) -> Lakehouse:
    full = Lakehouse(tmp_path / "full")
    full.run([*days[0], *days[1]], now=T0)
    return full


def test_budget_models_wait_for_their_budget_then_catch_up(
    days: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    lh = Lakehouse(tmp_path / "lake")
    lh.run(days[0], now=T0)
    first = versions(lh)
    assert deferred(lh) == [[]]  # the first build builds every model

    lh.run(days[1], now=T0 + dt.timedelta(minutes=5))
    second = versions(lh)
    full = full_load(tmp_path, days)
    changed = {n.removeprefix("gold.") for n in second if second[n] > first[n]}
    assert set(EVERY_RUN) - {"catalog_summary"} <= changed  # new orders: every slice model
    assert not changed & set(BUDGET)  # within their 15 minutes
    assert deferred(lh)[-1] == BUDGET  # each reads orders or lines, so each is behind now
    for name in EVERY_RUN:
        assert gold_rows(lh, name) == gold_rows(full, name), name
    assert any(gold_rows(lh, n) != gold_rows(full, n) for n in BUDGET)  # stale for real

    # a run with nothing new, 14 min after the budget models were last current: still waiting
    lh.run([], now=T0 + dt.timedelta(minutes=14))
    assert versions(lh) == second
    # at 15 min the budget is spent: the run rebuilds them, with nothing new to load
    lh.run([], now=T0 + dt.timedelta(minutes=15))
    third = versions(lh)
    assert {n.removeprefix("gold.") for n in third if third[n] > second[n]} == set(BUDGET)
    assert deferred(lh)[-1] == []
    assert_gold_equal(lh, full)


def test_builds_of_one_instant_are_told_apart_by_what_they_read(
    days: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    """Runs given the same `now` record builds with equal `built_at`: the one that read newer
    silver is the last build, in whatever order the rows are read, so a run with nothing new
    refreshes nothing."""
    lh = Lakehouse(tmp_path / "lake")
    lh.run(days[0], now=T0)
    lh.run(days[1], now=T0)
    table = DeltaTable(str(tmp_path / "lake" / "_ops" / "gold_builds"))
    rows = table.to_pyarrow_table().sort_by("silver_versions").to_pylist()
    assert rows[0]["built_at"] == rows[1]["built_at"]
    for order in (rows, rows[::-1]):  # one file: read in this order
        write_deltalake(table, pa.Table.from_pylist(order, schema=BUILDS_SCHEMA), mode="overwrite")
        assert builds(lh.root)[0].silver_versions == silver_versions(lh.root)
        found = pending(lh.root)
        assert found is not None and found.nothing
    written = versions(lh)
    lh.run([], now=T0)
    assert versions(lh) == written


def test_refresh_all_takes_every_behind_model_up_at_once(
    days: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    lh = Lakehouse(tmp_path / "lake")
    lh.run(days[0], now=T0)
    lh.run(days[1], now=T0 + dt.timedelta(minutes=1), refresh="all")
    assert deferred(lh) == [[], []]
    assert_gold_equal(lh, full_load(tmp_path, days))
    result = CliRunner().invoke(app, ["run", "--root", str(lh.root.uri), "--refresh", "sometimes"])
    assert result.exit_code == 2 and "sometimes" in result.output


def test_a_model_due_now_brings_the_behind_models_it_reads(
    days: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    """segment_summary with a budget of 0 reads customer_segments (15 min): both are rebuilt, so
    the summary never reads stale segments; the other budget models wait."""
    lh = Lakehouse(tmp_path / "lake")
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "lakehouse.toml").write_text(
        "[gold.models.segment_summary]\nstaleness_minutes = 0\n"
    )
    lh.run(days[0], now=T0)
    before = versions(lh)
    lh.run(days[1], now=T0 + dt.timedelta(minutes=2))
    after = versions(lh)
    rebuilt = {n.removeprefix("gold.") for n in after if after[n] > before[n]} & set(BUDGET)
    assert rebuilt == {"segment_summary", "customer_segments"}
    assert deferred(lh)[-1] == sorted(set(BUDGET) - rebuilt)
    full = full_load(tmp_path, days)
    for name in ("segment_summary", "customer_segments"):
        assert gold_rows(lh, name) == gold_rows(full, name)


def test_status_shows_staleness_and_a_model_past_its_budget_breaches_the_sla(
    days: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    lh = Lakehouse(tmp_path / "lake")
    lh.run(days[0], now=T0)
    lh.run(days[1], now=T0 + dt.timedelta(minutes=5))
    settings = load(lh.root)
    within = report(lh.root, settings, lh.contracts, now=T0 + dt.timedelta(minutes=10))
    by_table = {g.table: g for g in within.gold}
    assert sorted(by_table) == [f"gold.{n}" for n in BUDGET]
    segments = by_table["gold.customer_segments"]
    assert (segments.as_of, segments.behind, segments.staleness_minutes) == (T0, True, 10.0)
    assert segments.within_budget and segments.budget_minutes == 15
    assert not [b for b in within.breaches if b.startswith("gold.")]

    late = report(lh.root, settings, lh.contracts, now=T0 + dt.timedelta(minutes=16))
    breached = sorted(b.split(":")[0] for b in late.breaches if b.startswith("gold."))
    assert breached == [f"gold.{n}" for n in BUDGET]
    assert "16.0 min behind silver" in next(b for b in late.breaches if "customer_segments" in b)
    assert late.as_dict()["gold"][0]["within_budget"] is False

    # the CLI: a table of budget models, exit 2 on the breach (the wall clock is far past T0)
    result = CliRunner().invoke(app, ["status", "--root", str(lh.root.uri)])
    assert result.exit_code == 2
    assert "gold models with a staleness budget" in result.output
    assert "past budget" in result.output

    lh.run([], now=T0 + dt.timedelta(minutes=16))  # the next run catches them up
    caught_up = report(lh.root, settings, lh.contracts, now=T0 + dt.timedelta(minutes=17))
    assert all(g.within_budget and not g.behind for g in caught_up.gold)


def test_a_model_whose_table_was_dropped_is_rebuilt_whatever_its_budget(
    days: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    import shutil

    lh = Lakehouse(tmp_path / "lake")
    lh.run(days[0], now=T0)
    shutil.rmtree(Path(lh.root.table_uri("gold", "product_pairs")))
    lh.run([], now=T0 + dt.timedelta(minutes=1))
    assert DeltaTable(lh.root.table_uri("gold", "product_pairs")).version() >= 0
    assert deferred(lh)[-1] == []  # a missing table means a full build of everything


def test_freshness_declarations_are_checked(tmp_path: Path) -> None:
    header = (
        '/*\nname = "m"\ndescription = "d"\ngrain = "g"\nrefresh = "by_date"\nkey = "date"\n'
        'period = "day"\nfreshness = "budget"\n[columns]\ndate = "d"\n*/\nSELECT 1 AS date'
    )
    with pytest.raises(ModelError, match='its freshness is "every run"'):
        parse_model(header, "m.sql")
    with pytest.raises(ModelError, match="freshness = 'hourly'"):
        parse_model(header.replace('"budget"', '"hourly"'), "m.sql")

    models = tmp_path / "models"
    models.mkdir()
    (models / "a.sql").write_text(
        '/*\nname = "a"\ndescription = "d"\ngrain = "g"\nrefresh = "full"\n'
        '[columns]\nx = "x"\n*/\nSELECT 1 AS x'
    )
    (models / "b.sql").write_text(
        '/*\nname = "b"\ndescription = "d"\ngrain = "g"\nrefresh = "full"\n'
        'freshness = "every run"\ndepends_on = ["a"]\n[columns]\nx = "x"\n*/\nSELECT x FROM gold.a'
    )
    with pytest.raises(ModelError, match=r"b\.sql: freshness is every run, but it reads gold\.a"):
        read_models(models)

    (tmp_path / "lakehouse.toml").write_text("[gold.models.sales_daily]\nstaleness_minutes = 5\n")
    with pytest.raises(ConfigError, match='only models declared freshness = "budget"'):
        load(path=tmp_path / "lakehouse.toml")
    (tmp_path / "lakehouse.toml").write_text("[gold]\nstaleness_minutes = -1\n")
    with pytest.raises(ConfigError, match=r"gold\.staleness_minutes"):
        load(path=tmp_path / "lakehouse.toml")


def test_an_idle_watcher_refreshes_the_models_whose_budget_is_spent(
    days: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    """Runs at T0 and T0+5 min leave the budget models behind; the watcher (on the wall clock,
    days later) finds them due with nothing in landing/ and refreshes them by a run of no files,
    once: the next look finds nothing due."""
    from lakehouse.config.settings import Settings
    from lakehouse.orchestration.watch import Watcher

    lh = Lakehouse(tmp_path / "lake")
    lh.run(days[0], now=T0)
    lh.run(days[1], now=T0 + dt.timedelta(minutes=5))
    assert deferred(lh)[-1] == BUDGET
    w = Watcher(lh.root, Settings(notifiers=()))
    summary = w.step()
    assert summary is not None and summary.status == "SUCCEEDED"
    assert summary.files_loaded == [] and deferred(lh)[-1] == []
    assert_gold_equal(lh, full_load(tmp_path, days))
    assert w.step() is None and w.runs == 1


def _one_order(files: list[Path], out: Path) -> list[Path]:
    """The first order of a day's files and its lines, as a delivery of their own."""
    import csv

    out.mkdir()
    orders = next(p for p in files if p.name.startswith("orders"))
    lines = next(p for p in files if p.name.startswith("order_items"))
    with orders.open() as f:
        reader = csv.reader(f)
        header, first = next(reader), next(reader)
    order_id = first[header.index("order_id")]
    (out / orders.name).write_text(",".join(header) + "\n" + ",".join(first) + "\n")
    with lines.open() as f:
        rows = list(csv.reader(f))
    kept = [r for r in rows[1:] if r[rows[0].index("order_id")] == order_id]
    assert kept
    (out / lines.name).write_text("\n".join(",".join(r) for r in [rows[0], *kept]) + "\n")
    return [out / orders.name, out / lines.name]


def test_a_by_product_budget_model_that_was_current_refreshes_only_the_touched_products(
    days: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    """reorder_patterns has a budget (a day touches nearly every product); with a budget of 0
    it is current before every run, so a run refreshes only the products it touched, as before
    it had a budget, and the table equals a full build's."""
    assert get_model("reorder_patterns").freshness == "budget"
    lh = Lakehouse(tmp_path / "lake")
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "lakehouse.toml").write_text(
        "[gold.models.reorder_patterns]\nstaleness_minutes = 0\n"
    )
    lh.run(days[0], now=T0)
    small = _one_order(days[1], tmp_path / "small")
    lh.run(small, now=T0 + dt.timedelta(minutes=1))
    table = DeltaTable(lh.root.table_uri("gold", "reorder_patterns"))
    last = table.history(1)[0]
    assert last["operationParameters"]["predicate"].startswith("product_id IN (")
    assert "reorder_patterns" not in deferred(lh)[-1]
    full = Lakehouse(tmp_path / "full")
    full.run([*days[0], *small], now=T0)
    assert gold_rows(lh, "reorder_patterns") == gold_rows(full, "reorder_patterns")
