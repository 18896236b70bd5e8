"""The Step Functions export is generated from the pipeline definition (it cannot drift), obeys
the ASL rules, and executes in moto's Step Functions interpreter, retry and catch included."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakehouse import Lakehouse
from lakehouse.config.settings import Settings
from lakehouse.orchestration.asl import (
    GLUE_TRANSIENT,
    AslResources,
    TaskTarget,
    glue_job,
    lambda_function,
    retry_block,
    s3_discover,
    state_machine_definition,
)
from lakehouse.orchestration.asl_rules import problems
from lakehouse.orchestration.definition import Gate, Parallel, Task, pipeline_definition
from lakehouse.orchestration.pipeline import run
from test_orchestration import small_delivery

ACCOUNT = "123456789012"
REGION = "us-east-1"


def walk(doc: dict[str, Any], outputs: dict[str, dict[str, Any]]) -> list[list[str]]:
    """The path an execution takes through the top-level states, given step outputs (Choice
    evaluated like Step Functions would); each entry is the Task states run at that point."""
    states = doc["States"]
    path: list[list[str]] = []
    name: str | None = doc["StartAt"]
    while name is not None:
        s = states[name]
        if s["Type"] == "Choice":
            rule = s["Choices"][0]
            var = rule["And"][0]["Variable"].removeprefix("$.steps.").split(".")
            value = outputs.get(var[0], {}).get(var[1])
            limit = rule["And"][2]["NumericLessThanEquals"]
            name = (
                rule["Next"] if isinstance(value, int | float) and value <= limit else s["Default"]
            )
            continue
        if s["Type"] == "Parallel":
            path.append(sorted(b["StartAt"] for b in s["Branches"]))
        else:
            path.append([name])
        name = s.get("Next")
    return path


def test_every_step_of_the_definition_is_a_state_with_its_retry_policy() -> None:
    d = pipeline_definition()
    res = AslResources()
    doc = state_machine_definition(res, d)
    states = doc["States"]
    tasks: dict[str, dict[str, Any]] = {}
    for name, s in states.items():
        if s["Type"] == "Parallel":
            for b in s["Branches"]:
                tasks.update(b["States"])
        elif s["Type"] == "Task":
            tasks[name] = s
    assert set(tasks) == {t.state for t in d.tasks()} | {"NotifyFailure"}
    for t in d.tasks():
        expected = retry_block(
            t.retry, res.target(t).transient_errors, busy_for=res.timeout_seconds
        )
        assert tasks[t.state]["Retry"] == expected
        assert tasks[t.state]["ResultPath"] == f"$.steps.{t.name}"
    # node order and kinds, Next by Next
    order = [n for n in states if n not in ("RecordFailure", "NotifyFailure", "RunFailed")]
    assert order == [n.state for n in d.nodes]
    for node in d.nodes:
        s = states[node.state]
        kind = {Task: "Task", Parallel: "Parallel", Gate: "Choice"}[type(node)]
        assert s["Type"] == kind
        if kind != "Choice":
            assert s["Catch"] == [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}
            ]
    assert states["RecordFailure"]["Next"] == "NotifyFailure"
    assert states["NotifyFailure"]["Resource"] == "arn:aws:states:::sns:publish"
    assert states["NotifyFailure"]["Next"] == "RunFailed"
    assert states["RunFailed"]["Type"] == "Fail"
    assert problems(doc) == []


def test_a_new_step_in_the_definition_appears_in_the_export() -> None:
    gold = Task("gold", "lakehouse.gold.step:refresh", "Refresh gold")
    d = pipeline_definition().insert_after("silver_order_items", gold)
    states = state_machine_definition(None, d)["States"]
    assert states["SilverOrderItems"]["Next"] == "Gold"
    assert states["Gold"]["Next"] == "CatalogSync"
    assert states["Gold"]["Parameters"]["Arguments"]["--step"] == "gold"


def test_local_runs_take_the_path_the_state_machine_takes(tmp_path: Path) -> None:
    doc = state_machine_definition()
    lh = Lakehouse(tmp_path / "lake")
    quiet = Settings(notifiers=())
    for files in (small_delivery(tmp_path / "in"), []):
        for f in files:
            lh.root.copy_in(f, lh.root.path("landing", f.name))
        s = run(lh.root, settings=quiet)
        executed = list(s.steps)
        outputs = {"discover": {"files": len(files)}}
        expected = walk(doc, outputs)
        flat = [state for group in expected for state in group]
        states = {t.state: t.name for t in pipeline_definition().tasks()}
        assert sorted(executed) == sorted(states[x] for x in flat)
        # order: every group ran after the groups before it
        position = {states[x]: i for i, group in enumerate(expected) for x in group}
        assert [position[x] for x in executed] == sorted(position[x] for x in executed)


def test_the_rules_catch_broken_documents() -> None:
    good = state_machine_definition()
    assert problems(good) == []
    bad = json.loads(json.dumps(good))
    bad["States"]["Bronze"]["Next"] = "Nowhere"
    bad["States"]["Quality"]["Retry"] = [
        {"ErrorEquals": ["States.ALL", "X"], "IntervalSeconds": 0.5, "BackoffRate": 0.5}
    ]
    bad["States"]["Orphan"] = {"Type": "Succeed"}
    bad["States"]["Archive"]["End"] = True
    found = "\n".join(problems(bad))
    assert "transition to 'Nowhere'" in found
    assert "States.ALL must appear alone" in found
    assert "IntervalSeconds must be a positive integer" in found
    assert "BackoffRate must be a number >= 1.0" in found
    assert "Orphan: unreachable" in found
    assert "Archive: exactly one of Next or End" in found


def test_whole_run_export_keeps_discovery_and_the_gate_and_runs_the_rest_as_one_job() -> None:
    doc = state_machine_definition(AslResources(whole_run=True))
    assert problems(doc) == []
    states = doc["States"]
    assert list(states) == [
        "Discover",
        "HasFiles",
        "Run",
        "NothingLanded",
        "NotifyFailure",
        "RunFailed",
    ]
    assert states["Discover"] == {
        **state_machine_definition()["States"]["Discover"],
        "Catch": [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}
        ],
    }
    assert states["HasFiles"]["Choices"][0]["Next"] == "NothingLanded"
    assert states["HasFiles"]["Default"] == "Run"
    assert states["Run"]["Parameters"]["Arguments"]["--step"] == "run"
    assert states["Run"]["Catch"][0]["Next"] == "NotifyFailure"


def test_lambda_targets_retry_the_products_retryable_error() -> None:
    fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:lakehouse-step"
    doc = state_machine_definition(AslResources(default=lambda_function(fn)))
    bronze = doc["States"]["Bronze"]
    assert bronze["Resource"] == fn
    assert bronze["Parameters"]["step"] == "bronze"
    assert "RetryableError" in bronze["Retry"][0]["ErrorEquals"]
    assert problems(doc) == []


def test_cli_exports_the_same_document() -> None:
    from typer.testing import CliRunner

    from lakehouse.cli import app

    out = CliRunner().invoke(app, ["pipeline", "asl", "--topic-arn", "arn:aws:sns:x:1:t"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc == state_machine_definition(AslResources(failure_topic_arn="arn:aws:sns:x:1:t"))


# --- executing in moto's Step Functions interpreter -------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    import boto3
    from moto import mock_aws
    from moto.moto_api import state_manager

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        # job runs stay STARTING (nothing polls them), so a started run keeps its job busy
        state_manager.set_transition("glue::job_run", {"progression": "manual", "times": 10**6})
        try:
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket="landing")
            sns = boto3.client("sns", region_name=REGION)
            topic = sns.create_topic(Name="lakehouse-failures")["TopicArn"]
            sqs = boto3.client("sqs", region_name=REGION)
            queue = sqs.create_queue(QueueName="ops")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
            glue = boto3.client("glue", region_name=REGION)
            for t in pipeline_definition().tasks():
                glue.create_job(
                    Name=f"lakehouse-{t.name}",
                    Role=f"arn:aws:iam::{ACCOUNT}:role/glue",
                    Command={"Name": "glueetl", "ScriptLocation": "s3://code/step.py"},
                    ExecutionProperty={"MaxConcurrentRuns": 100},
                )
            yield {
                "s3": s3,
                "sqs": sqs,
                "queue": queue,
                "glue": glue,
                "topic": topic,
                "sfn": boto3.client("stepfunctions", region_name=REGION),
            }
        finally:
            state_manager.unset_transition("glue::job_run")


def _resources(aws: dict[str, Any], **targets: TaskTarget) -> AslResources:
    return AslResources(
        failure_topic_arn=aws["topic"],
        targets={"discover": s3_discover("landing", "landing/"), **targets},
        default=glue_job("lakehouse-{step}", root="s3://lake/root", sync=False),
    )


def _execute(aws: dict[str, Any], doc: dict[str, Any], name: str) -> dict[str, Any]:
    sfn = aws["sfn"]
    machine = sfn.create_state_machine(
        name=name, definition=json.dumps(doc), roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn"
    )["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=machine, name=f"{name}-run")["executionArn"]
    deadline = time.monotonic() + 60
    while (d := sfn.describe_execution(executionArn=ex))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution did not finish"
        time.sleep(0.1)
    events = sfn.get_execution_history(executionArn=ex, maxResults=1000)["events"]
    return {"describe": d, "events": events}


def _entered(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


@pytest.mark.aws
def test_state_machine_runs_retries_transient_errors_and_succeeds(aws: dict[str, Any]) -> None:
    aws["s3"].put_object(Bucket="landing", Key="landing/orders_1.csv", Body=b"order_id\n1\n")
    # bronze's first two attempts hit a job that is already running (a transient Glue error)
    for attempt in (0, 1, 2):
        aws["glue"].create_job(
            Name=f"lakehouse-bronze-{attempt}",
            Role=f"arn:aws:iam::{ACCOUNT}:role/glue",
            Command={"Name": "glueetl", "ScriptLocation": "s3://code/step.py"},
        )
    for attempt in (0, 1):
        aws["glue"].start_job_run(JobName=f"lakehouse-bronze-{attempt}")
    bronze = TaskTarget(
        "arn:aws:states:::glue:startJobRun",
        {"JobName.$": "States.Format('lakehouse-bronze-{}', $$.State.RetryCount)"},
        GLUE_TRANSIENT,
    )
    doc = state_machine_definition(_resources(aws, bronze=bronze))
    assert problems(doc) == []
    out = _execute(aws, doc, "retry")
    assert out["describe"]["status"] == "SUCCEEDED", out["describe"]
    failed = [
        e["taskFailedEventDetails"]["error"] for e in out["events"] if e["type"] == "TaskFailed"
    ]
    assert failed == ["Glue.ConcurrentRunsExceededException"] * 2
    entered = _entered(out["events"])
    assert entered.count("Bronze") == 1  # one state, three attempts inside it
    steps = [n for n in entered if n not in ("HasFiles",)]
    for a, b in (("SilverOrders", "SilverOrderItems"), ("SilverProducts", "SilverOrderItems")):
        assert steps.index(a) < steps.index(b)
    assert steps[-1] == "Notify" and "RecordFailure" not in steps
    runs = aws["glue"].get_job_runs(JobName="lakehouse-silver_orders")["JobRuns"]
    assert runs[0]["Arguments"]["--entity"] == "orders"
    assert runs[0]["Arguments"]["--run-id"] == "retry-run"


@pytest.mark.aws
def test_state_machine_skips_processing_when_nothing_landed(aws: dict[str, Any]) -> None:
    out = _execute(aws, state_machine_definition(_resources(aws)), "empty")
    assert out["describe"]["status"] == "SUCCEEDED"
    assert _entered(out["events"]) == [
        "Discover",
        "HasFiles",
        "Gold",
        "CatalogSync",
        "Quality",
        "Archive",
        "Maintain",
        "Notify",
    ]


@pytest.mark.aws
def test_a_permanent_error_is_caught_notified_and_fails_the_execution(
    aws: dict[str, Any],
) -> None:
    aws["s3"].put_object(Bucket="landing", Key="landing/orders_1.csv", Body=b"order_id\n1\n")
    aws["glue"].delete_job(JobName="lakehouse-silver_order_items")  # a permanent error
    out = _execute(aws, state_machine_definition(_resources(aws)), "broken")
    d = out["describe"]
    assert d["status"] == "FAILED"
    assert d["error"] == "Glue.EntityNotFoundException"
    entered = _entered(out["events"])
    assert entered[-3:] == ["RecordFailure", "NotifyFailure", "RunFailed"]
    assert "Archive" not in entered and "CatalogSync" not in entered
    retried = [e for e in out["events"] if e["type"] == "TaskFailed"]
    assert len(retried) == 1  # not a transient error: no retry
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    assert len(bodies) == 1
    assert bodies[0]["Subject"] == "lakehouse run failed"
    assert bodies[0]["Message"].startswith("lakehouse run broken-run failed: Glue.EntityNotFound")
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"


@pytest.mark.aws
def test_the_interpreters_parser_accepts_the_export_and_rejects_malformed_ones(
    aws: dict[str, Any],
) -> None:
    from botocore.exceptions import ClientError

    role = f"arn:aws:iam::{ACCOUNT}:role/sfn"
    good = state_machine_definition(_resources(aws))
    aws["sfn"].create_state_machine(name="good", definition=json.dumps(good), roleArn=role)
    for n, (state, key, value) in enumerate(
        [("Bronze", "Type", "Job"), ("Bronze", "Bogus", 1), ("Quality", "TimeoutSeconds", "x")]
    ):
        bad = json.loads(json.dumps(good))
        bad["States"][state][key] = value
        assert problems(bad)  # our rules see it too
        with pytest.raises(ClientError, match="ASLParserException"):
            aws["sfn"].create_state_machine(
                name=f"bad{n}", definition=json.dumps(bad), roleArn=role
            )


@pytest.mark.aws
def test_whole_run_state_machine_executes(aws: dict[str, Any]) -> None:
    aws["s3"].put_object(Bucket="landing", Key="landing/orders_1.csv", Body=b"order_id\n1\n")
    aws["glue"].create_job(
        Name="lakehouse-run",
        Role=f"arn:aws:iam::{ACCOUNT}:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://code/step.py"},
    )
    res = _resources(aws)
    whole = AslResources(res.failure_topic_arn, res.targets, res.default, whole_run=True)
    out = _execute(aws, state_machine_definition(whole), "whole")
    assert out["describe"]["status"] == "SUCCEEDED"
    assert _entered(out["events"]) == ["Discover", "HasFiles", "Run"]
    (job,) = aws["glue"].get_job_runs(JobName="lakehouse-run")["JobRuns"]
    assert job["Arguments"]["--step"] == "run"
