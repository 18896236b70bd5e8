"""The SNS notifier against moto: with console, file, webhook and SNS configured, a failed run
reaches each of them exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse import Lakehouse
from lakehouse.errors import TerminalError
from lakehouse.orchestration import steps
from lakehouse.orchestration.definition import pipeline_definition
from lakehouse.orchestration.pipeline import run
from test_notify import Hook, config_for, hook  # noqa: F401  (hook is a fixture)
from test_orchestration import flaky

REGION = "us-east-1"


@pytest.mark.aws
def test_failed_run_reaches_every_notifier_once(
    hook: Hook,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
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

    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="lakehouse-alerts")["TopicArn"]
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="ops")["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn["Attributes"]["QueueArn"])
        lh = Lakehouse(tmp_path / "lake")
        Path(lh.root.uri).mkdir(parents=True)
        config = config_for(hook) + f'[notifiers.sns]\ntype = "sns"\ntopic_arn = "{topic}"\n'
        Path(lh.root.path("lakehouse.toml")).write_text(config)
        broken = pipeline_definition().replace_task(
            "bronze", fn=flaky(steps.bronze, 99, TerminalError("disk full (test)"))
        )
        (tmp_path / "orders.csv").write_text("order_id\n1\n")
        lh.root.copy_in(tmp_path / "orders.csv", lh.root.path("landing", "orders.csv"))
        with pytest.raises(TerminalError):
            run(lh.root, definition=broken)
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        assert len(got) == 1
        envelope = json.loads(got[0]["Body"])
        assert envelope["Subject"] == "[lakehouse critical] opened: run_failed pipeline"
        body = json.loads(envelope["Message"])
        assert body["rule"] == "run_failed" and "disk full" in body["message"]
        assert envelope["MessageAttributes"]["severity"]["Value"] == "critical"
    assert len(hook.received) == 1
    lines = Path(lh.root.path("_ops", "notifications.jsonl")).read_text().splitlines()
    assert len(lines) == 1
    console = [x for x in capsys.readouterr().err.splitlines() if x.startswith("[lakehouse")]
    assert len(console) == 1
