"""The CDK stack: every resource the issue asks for, asserted on the synthesized template
(aws_cdk.assertions), cfn-lint clean, and least-privilege IAM."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lakehouse.aws.athena import KPI_QUERIES
from lakehouse.aws.deploy import Synthesized, quiet_jsii, synth
from lakehouse.cli import app
from lakehouse.contracts import load_contracts
from lakehouse.orchestration.asl import GLUE_BUSY, AslResources, state_machine_definition

pytestmark = pytest.mark.aws
INFRA = Path(__file__).parents[1] / "infra"
EMAIL = "data-ops@example.com"


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Synthesized once per session: xdist workers share it through a locked folder."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    session = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # per run
    shared = session / "lakehouse-cdk"
    shared.mkdir(exist_ok=True)
    with open(shared / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "done.json"
        if done.exists():
            info = json.loads(done.read_text())
            return Synthesized(info["stack"], Path(info["template"]), Path(info["assembly"]))
        quiet_jsii()
        made = synth(shared / "cdk.out", infra=INFRA, context={"notification_email": EMAIL})
        record = {
            "stack": made.stack,
            "template": str(made.template),
            "assembly": str(made.assembly),
        }
        done.write_text(json.dumps(record))
        return made


@pytest.fixture(scope="module")
def doc(synthesized: Synthesized) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(synthesized.template.read_text())
    return data


@pytest.fixture(scope="module")
def template(doc: dict[str, Any]) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_json(doc)


def of_type(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in doc["Resources"].items() if r["Type"] == kind}


def one(doc: dict[str, Any], kind: str, prefix: str = "") -> tuple[str, dict[str, Any]]:
    found = [(k, r) for k, r in of_type(doc, kind).items() if k.startswith(prefix)]
    assert len(found) == 1, (kind, prefix, [k for k, _ in found])
    return found[0]


BUCKETS = ("BucketsLanding", "BucketsLake", "BucketsArchive", "BucketsAthenaResults")
ACCESS_LOGS = "BucketsAccessLogs"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/Lakehouse-dev/"
    "1a2b3c4d-0000-0000-0000-000000000000",
}


def render(value: Any) -> Any:
    """A template value with its intrinsics evaluated as far as an offline check can: pseudo
    parameters get sample values, a resource's Ref/GetAtt becomes `<Id>` / `<Id.Attr>`."""
    if isinstance(value, list):
        return [render(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        return {k: render(v) for k, v in value.items()}
    ((fn, arg),) = value.items()
    if fn == "Ref":
        return PSEUDO.get(arg, f"<{arg}>")
    if fn == "Fn::GetAtt":
        return f"<{arg[0]}.{arg[1]}>"
    if fn == "Fn::Join":
        return str(arg[0]).join(str(render(v)) for v in arg[1])
    if fn == "Fn::Split":
        return str(render(arg[1])).split(arg[0])
    if fn == "Fn::Select":
        return render(arg[1])[int(arg[0])]
    if fn == "Fn::Sub":
        return re.sub(r"\$\{([^}]+)\}", lambda m: PSEUDO.get(m[1], f"<{m[1]}>"), arg)
    return {fn: render(arg)}


def bucket(doc: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    matches = [
        (k, r)
        for k, r in of_type(doc, "AWS::S3::Bucket").items()
        if re.fullmatch(rf"{name}[0-9A-F]{{8}}", k)
    ]
    assert len(matches) == 1, name
    return matches[0]


# --- storage --------------------------------------------------------------------------------
def test_data_buckets_kms_encrypted_logged_versioned_private_retained(
    doc: dict[str, Any], template: Any
) -> None:
    from aws_cdk.assertions import Match

    assert len(of_type(doc, "AWS::S3::Bucket")) == 5  # 4 data buckets + their access logs
    key_id, _ = one(doc, "AWS::KMS::Key")
    logs_id, logs = bucket(doc, ACCESS_LOGS)
    for name in BUCKETS:
        props = bucket(doc, name)[1]["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
            {
                "BucketKeyEnabled": True,
                "ServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
                },
            }
        ]
        assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_id}
        assert props["LoggingConfiguration"]["LogFilePrefix"].endswith("/")
    # access-log targets must be SSE-S3 (S3 does not deliver logs to an SSE-KMS bucket)
    assert logs["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert "LoggingConfiguration" not in logs["Properties"]
    # log delivery: one PutObject grant per data bucket, into its own prefix, same account
    delivery = {
        render(s["Condition"]["ArnLike"]["aws:SourceArn"]): render(s["Resource"])
        for p in of_type(doc, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": logs_id}
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
        and s["Principal"] == {"Service": "logging.s3.amazonaws.com"}
        and s["Action"] == "s3:PutObject"
        and s["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    }
    assert delivery == {
        f"<{bucket(doc, b)[0]}.Arn>": f"<{logs_id}.Arn>/"
        + bucket(doc, b)[1]["Properties"]["LoggingConfiguration"]["LogFilePrefix"]
        + "*"
        for b in BUCKETS
    }
    template.all_resources_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {
                "Rules": Match.array_with([Match.object_like({"Status": "Enabled"})])
            },
        },
    )
    template.all_resources(
        "AWS::S3::Bucket", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )


def test_every_bucket_refuses_plain_http(doc: dict[str, Any]) -> None:
    policies = of_type(doc, "AWS::S3::BucketPolicy")
    guarded = set()
    for p in policies.values():
        for s in p["Properties"]["PolicyDocument"]["Statement"]:
            if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false":
                assert s["Effect"] == "Deny" and s["Principal"] == {"AWS": "*"}
                assert s["Action"] == "s3:*" and len(s["Resource"]) == 2  # bucket and objects
                guarded.add(p["Properties"]["Bucket"]["Ref"])
    assert guarded == {bucket(doc, b)[0] for b in (*BUCKETS, ACCESS_LOGS)}


def test_lifecycle_rules(doc: dict[str, Any]) -> None:
    def rules(name: str) -> dict[str, dict[str, Any]]:
        props = bucket(doc, name)[1]["Properties"]
        return {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}

    for name in BUCKETS:
        r = rules(name)["housekeeping"]
        assert r["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
        assert r["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    archive = rules("BucketsArchive")["archive-tiering"]
    assert [t["StorageClass"] for t in archive["Transitions"]] == ["STANDARD_IA", "GLACIER_IR"]
    assert [t["TransitionInDays"] for t in archive["Transitions"]] == [30, 90]
    assert archive["ExpirationInDays"] == 730
    quarantine = rules("BucketsLake")["quarantined-files"]
    assert quarantine["Prefix"] == "quarantine/files/" and quarantine["ExpirationInDays"] == 180
    assert rules("BucketsAthenaResults")["query-results"]["ExpirationInDays"] == 30


# --- processing -----------------------------------------------------------------------------
def test_glue_database_and_spark_job(doc: dict[str, Any]) -> None:
    _, db = one(doc, "AWS::Glue::Database")
    assert db["Properties"]["DatabaseInput"]["Name"] == "lakehouse_dev"
    _, job = one(doc, "AWS::Glue::Job")
    p = job["Properties"]
    assert p["GlueVersion"] == "5.0" and p["Command"]["Name"] == "glueetl"
    assert p["Command"]["ScriptLocation"]["Fn::Sub"].startswith("s3://cdk-")
    args = p["DefaultArguments"]
    assert args["--datalake-formats"] == "delta"
    assert args["--entry-module"] == "lakehouse.glue"
    assert "io.delta.sql.DeltaSparkSessionExtension" in args["--conf"]
    assert "--extra-py-files" not in args  # the package is a wheel in the zip of wheels
    assert args["--additional-python-modules"]["Fn::Sub"].endswith(".gluewheels.zip")
    assert args["--python-modules-installer-option"] == "--no-index"
    assert p["MaxRetries"] == 0


def test_state_machine_definition_is_the_exported_one(doc: dict[str, Any]) -> None:
    _, machine = one(doc, "AWS::StepFunctions::StateMachine")
    p = machine["Properties"]
    exported = state_machine_definition(AslResources(whole_run=True))
    assert json.loads(p["DefinitionString"]) == exported  # a string: ASL nulls survive
    # one Glue job run per execution runs every step after discovery and the gate
    assert [s["Type"] for s in exported["States"].values()].count("Task") >= 2
    placeholders = set(re.findall(r"\$\{(\w+)\}", json.dumps(exported)))
    assert set(p["DefinitionSubstitutions"]) == placeholders
    assert p["DefinitionSubstitutions"]["PipelineJobName"] == {"Ref": one(doc, "AWS::Glue::Job")[0]}
    # every transition logged, without execution data; X-Ray tracing on (cdk-nag SF1, SF2)
    assert p["LoggingConfiguration"]["Level"] == "ALL"
    assert p["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert p["TracingConfiguration"] == {"Enabled": True}
    # one Glue run at a time (docs/glue.md); a start refused for it is retried with backoff
    _, job = one(doc, "AWS::Glue::Job")
    assert job["Properties"]["ExecutionProperty"]["MaxConcurrentRuns"] == 1
    glue_tasks = [
        s for s in exported["States"].values() if "glue:startJobRun" in str(s.get("Resource", ""))
    ]
    assert glue_tasks
    for task in glue_tasks:
        retried = {e for r in task["Retry"] for e in r["ErrorEquals"]}
        assert "Glue.ConcurrentRunsExceededException" in retried
        # ... for as long as the execution may run: a second batch gave up after 90 s while
        # the first batch's run took minutes, and its files stayed in landing
        [busy] = [r for r in task["Retry"] if r["ErrorEquals"] == [GLUE_BUSY]]
        pauses, delay = 0.0, float(busy["IntervalSeconds"])
        for _ in range(busy["MaxAttempts"]):
            pauses, delay = (
                pauses + min(delay, busy["MaxDelaySeconds"]),
                delay * busy["BackoffRate"],
            )
        assert pauses >= exported["TimeoutSeconds"], pauses


def test_trigger_lambda_on_landing_object_created(
    doc: dict[str, Any], synthesized: Synthesized
) -> None:
    machine = one(doc, "AWS::StepFunctions::StateMachine")[0]
    fn_id, fn = one(doc, "AWS::Lambda::Function")
    p = fn["Properties"]
    assert p["Handler"] == "trigger.handler" and p["Runtime"].startswith("python3.")
    assert p["Environment"]["Variables"]["STATE_MACHINE_ARN"] == {"Ref": machine}
    assert "DeadLetterConfig" in p
    # the code asset holds the handler file alone
    assert synthesized.assembly is not None
    code = synthesized.assembly / f"asset.{p['Code']['S3Key'].split('.')[0]}"
    assert sorted(x.name for x in code.iterdir()) == ["trigger.py"]
    # landing bucket -> EventBridge -> rule -> Lambda, without a notifications custom resource
    landing_id, landing = bucket(doc, "BucketsLanding")
    assert landing["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    assert not [r for r in doc["Resources"].values() if r["Type"].startswith("Custom::")]
    _, rule = one(doc, "AWS::Events::Rule")
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": landing_id}]
    assert pattern["detail"]["object"]["key"] == [{"prefix": "incoming/"}]
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]} and "DeadLetterConfig" in target
    _, perm = one(doc, "AWS::Lambda::Permission")
    assert perm["Properties"]["Principal"] == "events.amazonaws.com"


# --- monitoring -----------------------------------------------------------------------------
def test_topic_with_email_subscription(doc: dict[str, Any], template: Any) -> None:
    topic_id, _ = one(doc, "AWS::SNS::Topic")
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": EMAIL, "TopicArn": {"Ref": topic_id}},
    )


def test_alarms_notify_the_topic(doc: dict[str, Any]) -> None:
    topic_id, _ = one(doc, "AWS::SNS::Topic")
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in of_type(doc, "AWS::CloudWatch::Alarm").values()
    }
    tables = [f"silver.{e}" for e in load_contracts()]
    expected = {
        "lakehouse-dev-failedexecution",
        "lakehouse-dev-duration",
        "lakehouse-dev-triggerdeadletters",
        *(f"lakehouse-dev-freshness-silver-{e}" for e in load_contracts()),
        *(f"lakehouse-dev-rejectrate-silver-{e}" for e in load_contracts()),
    }
    assert set(alarms) == expected
    for a in alarms.values():
        assert a["AlarmActions"] == [{"Ref": topic_id}] and a["OKActions"] == [{"Ref": topic_id}]
    failed = alarms["lakehouse-dev-failedexecution"]
    used = {m["MetricStat"]["Metric"]["MetricName"] for m in failed["Metrics"] if "MetricStat" in m}
    assert used == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    assert alarms["lakehouse-dev-duration"]["Threshold"] == 60 * 60_000
    for t in tables:
        fresh = alarms[f"lakehouse-dev-freshness-{t.replace('.', '-')}"]
        assert fresh["Namespace"] == "Lakehouse" and fresh["MetricName"] == "FreshnessLagSeconds"
        assert fresh["Threshold"] == 1440 * 60 and fresh["TreatMissingData"] == "breaching"
        assert {"Name": "Table", "Value": t} in fresh["Dimensions"]
        reject = alarms[f"lakehouse-dev-rejectrate-{t.replace('.', '-')}"]
        assert reject["MetricName"] == "RejectRate" and reject["Threshold"] == 0.05
    (board,) = of_type(doc, "AWS::CloudWatch::Dashboard").values()
    assert board["Properties"]["DashboardName"] == "lakehouse-dev"


def test_athena_workgroup_enforces_encrypted_results(doc: dict[str, Any]) -> None:
    wg_id, wg = one(doc, "AWS::Athena::WorkGroup")
    cfg = wg["Properties"]["WorkGroupConfiguration"]
    assert cfg["EnforceWorkGroupConfiguration"] is True
    result = cfg["ResultConfiguration"]
    key_id, _ = one(doc, "AWS::KMS::Key")
    assert result["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_KMS",
        "KmsKey": {"Fn::GetAtt": [key_id, "Arn"]},
    }
    assert wg["Properties"]["RecursiveDeleteOption"] is True  # delete-and-redeploy works
    results_bucket = bucket(doc, "BucketsAthenaResults")[0]
    assert {"Ref": results_bucket} in result["OutputLocation"]["Fn::Join"][1]
    queries = of_type(doc, "AWS::Athena::NamedQuery")
    assert sorted(q["Properties"]["Name"] for q in queries.values()) == sorted(
        q.name for q in KPI_QUERIES
    )
    for q in queries.values():
        assert q["Properties"]["WorkGroup"] == {"Ref": wg_id}
        assert q["Properties"]["Database"] == "lakehouse_dev"


# --- IAM ------------------------------------------------------------------------------------
def statements(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for rid, r in doc["Resources"].items():
        props = r.get("Properties", {})
        docs = [props.get("PolicyDocument")]
        docs += [p["PolicyDocument"] for p in props.get("Policies", [])]
        for d in docs:
            for s in (d or {}).get("Statement", []):
                yield rid, s


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def test_no_wildcard_actions_or_resources_except_listed(doc: dict[str, Any]) -> None:
    sys.path.insert(0, str(INFRA))
    from lakehouse_stack.iam import WILDCARD_EXCEPTIONS

    problems = []
    for rid, s in statements(doc):
        if s["Effect"] != "Allow":
            continue  # Deny statements (TLS-only) may be as broad as they like
        actions = _list(s.get("Action", []))
        for a in actions:
            if a == "*" or a.endswith(":*"):
                problems.append(f"{rid}: action {a}")
        if "*" in _list(s.get("Resource", [])):
            problems += [
                f"{rid}: {a} on Resource '*'" for a in actions if a not in WILDCARD_EXCEPTIONS
            ]
    assert problems == []
    assert all(len(reason) > 40 for reason in WILDCARD_EXCEPTIONS.values())


def test_one_role_per_component_without_managed_policies(doc: dict[str, Any]) -> None:
    roles = of_type(doc, "AWS::IAM::Role")
    principals = sorted(
        str(r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"])
        for r in roles.values()
    )
    services = [
        "glue.amazonaws.com",
        "lakeformation.amazonaws.com",
        "lambda.amazonaws.com",
        "states.amazonaws.com",
    ]
    assert [p for p in principals if "Service" in p] == sorted(
        str({"Service": s}) for s in services
    )
    assert not [r for r in roles.values() if r["Properties"].get("ManagedPolicyArns")]
    # the analyst role: principals of this account, with MFA
    (analyst,) = [r for k, r in roles.items() if k.startswith("AnalystRole")]
    (trust,) = analyst["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert render(trust["Principal"]) == {"AWS": "arn:aws:iam::123456789012:root"}
    assert trust["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


def test_cfn_lint_is_clean(synthesized: Synthesized) -> None:
    from cfnlint.api import lint

    matches = lint(synthesized.template.read_text(), regions=["us-east-1"])
    assert [str(m) for m in matches] == []


def test_cli_synth_takes_parameters_from_context(tmp_path: Path) -> None:
    out = tmp_path / "prod.template.json"
    result = CliRunner().invoke(
        app,
        [
            "deploy",
            "--synth",
            str(out),
            "--infra",
            str(INFRA),
            "-c",
            "env_name=prod",
            "-c",
            "max_reject_rate=0.1",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    alarms = [a["Properties"] for a in of_type(doc, "AWS::CloudWatch::Alarm").values()]
    assert {a["Threshold"] for a in alarms if a.get("MetricName") == "RejectRate"} == {0.1}
    assert (
        one(doc, "AWS::Glue::Database")[1]["Properties"]["DatabaseInput"]["Name"]
        == "lakehouse_prod"
    )
    assert not of_type(doc, "AWS::SNS::Subscription")  # no e-mail in cdk.json
    bad = CliRunner().invoke(
        app, ["deploy", "--synth", str(out), "--infra", str(INFRA), "-c", "oops"]
    )
    assert bad.exit_code != 0


def test_context_values_are_validated() -> None:
    sys.path.insert(0, str(INFRA))
    from lakehouse_stack.settings import Settings

    ok = Settings.from_context({"env_name": "prod", "glue_workers": "4"}.get)
    assert (ok.database, ok.glue_workers) == ("lakehouse_prod", 4)
    for bad in (
        {"notification_email": "not-an-address"},
        {"env_name": "Prod_1"},
        {"max_reject_rate": 2},
        {"landing_prefix": "/incoming/"},
        {"log_retention_days": 42},
        {"archive_glacier_days": 40},
        {"glue_workers": "many"},
    ):
        with pytest.raises(ValueError, match="context"):
            Settings.from_context(bad.get)


# --- governance -----------------------------------------------------------------------------
ALARM_ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{}"


def _conditions_hold(conditions: dict[str, Any], source_arn: str) -> bool:
    """Whether a request from CloudWatch for the alarm `source_arn` (this account) satisfies
    every condition; an unknown condition key counts as not provable."""
    from fnmatch import fnmatchcase

    for op, keys in conditions.items():
        for key, want in keys.items():
            values = [render(v) for v in _list(want)]
            if key == "aws:SourceAccount" and op == "StringEquals":
                ok = "123456789012" in values
            elif key == "aws:SourceArn" and op in ("ArnLike", "StringLike"):
                ok = any(fnmatchcase(source_arn, v) for v in values)
            elif key == "aws:SourceArn" and op in ("ArnEquals", "StringEquals"):
                ok = source_arn in values
            else:
                ok = False
            if not ok:
                return False
    return True


def _ref(value: Any) -> str:
    if "Ref" in value:
        return str(value["Ref"])
    return str(value["Fn::GetAtt"][0])


def test_every_alarm_action_can_publish_and_subscribers_receive(doc: dict[str, Any]) -> None:
    """From the template alone: for every AlarmAction and OKAction of every alarm, the topic's
    policy allows CloudWatch to publish for that alarm, no Deny applies to CloudWatch's TLS
    requests, the topic's KMS key lets CloudWatch encrypt for it, and the e-mail subscriber
    exists."""
    topics = of_type(doc, "AWS::SNS::Topic")
    keys = of_type(doc, "AWS::KMS::Key")
    policies = of_type(doc, "AWS::SNS::TopicPolicy").values()
    alarms = of_type(doc, "AWS::CloudWatch::Alarm")
    assert len(alarms) == 9
    for alarm in alarms.values():
        props = alarm["Properties"]
        source = ALARM_ARN.format(props["AlarmName"])
        actions = props.get("AlarmActions", []) + props.get("OKActions", [])
        assert len(actions) == 2, props["AlarmName"]
        for action in actions:
            topic_id = _ref(action)
            assert topic_id in topics
            statements = [
                s
                for p in policies
                if {"Ref": topic_id} in p["Properties"]["Topics"]
                for s in p["Properties"]["PolicyDocument"]["Statement"]
            ]
            allows = [
                s
                for s in statements
                if s["Effect"] == "Allow"
                and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
                and "sns:Publish" in _list(s["Action"])
                and {"Ref": topic_id} in _list(s["Resource"])
                and _conditions_hold(s.get("Condition", {}), source)
            ]
            assert allows, f"{props['AlarmName']} cannot publish to {topic_id}"
            for deny in (s for s in statements if s["Effect"] == "Deny"):
                assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            key = topics[topic_id]["Properties"].get("KmsMasterKeyId")
            if key is None:
                continue
            key_statements = keys[_ref(key)]["Properties"]["KeyPolicy"]["Statement"]
            usable = [
                s
                for s in key_statements
                if s["Effect"] == "Allow"
                and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
                and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(_list(s["Action"]))
                and _conditions_hold(s.get("Condition", {}), source)
            ]
            assert usable, f"{props['AlarmName']}: CloudWatch cannot use {topic_id}'s key"
    for topic_id in topics:
        subscriptions = [
            s["Properties"]
            for s in of_type(doc, "AWS::SNS::Subscription").values()
            if s["Properties"]["TopicArn"] == {"Ref": topic_id}
        ]
        assert {(s["Protocol"], s["Endpoint"]) for s in subscriptions} == {("email", EMAIL)}


def test_retained_resources_carry_no_fixed_name(doc: dict[str, Any]) -> None:
    """A retained resource outlives the stack: its name, if it has one, must hold a part that
    is unique per deployment (from the stack id), or a redeploy after a delete collides."""
    name_props = ("BucketName", "LogGroupName", "Name", "KeyName", "TopicName", "QueueName")
    retained = {
        k: r
        for k, r in doc["Resources"].items()
        if "Retain" in (r.get("DeletionPolicy"), r.get("UpdateReplacePolicy"))
    }
    kinds = {r["Type"] for r in retained.values()}
    assert kinds == {
        "AWS::S3::Bucket",
        "AWS::Logs::LogGroup",
        "AWS::KMS::Key",
        "AWS::LakeFormation::DataLakeSettings",  # account-wide: never rewritten on delete
    }
    for rid, r in retained.items():
        for prop in name_props:
            if prop in r["Properties"]:
                assert "AWS::StackId" in json.dumps(r["Properties"][prop]), (rid, prop)
                assert render(r["Properties"][prop]).endswith("-1a2b3c4d"), rid
    (fn,) = of_type(doc, "AWS::Lambda::Function").values()
    assert "FunctionName" not in fn["Properties"]  # CloudFormation names it
    _, key = one(doc, "AWS::KMS::Key")
    assert key["Properties"]["PendingWindowInDays"] == 30


def test_data_key_policy_is_least_privilege(doc: dict[str, Any]) -> None:
    key_id, key = one(doc, "AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = {s["Sid"]: s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    assert set(statements) == {
        "AccountAdministersKeyAndDelegatesUseToIam",
        "CloudWatchAlarmsPublishToEncryptedTopic",
        "CloudWatchLogsEncryptsThisStacksLogGroups",
    }
    root = statements["AccountAdministersKeyAndDelegatesUseToIam"]
    assert render(root["Principal"]) == {"AWS": "arn:aws:iam::123456789012:root"}
    alarms = statements["CloudWatchAlarmsPublishToEncryptedTopic"]
    assert render(alarms["Condition"]) == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": ALARM_ARN.format("lakehouse-dev-*")},
    }
    logs = statements["CloudWatchLogsEncryptsThisStacksLogGroups"]
    assert render(logs["Principal"]) == {"Service": "logs.us-east-1.amazonaws.com"}
    patterns = render(logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    from fnmatch import fnmatchcase

    groups = of_type(doc, "AWS::Logs::LogGroup").values()
    assert len(groups) == 2
    for g in groups:
        assert g["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        name = render(g["Properties"]["LogGroupName"])
        arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{name}"
        assert any(fnmatchcase(arn, p) for p in patterns), arn
    # the Glue security configuration's log groups are covered too
    assert any(p.endswith(":log-group:/aws-glue/jobs/lakehouse-dev-*") for p in patterns)


def _role_statements(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for p in of_type(doc, "AWS::IAM::Policy").values():
        for role in p["Properties"]["Roles"]:
            out.setdefault(role["Ref"], []).extend(p["Properties"]["PolicyDocument"]["Statement"])
    return out


def test_every_role_using_encrypted_data_has_exactly_its_kms_actions(doc: dict[str, Any]) -> None:
    key_id, _ = one(doc, "AWS::KMS::Key")
    key_arn = f"<{key_id}.Arn>"
    encrypted = {f"<{bucket(doc, b)[0]}.Arn>" for b in BUCKETS}
    topic = one(doc, "AWS::SNS::Topic")[0]
    users = 0
    for role, statements in _role_statements(doc).items():
        need: set[str] = set()
        for s in statements:
            actions = set(_list(s["Action"]))
            for r in (render(x) for x in _list(s["Resource"])):
                if any(r.startswith(f"{b}/") for b in encrypted):
                    if actions & {"s3:GetObject"}:
                        need.add("kms:Decrypt")
                    if actions & {"s3:PutObject"}:
                        need.add("kms:GenerateDataKey")
            if "sns:Publish" in actions and {"Ref": topic} in _list(s["Resource"]):
                need |= {"kms:Decrypt", "kms:GenerateDataKey"}
        kms = [s for s in statements if any(a.startswith("kms:") for a in _list(s["Action"]))]
        for s in kms:
            assert [render(r) for r in _list(s["Resource"])] == [key_arn], role
        granted = {a for s in kms for a in _list(s["Action"])}
        assert need <= granted, (role, need - granted)
        extra = granted - need - {"kms:Encrypt"}  # Glue: bookmarks (CSE-KMS)
        assert not extra, (role, extra)
        users += bool(need)
    assert users == 4  # Glue job, state machine, Lake Formation data access, analyst


def test_glue_job_runs_with_its_security_configuration(doc: dict[str, Any]) -> None:
    key_id, _ = one(doc, "AWS::KMS::Key")
    sc_id, sc = one(doc, "AWS::Glue::SecurityConfiguration")
    cfg = sc["Properties"]["EncryptionConfiguration"]
    key = {"Fn::GetAtt": [key_id, "Arn"]}
    assert cfg["S3Encryptions"] == [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": key}]
    assert cfg["CloudWatchEncryption"] == {"CloudWatchEncryptionMode": "SSE-KMS", "KmsKeyArn": key}
    assert cfg["JobBookmarksEncryption"] == {
        "JobBookmarksEncryptionMode": "CSE-KMS",
        "KmsKeyArn": key,
    }
    _, job = one(doc, "AWS::Glue::Job")
    assert job["Properties"]["SecurityConfiguration"] == {"Ref": sc_id}
    assert job["Properties"]["DefaultArguments"]["--lf-tag-key"] == "lakehouse-dev-access"


def test_lake_formation_governs_the_lake(doc: dict[str, Any]) -> None:
    from lakehouse.aws.glue_sync import ANALYST, RESTRICTED

    settings_id, settings = one(doc, "AWS::LakeFormation::DataLakeSettings")
    assert settings["Properties"]["MutationType"] == "APPEND"  # keeps the account's admins
    (admin,) = settings["Properties"]["Admins"]
    assert render(admin["DataLakePrincipalIdentifier"]) == (
        "arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-us-east-1"
    )
    lake = bucket(doc, "BucketsLake")[0]
    _, location = one(doc, "AWS::LakeFormation::Resource")
    assert location["Properties"]["ResourceArn"] == {"Fn::GetAtt": [lake, "Arn"]}
    assert location["Properties"]["UseServiceLinkedRole"] is False
    roles = of_type(doc, "AWS::IAM::Role")
    access_role = _ref(location["Properties"]["RoleArn"])
    assert roles[access_role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0][
        "Principal"
    ] == {"Service": "lakeformation.amazonaws.com"}
    _, tag = one(doc, "AWS::LakeFormation::Tag")
    assert tag["Properties"]["TagKey"] == "lakehouse-dev-access"
    assert set(tag["Properties"]["TagValues"]) == {ANALYST, RESTRICTED}
    _, assoc = one(doc, "AWS::LakeFormation::TagAssociation")
    assert assoc["Properties"]["Resource"]["Database"]["Name"] == "lakehouse_dev"
    assert assoc["Properties"]["LFTags"][0]["TagValues"] == [RESTRICTED]  # fail closed
    _, db = one(doc, "AWS::Glue::Database")
    assert db["Properties"]["DatabaseInput"]["CreateTableDefaultPermissions"] == []
    assert db["DependsOn"] == [settings_id]
    job_role = _ref(one(doc, "AWS::Glue::Job")[1]["Properties"]["Role"])
    analyst = next(k for k in roles if k.startswith("AnalystRole"))
    grants: dict[str, list[tuple[str, Any, list[str]]]] = {}
    for g in of_type(doc, "AWS::LakeFormation::PrincipalPermissions").values():
        p = g["Properties"]
        assert settings_id in g["DependsOn"]  # the deployer is an admin first
        if "Database" in p["Resource"]:
            assert one(doc, "AWS::Glue::Database")[0] in g["DependsOn"]
        assert p["PermissionsWithGrantOption"] == []
        ((kind, resource),) = p["Resource"].items()
        who = _ref(p["Principal"]["DataLakePrincipalIdentifier"])
        grants.setdefault(who, []).append((kind, resource, sorted(p["Permissions"])))
    job = {kind: perms for kind, _, perms in grants[job_role]}
    assert job == {
        "Database": ["ALTER", "CREATE_TABLE", "DESCRIBE"],
        "Table": ["ALTER", "DELETE", "DESCRIBE", "INSERT", "SELECT"],
        "DataLocation": ["DATA_LOCATION_ACCESS"],
        "LFTag": ["ASSOCIATE", "DESCRIBE"],
    }
    by_kind = {kind: (resource, perms) for kind, resource, perms in grants[analyst]}
    assert set(by_kind) == {"Database", "LFTagPolicy"}  # nothing named, no location
    assert by_kind["Database"][1] == ["DESCRIBE"]
    policy, perms = by_kind["LFTagPolicy"]
    assert perms == ["DESCRIBE", "SELECT"] and policy["ResourceType"] == "TABLE"
    assert policy["Expression"] == [{"TagKey": "lakehouse-dev-access", "TagValues": [ANALYST]}]
    assert set(grants) == {job_role, analyst}


def test_cloudtrail_data_events_are_an_option(doc: dict[str, Any], tmp_path: Path) -> None:
    assert not of_type(doc, "AWS::CloudTrail::Trail")  # off by default (cost)
    out = tmp_path / "audit.template.json"
    result = CliRunner().invoke(
        app,
        ["deploy", "--synth", str(out), "--infra", str(INFRA), "-c", "cloudtrail_data_events=true"],
    )
    assert result.exit_code == 0, result.output
    audited = json.loads(out.read_text())
    _, trail = one(audited, "AWS::CloudTrail::Trail")
    p = trail["Properties"]
    assert p["EnableLogFileValidation"] is True and p["IsMultiRegionTrail"] is False
    (selector,) = p["EventSelectors"]
    assert selector["IncludeManagementEvents"] is False and selector["ReadWriteType"] == "All"
    objects = {render(v) for v in selector["DataResources"][0]["Values"]}
    assert objects == {f"<{bucket(audited, b)[0]}.Arn>/" for b in BUCKETS}
