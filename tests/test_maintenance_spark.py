"""The shared optimize plan rendered as Delta SQL for the Spark engine (strings), and one
end-to-end run on Spark when the spark engine is available."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from lakehouse.maintenance import MaintenanceSettings, plan_for, table_health
from lakehouse.maintenance.plan import OptimizePlan, PartitionFiles
from lakehouse.maintenance.spark_sql import (
    optimize_with_spark,
    partition_predicate,
    render_optimize,
    render_set_properties,
    render_vacuum,
    vacuum_with_spark,
)
from lakehouse.store.root import Root
from test_maintenance import DATES, ZORDER, build_small_file_table

SETTINGS = MaintenanceSettings(target_file_size=4 * 1024 * 1024, min_small_files=5)


def plan(
    partition_by: tuple[str, ...],
    parts: list[tuple[tuple[str, str | None], ...]],
    zorder: tuple[str, ...] = (),
) -> OptimizePlan:
    return OptimizePlan(
        table="silver.order_items",
        partition_by=partition_by,
        zorder_by=zorder,
        target_size=1024,
        partitions=tuple(PartitionFiles(p, 9, 9, 900) for p in parts),
        files_total=20,
        bytes_total=2000,
    )


def test_optimize_some_partitions_with_zorder() -> None:
    p = plan(("date",), [(("date", "2025-04-01"),), (("date", "2025-04-03"),)], ZORDER)
    assert render_optimize("s3://lake/silver/order_items", p) == (
        "OPTIMIZE delta.`s3://lake/silver/order_items` "
        "WHERE `date` IN ('2025-04-01', '2025-04-03') "
        "ZORDER BY (`product_id`, `order_id`)"
    )


def test_optimize_one_partition_compaction_only() -> None:
    p = plan(("date",), [(("date", "2025-04-01"),)])
    assert render_optimize("/lake/silver/orders", p) == (
        "OPTIMIZE delta.`/lake/silver/orders` WHERE `date` = '2025-04-01'"
    )


def test_unpartitioned_table_and_quoting() -> None:
    p = plan((), [()], ("user_id",))
    assert render_optimize("/we`ird/gold/x", p) == (
        "OPTIMIZE delta.`/we``ird/gold/x` ZORDER BY (`user_id`)"
    )


def test_null_and_multi_column_partitions() -> None:
    single = plan(("date",), [(("date", "2025-04-01"),), (("date", None),)])
    assert partition_predicate(single) == "`date` = '2025-04-01' OR `date` IS NULL"
    multi = plan(
        ("country", "date"),
        [(("country", "it's"), ("date", "2025-04-01")), (("country", None), ("date", "x"))],
    )
    assert partition_predicate(multi) == (
        "(`country` = 'it\\'s' AND `date` = '2025-04-01') OR (`country` IS NULL AND `date` = 'x')"
    )


def test_vacuum_and_properties() -> None:
    assert render_vacuum("/l/t", 168) == "VACUUM delta.`/l/t` RETAIN 168 HOURS"
    assert (
        render_vacuum("/l/t", 240, dry_run=True) == "VACUUM delta.`/l/t` RETAIN 240 HOURS DRY RUN"
    )
    assert render_set_properties("/l/t", MaintenanceSettings().log_properties()) == (
        "ALTER TABLE delta.`/l/t` SET TBLPROPERTIES ("
        "'delta.checkpointInterval' = '100', "
        "'delta.deletedFileRetentionDuration' = 'interval 168 hours', "
        "'delta.logRetentionDuration' = 'interval 30 days')"
    )


class FakeSpark:
    """Records statements and conf changes; returns no rows."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.seen_conf: list[dict[str, str]] = []
        self.values: dict[str, str] = {}
        self.conf = self

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: str) -> None:
        self.values[key] = value

    def unset(self, key: str) -> None:
        self.values.pop(key, None)

    def sql(self, statement: str) -> Any:
        self.statements.append(statement)
        self.seen_conf.append(dict(self.values))
        return self

    def collect(self) -> list[Any]:
        return []


def test_optimize_with_spark_uses_the_shared_plan(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    build_small_file_table(root, appends=12, days=2)
    spark = FakeSpark()
    done = optimize_with_spark(
        spark, root, "silver.order_items", run_id="r-1", settings=SETTINGS, zorder=ZORDER
    )
    location = root.table_uri("silver", "order_items")
    assert spark.statements == [
        f"OPTIMIZE delta.`{location}` WHERE `date` IN ('{DATES[0]}', '{DATES[1]}') "
        "ZORDER BY (`product_id`, `order_id`)"
    ]
    conf = spark.seen_conf[0]
    assert '"lakehouse.run_id": "r-1"' in conf["spark.databricks.delta.commitInfo.userMetadata"]
    assert conf["spark.databricks.delta.optimize.maxFileSize"] == str(4 * 1024 * 1024)
    assert spark.values == {}  # session conf restored
    assert done.plan is not None and done.plan.files_considered == 12


def test_vacuum_with_spark_refuses_below_the_promise() -> None:
    from lakehouse.maintenance import RetentionRefused

    spark = FakeSpark()
    with pytest.raises(RetentionRefused):
        vacuum_with_spark(spark, "/l/t", run_id="r", settings=SETTINGS, retention_hours=1)
    assert spark.statements == []
    vacuum_with_spark(spark, "/l/t", run_id="r", settings=SETTINGS, retention_hours=0, force=True)
    assert spark.statements[-1] == "VACUUM delta.`/l/t` RETAIN 0 HOURS"
    assert spark.seen_conf[-1]["spark.databricks.delta.retentionDurationCheck.enabled"] == "false"


SPARK = importlib.util.find_spec("lakehouse.engines.spark") is not None


@pytest.mark.spark
def test_spark_optimize_end_to_end(tmp_path: Path) -> None:
    from lakehouse.engines.spark import get_session

    root = Root(tmp_path / "lake")
    build_small_file_table(root, appends=12, days=2)
    uri = root.table_uri("silver", "order_items")
    before = DeltaTable(uri).to_pyarrow_table().sort_by("id")
    spark = get_session()
    done = optimize_with_spark(
        spark, root, "silver.order_items", run_id="spark-1", settings=SETTINGS, zorder=ZORDER
    )
    assert done.statements and done.rows
    after = DeltaTable(uri)
    assert after.to_pyarrow_table().sort_by("id").equals(before)  # delta-rs reads Spark's work
    health = table_health(root, "silver.order_items", SETTINGS)
    assert health["files"] == 2
    assert health["zorder_by"] == list(ZORDER)
    assert health["last_optimize"]["run_id"] == "spark-1"


def test_executor_is_chosen_by_the_engine_name_in_one_place(tmp_path: Path) -> None:
    from lakehouse.errors import TerminalError
    from lakehouse.maintenance.executor import LocalExecutor, SparkExecutor, executor_for

    root = Root(tmp_path / "lake")
    assert isinstance(executor_for(None, root), LocalExecutor)
    assert isinstance(executor_for("local", root), LocalExecutor)

    class Adapter:
        spark = FakeSpark()

    class Engine:
        adapter = Adapter()

    assert executor_for(Engine(), root) == SparkExecutor(Engine.adapter.spark)
    with pytest.raises(TerminalError, match="unknown engine 'flink'"):
        executor_for("flink", root)


def _cli(*args: str) -> Any:
    from typer.testing import CliRunner

    from lakehouse.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def _optimize_commit(root: Root) -> dict[str, Any]:
    import json

    commit = next(
        h
        for h in DeltaTable(root.table_uri("silver", "order_items")).history()
        if h["operation"] == "OPTIMIZE"
    )
    meta = commit.get("userMetadata")  # Spark: one JSON text; delta-rs: commitInfo keys
    return dict(json.loads(meta)) if meta else commit


def _maintenance_rows(root: Root) -> pa.Table:
    from lakehouse.maintenance.records import SCHEMA

    table = DeltaTable(root.table_uri("_ops", "maintenance")).to_pyarrow_table()
    assert table.schema.names == SCHEMA.names
    return table


def _data_files(root: Root) -> set[str]:
    base = Path(root.table_uri("silver", "order_items"))
    return {str(p.relative_to(base)) for p in base.glob("date=*/*.parquet")}


@pytest.mark.spark
def test_cli_optimize_and_vacuum_on_spark_match_local(tmp_path: Path) -> None:
    """`lakehouse optimize|vacuum --engine spark`: the local plan, files, rows, commit metadata,
    `_ops.maintenance` rows and retention rule; vacuum removes what a local vacuum would."""
    import shutil

    from lakehouse.maintenance import RetentionRefused
    from lakehouse.maintenance.plan import file_layout

    spark_root, local_root = Root(tmp_path / "spark"), Root(tmp_path / "local")
    build_small_file_table(spark_root, appends=12, days=2)
    shutil.copytree(tmp_path / "spark", tmp_path / "local")
    uri = spark_root.table_uri("silver", "order_items")
    before = DeltaTable(uri).to_pyarrow_table().sort_by("id")
    settings = MaintenanceSettings.load(spark_root)
    planned = plan_for(spark_root, "silver.order_items", settings=settings, zorder=ZORDER)
    assert len(planned.partitions) == 2

    args = ["optimize", "silver.order_items", "--zorder", "product_id,order_id"]
    on_spark = _cli(*args, "--root", str(spark_root.uri), "--engine", "spark")
    on_local = _cli(*args, "--root", str(local_root.uri))
    assert on_spark.exit_code == 0, on_spark.output
    assert on_local.exit_code == 0, on_local.output
    assert "12 → 2" in on_spark.output and "product_id, order_id" in on_spark.output

    spark_meta, local_meta = _optimize_commit(spark_root), _optimize_commit(local_root)
    labels = [p.label for p in planned.partitions]
    assert json_list(spark_meta["lakehouse.partitions"]) == labels
    assert json_list(local_meta["lakehouse.partitions"]) == labels
    assert spark_meta["lakehouse.zorder_by"] == local_meta["lakehouse.zorder_by"]
    layout = [(p.values, p.files) for p in file_layout(DeltaTable(uri), settings.target_file_size)]
    local_uri = local_root.table_uri("silver", "order_items")
    local_layout = [
        (p.values, p.files) for p in file_layout(DeltaTable(local_uri), settings.target_file_size)
    ]
    assert layout == local_layout and sum(f for _, f in layout) == 2
    assert DeltaTable(uri).to_pyarrow_table().sort_by("id").equals(before)

    spark_rows, local_rows = _maintenance_rows(spark_root), _maintenance_rows(local_root)
    assert spark_meta["lakehouse.run_id"] == spark_rows["run_id"][0].as_py()
    same = ["table", "action", "reason", "status", "partitions_optimized"]
    same += ["files_before", "files_after"]
    assert spark_rows.select(same).equals(local_rows.select(same))
    assert spark_rows["version_after"][0].as_py() == DeltaTable(uri).version()

    # vacuum: the same refusal, then with --force the files a local vacuum removes
    shutil.rmtree(tmp_path / "local")
    shutil.copytree(tmp_path / "spark", tmp_path / "local")
    vac = ["vacuum", "silver.order_items", "--retention-hours"]
    refused = _cli(*vac, "24", "--root", str(spark_root.uri), "--engine", "spark")
    refused_local = _cli(*vac, "24", "--root", str(local_root.uri))
    assert isinstance(refused.exception, RetentionRefused)
    assert str(refused.exception) == str(refused_local.exception)
    assert len(_data_files(spark_root)) == 14  # nothing deleted

    done = _cli(*vac, "0", "--force", "--root", str(spark_root.uri), "--engine", "spark")
    done_local = _cli(*vac, "0", "--force", "--root", str(local_root.uri))
    assert done.exit_code == 0, done.output
    assert done_local.exit_code == 0, done_local.output
    assert "removed 12 files" in done.output and "removed 12 files" in done_local.output
    assert _data_files(spark_root) == _data_files(local_root)
    assert len(_data_files(spark_root)) == 2
    assert DeltaTable(uri).to_pyarrow_table().sort_by("id").equals(before)
    spark_vac = _maintenance_rows(spark_root).filter(pc.field("action") == "vacuum")
    local_vac = _maintenance_rows(local_root).filter(pc.field("action") == "vacuum")
    cols = ["table", "status", "files_vacuumed", "bytes_vacuumed"]
    assert spark_vac.select(cols).equals(local_vac.select(cols))
    assert spark_vac["checkpoint_version"][0].as_py() == DeltaTable(uri).version()


def json_list(value: Any) -> list[str]:
    import json

    return list(json.loads(value)) if isinstance(value, str) else list(value)
