"""infra/smoke.sh against moto: the stack's outputs (CloudFormation), the batch upload (S3), the
execution the trigger starts for it (the real trigger handler, moto's Step Functions executing
the state machine), and the Athena counts (moto's queued query results). What moto cannot show:
that EventBridge delivers the S3 event to the Lambda, that the Glue job really writes the tables
and that Athena reads them - only a real account proves those (docs/aws.md, "First deploy")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aws_fixtures import OFFLINE, REGION, moto_server
from lakehouse.aws import trigger

pytestmark = pytest.mark.aws
REPO = Path(__file__).parents[1]
SMOKE = REPO / "infra" / "smoke.sh"
STACK = "Lakehouse-smoke"
SAMPLES = ("products.xlsx", "orders_2025_04.xlsx", "order_items_2025_04.xlsx")
SUCCEED = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
FAIL = {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "X", "Cause": "test"}}}
# the dev extra installs the AWS CLI and shellcheck next to this interpreter
TOOLS = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def tool(name: str) -> str:
    found = shutil.which(name, path=TOOLS)
    assert found, f"{name} is missing: `make test` installs it (the dev extra)"
    return found


def test_bash_syntax_and_shellcheck() -> None:
    subprocess.run(["bash", "-n", str(SMOKE)], check=True)
    assert os.access(SMOKE, os.X_OK)
    subprocess.run([tool("shellcheck"), str(SMOKE)], check=True)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto server of its own: this module turns on Step Functions execution, a server-wide
    setting the other aws tests do not expect."""
    import requests

    with moto_server() as url:
        config = {"stepfunctions": {"execute_state_machine": True}}
        requests.post(f"{url}/moto-api/config", json=config, timeout=10).raise_for_status()
        yield url


class World:
    """One deployed-looking stack in moto: landing bucket, state machine, workgroup, outputs."""

    def __init__(self, endpoint: str, name: str, definition: dict[str, Any]) -> None:
        import boto3

        self.endpoint = endpoint

        def client(service: str) -> Any:
            return boto3.client(service, endpoint_url=endpoint, region_name=REGION)

        self.s3, self.sfn = client("s3"), client("stepfunctions")
        self.bucket = f"landing-{name}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.arn = self.sfn.create_state_machine(
            name=f"pipeline-{name}",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/lakehouse-pipeline",
        )["stateMachineArn"]
        client("athena").create_work_group(Name=f"lakehouse-{name}")
        self.stack = f"{STACK}-{name}"
        outputs = {
            "LandingUri": f"s3://{self.bucket}/incoming",
            "StateMachineArn": self.arn,
            "AthenaWorkGroup": f"lakehouse-{name}",
            "GlueDatabase": f"lakehouse_{name}",
        }
        template = {
            "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {k: {"Value": v} for k, v in outputs.items()},
        }
        client("cloudformation").create_stack(
            StackName=self.stack, TemplateBody=json.dumps(template)
        )

    def athena_counts(self, *counts: str) -> None:
        """Queue the results of the next Athena queries (header row, then the count)."""
        import requests

        results = [
            {"rows": [{"Data": [{"VarCharValue": "_col0"}]}, {"Data": [{"VarCharValue": c}]}]}
            for c in counts
        ]
        requests.post(
            f"{self.endpoint}/moto-api/static/athena/query-results",
            json={"region": REGION, "results": results},
            timeout=10,
        ).raise_for_status()

    def keys(self) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return sorted(o["Key"] for o in listed)

    def run(self, *args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env |= OFFLINE | {
            "AWS_ENDPOINT_URL": self.endpoint,
            "PATH": f"{Path(tool('aws')).parent}{os.pathsep}{env.get('PATH', '')}",
            "SMOKE_POLL_SECONDS": "1",
            "SMOKE_TIMEOUT_SECONDS": str(timeout),
        }
        return subprocess.run(
            [str(SMOKE), self.stack, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout + 120,
            check=False,
        )


class Trigger:
    """The stack's trigger, played by the real handler: EventBridge would hand it every object
    created in landing; here a thread polls the bucket and hands it each new object."""

    def __init__(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("STATE_MACHINE_ARN", world.arn)
        monkeypatch.setenv("LANDING_PREFIX", "incoming")
        trigger._clients.clear()
        self.world = world
        self.started: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        seen: set[str] = set()
        while not self.stop.wait(0.2):
            listed = self.world.s3.list_objects_v2(Bucket=self.world.bucket).get("Contents", [])
            for obj in listed:
                if obj["Key"] in seen:
                    continue
                seen.add(obj["Key"])
                event = {
                    "source": "aws.s3",
                    "detail-type": "Object Created",
                    "detail": {
                        "bucket": {"name": self.world.bucket},
                        "object": {"key": obj["Key"], "etag": obj["ETag"].strip('"')},
                    },
                }
                self.started += trigger.handler(event)["started"]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.fixture
def make(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """World builder; this process's AWS environment points at moto only."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    for key, value in (OFFLINE | {"AWS_ENDPOINT_URL": endpoint}).items():
        monkeypatch.setenv(key, value)
    triggers: list[Trigger] = []

    def build(name: str, definition: dict[str, Any] = SUCCEED, *, live: bool = True) -> World:
        world = World(endpoint, name, definition)
        if live:
            triggers.append(Trigger(world, monkeypatch))
        return world

    yield build
    for t in triggers:
        t.close()


def test_pass_uploads_one_batch_waits_for_its_execution_and_counts(make: Any) -> None:
    world = make("pass")
    world.athena_counts("3000", "30")
    done = world.run()
    assert done.returncode == 0, done.stderr
    keys = world.keys()
    batch = keys[0].split("/")[1]
    assert batch.startswith("smoke-")
    assert keys == sorted(f"incoming/{batch}/{f}" for f in (*SAMPLES, "_SUCCESS"))
    for f in SAMPLES:
        body = world.s3.get_object(Bucket=world.bucket, Key=f"incoming/{batch}/{f}")["Body"]
        assert body.read() == (REPO / "sample-data" / f).read_bytes()
    execution = trigger.execution_arn(world.arn, trigger.execution_name(world.bucket, batch))
    assert world.sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"
    last = done.stdout.strip().splitlines()[-1]
    assert last == (
        f"PASS {world.stack}: batch {batch}, execution SUCCEEDED, "
        "silver_orders=3000 gold_sales_daily=30"
    )
    assert f"execution {execution} SUCCEEDED" in done.stdout


def test_fail_when_gold_is_empty(make: Any) -> None:
    world = make("emptygold")
    world.athena_counts("3000", "0")
    done = world.run()
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"FAIL {world.stack}: no rows in gold_sales_daily (silver_orders=3000 gold_sales_daily=0)"
    )
    assert "PASS" not in done.stdout


def test_fail_when_the_execution_fails(make: Any) -> None:
    world = make("failed", FAIL)
    done = world.run()
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"FAIL {world.stack}: execution arn:aws:states:")
    assert last.endswith(" ended FAILED")


def test_fail_when_no_execution_starts(make: Any) -> None:
    world = make("notrigger", live=False)
    started = time.monotonic()
    done = world.run(timeout=4)
    assert done.returncode == 1
    assert time.monotonic() - started < 60
    assert " within 4s (trigger?)" in done.stderr.strip().splitlines()[-1]


def test_dry_run_reads_the_outputs_and_changes_nothing(make: Any) -> None:
    world = make("dry", live=False)
    done = world.run("--dry-run")
    assert done.returncode == 0, done.stderr
    assert world.keys() == []
    assert f"landing s3://{world.bucket}/incoming, state machine {world.arn}" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == f"DRY-RUN {world.stack}: nothing changed"


def test_fail_without_the_stack(make: Any) -> None:
    world = make("nostack", live=False)
    world.stack = "Lakehouse-absent"
    done = world.run()
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "FAIL Lakehouse-absent: cannot read the outputs of stack Lakehouse-absent "
        "(deployed? credentials? region?)"
    )
