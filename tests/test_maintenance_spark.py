"""The shared optimize plan rendered as Delta SQL for the Spark engine (strings), and one
end-to-end run on Spark when the spark engine is available."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from lakehouse.maintenance import MaintenanceSettings, table_health
from lakehouse.maintenance.plan import OptimizePlan, PartitionFiles
from lakehouse.maintenance.spark_sql import (
    optimize_with_spark,
    partition_predicate,
    render_optimize,
    render_set_properties,
    render_vacuum,
    vacuum_with_spark,
)
from lakehouse.storage import Root
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
