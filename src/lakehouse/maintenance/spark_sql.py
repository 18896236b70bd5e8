"""Optimize and vacuum on the Spark engine: the shared plan rendered as Delta SQL.

The plan (which partitions, which Z-order columns) is the one `plan.py` makes for every engine;
only the execution differs: `OPTIMIZE delta.`<path>` WHERE <partitions> ZORDER BY (<cols>)`
issued through the SparkSession the caller gives. The run id goes into the commit's
`userMetadata` (`spark.databricks.delta.commitInfo.userMetadata`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from lakehouse.contracts import Contract
from lakehouse.engines.dialect import quote
from lakehouse.engines.spark.frames import USER_METADATA, user_metadata
from lakehouse.maintenance.optimize import plan_for
from lakehouse.maintenance.plan import OptimizePlan
from lakehouse.maintenance.settings import MaintenanceSettings
from lakehouse.store.delta import CommitInfo
from lakehouse.store.root import Root

MAX_FILE_SIZE = "spark.databricks.delta.optimize.maxFileSize"
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


def path_ref(location: str) -> str:
    """A path-based Delta table reference: delta.`s3://bucket/silver/orders`."""
    return "delta." + quote(location, "spark")


def literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _equals(column: str, value: str | None) -> str:
    name = quote(column, "spark")
    return f"{name} IS NULL" if value is None else f"{name} = {literal(value)}"


def partition_predicate(plan: OptimizePlan) -> str | None:
    """The plan's partitions as a predicate on partition columns only (None = whole table)."""
    if not plan.partition_by or not plan.partitions:
        return None
    if len(plan.partition_by) == 1:
        col = plan.partition_by[0]
        values = [p.values[0][1] for p in plan.partitions]
        present = [v for v in values if v is not None]
        terms = []
        if len(present) == 1:
            terms.append(_equals(col, present[0]))
        elif present:
            terms.append(f"{quote(col, 'spark')} IN ({', '.join(literal(v) for v in present)})")
        if len(present) < len(values):
            terms.append(_equals(col, None))
        return " OR ".join(terms)
    conj = [" AND ".join(_equals(c, v) for c, v in p.values) for p in plan.partitions]
    return " OR ".join(f"({c})" for c in conj) if len(conj) > 1 else conj[0]


def render_optimize(location: str, plan: OptimizePlan) -> str:
    """`OPTIMIZE delta.`path` [WHERE ...] [ZORDER BY (...)]` for the plan."""
    sql = f"OPTIMIZE {path_ref(location)}"
    where = partition_predicate(plan)
    if where:
        sql += f" WHERE {where}"
    if plan.zorder_by:
        sql += f" ZORDER BY ({', '.join(quote(c, 'spark') for c in plan.zorder_by)})"
    return sql


def render_vacuum(location: str, retention_hours: int, *, dry_run: bool = False) -> str:
    sql = f"VACUUM {path_ref(location)} RETAIN {int(retention_hours)} HOURS"
    return f"{sql} DRY RUN" if dry_run else sql


def render_set_properties(location: str, properties: Mapping[str, str]) -> str:
    pairs = ", ".join(f"{literal(k)} = {literal(v)}" for k, v in sorted(properties.items()))
    return f"ALTER TABLE {path_ref(location)} SET TBLPROPERTIES ({pairs})"


@dataclass(frozen=True)
class SparkMaintenance:
    table: str
    plan: OptimizePlan | None
    statements: tuple[str, ...]  # what was sent to Spark, in order
    rows: tuple[dict[str, Any], ...] = ()  # what Spark returned (metrics)


@contextmanager
def _conf(spark: Any, values: Mapping[str, str]) -> Iterator[None]:
    """Set session confs for the duration of one statement, then restore them."""
    before = {k: spark.conf.get(k, None) for k in values}
    for k, v in values.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, old in before.items():
            if old is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, old)


def optimize_with_spark(
    spark: Any,
    root: Root,
    name: str,
    *,
    run_id: str,
    settings: MaintenanceSettings,
    contract: Contract | None = None,
    zorder: Sequence[str] | None = None,
    everything: bool = False,
    location: str | None = None,
) -> SparkMaintenance:
    """Run the shared optimize plan for `zone.table` through `spark` (a SparkSession).

    `location` is the path Spark knows the table by (default `root.table_uri`, which on Glue is
    the same s3:// URI).
    """
    zone, table = name.split(".", 1)
    location = location or root.table_uri(zone, table)
    plan = plan_for(
        root, name, settings=settings, contract=contract, zorder=zorder, everything=everything
    )
    if not plan.needed:
        return SparkMaintenance(name, plan, ())
    sql = render_optimize(location, plan)
    extra = {
        "zorder_by": list(plan.zorder_by),
        "partitions": [p.label for p in plan.partitions],
        "target_size": plan.target_size,
    }  # the same commit metadata as the local engine's (`optimize.py`)
    meta = user_metadata(CommitInfo(run_id, "optimize", extra=extra))
    with _conf(spark, {USER_METADATA: meta, MAX_FILE_SIZE: str(plan.target_size)}):
        rows = spark.sql(sql).collect()
    return SparkMaintenance(name, plan, (sql,), tuple(r.asDict(recursive=True) for r in rows))


def vacuum_with_spark(
    spark: Any,
    location: str,
    *,
    run_id: str,
    settings: MaintenanceSettings,
    retention_hours: int | None = None,
    force: bool = False,
    dry_run: bool = False,
    properties: Mapping[str, str] | None = None,
) -> SparkMaintenance:
    """VACUUM through Spark with the same retention rules; first sets the log `properties`
    (default: all of `settings.log_properties()`; none when empty)."""
    hours = settings.retention_hours if retention_hours is None else retention_hours
    settings.check_retention(hours, force=force)
    statements = []
    info = CommitInfo(run_id, "vacuum", extra={"retention_hours": hours})
    conf = {USER_METADATA: user_metadata(info)}
    if force:
        conf[RETENTION_CHECK] = "false"
    rows: list[dict[str, Any]] = []
    with _conf(spark, conf):
        props = settings.log_properties() if properties is None else properties
        if not dry_run and props:
            statements.append(render_set_properties(location, props))
            spark.sql(statements[-1]).collect()
        statements.append(render_vacuum(location, hours, dry_run=dry_run))
        rows = [r.asDict(recursive=True) for r in spark.sql(statements[-1]).collect()]
    return SparkMaintenance(location, None, tuple(statements), tuple(rows))
