"""The analyst role: queries silver and gold through Athena, governed by Lake Formation.

Trust: principals of this account (`AccountPrincipal`: only those whose own IAM policy allows
`sts:AssumeRole` on this role can assume it, so who is an analyst is decided by IAM in the
account), and only with MFA (`aws:MultiFactorAuthPresent`): a leaked access key alone cannot
read the data. An external id would add nothing inside one account (it guards against the
confused deputy between accounts).

Permissions: the workgroup's query APIs on this workgroup only; catalog reads on the database;
`lakeformation:GetDataAccess` (Lake Formation decides what the credentials reach: tables
tagged analyst, without customer identifiers); the results bucket's `results/` prefix and the
key, only through S3. No permission on the lake bucket itself: data is read only through Lake
Formation's vended credentials.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_athena as athena
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lakehouse_stack import encryption
from lakehouse_stack import iam as policy
from lakehouse_stack.settings import Settings

RESULTS_PREFIX = "results/"  # analytics.py's output location

ATHENA_ACTIONS = (
    "athena:StartQueryExecution",
    "athena:StopQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:GetQueryRuntimeStatistics",
    "athena:ListQueryExecutions",
    "athena:BatchGetQueryExecution",
    "athena:GetWorkGroup",
    "athena:GetNamedQuery",
    "athena:ListNamedQueries",
    "athena:BatchGetNamedQuery",
)
CATALOG_ACTIONS = (
    "glue:GetDatabase",
    "glue:GetDatabases",
    "glue:GetTable",
    "glue:GetTables",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
)


class Analyst(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        workgroup: athena.CfnWorkGroup,
        results: s3.Bucket,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.AccountPrincipal(Aws.ACCOUNT_ID).with_conditions(
                {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
            ),
            description=f"Lakehouse {settings.env_name} analyst: Athena on silver and gold",
        )
        role, db = self.role, settings.database
        arn = f"arn:{Aws.PARTITION}"
        policy.allow(
            role,
            "Athena",
            ATHENA_ACTIONS,
            [f"{arn}:athena:{Aws.REGION}:{Aws.ACCOUNT_ID}:workgroup/{workgroup.ref}"],
        )
        policy.allow(
            role,
            "Catalog",
            CATALOG_ACTIONS,
            [
                f"{arn}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}:catalog",
                f"{arn}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}:database/{db}",
                f"{arn}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}:table/{db}/*",
            ],
            wildcard="tables are created by the pipeline at run time; which of them (and which "
            "columns) an analyst sees is decided by Lake Formation's tag grants",
        )
        policy.allow(role, "LakeFormationData", ["lakeformation:GetDataAccess"], ["*"])
        policy.allow(
            role, "ResultsBucket", ["s3:GetBucketLocation", "s3:ListBucket"], [results.bucket_arn]
        )
        policy.allow(
            role,
            "Results",
            [
                "s3:GetObject",
                "s3:PutObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            [results.arn_for_objects(f"{RESULTS_PREFIX}*")],
            wildcard="Athena names each query's result objects by query id under the "
            "workgroup's output prefix; nothing else in the bucket",
        )
        encryption.grant(role, key, "ResultsKey", encryption.READ_WRITE, via=["s3"])
