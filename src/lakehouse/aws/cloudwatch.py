"""A run's metrics in CloudWatch (namespace `Lakehouse`), where the stack's alarms read them.

The pipeline already measures every run as rows of `_ops.metrics` (metric, subject, value,
unit); `datums` turns them into CloudWatch metric data with the dimensions the alarms use:
`Environment` always, `Table` for table subjects (`silver.orders`), `Step` for step subjects.
`publish_run` sends one run's rows plus `RunsSucceeded` / `RunsFailed`; `publish_latest` does
that for the newest run under a root — the Glue launcher (`infra/glue/launch.py`) calls it when
a run ends (the job's role may put metrics in this namespace only).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakehouse.store.root import Root

NAMESPACE = "Lakehouse"
#: Names the alarms and the dashboard rely on (others are CamelCase of the metric).
NAMES = {
    "reject_rate": "RejectRate",
    "freshness_lag_s": "FreshnessLagSeconds",
    "run_seconds": "RunSeconds",
    "step_seconds": "StepSeconds",
    "latency_s": "LatencySeconds",
}
UNITS = {
    "rows": "Count",
    "files": "Count",
    "attempts": "Count",
    "bytes": "Bytes",
    "s": "Seconds",
    "ratio": "None",
}
BATCH = 500  # datums per PutMetricData call (the API takes up to 1000)


def metric_name(metric: str) -> str:
    return NAMES.get(metric) or "".join(p.capitalize() for p in metric.split("_"))


def dimensions(subject: str, environment: str) -> list[dict[str, str]]:
    dims = [{"Name": "Environment", "Value": environment}]
    if subject in ("", "pipeline"):
        return dims
    kind = "Table" if "." in subject else "Step"
    return [*dims, {"Name": kind, "Value": subject}]


def datums(rows: Iterable[Mapping[str, Any]], environment: str) -> list[dict[str, Any]]:
    """CloudWatch MetricData for `_ops.metrics` rows (run_id, at, metric, subject, value, unit)."""
    out = []
    for r in rows:
        at = r.get("at")
        d: dict[str, Any] = {
            "MetricName": metric_name(str(r["metric"])),
            "Dimensions": dimensions(str(r.get("subject") or ""), environment),
            "Value": float(r["value"]),
            "Unit": UNITS.get(str(r.get("unit")), "None"),
        }
        if isinstance(at, dt.datetime):
            d["Timestamp"] = at
        out.append(d)
    return out


def run_status_datums(status: str, environment: str, at: dt.datetime) -> list[dict[str, Any]]:
    dims = dimensions("pipeline", environment)
    return [
        {
            "MetricName": name,
            "Dimensions": dims,
            "Value": 1.0 if status == wanted else 0.0,
            "Unit": "Count",
            "Timestamp": at,
        }
        for name, wanted in (("RunsSucceeded", "SUCCEEDED"), ("RunsFailed", "FAILED"))
    ]


def put(data: list[dict[str, Any]], *, client: Any = None) -> int:
    """Send metric data in batches; the number of datums sent."""
    if client is None:
        import boto3

        client = boto3.client("cloudwatch")
    for i in range(0, len(data), BATCH):
        client.put_metric_data(Namespace=NAMESPACE, MetricData=data[i : i + BATCH])
    return len(data)


def publish_run(
    rows: Iterable[Mapping[str, Any]],
    status: str,
    environment: str,
    *,
    at: dt.datetime | None = None,
    client: Any = None,
) -> int:
    """One run's metric rows plus its outcome (`RunsSucceeded` / `RunsFailed`)."""
    when = at or dt.datetime.now(dt.UTC)
    data = datums(rows, environment) + run_status_datums(status, environment, when)
    return put(data, client=client)


def publish_latest(root: Root, environment: str, *, client: Any = None) -> str | None:
    """Publish the newest run recorded under `root` (`_ops.runs` and its `_ops.metrics` rows);
    the run id, or None when the root has no run yet. The Glue launcher calls it after a run."""
    import pyarrow.compute as pc

    from lakehouse.store import ops
    from lakehouse.store.delta import read_arrow, try_open

    runs = try_open(root, "_ops", "runs")
    if runs is None:
        return None
    table = read_arrow(runs, ["run_id", "status", "started_at", "ended_at"])
    if table.num_rows == 0:
        return None
    last = table.sort_by([("started_at", "descending")]).slice(0, 1).to_pylist()[0]
    metrics = ops.read_metrics(root)
    rows = metrics.filter(pc.equal(metrics["run_id"], last["run_id"])).to_pylist()
    at = last["ended_at"] or last["started_at"]
    publish_run(rows, str(last["status"]), environment, at=at, client=client)
    return str(last["run_id"])
