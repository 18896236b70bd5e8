"""Entity contracts: the single source of truth for columns, types, keys, checks and metadata."""

from lakehouse.contracts.loader import contract_for, load_contracts
from lakehouse.contracts.model import Column, Contract, ForeignKey

__all__ = ["Column", "Contract", "ForeignKey", "contract_for", "load_contracts"]
