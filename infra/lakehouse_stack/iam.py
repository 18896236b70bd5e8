"""Least privilege: one role per component, explicit actions on explicit resource ARNs.

The only statements with Resource "*" are the ones AWS gives no resource-level permission
for; each is listed here with the reason, and `tests/test_aws_infra.py` fails on any other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct

#: action -> why it must be granted on Resource "*"
WILDCARD_EXCEPTIONS: dict[str, str] = {
    "cloudwatch:PutMetricData": (
        "CloudWatch PutMetricData supports no resource-level permissions; the statement is "
        "limited to the pipeline's namespaces with the cloudwatch:namespace condition"
    ),
    **{
        f"logs:{action}": (
            "Step Functions execution logging uses CloudWatch Logs vended-log delivery, whose "
            "APIs support no resource-level permissions (Step Functions developer guide, "
            "'IAM policies for logging to CloudWatch Logs')"
        )
        for action in (
            "CreateLogDelivery",
            "GetLogDelivery",
            "UpdateLogDelivery",
            "DeleteLogDelivery",
            "ListLogDeliveries",
            "PutResourcePolicy",
            "DescribeResourcePolicies",
            "DescribeLogGroups",
        )
    },
    **{
        f"xray:{action}": (
            "X-Ray's trace and sampling APIs support no resource-level permissions (X-Ray "
            "developer guide, 'How AWS X-Ray works with IAM'); the state machine sends its "
            "execution traces with them"
        )
        for action in (
            "PutTraceSegments",
            "PutTelemetryRecords",
            "GetSamplingRules",
            "GetSamplingTargets",
        )
    },
    "lakeformation:AddLFTagsToResource": (
        "Lake Formation's IAM actions support no resource-level permissions; which tags on "
        "which tables is decided by Lake Formation itself (ASSOCIATE on the stack's LF-Tag, "
        "ownership of the tables the job created)"
    ),
    "lakeformation:GetDataAccess": (
        "Lake Formation credential vending supports no resource-level permissions; what data "
        "the caller gets is decided by its Lake Formation grants (analyst: tables tagged "
        "analyst, without customer identifiers)"
    ),
}


def role(
    scope: Construct, id: str, service: str, description: str, *, same_account: bool = False
) -> iam.Role:
    """A role for `service`; `same_account` adds the confused-deputy guard (aws:SourceAccount)
    for services that send it when assuming the role (Step Functions does)."""
    conditions = {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}} if same_account else None
    return iam.Role(
        scope,
        id,
        assumed_by=iam.ServicePrincipal(service, conditions=conditions),
        description=description,
    )


def allow(
    target: iam.Role,
    sid: str,
    actions: Sequence[str],
    resources: Sequence[str],
    conditions: dict[str, Any] | None = None,
    *,
    wildcard: str = "",
) -> None:
    """Allow `actions` on `resources`. A resource with a `*` needs a reason: Resource "*" the
    listed one per action (`WILDCARD_EXCEPTIONS`), a pattern (`bucket/*`, `table/db/*`) the
    `wildcard` argument. Either becomes the cdk-nag AwsSolutions-IAM5 suppression of exactly
    that resource on the role's policy."""
    if "*" in resources:
        unexplained = [a for a in actions if a not in WILDCARD_EXCEPTIONS]
        if unexplained:
            raise ValueError(f"{sid}: {unexplained} on Resource '*' without a listed reason")
    target.add_to_principal_policy(
        iam.PolicyStatement(
            sid=sid,
            actions=list(actions),
            resources=list(resources),
            conditions=conditions,
        )
    )
    stack = Stack.of(target)
    for resource in resources:
        shown = nag_form(stack.resolve(resource))
        if "*" not in shown:
            continue
        if resource == "*":
            reason = "; ".join(sorted({WILDCARD_EXCEPTIONS[a] for a in actions}))
        elif wildcard:
            reason = wildcard
        else:
            raise ValueError(f"{sid}: {shown} is a wildcard resource; say why (wildcard=...)")
        NagSuppressions.add_resource_suppressions(
            target.node.find_child("DefaultPolicy"),
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": f"{sid}: {reason}",
                    "appliesTo": [f"Resource::{shown}"],
                }
            ],
        )


def nag_form(value: Any) -> str:
    """A resolved value as cdk-nag prints it in a finding (`<Logical.Arn>/*`, `<AWS::Region>`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::Join":
            return str(arg[0]).join(nag_form(v) for v in arg[1])
        if fn == "Fn::Sub" and isinstance(arg, str):
            return re.sub(r"\$\{([^}]+)\}", r"<\1>", arg)
    raise ValueError(f"cannot show {value!r} as cdk-nag does")
