"""Stack parameters, read from CDK context (`cdk.json`, or `-c key=value`), never from code."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
INFRA = REPO / "infra"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ENV = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)


@dataclass(frozen=True)
class Settings:
    env_name: str = "dev"
    notification_email: str = ""
    glue_database: str = ""  # default lakehouse_<env_name with '-' as '_'>
    landing_prefix: str = "incoming"  # producers write s3://<landing bucket>/<prefix>/...
    # SLAs the alarms enforce
    freshness_minutes: int = 1440
    max_reject_rate: float = 0.05
    max_run_minutes: int = 60
    # lifecycle (days)
    archive_ia_days: int = 30
    archive_glacier_days: int = 90
    archive_expire_days: int = 730
    quarantine_expire_days: int = 180
    athena_results_expire_days: int = 30
    access_log_expire_days: int = 365  # S3 server access logs of the data buckets
    noncurrent_version_days: int = 30
    # Glue
    glue_worker_type: str = "G.1X"
    glue_workers: int = 2
    glue_timeout_minutes: int = 60
    glue_max_concurrent_runs: int = 1  # runs on one root are serialised by its lock anyway
    glue_entry_module: str = "lakehouse.glue"
    # Athena, logs
    athena_bytes_scanned_cutoff: int = 10 * 1024**3
    log_retention_days: int = 90
    # governance
    cloudtrail_data_events: bool = False  # CloudTrail S3 data events on the data buckets

    @property
    def database(self) -> str:
        return self.glue_database or f"lakehouse_{self.env_name.replace('-', '_')}"

    @classmethod
    def from_context(cls, get: Any) -> Settings:
        """`get(key)` is `node.try_get_context`; missing keys keep their defaults."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = get(f.name)
            if raw is None:
                continue
            default = getattr(cls(), f.name)
            if isinstance(default, tuple):
                items = raw.split(",") if isinstance(raw, str) else list(raw)
                values[f.name] = tuple(str(x).strip() for x in items if str(x).strip())
            elif isinstance(default, bool):
                values[f.name] = str(raw).lower() in ("1", "true", "yes")
            else:
                try:
                    values[f.name] = type(default)(raw)
                except (TypeError, ValueError) as exc:
                    raise ValueError(
                        f"context {f.name}={raw!r}: expected {type(default).__name__}"
                    ) from exc
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not _ENV.match(self.env_name):
            raise ValueError(
                f"context env_name={self.env_name!r}: 1-20 of a-z, 0-9, '-', starting with a letter"
            )
        if self.notification_email and not _EMAIL.match(self.notification_email):
            raise ValueError(
                f"context notification_email={self.notification_email!r}: not an e-mail"
            )
        if not 0 < self.max_reject_rate <= 1:
            raise ValueError("context max_reject_rate: a fraction in (0, 1], e.g. 0.05")
        if not re.match(r"^[a-z0-9_]{1,255}$", self.database):
            raise ValueError(f"context glue_database={self.database!r}: a-z, 0-9 and '_' only")
        for name in (
            "freshness_minutes",
            "max_run_minutes",
            "glue_workers",
            "glue_max_concurrent_runs",
            "log_retention_days",
            "access_log_expire_days",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"context {name}: must be positive")
        if not re.match(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", self.landing_prefix):
            raise ValueError(
                f"context landing_prefix={self.landing_prefix!r}: a key prefix without leading "
                "or trailing '/', e.g. incoming"
            )
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"context log_retention_days: one of {LOG_RETENTION_DAYS}")
        if self.archive_ia_days < 30 or self.archive_glacier_days - self.archive_ia_days < 30:
            raise ValueError(
                "context archive_ia_days >= 30 and archive_glacier_days >= archive_ia_days + 30 "
                "(S3's minimum stays per storage class)"
            )
        if self.archive_glacier_days <= self.archive_ia_days:
            raise ValueError("context archive_glacier_days must be greater than archive_ia_days")
        if self.archive_expire_days <= self.archive_glacier_days:
            raise ValueError(
                "context archive_expire_days must be greater than archive_glacier_days"
            )
