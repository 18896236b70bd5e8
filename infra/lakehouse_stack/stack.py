"""The lakehouse on AWS as one stack (see docs/aws.md)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from lakehouse_stack.analyst import Analyst
from lakehouse_stack.analytics import Analytics
from lakehouse_stack.audit import DataEventsTrail
from lakehouse_stack.encryption import DataKey
from lakehouse_stack.lakeformation import LakeFormation, tag_key
from lakehouse_stack.monitoring import Monitoring, notifications
from lakehouse_stack.pipeline import Pipeline, log_group_prefixes
from lakehouse_stack.settings import Settings
from lakehouse_stack.storage import Buckets
from lakehouse_stack.trigger import Trigger


def exported_definition() -> dict[str, Any]:
    """The pipeline as Amazon States Language, exactly as `lakehouse pipeline asl --whole-run`
    exports it (its `${...}` placeholders are filled by the state machine's definition
    substitutions). Whole run: discovery and the nothing-landed gate are states; one Glue job
    run executes every later step with the pipeline's own runner (per-step retries, failure
    recording and notification inside), because a step's state is handed over in memory."""
    from lakehouse.orchestration.asl import AslResources, state_machine_definition

    return state_machine_definition(AslResources(whole_run=True))


def silver_tables(contracts_dir: str | None = None) -> list[str]:
    from lakehouse.contracts import load_contracts

    return [f"silver.{entity}" for entity in load_contracts(contracts_dir)]


class LakehouseStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        definition: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.settings = settings
        Tags.of(self).add("project", "lakehouse")
        Tags.of(self).add("environment", settings.env_name)
        self.data_key = DataKey(
            self,
            "DataKey",
            env_name=settings.env_name,
            log_groups=[f"{p}-*" for p in log_group_prefixes(settings).values()],
        )
        key = self.data_key.key
        self.buckets = Buckets(self, "Buckets", settings=settings, key=key)
        self.topic = notifications(self, settings, key)
        self.pipeline = Pipeline(
            self,
            "Pipeline",
            settings=settings,
            buckets=self.buckets,
            topic=self.topic,
            key=key,
            lf_tag_key=tag_key(settings),
            definition=definition if definition is not None else exported_definition(),
        )
        self.trigger = Trigger(
            self,
            "Trigger",
            settings=settings,
            landing=self.buckets.landing,
            state_machine=self.pipeline.state_machine,
            key=key,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            settings=settings,
            topic=self.topic,
            state_machine=self.pipeline.state_machine,
            dead_letters=self.trigger.dead_letters,
            tables=silver_tables(),
        )
        self.analytics = Analytics(
            self, "Analytics", settings=settings, results=self.buckets.athena_results, key=key
        )
        self.lake_formation = LakeFormation(
            self,
            "LakeFormation",
            settings=settings,
            lake=self.buckets.lake,
            key=key,
            database=self.pipeline.database,
            job_role=self.pipeline.glue_role,
        )
        self.analyst = Analyst(
            self,
            "Analyst",
            settings=settings,
            workgroup=self.analytics.workgroup,
            results=self.buckets.athena_results,
            key=key,
        )
        self.lake_formation.grant_analyst(self.analyst.role)
        if settings.cloudtrail_data_events:
            DataEventsTrail(
                self,
                "Audit",
                buckets=list(self.buckets.all.values()),
                destination=self.buckets.access_logs,
            )
        outputs = {
            "LandingBucket": self.buckets.landing.bucket_name,
            "LakeBucket": self.buckets.lake.bucket_name,
            "ArchiveBucket": self.buckets.archive.bucket_name,
            "AthenaResultsBucket": self.buckets.athena_results.bucket_name,
            "LakehouseRoot": f"s3://{self.buckets.lake.bucket_name}",
            "LandingUri": f"s3://{self.buckets.landing.bucket_name}/{settings.landing_prefix}",
            "ArchiveUri": f"s3://{self.buckets.archive.bucket_name}",
            "GlueDatabase": settings.database,
            "GlueJob": self.pipeline.job.ref,
            "StateMachineArn": self.pipeline.state_machine.ref,
            "TriggerFunction": self.trigger.function.function_name,
            "NotificationTopic": self.topic.topic_arn,
            "AthenaWorkGroup": self.analytics.workgroup.ref,
            "Dashboard": self.monitoring.dashboard.dashboard_name,
            "AccessLogBucket": self.buckets.access_logs.bucket_name,
            "DataKeyArn": key.key_arn,
            "AnalystRoleArn": self.analyst.role.role_arn,
            "LakeFormationTag": self.lake_formation.tag_key,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
