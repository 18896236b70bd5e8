"""The stack's customer-managed KMS key (rotation on) and its key policy.

Key policy, statement by statement:
- the account (root) administers the key and delegates its use to IAM: every role's own policy
  names this key's ARN and the exact kms actions it needs (see `grant`), so key use is as
  reviewable as any other permission, and the key can never become unmanageable;
- CloudWatch alarms may use it to publish to the encrypted SNS topic (`kms:Decrypt`,
  `kms:GenerateDataKey*`), only for alarms of this account whose names are this stack's
  (`aws:SourceAccount`, `aws:SourceArn`);
- CloudWatch Logs may use it for this stack's log groups only
  (`kms:EncryptionContext:aws:logs:arn`).

S3 (SSE-KMS with Bucket Keys), SNS, Glue (security configuration) and Athena use the key with
the caller's permissions, so they need no statement of their own.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from lakehouse_stack import iam as policy

#: kms actions by use; each role is granted exactly the uses it has
READ = ("kms:Decrypt",)
WRITE = ("kms:GenerateDataKey",)
READ_WRITE = (*READ, *WRITE)


def alarm_arn_pattern(env_name: str) -> str:
    """ARNs of this stack's alarms (Monitoring names them `lakehouse-<env>-...`)."""
    return (
        f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:lakehouse-{env_name}-*"
    )


def log_group_arn(name_pattern: str) -> str:
    return f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{name_pattern}"


class DataKey(Construct):
    """One key for the data buckets, the topic, the log groups, Athena results and Glue."""

    def __init__(
        self, scope: Construct, id: str, *, env_name: str, log_groups: Sequence[str]
    ) -> None:
        super().__init__(scope, id)
        account = iam.AccountRootPrincipal()
        statements = [
            iam.PolicyStatement(
                sid="AccountAdministersKeyAndDelegatesUseToIam",
                principals=[account],
                actions=["kms:*"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": alarm_arn_pattern(env_name)},
                },
            ),
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptsThisStacksLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.{Aws.URL_SUFFIX}")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": [log_group_arn(n) for n in log_groups]
                    }
                },
            ),
        ]
        self.key = kms.Key(
            self,
            "Key",
            description=f"Lakehouse {env_name}: data buckets, notifications, logs, Athena, Glue",
            enable_key_rotation=True,
            # RETAIN: the retained buckets and log groups hold data only this key decrypts;
            # deleting the key is a deliberate act (schedule deletion, 30-day pending window)
            removal_policy=RemovalPolicy.RETAIN,
            pending_window=Duration.days(30),
            policy=iam.PolicyDocument(statements=statements),
        )


def grant(
    role: iam.Role,
    key: kms.IKey,
    sid: str,
    actions: Sequence[str],
    *,
    via: Sequence[str] = (),
) -> None:
    """`actions` on this key only; `via` limits use to requests made through those services
    (`kms:ViaService`, e.g. `s3`)."""
    conditions = (
        {"StringEquals": {"kms:ViaService": [f"{s}.{Aws.REGION}.{Aws.URL_SUFFIX}" for s in via]}}
        if via
        else None
    )
    policy.allow(role, sid, actions, [key.key_arn], conditions)
