"""The S3-event trigger against moto: one Step Functions execution per complete batch."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from lakehouse.aws import trigger

if TYPE_CHECKING:
    from aws_fixtures import Aws

pytestmark = pytest.mark.aws
pytest_plugins = ["aws_fixtures"]
PASS = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}


@pytest.fixture
def setup(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> tuple[Aws, str, str, Any]:
    sfn = aws.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"pipeline-{aws.bucket('tmp')}",
        definition=json.dumps(PASS),
        roleArn="arn:aws:iam::123456789012:role/lakehouse-pipeline",
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("LANDING_PREFIX", "")
    trigger._clients.clear()  # a client per test, built from this test's environment
    return aws, aws.bucket("landing"), arn, sfn


def put(aws: Aws, bucket: str, key: str, body: bytes = b"x") -> dict[str, Any]:
    """Upload, and the S3 notification record S3 would send for it."""
    etag = aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
    return {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": bucket},
            "object": {"key": key.replace(" ", "+"), "eTag": etag.strip('"'), "size": len(body)},
        },
    }


def eventbridge(record: dict[str, Any]) -> dict[str, Any]:
    """The same object as an EventBridge `Object Created` event."""
    s3 = record["s3"]
    return {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {
            "bucket": {"name": s3["bucket"]["name"]},
            "object": {"key": s3["object"]["key"].replace("+", " "), "etag": s3["object"]["eTag"]},
        },
    }


def executions(sfn: Any, arn: str) -> list[dict[str, Any]]:
    return list(sfn.list_executions(stateMachineArn=arn)["executions"])


def test_a_batch_starts_one_execution_and_duplicates_none(setup: tuple[Aws, str, str, Any]) -> None:
    aws, bucket, arn, sfn = setup
    folder = "shop-a/2025-04-01 06h"
    files = [put(aws, bucket, f"{folder}/{n}") for n in ("orders.csv", "order_items.csv")]
    assert trigger.handler({"Records": files}) == {"started": [], "already_started": []}
    marker = put(aws, bucket, f"{folder}/_SUCCESS", b"")
    first = trigger.handler(
        {"Records": [*files, put(aws, bucket, f"{folder}/products.csv"), marker]}
    )
    assert len(first["started"]) == 1 and first["already_started"] == []
    (run,) = executions(sfn, arn)
    assert run["name"] == first["started"][0] and run["name"].startswith("shop-a-2025-04-01-06h-")
    given = json.loads(sfn.describe_execution(executionArn=run["executionArn"])["input"])
    assert given == {
        "trigger": "s3",
        "bucket": bucket,
        "batch": folder,
        "marker": f"{folder}/_SUCCESS",
    }
    # the same marker event again (S3 delivers at least once), twice in one event, or retried
    # by EventBridge: never a second execution
    for event in ({"Records": [marker]}, {"Records": [marker, marker]}, eventbridge(marker)):
        assert trigger.handler(event)["started"] == []
    sfn.stop_execution(executionArn=run["executionArn"])  # closed: the name stays taken
    again = trigger.handler({"Records": [marker]})
    assert again == {"started": [], "already_started": [run["name"]]}
    assert len(executions(sfn, arn)) == 1


def test_single_files_and_other_objects(setup: tuple[Aws, str, str, Any]) -> None:
    aws, bucket, arn, sfn = setup
    single = put(aws, bucket, "orders_2025-04-02.csv", b"v1")
    assert len(trigger.handler({"Records": [single]})["started"]) == 1
    assert trigger.handler(eventbridge(single))["started"] == []
    fixed = put(aws, bucket, "orders_2025-04-02.csv", b"v2")  # corrected: new content
    assert len(trigger.handler({"Records": [fixed]})["started"]) == 1
    ignored = [
        put(aws, bucket, "shop-b/", b""),  # folder placeholder
        put(aws, bucket, ".hidden.csv"),
        put(aws, bucket, "_SUCCESS", b""),  # a marker needs a folder
    ]
    assert trigger.handler({"Records": ignored})["started"] == []
    assert trigger.handler({"Records": [{"eventSource": "aws:sqs"}]})["started"] == []
    assert len(executions(sfn, arn)) == 2


def test_a_malformed_record_fails_alone_after_the_good_batches_started(
    setup: tuple[Aws, str, str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record that names no object made the whole event fail before any start: the good
    batches in it never ran, on every retry, until the event reached the dead-letter queue."""
    aws, bucket, arn, sfn = setup
    good = put(aws, bucket, "orders_2025-04-03.csv")
    broken = [
        {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {}}},
        {"eventSource": "aws:s3", "eventName": "ObjectCreated:Copy"},
    ]
    event = {"Records": [broken[0], good, broken[1]]}
    errors: list[str] = []
    monkeypatch.setattr(trigger.log, "error", errors.append)
    for attempt in range(2):  # the invocation, then Lambda's retry of the same event
        with pytest.raises(trigger.MalformedEvent) as failed:
            trigger.handler(event)
        message = str(failed.value)
        assert message.startswith("2 record(s) of the event name no object")
        assert ("1 now, 0 before" if attempt == 0 else "0 now, 1 before") in message
        assert "Records[0]: " in message and "Records[2]: " in message
    (run,) = executions(sfn, arn)
    assert run["name"].startswith("orders_2025-04-03-csv-")
    assert [len(json.loads(line)["malformed"]) for line in errors] == [2, 2]
    bad_bridge = {"source": "aws.s3", "detail-type": "Object Created", "detail": {}}
    with pytest.raises(trigger.MalformedEvent, match=r"detail: no bucket name and object key"):
        trigger.handler(bad_bridge)


@pytest.mark.parametrize(
    "key",
    [
        "landing/orders.csv.tmp",
        "landing/orders.csv.part-1",
        "landing/orders.csv.crdownload",
        "landing/.staging/_SUCCESS",
        "landing/_work/_SUCCESS",
        "landing/shop/.tmp/_manifest.json",
    ],
)
def test_what_the_run_never_reads_starts_nothing(key: str) -> None:
    """Each of these started an execution of its own (and made a running gold refresh give
    way), while the run skips it: partial copies and hidden folders are no deliveries."""
    from lakehouse.store.deliveries import PARTIAL, is_delivery

    assert trigger.batch_of(trigger.S3Object("b", key, "e"), "landing") is None
    assert not is_delivery(key.removeprefix("landing/"))
    assert trigger.PARTIAL.pattern == PARTIAL.pattern  # one rule, written in two places


def test_landing_prefix_and_names(monkeypatch: pytest.MonkeyPatch) -> None:
    obj = trigger.S3Object("b", "landing/shop/batch-7/_manifest.json", "e")
    assert trigger.batch_of(obj, "landing") == trigger.Batch("b", "shop/batch-7", obj.key)
    assert trigger.batch_of(obj, "other") is None
    long = trigger.execution_name("b", "x" * 300)
    assert len(long) == 80 and long == trigger.execution_name("b", "x" * 300)
    assert trigger.execution_name("b", "a/b") != trigger.execution_name("c", "a/b")
    assert all(c.isalnum() or c in "-_" for c in trigger.execution_name("b", "é ü/#%:x"))
