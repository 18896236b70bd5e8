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
