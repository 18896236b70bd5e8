"""The GitHub OIDC deploy role (infra/lakehouse_stack/deploy_role.py): its trust policy accepts
only the repository's protected environments, it can do nothing but assume the CDK bootstrap
roles, and its template is cfn-lint clean."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from lakehouse.aws.deploy import quiet_jsii

pytestmark = pytest.mark.aws
INFRA = Path(__file__).parents[1] / "infra"
REPOSITORY = "acme/lakehouse"
HOST = "token.actions.githubusercontent.com"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{HOST}"


def synth(**context: Any) -> dict[str, dict[str, Any]]:
    """Every stack's template, by stack name, for cdk.json's context plus `context`."""
    quiet_jsii()
    sys.path.insert(0, str(INFRA))
    from lakehouse_stack import build_app

    base = json.loads((INFRA / "cdk.json").read_text())["context"]
    assembly = build_app({**base, **context}).synth()
    return {s.stack_name: s.template for s in assembly.stacks}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    stacks = synth(github_repository=REPOSITORY, github_environments="prod,staging")
    assert sorted(stacks) == ["Lakehouse-dev", "LakehouseDeployRole"]
    return stacks["LakehouseDeployRole"]


def of_type(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in doc["Resources"].values() if r["Type"] == kind]


def role(doc: dict[str, Any]) -> dict[str, Any]:
    (found,) = of_type(doc, "AWS::IAM::Role")
    props: dict[str, Any] = found["Properties"]
    return props


def accepts(trust: dict[str, Any], claims: dict[str, str]) -> bool:
    """IAM's evaluation of the trust policy for a web-identity token with these claims: some
    Allow statement for AssumeRoleWithWebIdentity whose every condition holds (StringEquals:
    the claim equals one of the values, case-sensitive; a missing claim fails)."""
    for st in trust["Statement"]:
        if st["Effect"] != "Allow" or st["Action"] != "sts:AssumeRoleWithWebIdentity":
            continue
        ok = True
        for operator, tests in st.get("Condition", {}).items():
            assert operator == "StringEquals", operator  # the only operator the role uses
            for key, values in tests.items():
                allowed = values if isinstance(values, list) else [values]
                claim = claims.get(key.removeprefix(f"{HOST}:"))
                ok = ok and claim in allowed
        if ok:
            return True
    return False


def test_trust_policy_is_exactly_the_repositorys_environments(doc: dict[str, Any]) -> None:
    (provider,) = of_type(doc, "AWS::IAM::OIDCProvider")
    assert provider["Properties"] == {
        "ClientIdList": ["sts.amazonaws.com"],
        "Url": f"https://{HOST}",
    }
    provider_id = next(k for k, r in doc["Resources"].items() if r is provider)
    assert role(doc)["AssumeRolePolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Effect": "Allow",
                "Principal": {"Federated": {"Ref": provider_id}},
                "Condition": {
                    "StringEquals": {
                        f"{HOST}:aud": "sts.amazonaws.com",
                        f"{HOST}:sub": [
                            "repo:acme/lakehouse:environment:prod",
                            "repo:acme/lakehouse:environment:staging",
                        ],
                    }
                },
            }
        ],
    }
    assert role(doc)["MaxSessionDuration"] == 3600


@pytest.mark.parametrize(
    ("sub", "aud", "accepted"),
    [
        ("repo:acme/lakehouse:environment:prod", "sts.amazonaws.com", True),
        ("repo:acme/lakehouse:environment:staging", "sts.amazonaws.com", True),
        # another environment, a branch, a tag, a pull request, another repository
        ("repo:acme/lakehouse:environment:dev", "sts.amazonaws.com", False),
        ("repo:acme/lakehouse:ref:refs/heads/main", "sts.amazonaws.com", False),
        ("repo:acme/lakehouse:ref:refs/tags/v1.0", "sts.amazonaws.com", False),
        ("repo:acme/lakehouse:pull_request", "sts.amazonaws.com", False),
        ("repo:acme/lakehouse-fork:environment:prod", "sts.amazonaws.com", False),
        ("repo:evil/lakehouse:environment:prod", "sts.amazonaws.com", False),
        ("repo:acme/lakehouse:environment:prod-2", "sts.amazonaws.com", False),
        ("repo:acme/lakehouse:environment:Prod", "sts.amazonaws.com", False),
        # the right subject for another audience
        ("repo:acme/lakehouse:environment:prod", "https://github.com/acme", False),
    ],
)
def test_which_tokens_match(doc: dict[str, Any], sub: str, aud: str, accepted: bool) -> None:
    trust = role(doc)["AssumeRolePolicyDocument"]
    assert accepts(trust, {"sub": sub, "aud": aud}) is accepted
    assert accepts(trust, {"sub": sub}) is False  # no audience, no session


def test_the_role_can_only_assume_the_cdk_bootstrap_roles(doc: dict[str, Any]) -> None:
    props = role(doc)
    assert "ManagedPolicyArns" not in props and "PermissionsBoundary" not in props
    assert not of_type(doc, "AWS::IAM::Policy") and not of_type(doc, "AWS::IAM::ManagedPolicy")
    sub = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-%s-role-${AWS::AccountId}-${AWS::Region}"  # noqa: E501
    assert props["Policies"] == [
        {
            "PolicyName": "AssumeCdkBootstrapRoles",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AssumeCdkBootstrapRoles",
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Resource": [
                            {"Fn::Sub": sub % kind}
                            for kind in ("deploy", "file-publishing", "image-publishing", "lookup")
                        ],
                    }
                ],
            },
        }
    ]
    text = json.dumps(doc["Resources"])
    assert "cfn-exec-role" not in text and "iam:PassRole" not in text


def test_outputs_name_the_role_for_the_github_environment(doc: dict[str, Any]) -> None:
    role_id = next(k for k, r in doc["Resources"].items() if r["Type"] == "AWS::IAM::Role")
    assert doc["Outputs"]["DeployRoleArn"]["Value"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert "AWS_DEPLOY_ROLE_ARN" in doc["Outputs"]["DeployRoleArn"]["Description"]


def test_cfn_lint_is_clean(doc: dict[str, Any]) -> None:
    from cfnlint.api import lint

    matches = lint(json.dumps(doc), regions=["us-east-1", "eu-west-1"])
    assert [str(m) for m in matches] == []


def test_existing_provider_qualifier_and_default_environment() -> None:
    stacks = synth(
        github_repository="acme/lakehouse",
        github_oidc_provider_arn=PROVIDER,
        env_name="prod",
        **{"@aws-cdk/core:bootstrapQualifier": "lake42"},
    )
    doc = stacks["LakehouseDeployRole"]
    assert not of_type(doc, "AWS::IAM::OIDCProvider")
    (statement,) = role(doc)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Federated": PROVIDER}
    # no github_environments: the lakehouse stack's env_name
    assert statement["Condition"]["StringEquals"][f"{HOST}:sub"] == [
        "repo:acme/lakehouse:environment:prod"
    ]
    resources = role(doc)["Policies"][0]["PolicyDocument"]["Statement"][0]["Resource"]
    assert all("role/cdk-lake42-" in r["Fn::Sub"] for r in resources)
    # the lakehouse stack's synthesizer uses the same qualifier
    lake = stacks["Lakehouse-prod"]
    assert lake["Parameters"]["BootstrapVersion"]["Default"] == "/cdk-bootstrap/lake42/version"


def test_no_repository_no_deploy_role_stack() -> None:
    sys.path.insert(0, str(INFRA))
    from lakehouse_stack.deploy_role import DeployRoleSettings

    assert DeployRoleSettings.from_context({}.get, "dev") is None
    assert DeployRoleSettings.from_context({"github_repository": ""}.get, "dev") is None


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"github_repository": "acme"}, "write OWNER/NAME"),
        ({"github_repository": "acme/*"}, "write OWNER/NAME"),
        ({"github_repository": "acme/lh", "github_environments": "prod*"}, "not a plain"),
        ({"github_repository": "acme/lh", "github_environments": "a:b"}, "not a plain"),
        ({"github_repository": "acme/lh", "github_environments": " , "}, "at least one"),
        (
            {"github_repository": "acme/lh", "github_oidc_provider_arn": "arn:aws:iam::1:x"},
            "expected arn:aws:iam::ACCOUNT:oidc-provider/",
        ),
        (
            {"github_repository": "acme/lh", "@aws-cdk/core:bootstrapQualifier": "x" * 11},
            "1-10 of",
        ),
    ],
)
def test_context_is_validated(context: dict[str, str], message: str) -> None:
    sys.path.insert(0, str(INFRA))
    from lakehouse_stack.deploy_role import DeployRoleSettings

    with pytest.raises(ValueError, match=message.replace("*", r"\*")):
        DeployRoleSettings.from_context(context.get, "dev")
