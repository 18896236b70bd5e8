"""Processing: the Glue database, the Glue 5 Spark job that runs the pipeline's steps, and the
Step Functions state machine (the exported ASL, its placeholders filled by substitutions)."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import (
    AssetStaging,
    Aws,
    FileAssetLocation,
    FileAssetPackaging,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as assets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lakehouse_stack import encryption
from lakehouse_stack import iam as policy
from lakehouse_stack.artifacts import glue_wheels
from lakehouse_stack.naming import stack_suffix
from lakehouse_stack.settings import INFRA, Settings
from lakehouse_stack.storage import GLUE_TEMP_PREFIX, Buckets

METRIC_NAMESPACES = ("Lakehouse", "Glue")  # ours, and Glue's own job metrics (--enable-metrics)
GLUE_LOGS_REASON = (
    "Glue names the job's log groups itself under /aws-glue/ (output, error, continuous logs, "
    "per security configuration and role); the job may write only there"
)
WHEELS_SUFFIX = ".gluewheels"  # Glue 5.0 installs a zip of wheels only by this name's end


def log_group_prefixes(settings: Settings) -> dict[str, str]:
    """Name prefixes of the stack's log groups (each name adds `-<stack_suffix()>`), and of the
    groups Glue creates for the job's security configuration; the key policy lets CloudWatch
    Logs use the key for these names only."""
    env = settings.env_name
    return {
        "states": f"/aws/vendedlogs/states/lakehouse-{env}",  # Step Functions requires the prefix
        "trigger": f"/aws/lambda/lakehouse-trigger-{env}",
        "glue": f"/aws-glue/jobs/{security_configuration_prefix(settings)}",
        "glue-continuous": f"/aws-glue/jobs/logs-v2-{security_configuration_prefix(settings)}",
    }


def security_configuration_prefix(settings: Settings) -> str:
    return f"lakehouse-{settings.env_name}"


def log_group(
    scope: Construct, id: str, prefix: str, settings: Settings, key: kms.IKey
) -> logs.LogGroup:
    """A log group kept after the stack (RETAIN), encrypted with the key, named
    `<prefix>-<stack suffix>` so a redeploy after a delete never collides with it."""
    group = logs.LogGroup(
        scope,
        id,
        log_group_name=f"{prefix}-{stack_suffix()}",
        encryption_key=key,
        removal_policy=RemovalPolicy.RETAIN,
    )
    cfn = group.node.default_child
    assert isinstance(cfn, logs.CfnLogGroup)
    cfn.retention_in_days = settings.log_retention_days
    return group


class Pipeline(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        buckets: Buckets,
        topic: sns.Topic,
        key: kms.IKey,
        lf_tag_key: str,
        definition: dict[str, Any],
    ) -> None:
        super().__init__(scope, id)
        self.settings = settings
        self.key = key
        self.lf_tag_key = lf_tag_key
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=settings.database,
                description="Lakehouse tables (silver and gold Delta tables), from the contracts.",
                parameters={"lakehouse.managed_by": "lakehouse"},
                # tables the job creates get no IAMAllowedPrincipals grant: Lake Formation
                # permissions alone decide who sees them (lakeformation.py)
                create_table_default_permissions=[],
            ),
        )
        self.job = self._glue_job(buckets, topic)
        self.state_machine = self._state_machine(buckets, topic, definition)

    # --- Glue ---------------------------------------------------------------------------------
    def _wheels_asset(self) -> FileAssetLocation:
        """The zip of wheels (`lakehouse_stack.artifacts`) as a file asset whose S3 key keeps
        the `.gluewheels.zip` end Glue needs: `aws_s3_assets.Asset` would name it `<hash>.zip`,
        so the staged file is registered with a source hash that carries the suffix (the key is
        `<source hash><extension>`)."""
        staging = AssetStaging(self, "LakehouseWheels", source_path=str(glue_wheels()))
        return Stack.of(self).synthesizer.add_file_asset(
            source_hash=f"{staging.asset_hash}{WHEELS_SUFFIX}",
            file_name=staging.relative_staged_path(Stack.of(self)),
            packaging=FileAssetPackaging.FILE,
        )

    def _glue_job(self, b: Buckets, topic: sns.Topic) -> glue.CfnJob:
        cfg = self.settings
        script = assets.Asset(self, "GlueLauncher", path=str(INFRA / "glue" / "launch.py"))
        wheels = self._wheels_asset()
        role = policy.role(self, "GlueJobRole", "glue.amazonaws.com", "Lakehouse Glue job")
        self.glue_role = role
        lake, landing, archive = b.lake, b.landing, b.archive
        policy.allow(
            role,
            "ReadCode",
            ["s3:GetObject"],
            [
                script.bucket.arn_for_objects(script.s3_object_key),
                f"arn:{Aws.PARTITION}:s3:::{wheels.bucket_name}/{wheels.object_key}",
            ],
        )
        policy.allow(
            role, "ListBuckets", ["s3:ListBucket"], [x.bucket_arn for x in (lake, landing, archive)]
        )
        policy.allow(
            role,
            "LakeObjects",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [lake.arn_for_objects("*")],
            wildcard="the lake bucket is the lakehouse root: the job writes every zone's Delta "
            "tables, _ops and the lock, whose object keys are data-dependent (part files, "
            "commit versions), in this one bucket",
        )
        policy.allow(
            role,
            "LandingObjects",
            ["s3:GetObject", "s3:DeleteObject"],
            [landing.arn_for_objects(f"{cfg.landing_prefix}/*")],
            wildcard="producers choose the file names under the landing prefix; the job reads "
            "and removes (after archiving) whatever landed there, nothing outside it",
        )
        policy.allow(
            role,
            "ArchiveObjects",
            ["s3:GetObject", "s3:PutObject"],
            [archive.arn_for_objects("*")],
            wildcard="the archive bucket holds only processed landing files, under keys made of "
            "the run's date and id, which exist only at run time",
        )
        db = cfg.database
        policy.allow(
            role,
            "Catalog",
            [
                "glue:GetDatabase",
                "glue:GetDatabases",
                "glue:UpdateDatabase",
                "glue:GetTable",
                "glue:GetTables",
                "glue:CreateTable",
                "glue:UpdateTable",
                "glue:GetPartitions",
                "glue:GetUserDefinedFunctions",
            ],
            [
                f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}:catalog",
                f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}:database/{db}",
                f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}:database/default",
                f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}:table/{db}/*",
                f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}:userDefinedFunction/{db}/*",
            ],
            wildcard="the job creates its catalog tables at run time (silver from the contracts, "
            "gold as models are first written), so they are named by the database; Lake "
            "Formation grants decide the rest",
        )
        policy.allow(
            role,
            "Logs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            [f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws-glue/*"],
            wildcard=GLUE_LOGS_REASON,
        )
        policy.allow(
            role,
            "Metrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            {"StringEquals": {"cloudwatch:namespace": list(METRIC_NAMESPACES)}},
        )
        policy.allow(role, "Notify", ["sns:Publish"], [topic.topic_arn])
        # the data buckets, the topic and the job's own logs and bookmarks use the stack's key
        encryption.grant(
            role, self.key, "DataKey", ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
        )
        policy.allow(
            role,
            "EncryptLogs",
            ["logs:AssociateKmsKey"],
            [f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws-glue/*"],
            wildcard=GLUE_LOGS_REASON,
        )
        policy.allow(
            role,
            "ClassifyTables",
            ["lakeformation:AddLFTagsToResource"],
            ["*"],
        )
        self.security_configuration = glue.CfnSecurityConfiguration(
            self,
            "SecurityConfiguration",
            name=f"{security_configuration_prefix(cfg)}-{stack_suffix()}",
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(
                        s3_encryption_mode="SSE-KMS", kms_key_arn=self.key.key_arn
                    )
                ],
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=self.key.key_arn
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=self.key.key_arn
                ),
            ),
        )
        args = {
            "--job-language": "python",
            "--datalake-formats": "delta",
            "--conf": "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension "
            "--conf spark.sql.catalog.spark_catalog="
            "org.apache.spark.sql.delta.catalog.DeltaCatalog",
            "--enable-glue-datacatalog": "true",
            "--enable-metrics": "true",
            "--enable-continuous-cloudwatch-log": "true",
            # the lakehouse wheel and its locked dependencies; pip takes nothing from an index
            "--additional-python-modules": wheels.s3_object_url,
            "--python-modules-installer-option": "--no-index",
            "--TempDir": f"s3://{lake.bucket_name}/{GLUE_TEMP_PREFIX}",
            "--entry-module": cfg.glue_entry_module,
            "--root": f"s3://{lake.bucket_name}",
            "--landing": f"s3://{landing.bucket_name}/{cfg.landing_prefix}",
            "--archive": f"s3://{archive.bucket_name}",
            "--environment": cfg.env_name,
            "--glue-database": cfg.database,
            "--sns-topic-arn": topic.topic_arn,
            "--metrics-namespace": METRIC_NAMESPACES[0],
            "--max-run-seconds": str(cfg.max_run_minutes * 60),
            "--lf-tag-key": self.lf_tag_key,
        }
        return glue.CfnJob(
            self,
            "Job",
            role=role.role_arn,
            description="Runs one lakehouse pipeline step (--step) with the spark engine",
            glue_version="5.0",
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3", script_location=script.s3_object_url
            ),
            default_arguments=args,
            worker_type=cfg.glue_worker_type,
            number_of_workers=cfg.glue_workers,
            timeout=cfg.glue_timeout_minutes,
            max_retries=0,  # Step Functions retries transient errors per step
            # one run at a time by default (docs/glue.md): runs on one root are serialised by
            # its lock anyway; a second start fails with Glue.ConcurrentRunsExceededException,
            # which the state machine retries with backoff
            execution_property=glue.CfnJob.ExecutionPropertyProperty(
                max_concurrent_runs=cfg.glue_max_concurrent_runs
            ),
            security_configuration=self.security_configuration.ref,
        )

    # --- Step Functions -----------------------------------------------------------------------
    def _state_machine(
        self, b: Buckets, topic: sns.Topic, definition: dict[str, Any]
    ) -> sfn.CfnStateMachine:
        role = policy.role(
            self,
            "StateMachineRole",
            "states.amazonaws.com",
            "Lakehouse pipeline",
            same_account=True,
        )
        self.states_role = role
        job_arn = f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}:job/{self.job.ref}"
        policy.allow(
            role,
            "RunGlueJob",
            ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
            [job_arn],
        )
        policy.allow(role, "ListLanding", ["s3:ListBucket"], [b.landing.bucket_arn])
        policy.allow(role, "NotifyFailure", ["sns:Publish"], [topic.topic_arn])
        encryption.grant(role, self.key, "EncryptedTopic", encryption.READ_WRITE, via=["sns"])
        policy.allow(
            role,
            "Tracing",
            [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
            ],
            ["*"],
        )
        policy.allow(
            role,
            "ExecutionLogs",
            [
                "logs:CreateLogDelivery",
                "logs:GetLogDelivery",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
                "logs:DescribeLogGroups",
            ],
            ["*"],
        )
        self.execution_logs = log_group(
            self,
            "ExecutionLogs",
            log_group_prefixes(self.settings)["states"],
            self.settings,
            self.key,
        )
        machine = sfn.CfnStateMachine(
            self,
            "StateMachine",
            role_arn=role.role_arn,
            state_machine_type="STANDARD",
            # a string, not an object: CloudFormation must get the ASL verbatim (an object
            # would lose its nulls, e.g. a Parallel's "ResultPath": null)
            definition_string=json.dumps(definition, indent=1),
            definition_substitutions={
                "PipelineJobName": self.job.ref,
                "FailureTopicArn": topic.topic_arn,
                "LakehouseRoot": f"s3://{b.lake.bucket_name}",
                "LandingBucket": b.landing.bucket_name,
                "LandingPrefix": f"{self.settings.landing_prefix}/",
            },
            # every state transition is logged (a run has a handful), without the execution's
            # input and output; X-Ray traces each execution
            tracing_configuration=sfn.CfnStateMachine.TracingConfigurationProperty(enabled=True),
            logging_configuration=sfn.CfnStateMachine.LoggingConfigurationProperty(
                level="ALL",
                include_execution_data=False,
                destinations=[
                    sfn.CfnStateMachine.LogDestinationProperty(
                        cloud_watch_logs_log_group=sfn.CfnStateMachine.CloudWatchLogsLogGroupProperty(
                            log_group_arn=self.execution_logs.log_group_arn
                        )
                    )
                ],
            ),
        )
        # the role's policy must exist before the first run (the role itself is referenced)
        machine.node.add_dependency(role.node.find_child("DefaultPolicy"))
        return machine
