"""Athena: a workgroup whose settings users cannot override (results in the results bucket,
SSE-KMS with the stack's key, engine v3, a scan limit per query) and the KPI queries saved in it."""

from __future__ import annotations

from aws_cdk import aws_athena as athena
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lakehouse.aws.athena import KPI_QUERIES
from lakehouse_stack.settings import Settings


class Analytics(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        results: s3.Bucket,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, id)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=f"lakehouse-{settings.env_name}",
            description="Lakehouse analytics: Delta tables of the Glue database "
            f"{settings.database}",
            state="ENABLED",
            # deleting the stack deletes the workgroup with its named queries and query history
            # (the results stay in the retained bucket), so a redeploy can create it again
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=settings.athena_bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{results.bucket_name}/results/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                    expected_bucket_owner=results.stack.account,
                ),
            ),
        )
        self.queries = []
        for q in KPI_QUERIES:
            named = athena.CfnNamedQuery(  # Ref to the workgroup: created after it
                self,
                q.name,
                name=q.name,
                description=q.description,
                database=settings.database,
                query_string=q.render(settings.database),
                work_group=self.workgroup.ref,
            )
            self.queries.append(named)
