"""Lambda: S3 object-created events on the landing bucket -> one Step Functions execution per
complete batch. Standard library and boto3 only, so it deploys as a file of its own.

When is a batch complete (the rule producers follow, see docs/aws.md):

1. A folder of files is a batch. It is complete when its marker lands: an object named
   `_SUCCESS` or `_manifest.json` in that folder, written after every file of the batch.
   The batch id is the folder (`shop-a/2025-04-01T06`); give every batch its own folder.
2. A file put directly under the landing prefix (no folder) is a batch of its own, complete
   when it lands. Its batch id is its key and ETag, so the same content sent again is the same
   batch and a corrected file under the same name is a new one.
3. Every other object (a file inside a folder, a folder placeholder `…/`, a hidden `.x`, a
   partial copy `x.csv.tmp`, anything in a hidden folder such as `.staging/_SUCCESS`) starts
   nothing: its folder's marker will, or nothing should (the run never reads those).

The execution name is derived from the batch id alone and its input is deterministic, so a
duplicated or retried event can never start a second execution: Step Functions keeps a name for
90 days after its execution closes, refusing to reuse it (`ExecutionAlreadyExists`), and answers
an identical start for a running execution with that same execution. The handler looks the name
up first (DescribeExecution) so it reports a duplicate as such.

Environment: `STATE_MACHINE_ARN` (required), `LANDING_PREFIX` (default: the whole bucket).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

MARKERS = ("_SUCCESS", "_manifest.json")
#: partial copies, never deliveries: `lakehouse.store.deliveries.PARTIAL`, written again here
#: because this module deploys alone (a test keeps the two equal)
PARTIAL = re.compile(r"\.(tmp|part|partial|crdownload)(-[\w.]+)?$", re.IGNORECASE)
NAME_MAX = 80  # Step Functions execution names: 1-80 of [A-Za-z0-9_-]
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")

log = logging.getLogger("lakehouse.trigger")
log.setLevel(logging.INFO)
_clients: dict[str, Any] = {}


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    etag: str = ""


@dataclass(frozen=True)
class Batch:
    bucket: str
    batch_id: str  # folder below the landing prefix, or "file:<key>@<etag>"
    marker: str  # the key that completed it

    @property
    def execution_name(self) -> str:
        return execution_name(self.bucket, self.batch_id)

    def execution_input(self) -> str:
        """Deterministic (no clock): a retried start is an identical request."""
        return json.dumps(
            {"trigger": "s3", "bucket": self.bucket, "batch": self.batch_id, "marker": self.marker},
            sort_keys=True,
        )


def execution_name(bucket: str, batch_id: str) -> str:
    """`<readable tail of the batch id>-<16 hex of sha256(bucket/batch_id)>`, ≤ 80 characters."""
    digest = hashlib.sha256(f"{bucket}/{batch_id}".encode()).hexdigest()[:16]
    slug = _UNSAFE.sub("-", batch_id.removeprefix("file:")).strip("-_")
    room = NAME_MAX - len(digest) - 1
    slug = slug[-room:].lstrip("-_") if slug else "batch"
    return f"{slug or 'batch'}-{digest}"


class MalformedEvent(ValueError):
    """Records of an event that name no object; the event's other batches were started."""


def objects(event: dict[str, Any]) -> tuple[list[S3Object], list[str]]:
    """Created objects in an S3 notification (`Records`) or an EventBridge `Object Created`,
    and one line per record that claims a created object but names none (a hand-made or
    truncated event): that record alone is left out, never the event's other objects."""
    out, malformed = [], []
    for n, rec in enumerate(event.get("Records", [])):
        if not isinstance(rec, dict) or rec.get("eventSource") != "aws:s3":
            continue
        if not str(rec.get("eventName", "")).startswith("ObjectCreated"):
            continue
        try:
            s3 = rec["s3"]
            key = unquote_plus(s3["object"]["key"])  # notification keys are URL-encoded
            out.append(S3Object(s3["bucket"]["name"], key, s3["object"].get("eTag", "")))
        except (KeyError, TypeError, AttributeError) as exc:
            malformed.append(f"Records[{n}]: no bucket name and object key ({exc!r})")
    if event.get("source") == "aws.s3" and event.get("detail-type") == "Object Created":
        try:
            d = event["detail"]
            out.append(
                S3Object(d["bucket"]["name"], d["object"]["key"], d["object"].get("etag", ""))
            )
        except (KeyError, TypeError, AttributeError) as exc:
            malformed.append(f"detail: no bucket name and object key ({exc!r})")
    return out, malformed


def batch_of(obj: S3Object, prefix: str = "") -> Batch | None:
    """The batch this object completes, or None (see the module's rule)."""
    prefix = prefix.strip("/")
    key = obj.key
    if prefix:
        if not key.startswith(prefix + "/"):
            return None
        key = key[len(prefix) + 1 :]
    if not key or key.endswith("/"):
        return None
    folder, _, name = key.rpartition("/")
    if any(p.startswith((".", "_")) for p in folder.split("/") if p):
        return None  # a hidden folder (a producer's staging) is never read: nothing to start
    if name in MARKERS:
        return Batch(obj.bucket, folder, obj.key) if folder else None
    if folder or name.startswith((".", "_")) or PARTIAL.search(name):
        return None  # a partial copy (`x.csv.tmp`) is no delivery: it started a run for nothing
    return Batch(obj.bucket, f"file:{key}@{obj.etag.strip(chr(34))}", obj.key)


def batches(found: list[S3Object], prefix: str = "") -> list[Batch]:
    """Complete batches among an event's objects, each once, in event order."""
    seen: dict[tuple[str, str], Batch] = {}
    for obj in found:
        b = batch_of(obj, prefix)
        if b is not None:
            seen.setdefault((b.bucket, b.batch_id), b)
    return list(seen.values())


def _sfn() -> Any:
    if "sfn" not in _clients:
        import boto3

        _clients["sfn"] = boto3.client("stepfunctions")
    return _clients["sfn"]


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def start(batch: Batch, state_machine_arn: str, client: Any = None) -> str | None:
    """Start the batch's execution; its ARN, or None when it had been started before.

    Step Functions answers a start that repeats a *running* execution's name and input with
    success (and refuses one for a closed execution), so look first; a start racing another
    Lambda for the same batch still makes one execution."""
    sfn = client or _sfn()
    arn = execution_arn(state_machine_arn, batch.execution_name)
    try:
        sfn.describe_execution(executionArn=arn)
        return None
    except sfn.exceptions.ExecutionDoesNotExist:
        pass
    try:
        r = sfn.start_execution(
            stateMachineArn=state_machine_arn,
            name=batch.execution_name,
            input=batch.execution_input(),
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        return None
    started: str = r["executionArn"]
    return started


def handler(event: dict[str, Any], context: Any = None, client: Any = None) -> dict[str, Any]:
    """Lambda entry point. Returns what it did (also logged as one JSON line).

    Every batch the event completes is started first; then, if some record named no object,
    the invocation fails with `MalformedEvent` naming those records: its retries find the
    started batches already started, and the event ends in the dead-letter queue (alarmed)."""
    arn = os.environ["STATE_MACHINE_ARN"]
    prefix = os.environ.get("LANDING_PREFIX", "")
    found, malformed = objects(event)
    started, duplicates = [], []
    for b in batches(found, prefix):
        if start(b, arn, client) is None:
            duplicates.append(b.execution_name)
        else:
            started.append(b.execution_name)
    result = {"started": started, "already_started": duplicates}
    if malformed:
        log.error(json.dumps({"event": "trigger", **result, "malformed": malformed}))
        raise MalformedEvent(
            f"{len(malformed)} record(s) of the event name no object, the event's other "
            f"batches were started ({len(started)} now, {len(duplicates)} before): "
            + "; ".join(malformed)
        )
    log.info(json.dumps({"event": "trigger", **result}))
    return result
