"""Entity contracts: the single source of truth for columns, types, keys, checks and metadata."""

from lakehouse.contracts.model import (
    Column,
    Contract,
    ForeignKey,
    contract_for,
    load_contracts,
)

__all__ = ["Column", "Contract", "ForeignKey", "contract_for", "load_contracts"]
