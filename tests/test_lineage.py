"""Lineage derived from the contracts and the gold models' SQL: exact edges, every column a
model's SQL reads, a new model column seen without other edits, the impact of a change."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import shutil
from pathlib import Path

import pytest
from deltalake import write_deltalake

from lakehouse.contracts import load_contracts
from lakehouse.contracts.loader import packaged_contracts
from lakehouse.engines.base import RunContext
from lakehouse.errors import SchemaEvolutionError
from lakehouse.gold.model import ModelError, all_models, models_dir
from lakehouse.lineage import ColumnRef, LineageGraph, lakehouse_graph
from lakehouse.orchestration.preflight import check_tables
from lakehouse.store import zones
from lakehouse.store.delta import ensure_table
from lakehouse.store.root import Root

ZONE_TABLE = re.compile(r"\b(?:FROM|JOIN)\s+(silver|gold)\.(\w+)(?:\s+AS)?\s+(\w+)", re.I)


@pytest.fixture(scope="module")
def graph() -> LineageGraph:
    return lakehouse_graph()


def names(hits: list) -> set[str]:  # type: ignore[type-arg]
    return {str(h.ref) for h in hits}


def test_revenue_comes_from_the_order_lines_through_the_building_blocks(
    graph: LineageGraph,
) -> None:
    direct = graph.upstream("gold.product_performance", "revenue", direct_only=True)
    assert {
        "gold.product_days.revenue",
        "gold.line_revenue.revenue",
        "silver.order_items.quantity",
        "silver.order_items.unit_price",
        "silver.orders.total_amount",  # unpriced lines share their order's total
        "bronze.order_items.unit_price",
        "landing.order_items.quantity",
    } <= names(direct)
    one_step = graph.upstream("gold.product_performance", "revenue", transitive=False)
    assert [(str(h.ref), h.kind) for h in one_step if h.kind == "direct"] == [
        ("gold.product_days.revenue", "direct")
    ]
    assert graph.sources("gold.product_days", "revenue")[0].source == ColumnRef(
        "gold.line_revenue", "revenue"
    )


def test_exact_edges(graph: LineageGraph) -> None:
    def src(table: str, column: str) -> set[str]:
        return {str(e.source) for e in graph.sources(table, column)}

    assert src("gold.line_revenue", "unit_price") == {"silver.order_items.unit_price"}
    assert src("gold.sales_daily", "revenue") == {"silver.orders.total_amount"}
    assert src("gold.payment_methods", "payment_method") == {"silver.orders.payment_method"}
    assert src("gold.customer_profile", "preferred_payment_method") == {
        "silver.orders.payment_method"
    }
    assert src("silver.orders", "total_amount") == {"bronze.orders.total_amount"}
    assert src("bronze.orders", "total_amount") == {"landing.orders.total_amount"}
    assert src("quarantine.orders", "total_amount") == {"bronze.orders.total_amount"}
    assert graph.input_tables("gold.product_performance") == [
        "silver.orders",
        "silver.products",
        "gold.product_days",
        "gold.reorder_patterns",
    ]
    # the foreign key check reads the parent: order_items rows depend on silver.orders
    assert "silver.orders" in graph.input_tables("silver.order_items")
    assert "silver.orders._source_file" not in names(graph.upstream("gold.sales_daily"))


def test_every_column_a_model_reads_is_upstream_of_it(graph: LineageGraph) -> None:
    """Computed apart from sqlglot: `alias.column` references to an aliased input table in the
    SQL text must be one-step upstream columns, and every one-step upstream column's name
    must appear in the SQL."""
    checked = 0
    for model in all_models().values():
        upstream = graph.upstream(model.table, transitive=False)
        one_step = {(h.ref.table, h.ref.column) for h in upstream}
        assert one_step, model.name
        for _, column in one_step:
            assert re.search(rf"\b{re.escape(column)}\b", model.sql), (model.name, column)
        for zone, table, alias in ZONE_TABLE.findall(model.sql):
            node = graph.table(f"{zone}.{table}")
            for column in re.findall(rf"\b{alias}\.(\w+)", model.sql):
                if column in node.columns:
                    assert (f"{zone}.{table}", column) in one_step, (model.name, alias, column)
                    checked += 1
        assert {t for t, _ in one_step} == set(graph.input_tables(model.table))
    assert checked > 100


@pytest.mark.parametrize(
    ("written", "named"),
    [("FROM silver.orders", "silver.ordres"), ("FROM gold.line_revenue", "gold.line_revenu")],
)
def test_a_model_reading_a_table_the_lakehouse_has_not_is_refused_by_name(
    tmp_path: Path, written: str, named: str
) -> None:
    """A typo in a table name was taken in: `lineage` listed columns of `silver.ordres`."""
    models = tmp_path / "models"
    shutil.copytree(models_dir(), models)
    changed = 0
    for path in models.glob("*.sql"):
        text = path.read_text()
        if written in text:
            path.write_text(text.replace(written, f"FROM {named}", 1))
            changed += 1
            break
    assert changed == 1
    with pytest.raises(ModelError, match=rf"{path.name}: reads {named}, which is no table"):
        lakehouse_graph(models_dir=models)


def test_a_column_added_to_a_model_appears_without_other_edits(tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(models_dir(), models)
    path = models / "product_performance.sql"
    text = path.read_text()
    text = text.replace(
        'revenue = "Line revenue, decimal(18,2); 0 when never sold."',
        'revenue = "Line revenue, decimal(18,2); 0 when never sold."\n'
        'revenue_per_line = "revenue / lines."',
    )
    text = text.replace(
        "    revenue,\n    reorder_rate,",
        "    revenue,\n    revenue / NULLIF(lines, 0) AS revenue_per_line,\n    reorder_rate,",
    )
    path.write_text(text)
    g = lakehouse_graph(models_dir=models)
    assert "revenue_per_line" in g.table("gold.product_performance").columns
    one_step = g.upstream("gold.product_performance", "revenue_per_line", transitive=False)
    assert names([h for h in one_step if h.kind == "direct"]) == {
        "gold.product_days.revenue",
        "gold.product_days.lines",
    }
    assert "silver.order_items.quantity" in names(
        g.upstream("gold.product_performance", "revenue_per_line", direct_only=True)
    )


PAYMENT_METHOD_IMPACT = {
    ("gold.customer_profile", "preferred_payment_method", "direct"),
    ("gold.payment_methods", "payment_method", "direct"),
    ("gold.payment_methods_by_segment", "payment_method", "direct"),
    ("gold.payment_methods_weekly", "payment_method", "direct"),
    # grouped by payment method: every measure of these tables moves with it
    *(
        ("gold.payment_methods", c, "indirect")
        for c in ("orders", "customers", "revenue", "aov", "order_share", "revenue_share")
    ),
    *(
        ("gold.payment_methods_by_segment", c, "indirect")
        for c in ("segment", "orders", "customers", "revenue", "aov", "order_share")
    ),
    *(
        ("gold.payment_methods_weekly", c, "indirect")
        for c in (
            "week_start",
            "orders",
            "revenue",
            "aov",
            "order_share",
            "prev_orders",
            "orders_change_rate",
            "prev_order_share",
            "order_share_change",
        )
    ),
}


def test_impact_of_payment_method_is_exactly_what_the_sql_reads(graph: LineageGraph) -> None:
    hits = graph.downstream("silver.orders", "payment_method")
    assert {(h.ref.table, h.ref.column, h.kind) for h in hits} == PAYMENT_METHOD_IMPACT


def test_cli_lineage_json_downstream() -> None:
    from typer.testing import CliRunner

    from lakehouse.cli import app

    args = ["lineage", "silver.orders", "--column", "payment_method", "--downstream"]
    log = logging.getLogger("lakehouse")
    handlers, propagate = list(log.handlers), log.propagate
    try:  # the command configures the logger for a process of its own: undo that after
        result = CliRunner().invoke(app, [*args, "--format", "json"])
    finally:
        log.handlers[:], log.propagate = handlers, propagate
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {(r["table"], r["column"], r["kind"]) for r in rows} == PAYMENT_METHOD_IMPACT
    assert all(r["depth"] == 1 for r in rows)


def test_contract_change_logs_the_impact_and_a_refusal_names_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cdir = tmp_path / "contracts"
    shutil.copytree(
        str(packaged_contracts()), cdir, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    root = Root(str(tmp_path / "lake"))
    v1 = load_contracts(str(cdir))["orders"]
    table = ensure_table(root, "silver", "orders", zones.silver_schema(v1))
    ctx = RunContext("r1", dt.datetime.now(dt.UTC), ("orders_1.csv",), frozenset())
    write_deltalake(  # a silver write as the engines commit it: the contract recorded
        table,
        zones.silver_schema(v1).empty_table(),
        mode="append",
        commit_properties=ctx.commit("silver_merge", v1).properties(),
    )
    toml = (cdir / "orders.toml").read_text().replace("version = 1", "version = 2")
    toml = toml.replace('"gift_card"]', '"gift_card", "crypto"]')
    (cdir / "orders.toml").write_text(toml)
    log = logging.getLogger("lakehouse")
    log.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="lakehouse")
    try:  # what the bronze step does before writing a row with the new contract version
        check_tables(root, load_contracts(str(cdir)))
    finally:
        log.removeHandler(caplog.handler)
    # the handler sees a record twice when the logger also propagates to the root logger
    found = list(
        {id(r): r for r in caplog.records if r.getMessage() == "contract_change_impact"}.values()
    )
    assert len(found) == 1
    fields = found[0].fields  # type: ignore[attr-defined]
    assert fields["contract"] == "orders@v2"
    assert fields["previous"] == "orders@v1"
    assert (fields["column"], fields["change"]) == ("silver.orders.payment_method", "checks")
    assert fields["after"].endswith("|gift_card|crypto")
    reported = {tuple(d.rsplit(" ", 1)) for d in fields["downstream"]}
    assert reported == {(f"{t}.{c}", f"({k})") for t, c, k in PAYMENT_METHOD_IMPACT}

    toml = toml.replace("version = 2", "version = 3").replace(
        'name = "payment_method"\ntype = "string"', 'name = "payment_method"\ntype = "bigint"'
    )
    toml = re.sub(r'enum = \[[^]]*"crypto"\]\n', "", toml)  # an enum is for text only
    (cdir / "orders.toml").write_text(toml)
    with pytest.raises(SchemaEvolutionError, match=r"gold\.payment_methods\.payment_method"):
        check_tables(root, load_contracts(str(cdir)))


def test_the_derived_graph_is_cached_under_its_definitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from lakehouse.lineage import build_graph
    from lakehouse.lineage.cache import cached_graph

    monkeypatch.setenv("LAKEHOUSE_CACHE", str(tmp_path / "cache"))
    contracts, models = load_contracts(), all_models()
    derived = build_graph(contracts, models)
    first = cached_graph(contracts, models)
    [stored] = (tmp_path / "cache" / "lineage").glob("*.json")
    assert (first.tables, first.edges) == (derived.tables, derived.edges)
    # later calls read the file: a table added to it comes back
    data = json.loads(stored.read_text())
    data["tables"].append(["gold.marker", ["x"], "", "model"])
    stored.write_text(json.dumps(data))
    assert "gold.marker" in cached_graph(contracts, models).tables
    # a model defined otherwise is another key: that file is not read for it
    edited = dataclasses.replace(models["sales_daily"], description="Edited.")
    other = cached_graph(contracts, {**models, "sales_daily": edited})
    assert "gold.marker" not in other.tables
    assert other.table("gold.sales_daily").description == "Edited."
    # a damaged file is derived again and replaced
    stored.write_text("{not json")
    again = cached_graph(contracts, models)
    assert (again.tables, again.edges) == (derived.tables, derived.edges)
    assert "gold.marker" not in {t[0] for t in json.loads(stored.read_text())["tables"]}
    # a cache that cannot be written (here a file where its folder would be) is skipped
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    monkeypatch.setenv("LAKEHOUSE_CACHE", str(blocked))
    uncached = cached_graph(contracts, models)
    assert (uncached.tables, uncached.edges) == (derived.tables, derived.edges)
