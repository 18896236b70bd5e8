"""The contract model: an entity's columns, keys and policies, and what is derived from them
(Arrow schema, Delta table properties, column specs). `lakehouse.contracts.loader` reads them
from the contract files."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from lakehouse.errors import ContractError

EVOLUTION_POLICIES = ("evolve", "freeze")
SCHEMA_MISMATCH_POLICIES = ("reject_file",)
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")

ColumnType = str  # "bigint" | "string" | "date" | "timestamp" | "decimal(p,s)"


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool
    description: str
    min: float | None = None
    max: float | None = None
    enum: tuple[str, ...] = ()
    default: str | None = None
    date_of: str | None = None
    not_in_future: bool = False

    @property
    def decimal(self) -> tuple[int, int] | None:
        m = _DECIMAL.match(self.type)
        return (int(m.group(1)), int(m.group(2))) if m else None

    @property
    def kind(self) -> Literal["bigint", "string", "date", "timestamp", "decimal"]:
        if self.decimal:
            return "decimal"
        if self.type in ("bigint", "string", "date", "timestamp"):
            return self.type  # type: ignore[return-value]
        raise ContractError(f"column {self.name}: unknown type {self.type!r}")

    @property
    def spec(self) -> str:
        """The column's rules in a few words (`string; optional; enum=card|paypal`): recorded in
        every commit that applies the contract, so a later version's changed checks are found."""
        parts = [self.type, "required" if self.required else "optional"]
        for name in ("min", "max", "default", "date_of"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value}")
        if self.enum:
            parts.append("enum=" + "|".join(self.enum))
        if self.not_in_future:
            parts.append("not_in_future")
        return "; ".join(parts)

    def arrow_type(self) -> pa.DataType:
        dec = self.decimal
        if dec:
            return pa.decimal128(*dec)
        return {
            "bigint": pa.int64(),
            "string": pa.string(),
            "date": pa.date32(),
            "timestamp": pa.timestamp("us", tz="UTC"),
        }[self.kind]


@dataclass(frozen=True)
class ForeignKey:
    column: str
    references: str
    ref_column: str
    must_agree: tuple[str, ...] = ()


@dataclass(frozen=True)
class Contract:
    entity: str
    version: int
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    file_patterns: tuple[str, ...] = ()
    recency_column: str | None = None
    evolution: str = "evolve"
    on_schema_mismatch: str = "reject_file"
    max_reject_rate: float = 0.05
    freshness_minutes: int = 1440
    future_tolerance_minutes: int = 60
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise ContractError(f"contract {self.entity}: no column {name!r}")

    def matches_file_name(self, name: str) -> bool:
        return any(fnmatch.fnmatch(name.lower(), p.lower()) for p in self.file_patterns)

    def column_specs(self) -> dict[str, str]:
        """Each column's `Column.spec`, by name."""
        return {c.name: c.spec for c in self.columns}

    def arrow_schema(self) -> pa.Schema:
        """Typed silver schema (business columns only), with descriptions as field metadata."""
        return pa.schema(
            [
                pa.field(
                    c.name,
                    c.arrow_type(),
                    nullable=not c.required,
                    metadata={"comment": c.description},
                )
                for c in self.columns
            ]
        )

    def table_properties(self) -> dict[str, str]:
        return {
            "lakehouse.contract.entity": self.entity,
            "lakehouse.contract.version": str(self.version),
        }
