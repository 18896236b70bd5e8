"""Least privilege: one role per component, explicit actions on explicit resource ARNs.

The only statements with Resource "*" are the ones AWS gives no resource-level permission
for; each is listed here with the reason, and `tests/test_aws_infra.py` fails on any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
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
) -> None:
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
