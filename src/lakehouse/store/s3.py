"""S3 plumbing shared by the root, the lock and delta-rs: clients configured from the
environment, and how long their requests are retried."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import pyarrow.fs as pafs

from lakehouse.errors import TerminalError


def s3_filesystem() -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem configured like delta-rs: endpoint and region from the
    environment (`AWS_ENDPOINT_URL[_S3]`, `AWS_REGION`/`AWS_DEFAULT_REGION`); credentials by
    the AWS SDK's usual chain; requests retried for `LAKEHOUSE_S3_RETRY_SECONDS`."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    kwargs: dict[str, str] = {}
    if region:
        kwargs["region"] = region
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kwargs["endpoint_override"] = host.rstrip("/") if host else scheme
        kwargs["scheme"] = scheme if host else "https"
    # the AWS SDK's default strategy pauses 50 ms, 100 ms, 200 ms, ... (25 ms * 2^n)
    retries = _retries_within(s3_retry_seconds(), lambda n: 0.025 * 2**n)
    strategy = pafs.AwsDefaultS3RetryStrategy(max_attempts=retries)
    return pafs.S3FileSystem(retry_strategy=strategy, **kwargs)


def s3_client() -> Any:
    """A boto3 S3 client (endpoint, region, credentials: the usual environment) whose requests
    are retried for `LAKEHOUSE_S3_RETRY_SECONDS` in botocore's `standard` mode (connection
    errors, 5xx and throttling). Raises ImportError without boto3 (the `aws` extra)."""
    import boto3
    from botocore.config import Config

    # standard mode pauses rand(0, 1) * min(50 ms * 2^(n-1), 20 s) before retry n
    # counted at a tenth of the ceiling: the jitter can keep every pause far below the mean
    retries = _retries_within(s3_retry_seconds(), lambda n: 0.1 * min(0.05 * 2 ** (n - 1), 20))
    config = Config(retries={"mode": "standard", "max_attempts": 1 + retries})
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return boto3.client("s3", endpoint_url=endpoint or None, config=config)


S3_RETRY_ENV = "LAKEHOUSE_S3_RETRY_SECONDS"
DEFAULT_S3_RETRY_SECONDS = 30.0
MAX_S3_BACKOFF_SECONDS = 5.0  # delta-rs: keep probing at least this often while retrying


def s3_retry_seconds() -> float:
    """How long one object-store request is retried (connection refused or reset, timeouts,
    5xx, 503 SlowDown) before the error reaches the pipeline: `LAKEHOUSE_S3_RETRY_SECONDS`,
    default 30 s (a network cut of a few seconds is ridden out; the libraries' own defaults
    gave up after 2.3 s). 0 turns retries off."""
    raw = os.environ.get(S3_RETRY_ENV, "").strip()
    if not raw:
        return DEFAULT_S3_RETRY_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= 3600):
        raise TerminalError(
            f"{S3_RETRY_ENV}={raw!r}: expected a number of seconds from 0 to 3600 (how long an "
            "S3 request is retried); unset it for the default of "
            f"{DEFAULT_S3_RETRY_SECONDS:g} s"
        )
    return value


def delta_retry_options() -> dict[str, str]:
    """delta-rs (object_store) retry options for `s3_retry_seconds()`: the time budget bounds
    the retries (`retry_timeout`); the count only backs it up. Backoff: 100 ms, growing by
    about 1.5x with jitter, at most `MAX_S3_BACKOFF_SECONDS` between attempts. The jitter may
    keep every pause near the 100 ms floor (19 retries were spent in 3.8 s of a 4 s cut), so
    the count allows a retry every 100 ms for the whole budget."""
    budget = s3_retry_seconds()
    retries = math.ceil(budget / 0.1)
    return {
        "max_retries": str(retries),
        "retry_timeout": f"{budget:g}s",
        "backoff_config.init_backoff": "100ms",
        "backoff_config.max_backoff": f"{MAX_S3_BACKOFF_SECONDS:g}s",
        "backoff_config.base": "2",
    }


def _retries_within(budget: float, pause: Callable[[int], float], cap: int = 100) -> int:
    """How many retries a client needs for its pauses (`pause(n)` before retry n, n >= 1) to
    add up to `budget` seconds: the retry count that rides out a cut that long."""
    total, retries = 0.0, 0
    while total < budget and retries < cap:
        retries += 1
        total += pause(retries)
    return retries
