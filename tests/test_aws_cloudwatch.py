"""Run metrics to CloudWatch (namespace Lakehouse), with the dimensions the stack's alarms use,
and the Glue launcher that publishes them after a run."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lakehouse import Lakehouse
from lakehouse.aws import cloudwatch

if TYPE_CHECKING:
    from aws_fixtures import Aws

pytestmark = pytest.mark.aws
pytest_plugins = ["aws_fixtures"]
LAUNCHER = Path(__file__).parents[1] / "infra" / "glue" / "launch.py"
SCENARIOS = Path(__file__).parent / "scenarios"
AT = dt.datetime(2025, 4, 1, 6, 0, tzinfo=dt.UTC)
ROWS = [
    {"metric": "reject_rate", "subject": "silver.orders", "value": 0.02, "unit": "ratio", "at": AT},
    {"metric": "freshness_lag_s", "subject": "silver.orders", "value": 60, "unit": "s", "at": AT},
    {"metric": "rows_in", "subject": "silver.orders", "value": 500, "unit": "rows", "at": AT},
    {"metric": "step_seconds", "subject": "bronze", "value": 1.5, "unit": "s", "at": AT},
    {"metric": "run_seconds", "subject": "pipeline", "value": 9.0, "unit": "s", "at": AT},
]


def test_datums_use_the_alarm_names_and_dimensions() -> None:
    data = {d["MetricName"]: d for d in cloudwatch.datums(ROWS, "prod")}
    assert set(data) == {"RejectRate", "FreshnessLagSeconds", "RowsIn", "StepSeconds", "RunSeconds"}
    assert data["RejectRate"]["Dimensions"] == [
        {"Name": "Environment", "Value": "prod"},
        {"Name": "Table", "Value": "silver.orders"},
    ]
    assert data["StepSeconds"]["Dimensions"][1] == {"Name": "Step", "Value": "bronze"}
    assert data["RunSeconds"]["Dimensions"] == [{"Name": "Environment", "Value": "prod"}]
    assert (data["RowsIn"]["Unit"], data["RejectRate"]["Unit"]) == ("Count", "None")


def test_publish_run_to_cloudwatch(aws: Aws) -> None:
    client = aws.client("cloudwatch")
    env = f"test-{aws.bucket('cw')}"
    sent = cloudwatch.publish_run(ROWS, "SUCCEEDED", env, at=AT, client=client)
    assert sent == len(ROWS) + 2
    found = client.list_metrics(
        Namespace="Lakehouse", Dimensions=[{"Name": "Environment", "Value": env}]
    )["Metrics"]
    names = {m["MetricName"] for m in found}
    assert {"RejectRate", "FreshnessLagSeconds", "RunsSucceeded", "RunsFailed"} <= names


def test_glue_launcher_hands_over_settings_then_reports_the_run(aws: Aws, tmp_path: Path) -> None:
    """infra/glue/launch.py: job arguments become the lakehouse's environment; after the run its
    metrics reach CloudWatch and the catalog is synced."""
    root = tmp_path / "lake"
    Lakehouse(root).run(sorted((SCENARIOS / "corrections" / "input" / "run1").iterdir()))
    entry = tmp_path / "mods" / "fake_glue_entry.py"
    entry.parent.mkdir()
    seen = tmp_path / "seen.json"
    entry.write_text(
        "import json, os, sys\n"
        f"json.dump({{k: v for k, v in os.environ.items() if k.startswith('LAKEHOUSE')}}, "
        f"open({str(seen)!r}, 'w'))\n"
        "sys.exit(0)\n"
    )
    env_name = f"glue-{aws.bucket('cw')}"
    args = {
        "--entry-module": "fake_glue_entry",
        "--root": str(root),
        "--landing": str(tmp_path / "incoming"),
        "--environment": env_name,
        "--metrics-namespace": "Lakehouse",
        "--glue-database": "launcher_db",
        "--sns-topic-arn": "arn:aws:sns:us-east-1:123456789012:lakehouse",
    }
    done = subprocess.run(
        [sys.executable, str(LAUNCHER), *(x for kv in args.items() for x in kv)],
        env={**os.environ, "PYTHONPATH": str(entry.parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "could not" not in done.stderr, done.stderr
    handed = json.loads(seen.read_text())
    assert handed["LAKEHOUSE_LANDING"] == args["--landing"]
    assert handed["LAKEHOUSE__NOTIFIERS__SNS__TYPE"] == "sns"
    assert handed["LAKEHOUSE__NOTIFIERS__SNS__TOPIC_ARN"] == args["--sns-topic-arn"]
    metrics = aws.client("cloudwatch").list_metrics(
        Namespace="Lakehouse", Dimensions=[{"Name": "Environment", "Value": env_name}]
    )["Metrics"]
    assert {"RunsSucceeded", "RejectRate", "RowsIn"} <= {m["MetricName"] for m in metrics}
    tables = aws.client("glue").get_tables(DatabaseName="launcher_db")["TableList"]
    assert {"silver_orders", "silver_products", "silver_order_items"} <= {t["Name"] for t in tables}
