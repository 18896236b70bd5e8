"""Glue Data Catalog sync against moto, and the Athena DDL parsed by sqlglot."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
import sqlglot
from deltalake import write_deltalake
from typer.testing import CliRunner

from lakehouse.aws import athena
from lakehouse.aws import glue_catalog as gc
from lakehouse.aws.glue_sync import sync
from lakehouse.cli import app
from lakehouse.contracts import load_contracts
from lakehouse.gold import get_model, list_models
from lakehouse.store import zones
from lakehouse.store.root import Root

if TYPE_CHECKING:
    from aws_fixtures import Aws

pytestmark = pytest.mark.aws
pytest_plugins = ["aws_fixtures"]
CONTRACTS = Path(gc.__file__).parents[1] / "contracts"


def _gold(root: Root, name: str) -> None:
    """A written gold table (what a run leaves), with the model's columns."""
    model = get_model(name)
    cols = {c.name: pa.array([1], pa.int64()) for c in model.columns}
    cols["date"] = pa.array([pa.scalar(0, pa.date32()).as_py()], pa.date32())
    write_deltalake(root.table_uri("gold", name), pa.table(cols), partition_by=["date"])


def _tables(glue: Any, db: str) -> dict[str, dict[str, Any]]:
    pages = glue.get_paginator("get_tables").paginate(DatabaseName=db)
    return {t["Name"]: t for p in pages for t in p["TableList"]}


def _versions(glue: Any, db: str, name: str) -> int:
    return len(glue.get_table_versions(DatabaseName=db, TableName=name)["TableVersions"])


def test_sync_builds_the_catalog_from_the_contracts_and_is_idempotent(
    aws: Aws, tmp_path: Path
) -> None:
    root = Root(tmp_path / "lake")
    _gold(root, "sales_daily")
    glue = aws.client("glue")
    plan = gc.catalog_tables(root)
    first = sync(plan.tables, "shop", client=glue)
    contracts = load_contracts()
    silver = [f"silver_{e}" for e in contracts]
    assert first.database_created and first.created == [*silver, "gold_sales_daily"]
    assert any(s.startswith("gold.customer_profile: no Delta table") for s in plan.skipped)
    found = _tables(glue, "shop")
    for entity, contract in contracts.items():
        t = found[f"silver_{entity}"]
        schema = zones.silver_schema(contract)
        keys = list(contract.partition_by)
        assert [k["Name"] for k in t["PartitionKeys"]] == keys
        assert all(k["Type"] == "date" for k in t["PartitionKeys"])
        cols = t["StorageDescriptor"]["Columns"]
        assert [c["Name"] for c in cols] == [n for n in schema.names if n not in keys]
        for c in cols:
            if c["Name"] in contract.names:
                want = contract.column(c["Name"])
                assert c["Comment"] == " ".join(want.description.split())[:255]
                assert c["Type"] == want.type.replace(" ", "")
        assert t["Description"] == contract.description
        assert t["StorageDescriptor"]["Location"] == f"{root.uri}/silver/{entity}"
        assert t["TableType"] == "EXTERNAL_TABLE"
        params = t["Parameters"]
        assert params["table_type"] == "DELTA"
        assert params["spark.sql.sources.provider"] == "delta"
        assert params["lakehouse.contract.version"] == str(contract.version)
    gold = found["gold_sales_daily"]
    model = get_model("sales_daily")
    comments = {c["Name"]: c.get("Comment") for c in gold["StorageDescriptor"]["Columns"]}
    assert comments["revenue"] == model.columns[model.column_names.index("revenue")].description
    assert [k["Name"] for k in gold["PartitionKeys"]] == ["date"]
    # a second sync changes nothing
    before = {n: _versions(glue, "shop", n) for n in found}
    second = sync(gc.catalog_tables(root).tables, "shop", client=glue)
    assert not second.changed and second.unchanged == first.created
    assert {n: _versions(glue, "shop", n) for n in found} == before


def _contracts_without(tmp_path: Path, entity: str, column: str) -> str:
    folder = tmp_path / "contracts"
    folder.mkdir()
    for f in CONTRACTS.glob("*.toml"):
        shutil.copy(f, folder / f.name)
    path = folder / f"{entity}.toml"
    blocks = path.read_text().split("[[columns]]")
    kept = [b for b in blocks if not re.search(rf'^name = "{column}"$', b, re.M)]
    assert len(kept) == len(blocks) - 1
    path.write_text("[[columns]]".join(kept))
    return str(folder)


def test_a_column_dropped_from_the_contract_is_kept_and_reported(aws: Aws, tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    glue = aws.client("glue")
    sync(gc.catalog_tables(root, gold=False).tables, "drift", client=glue)
    narrower = _contracts_without(tmp_path, "orders", "status")
    report = sync(gc.catalog_tables(root, narrower, gold=False).tables, "drift", client=glue)
    assert not report.changed
    assert len(report.drift) == 1 and report.drift[0].startswith("silver_orders.status (string)")
    names = [
        c["Name"] for c in _tables(glue, "drift")["silver_orders"]["StorageDescriptor"]["Columns"]
    ]
    assert "status" in names


def test_a_table_lakehouse_does_not_manage_is_left_alone(aws: Aws, tmp_path: Path) -> None:
    glue = aws.client("glue")
    glue.create_database(DatabaseInput={"Name": "theirs"})
    glue.create_table(DatabaseName="theirs", TableInput={"Name": "silver_orders"})
    tables = gc.catalog_tables(Root(tmp_path / "lake"), gold=False).tables
    with pytest.raises(gc.CatalogError, match="not created by lakehouse"):
        sync(tables, "theirs", client=glue)


def test_cli_catalog_sync(aws: Aws, tmp_path: Path) -> None:
    args = ["catalog", "sync", "--glue", "--database", "cli_db", "--root", str(tmp_path)]
    first = CliRunner().invoke(app, [*args, "--format", "json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["changed"] is True
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0 and "unchanged silver_orders" in second.stdout
    assert CliRunner().invoke(app, ["catalog", "sync", "--root", str(tmp_path)]).exit_code != 0


# --- Athena ----------------------------------------------------------------------------------
def test_athena_ddl_parses_and_views_read_only_catalog_names(tmp_path: Path) -> None:
    root = Root("s3://my-lake/prod")
    entities = list(load_contracts())
    script = athena.athena_ddl(gc.ddl_tables(root), "shop", entities)
    statements = athena.statements(script)
    materialized = [m.name for m in list_models()]
    assert len(statements) == 1 + len(entities) + len(materialized) * 2
    allowed = {f"shop.silver_{e}" for e in entities} | {
        f"shop.{athena.view_name(m)}" for m in materialized
    }
    views = 0
    for stmt in statements:
        if stmt.startswith("CREATE OR REPLACE VIEW"):
            tree = sqlglot.parse_one(stmt, read="trino")
            assert isinstance(tree, sqlglot.exp.Create) and tree.kind == "VIEW"
            ctes = {c.alias for c in tree.find_all(sqlglot.exp.CTE)}
            read = {
                f"{t.db}.{t.name}"
                for t in tree.expression.find_all(sqlglot.exp.Table)
                if t.name not in ctes
            }
            assert read <= allowed, stmt[:80]
            views += 1
        else:
            tree = sqlglot.parse_one(stmt, read="athena")
            assert isinstance(tree, sqlglot.exp.Create)
            if tree.kind == "TABLE":
                sql = tree.sql("athena")
                assert "TBLPROPERTIES ('table_type'='DELTA')" in sql
                assert "LOCATION 's3://my-lake/prod/" in sql
    assert views == len(materialized)
    out = CliRunner().invoke(
        app, ["catalog", "ddl", "--dialect", "athena", "--database", "shop", "--root", root.uri]
    )
    assert out.exit_code == 0 and out.stdout == script


def test_kpi_queries_parse_as_trino_and_read_gold_tables() -> None:
    gold = {f"shop.gold_{m.name}" for m in list_models()}
    for q in athena.KPI_QUERIES:
        tree = sqlglot.parse_one(q.render("shop"), read="trino")
        assert {f"{t.db}.{t.name}" for t in tree.find_all(sqlglot.exp.Table)} <= gold, q.name
