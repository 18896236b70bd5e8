"""Notifications, alarms and the dashboard.

Alarms (every one notifies the SNS topic, and again when it recovers):
- failed execution: an execution of the state machine failed, timed out or was aborted;
- duration: an execution ran longer than `max_run_minutes`;
- freshness (per silver table): the pipeline's `FreshnessLagSeconds` exceeded
  `freshness_minutes`, or no run reported it for that long (missing data breaches);
- reject rate (per silver table): a run quarantined more than `max_reject_rate` of new rows;
- trigger dead letters: an S3 event could not start its execution.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lakehouse_stack.encryption import alarm_arn_pattern
from lakehouse_stack.settings import Settings

NAMESPACE = "Lakehouse"  # lakehouse.aws.cloudwatch.NAMESPACE


def notifications(scope: Construct, settings: Settings, key: kms.IKey) -> sns.Topic:
    """The topic, encrypted with the stack's key. Its policy (which replaces SNS's default
    policy) denies non-TLS requests and allows CloudWatch to publish for this stack's alarms
    only; the Glue job and the state machine publish with their roles' IAM permissions (same
    account). The key policy lets CloudWatch use the key for those alarms (encryption.py)."""
    topic = sns.Topic(
        scope,
        "Notifications",
        display_name=f"Lakehouse {settings.env_name}",
        enforce_ssl=True,
        master_key=key,
    )
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarmsPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {"aws:SourceArn": alarm_arn_pattern(settings.env_name)},
            },
        )
    )
    if settings.notification_email:
        topic.add_subscription(subs.EmailSubscription(settings.notification_email))
    return topic


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        topic: sns.Topic,
        state_machine: sfn.CfnStateMachine,
        dead_letters: sqs.Queue,
        tables: Sequence[str],
    ) -> None:
        super().__init__(scope, id)
        self.settings = settings
        self.topic = topic
        self.machine = state_machine
        states, ours = self._states, self._ours
        self.alarms: list[cw.Alarm] = []
        failed = cw.MathExpression(
            expression="failed + timed_out + aborted",
            using_metrics={
                "failed": states("ExecutionsFailed", "Sum"),
                "timed_out": states("ExecutionsTimedOut", "Sum"),
                "aborted": states("ExecutionsAborted", "Sum"),
            },
            label="Failed executions",
            period=Duration.minutes(5),
        )
        self._alarm(
            "FailedExecution",
            failed,
            threshold=1,
            op=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            description="A pipeline execution failed, timed out or was aborted",
        )
        self._alarm(
            "Duration",
            states("ExecutionTime", "Maximum"),
            threshold=settings.max_run_minutes * 60_000,  # ExecutionTime is in milliseconds
            op=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=f"A pipeline execution took longer than {settings.max_run_minutes} min",
        )
        window = _alarm_period(settings.freshness_minutes)
        for table in tables:
            self._alarm(
                f"Freshness-{table}",
                ours("FreshnessLagSeconds", table, "Maximum", window),
                threshold=settings.freshness_minutes * 60,
                op=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                missing=cw.TreatMissingData.BREACHING,
                description=f"{table} is older than its {settings.freshness_minutes} min SLA "
                "(or no run reported its freshness in that time)",
            )
            self._alarm(
                f"RejectRate-{table}",
                ours("RejectRate", table, "Maximum", Duration.minutes(5)),
                threshold=settings.max_reject_rate,
                op=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                description=f"A run quarantined more than {settings.max_reject_rate:.0%} of "
                f"the new {table} rows",
            )
        self._alarm(
            "TriggerDeadLetters",
            dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            op=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            description="S3 events that could not start a pipeline execution wait in the "
            "trigger's dead-letter queue",
        )
        self.dashboard = self._dashboard(tables)

    def _states(self, metric: str, statistic: str) -> cw.Metric:
        return cw.Metric(
            namespace="AWS/States",
            metric_name=metric,
            dimensions_map={"StateMachineArn": self.machine.ref},
            statistic=statistic,
            period=Duration.minutes(5),
        )

    def _ours(self, metric: str, table: str | None, statistic: str, period: Duration) -> cw.Metric:
        dims = {"Environment": self.settings.env_name, **({"Table": table} if table else {})}
        return cw.Metric(
            namespace=NAMESPACE,
            metric_name=metric,
            dimensions_map=dims,
            statistic=statistic,
            period=period,
        )

    def _alarm(
        self,
        id: str,
        metric: cw.IMetric,
        *,
        threshold: float,
        op: cw.ComparisonOperator,
        description: str,
        missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
    ) -> cw.Alarm:
        name = f"lakehouse-{self.settings.env_name}-{id.lower().replace('.', '-')}"
        alarm = cw.Alarm(
            self,
            id.replace(".", ""),
            alarm_name=name,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=op,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    def _dashboard(self, tables: Sequence[str]) -> cw.Dashboard:
        s, o = self._states, self._ours
        hour = Duration.hours(1)
        board = cw.Dashboard(
            self, "Dashboard", dashboard_name=f"lakehouse-{self.settings.env_name}"
        )
        board.add_widgets(
            cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=4)
        )
        board.add_widgets(
            cw.GraphWidget(
                title="Executions",
                left=[
                    s("ExecutionsStarted", "Sum"),
                    s("ExecutionsSucceeded", "Sum"),
                    s("ExecutionsFailed", "Sum"),
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Execution time (ms)",
                left=[s("ExecutionTime", "Maximum")],
                width=12,
            ),
        )
        board.add_widgets(
            cw.GraphWidget(
                title="Rows in / quarantined",
                left=[o("RowsIn", t, "Sum", hour) for t in tables],
                right=[o("RowsQuarantined", t, "Sum", hour) for t in tables],
                width=12,
            ),
            cw.GraphWidget(
                title="Reject rate",
                left=[o("RejectRate", t, "Maximum", hour) for t in tables],
                left_annotations=[
                    cw.HorizontalAnnotation(value=self.settings.max_reject_rate, label="SLA")
                ],
                width=12,
            ),
        )
        board.add_widgets(
            cw.GraphWidget(
                title="Freshness lag (s)",
                left=[o("FreshnessLagSeconds", t, "Maximum", hour) for t in tables],
                left_annotations=[
                    cw.HorizontalAnnotation(value=self.settings.freshness_minutes * 60, label="SLA")
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Run seconds",
                left=[o("RunSeconds", None, "Maximum", hour)],
                width=12,
            ),
        )
        return board


def _alarm_period(minutes: int) -> Duration:
    """The freshness window as an alarm period CloudWatch accepts (whole hours, up to a day,
    or whole minutes below an hour)."""
    if minutes < 60:
        return Duration.minutes(minutes)
    hours = min(24, max(1, round(minutes / 60)))
    return Duration.hours(hours)
