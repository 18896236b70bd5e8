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
from lakehouse.orchestration.asl import AslResources, state_machine_definition

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


def bucket(doc: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    matches = [
        (k, r)
        for k, r in of_type(doc, "AWS::S3::Bucket").items()
        if re.fullmatch(rf"{name}[0-9A-F]{{8}}", k)
    ]
    assert len(matches) == 1, name
    return matches[0]


# --- storage --------------------------------------------------------------------------------
def test_four_buckets_encrypted_versioned_private_retained(
    doc: dict[str, Any], template: Any
) -> None:
    from aws_cdk.assertions import Match

    assert len(of_type(doc, "AWS::S3::Bucket")) == 4
    template.all_resources_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
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
    assert guarded == {bucket(doc, b)[0] for b in BUCKETS}


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
    assert p["MaxRetries"] == 0 and p["ExecutionProperty"]["MaxConcurrentRuns"] >= 2


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
    assert p["LoggingConfiguration"]["Level"] == "ERROR"


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
    assert result["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
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
    services = sorted(
        r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
        for r in roles.values()
    )
    assert services == ["glue.amazonaws.com", "lambda.amazonaws.com", "states.amazonaws.com"]
    assert not [r for r in roles.values() if r["Properties"].get("ManagedPolicyArns")]


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
