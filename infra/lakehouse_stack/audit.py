"""Optional (`cloudtrail_data_events`, default off): CloudTrail S3 data events -- who read,
wrote or deleted which object -- for the data buckets, into the access-log bucket under
`cloudtrail/`. Off by default because data events are billed per event ($0.10 per 100,000)
and a pipeline run touches thousands of objects; S3 server access logs (always on) already
record every request at storage cost only, best effort. Turn it on where an audit needs
complete, signed (log file validation) and timely object-level records.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_s3 as s3
from constructs import Construct


class DataEventsTrail(Construct):
    def __init__(
        self, scope: Construct, id: str, *, buckets: Sequence[s3.IBucket], destination: s3.Bucket
    ) -> None:
        super().__init__(scope, id)
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            bucket=destination,
            s3_key_prefix="cloudtrail",
            is_multi_region_trail=False,
            include_global_service_events=False,
            management_events=cloudtrail.ReadWriteType.NONE,
            enable_file_validation=True,
            send_to_cloud_watch_logs=False,
        )
        self.trail.add_s3_event_selector(
            [cloudtrail.S3EventSelector(bucket=b) for b in buckets],
            include_management_events=False,
            read_write_type=cloudtrail.ReadWriteType.ALL,
        )
