"""The buckets: landing, lake (the lakehouse root), archive and Athena results, and the bucket
their S3 server access logs go to.

Every data bucket is encrypted with the stack's KMS key (SSE-KMS, with S3 Bucket Keys so S3
asks KMS for a data key per bucket and time window instead of per object), versioned, blocks
all public access, refuses plain HTTP and TLS < 1.2 (bucket policy), disables ACLs, logs every
request to the access-log bucket, and is kept when the stack is deleted.

The access-log bucket uses SSE-S3: S3 server access logging cannot deliver to a bucket whose
default encryption is SSE-KMS (Amazon S3 user guide, "Enabling Amazon S3 server access
logging"). Delivery is allowed by its bucket policy (`logging.s3.amazonaws.com`, limited to
this account's source buckets; cdk.json `@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy`).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_nag import NagSuppressions
from constructs import Construct

from lakehouse_stack.settings import Settings

QUARANTINE_FILES_PREFIX = "quarantine/files/"  # files rejected whole (Delta tables are not)
GLUE_TEMP_PREFIX = "_glue_temp/"


ACCESS_LOG_PREFIXES = {
    "Landing": "landing/",
    "Lake": "lake/",
    "Archive": "archive/",
    "AthenaResults": "athena-results/",
}


def _bucket(
    scope: Construct,
    id: str,
    rules: list[s3.LifecycleRule],
    key: kms.IKey,
    access_logs: s3.IBucket,
) -> s3.Bucket:
    return s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=ACCESS_LOG_PREFIXES[id],
        enforce_ssl=True,
        minimum_tls_version=1.2,
        versioned=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=RemovalPolicy.RETAIN,
        lifecycle_rules=rules,
    )


class Buckets(Construct):
    def __init__(self, scope: Construct, id: str, *, settings: Settings, key: kms.IKey) -> None:
        super().__init__(scope, id)
        cfg = settings
        housekeeping = s3.LifecycleRule(
            id="housekeeping",
            abort_incomplete_multipart_upload_after=Duration.days(7),
            noncurrent_version_expiration=Duration.days(cfg.noncurrent_version_days),
        )
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # SSE-KMS: S3 would not deliver
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                housekeeping,
                s3.LifecycleRule(
                    id="access-logs", expiration=Duration.days(cfg.access_log_expire_days)
                ),
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.access_logs,
            [
                {
                    "id": "AwsSolutions-S1",
                    "reason": "This is the access-log destination of the data buckets; logging "
                    "its own requests into itself would log every log delivery (an endless "
                    "feedback of log objects), and a further bucket would only move the question",
                }
            ],
        )

        def bucket(id: str, rules: list[s3.LifecycleRule]) -> s3.Bucket:
            return _bucket(self, id, rules, key, self.access_logs)

        self.landing = bucket("Landing", [housekeeping])
        # S3 -> EventBridge natively (NotificationConfiguration), not through CDK's
        # notifications custom resource, which would need s3:PutBucketNotification on "*"
        cfn_landing = self.landing.node.default_child
        assert isinstance(cfn_landing, s3.CfnBucket)
        cfn_landing.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(
                event_bridge_enabled=True
            )
        )
        self.lake = bucket(
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
        self.archive = bucket(
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
        self.athena_results = bucket(
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
