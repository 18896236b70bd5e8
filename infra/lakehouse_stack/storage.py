"""The buckets: landing, lake (the lakehouse root), archive and Athena results.

Every bucket is encrypted (SSE-S3), versioned, blocks all public access, refuses plain HTTP
and TLS < 1.2 (bucket policy), disables ACLs, and is kept when the stack is deleted.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lakehouse_stack.settings import Settings

QUARANTINE_FILES_PREFIX = "quarantine/files/"  # files rejected whole (Delta tables are not)
GLUE_TEMP_PREFIX = "_glue_temp/"


def _bucket(scope: Construct, id: str, rules: list[s3.LifecycleRule]) -> s3.Bucket:
    return s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        versioned=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=RemovalPolicy.RETAIN,
        lifecycle_rules=rules,
    )


class Buckets(Construct):
    def __init__(self, scope: Construct, id: str, *, settings: Settings) -> None:
        super().__init__(scope, id)
        cfg = settings
        housekeeping = s3.LifecycleRule(
            id="housekeeping",
            abort_incomplete_multipart_upload_after=Duration.days(7),
            noncurrent_version_expiration=Duration.days(cfg.noncurrent_version_days),
        )
        self.landing = _bucket(self, "Landing", [housekeeping])
        # S3 -> EventBridge natively (NotificationConfiguration), not through CDK's
        # notifications custom resource, which would need s3:PutBucketNotification on "*"
        cfn_landing = self.landing.node.default_child
        assert isinstance(cfn_landing, s3.CfnBucket)
        cfn_landing.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(
                event_bridge_enabled=True
            )
        )
        self.lake = _bucket(
            self,
            "Lake",
            [
                housekeeping,
                s3.LifecycleRule(
                    id="quarantined-files",
                    prefix=QUARANTINE_FILES_PREFIX,
                    expiration=Duration.days(cfg.quarantine_expire_days),
                ),
                s3.LifecycleRule(
                    id="glue-temp", prefix=GLUE_TEMP_PREFIX, expiration=Duration.days(7)
                ),
            ],
        )
        self.archive = _bucket(
            self,
            "Archive",
            [
                housekeeping,
                s3.LifecycleRule(
                    id="archive-tiering",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(cfg.archive_ia_days),
                        ),
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=Duration.days(cfg.archive_glacier_days),
                        ),
                    ],
                    expiration=Duration.days(cfg.archive_expire_days),
                ),
            ],
        )
        self.athena_results = _bucket(
            self,
            "AthenaResults",
            [
                housekeeping,
                s3.LifecycleRule(
                    id="query-results", expiration=Duration.days(cfg.athena_results_expire_days)
                ),
            ],
        )

    @property
    def all(self) -> dict[str, s3.Bucket]:
        return {
            "landing": self.landing,
            "lake": self.lake,
            "archive": self.archive,
            "athena-results": self.athena_results,
        }
