"""One root exception; retryable vs terminal; messages say what is wrong and what to do."""

from __future__ import annotations


class LakehouseError(Exception):
    """Root of every error the product raises on purpose."""

    retryable: bool = False


class TerminalError(LakehouseError):
    """Retrying will not help: the input, the contract or the configuration must change."""


class RetryableError(LakehouseError):
    """A transient failure (storage, concurrent commit, network); the step may be retried."""

    retryable = True


class ContractError(TerminalError):
    """A contract file is invalid, or a change to it is not allowed by its evolution policy."""


class SchemaEvolutionError(ContractError):
    """A table's stored schema cannot be evolved to the contract (e.g. a column changed type)."""


class FileRejected(TerminalError):
    """A whole input file cannot be loaded (unreadable, missing or unexpected columns)."""

    def __init__(self, path: str, reasons: list[str], detail: str = "") -> None:
        self.path = path
        self.reasons = reasons
        self.detail = detail
        msg = f"{path}: rejected ({', '.join(reasons)})"
        super().__init__(f"{msg}: {detail}" if detail else msg)


class AccountingError(TerminalError):
    """Rows read did not equal rows valid + rows quarantined: something would have been lost."""


class TableNotFound(TerminalError):
    """The named table does not exist under the lakehouse root."""


class QueryError(TerminalError):
    """A SQL statement given by the user failed."""


class StorageError(LakehouseError):
    """The storage under the root failed: a full disk (terminal: space must be freed), or S3
    unreachable, throttled or erroring after the retry budget (retryable)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


# what it means <- what the libraries say: delta-rs (object_store), pyarrow (AWS SDK), botocore
_STORAGE_CAUSES = {
    "no space left on device": "no space left on device|os error 28|enospc",
    "disk quota exceeded": "disk quota exceeded|os error 122",
    "read-only file system": "read-only file system|os error 30",
    "connection refused": "connection refused|os error 111|couldn't connect|could not connect",
    "connection reset": "connection reset|os error 104|connection closed|connection aborted"
    "|broken pipe|incompleteread|connection was closed|recv failure",
    "throttled (503 SlowDown)": "slowdown|reduce your request rate|throttl|toomanyrequests",
    "server error (5xx)": "internalerror|internal server error|internal_failure"
    "|service unavailable|serviceunavailable|bad gateway|gateway timeout",
    "timed out": "timed out|timeout",
}
_DISK_CAUSES = ("no space left on device", "disk quota exceeded", "read-only file system")


def storage_failure(exc: BaseException, root: str = "") -> StorageError | None:
    """A StorageError naming the cause of `exc` (and of the errors it was raised from) when it
    is a storage failure the libraries report in their own words — delta-rs says "Failed to
    parse parquet: ... No space left on device" — else None. `root` is the lakehouse root the
    error happened under (named in the message; its free space is shown for a full disk)."""
    text = " ".join(f"{type(e).__name__}: {e}" for e in _chain(exc)).lower()
    cause = next(
        (c for c, marks in _STORAGE_CAUSES.items() if any(m in text for m in marks.split("|"))),
        None,
    )
    if cause is None:
        return None
    if cause in _DISK_CAUSES:
        where = _disk_path(exc, root)
        return StorageError(
            f"{cause} writing under {where}{_free_space(where)}: free space there (or grow the "
            "volume) and run again — nothing half-written is used, the next run converges",
            retryable=False,
        )
    if not _is_s3(text, root):
        return None
    return StorageError(
        f"S3 request failed: {cause}{_endpoint(text, root)} after retrying for the "
        "LAKEHOUSE_S3_RETRY_SECONDS budget: check the network, the endpoint and the service "
        "status, then run again — the next run converges",
        retryable=True,
    )


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in out:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def _disk_path(exc: BaseException, root: str) -> str:
    for e in _chain(exc):
        if isinstance(e, OSError) and e.filename:
            return str(e.filename)
    return root or "the lakehouse root"


def _free_space(path: str) -> str:
    import os
    import shutil

    probe = path
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    try:
        usage = shutil.disk_usage(probe)
    except (OSError, ValueError):
        return ""
    return f" ({usage.free:,} of {usage.total:,} bytes free)"


def _is_s3(text: str, root: str) -> bool:
    return root.startswith(("s3://", "s3a://")) or any(
        m in text for m in ("s3 error", "aws error", "endpoint url", "botocore", "s3://")
    )


def _endpoint(text: str, root: str) -> str:
    import re

    url = re.search(r"https?://[^\s\"'/]+", text)
    if url:
        return f" at {url.group(0)}"
    return f" for {root}" if root else ""
