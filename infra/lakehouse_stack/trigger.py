"""The trigger: S3 `Object Created` events of the landing bucket (through EventBridge) invoke
`lakehouse.aws.trigger.handler`, which starts one execution per complete batch. Events and
invocations that fail for good wait in a dead-letter queue (an alarm watches it)."""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lakehouse_stack import iam as policy
from lakehouse_stack.pipeline import log_group, log_group_prefixes
from lakehouse_stack.settings import SRC, Settings


class Trigger(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        landing: s3.Bucket,
        state_machine: sfn.CfnStateMachine,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, id)
        # SSE-SQS, not the stack's key: EventBridge delivering to its dead-letter queue would
        # need events.amazonaws.com in the key policy without a source condition (EventBridge
        # sends none to KMS); the messages are S3 event envelopes (bucket, key), no data
        dead_letters = sqs.Queue(
            self,
            "TriggerDeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        role = policy.role(self, "TriggerRole", "lambda.amazonaws.com", "Lakehouse trigger")
        group = log_group(
            self, "TriggerLogs", log_group_prefixes(settings)["trigger"], settings, key
        )
        policy.allow(
            role, "Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], [group.log_group_arn]
        )
        policy.allow(role, "StartExecution", ["states:StartExecution"], [state_machine.ref])
        executions = (
            f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:execution:"
            f"{state_machine.attr_name}:*"
        )
        policy.allow(
            role,
            "SeeExecutions",
            ["states:DescribeExecution"],
            [executions],
            wildcard="execution names derive from batch ids that exist only at run time; the "
            "pattern is the one state machine's executions",
        )
        fn = lambda_.Function(
            self,
            "Trigger",
            description="Starts one pipeline execution per complete landing batch",
            runtime=lambda_.Runtime.PYTHON_3_14,  # the newest Python runtime (cdk-nag L1)
            architecture=lambda_.Architecture.ARM_64,
            handler="trigger.handler",
            code=lambda_.Code.from_asset(
                str(SRC / "lakehouse" / "aws"), exclude=["*", "!trigger.py"]
            ),
            role=role,
            log_group=group,
            timeout=Duration.seconds(30),
            memory_size=256,
            environment={
                "STATE_MACHINE_ARN": state_machine.ref,
                "LANDING_PREFIX": settings.landing_prefix,
            },
            dead_letter_queue=dead_letters,
            retry_attempts=2,
        )
        # CDK makes the function depend on its role and the role's policy; the role is
        # already referenced (cfn-lint W3005), the policy is what must come first
        cfn_fn = fn.node.default_child
        grants = role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(cfn_fn, lambda_.CfnFunction) and isinstance(grants, iam.CfnPolicy)
        cfn_fn.add_override("DependsOn", [Stack.of(self).get_logical_id(grants)])
        rule = events.Rule(
            self,
            "LandingObjectCreated",
            description="Objects created in the landing bucket",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [landing.bucket_name]},
                    "object": {"key": [{"prefix": f"{settings.landing_prefix}/"}]},
                },
            ),
        )
        rule.add_target(
            targets.LambdaFunction(
                fn,
                dead_letter_queue=dead_letters,
                retry_attempts=8,
                max_event_age=Duration.hours(6),
            )
        )
        self.function: lambda_.Function = fn
        self.dead_letters: sqs.Queue = dead_letters
        self.role: iam.Role = role
