"""Lake Formation: the lake bucket registered, the Glue job's and the analysts' permissions.

The catalog tables do not exist at deploy time (the Glue job creates them after a run, see
`lakehouse.aws.glue_sync`), so nothing here names a table:

- the Glue job gets database-level grants (CREATE_TABLE, ALTER, DESCRIBE), the same data
  permissions on every table of the database (table wildcard), DATA_LOCATION_ACCESS on the lake
  bucket, and ASSOCIATE on the stack's LF-Tag so its catalog sync can classify what it creates;
- analysts are granted by LF-Tag expression (tag-based access control): SELECT and DESCRIBE on
  tables tagged `<key>=analyst`. The database is tagged `restricted`, which every table and
  column inherits until the sync tags silver and gold tables `analyst` and their customer
  identifier columns `restricted` (a column's tag overrides its table's) -- so a quarantine,
  bronze or unknown table, and `user_id` wherever it appears, stay invisible to analysts;
- the database gives new tables no IAMAllowedPrincipals permission (pipeline.py), so these
  grants are the only way in.

The stack's deployer (the CDK CloudFormation execution role) must be a data lake administrator
for the grants to succeed; `DataLakeSettings` adds it with MutationType APPEND, which keeps the
account's existing administrators (PutDataLakeSettings alone would replace the list).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, DefaultStackSynthesizer, Fn, RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lakeformation as lf
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lakehouse_stack import encryption
from lakehouse_stack import iam as policy
from lakehouse_stack.settings import Settings

#: LF-Tag values; src/lakehouse/aws/glue_sync.py (ANALYST, RESTRICTED) writes them
ANALYST = "analyst"
RESTRICTED = "restricted"
JOB_TABLE_PERMISSIONS = ("ALTER", "DESCRIBE", "SELECT", "INSERT", "DELETE")
JOB_DATABASE_PERMISSIONS = ("CREATE_TABLE", "ALTER", "DESCRIBE")
ANALYST_TABLE_PERMISSIONS = ("SELECT", "DESCRIBE")


def tag_key(settings: Settings) -> str:
    """LF-Tags are account-wide: one key per environment."""
    return f"lakehouse-{settings.env_name}-access"


def deployer_arn(stack: Stack) -> str:
    """The role CloudFormation deploys with (the CDK bootstrap's execution role)."""
    synth = stack.synthesizer
    if isinstance(synth, DefaultStackSynthesizer):
        return Fn.sub(synth.cloud_formation_execution_role_arn)
    raise ValueError("Lake Formation settings need the DefaultStackSynthesizer's execution role")


class LakeFormation(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        lake: s3.Bucket,
        key: kms.IKey,
        database: glue.CfnDatabase,
        job_role: iam.Role,
    ) -> None:
        super().__init__(scope, id)
        self.settings = settings
        self.catalog = Aws.ACCOUNT_ID
        self.database_name = settings.database
        self.admins = lf.CfnDataLakeSettings(
            self,
            "DeployerIsAdmin",
            admins=[
                lf.CfnDataLakeSettings.DataLakePrincipalProperty(
                    data_lake_principal_identifier=deployer_arn(Stack.of(self))
                )
            ],
            mutation_type="APPEND",
        )
        # account-wide settings: deleting the stack must not rewrite the account's admin list
        # (another environment's stack may rely on the same entry)
        self.admins.apply_removal_policy(RemovalPolicy.RETAIN)
        # an account that turned off IAMAllowedPrincipals' CREATE_DATABASE needs the deployer
        # to be an administrator before it creates the database
        database.node.add_dependency(self.admins)
        self.data_access_role = self._data_access_role(lake, key)
        self.location = lf.CfnResource(
            self,
            "LakeLocation",
            resource_arn=lake.bucket_arn,
            role_arn=self.data_access_role.role_arn,
            use_service_linked_role=False,
            hybrid_access_enabled=False,
        )
        self.location.node.add_dependency(self.admins)
        # its permissions exist before Lake Formation can use the role
        self.location.node.add_dependency(self.data_access_role.node.find_child("DefaultPolicy"))
        self.tag_key = tag_key(settings)
        self.tag = lf.CfnTag(
            self,
            "AccessTag",
            catalog_id=self.catalog,
            tag_key=self.tag_key,
            tag_values=[ANALYST, RESTRICTED],
        )
        self.tag.node.add_dependency(self.admins)
        default = lf.CfnTagAssociation(
            self,
            "DatabaseRestricted",
            resource=lf.CfnTagAssociation.ResourceProperty(
                database=lf.CfnTagAssociation.DatabaseResourceProperty(
                    catalog_id=self.catalog, name=self.database_name
                )
            ),
            lf_tags=[
                lf.CfnTagAssociation.LFTagPairProperty(
                    catalog_id=self.catalog, tag_key=self.tag_key, tag_values=[RESTRICTED]
                )
            ],
        )
        default.node.add_dependency(self.tag, database)
        self.database = database
        self.grants: list[lf.CfnPrincipalPermissions] = []
        self._job_grants(job_role, lake, database)

    # --- roles --------------------------------------------------------------------------------
    def _data_access_role(self, lake: s3.Bucket, key: kms.IKey) -> iam.Role:
        """The role Lake Formation assumes to vend credentials for the lake bucket (a
        user-defined role rather than the service-linked one: its permissions, KMS included,
        are declared here and reviewed like every other role's)."""
        role = policy.role(
            self,
            "DataAccessRole",
            "lakeformation.amazonaws.com",
            "Lake Formation data access for the lake bucket",
        )
        policy.allow(role, "ListLake", ["s3:ListBucket"], [lake.bucket_arn])
        policy.allow(
            role,
            "LakeObjects",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [lake.arn_for_objects("*")],
            wildcard="the registered location is the whole lake bucket (Lake Formation's "
            "registration-role requirement: read/write on the location); what a caller gets is "
            "scoped by its Lake Formation grants",
        )
        encryption.grant(role, key, "LakeKey", encryption.READ_WRITE, via=["s3"])
        return role

    # --- grants -------------------------------------------------------------------------------
    def _grant(
        self,
        id: str,
        principal: str,
        resource: lf.CfnPrincipalPermissions.ResourceProperty,
        permissions: Sequence[str],
        *after: Construct,
    ) -> lf.CfnPrincipalPermissions:
        grant = lf.CfnPrincipalPermissions(
            self,
            id,
            principal=lf.CfnPrincipalPermissions.DataLakePrincipalProperty(
                data_lake_principal_identifier=principal
            ),
            resource=resource,
            permissions=list(permissions),
            permissions_with_grant_option=[],
        )
        grant.node.add_dependency(self.admins, *after)
        self.grants.append(grant)
        return grant

    def _database(self) -> lf.CfnPrincipalPermissions.DatabaseResourceProperty:
        return lf.CfnPrincipalPermissions.DatabaseResourceProperty(
            catalog_id=self.catalog, name=self.database_name
        )

    def _job_grants(self, role: iam.Role, lake: s3.Bucket, database: glue.CfnDatabase) -> None:
        P = lf.CfnPrincipalPermissions
        arn = role.role_arn
        self._grant(
            "JobDatabase",
            arn,
            P.ResourceProperty(database=self._database()),
            JOB_DATABASE_PERMISSIONS,
            database,
        )
        self._grant(
            "JobTables",
            arn,
            P.ResourceProperty(
                table=P.TableResourceProperty(
                    catalog_id=self.catalog, database_name=self.database_name, table_wildcard={}
                )
            ),
            JOB_TABLE_PERMISSIONS,
            database,
        )
        self._grant(
            "JobLakeLocation",
            arn,
            P.ResourceProperty(
                data_location=P.DataLocationResourceProperty(
                    catalog_id=self.catalog, resource_arn=lake.bucket_arn
                )
            ),
            ["DATA_LOCATION_ACCESS"],
            self.location,
        )
        self._grant(
            "JobClassifies",
            arn,
            P.ResourceProperty(
                lf_tag=P.LFTagKeyResourceProperty(
                    catalog_id=self.catalog, tag_key=self.tag_key, tag_values=[ANALYST, RESTRICTED]
                )
            ),
            ["ASSOCIATE", "DESCRIBE"],
            self.tag,
        )

    def grant_analyst(self, role: iam.Role) -> None:
        """DESCRIBE on the database; SELECT and DESCRIBE on tables (and columns) tagged analyst."""
        P = lf.CfnPrincipalPermissions
        arn = role.role_arn
        self._grant(
            "AnalystDatabase",
            arn,
            P.ResourceProperty(database=self._database()),
            ["DESCRIBE"],
            self.database,
        )
        self._grant(
            "AnalystTables",
            arn,
            P.ResourceProperty(
                lf_tag_policy=P.LFTagPolicyResourceProperty(
                    catalog_id=self.catalog,
                    resource_type="TABLE",
                    expression=[P.LFTagProperty(tag_key=self.tag_key, tag_values=[ANALYST])],
                )
            ),
            ANALYST_TABLE_PERMISSIONS,
            self.tag,
        )
