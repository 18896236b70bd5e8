"""Parse contract files and derive everything else from them (Arrow schema, Delta metadata)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from lakehouse.errors import ContractError

#: The packaged contracts: a package resource, so they load from a wheel, a zip or a folder
PACKAGE = "lakehouse.contracts"
_PACKAGED = f"package:{PACKAGE}"  # the cache key of the packaged contracts
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
        return any(fnmatch.fnmatch(name.lower(), p) for p in self.file_patterns)

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


def _column(raw: dict[str, Any], entity: str) -> Column:
    try:
        col = Column(
            name=raw["name"],
            type=raw["type"],
            required=bool(raw["required"]),
            description=raw["description"],
            min=raw.get("min"),
            max=raw.get("max"),
            enum=tuple(raw.get("enum", ())),
            default=raw.get("default"),
            date_of=raw.get("date_of"),
            not_in_future=bool(raw.get("not_in_future", False)),
        )
    except KeyError as exc:
        raise ContractError(f"contract {entity}: column {raw!r} lacks {exc}") from exc
    col.kind  # noqa: B018 - validates the type name once, at load time
    return col


def parse_contract(path: Traversable) -> Contract:
    """Parse one contract file (a path, or a package resource: `packaged_contracts()`)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ContractError(f"{path}: not valid TOML: {exc}") from exc
    entity = raw.get("entity") or path.name.removesuffix(".toml")
    known = {
        "entity",
        "version",
        "description",
        "columns",
        "primary_key",
        "partition_by",
        "foreign_keys",
        "file_patterns",
        "recency_column",
        "evolution",
        "on_schema_mismatch",
        "max_reject_rate",
        "freshness_minutes",
        "future_tolerance_minutes",
    }
    columns = tuple(_column(c, entity) for c in raw.get("columns", []))
    contract = Contract(
        entity=entity,
        version=int(raw["version"]),
        description=raw["description"],
        columns=columns,
        primary_key=tuple(raw["primary_key"]),
        partition_by=tuple(raw.get("partition_by", ())),
        foreign_keys=tuple(
            ForeignKey(
                column=fk["column"],
                references=fk["references"],
                ref_column=fk["ref_column"],
                must_agree=tuple(fk.get("must_agree", ())),
            )
            for fk in raw.get("foreign_keys", [])
        ),
        file_patterns=tuple(raw.get("file_patterns", (f"{entity}*",))),
        recency_column=raw.get("recency_column"),
        evolution=raw.get("evolution", "evolve"),
        on_schema_mismatch=raw.get("on_schema_mismatch", "reject_file"),
        max_reject_rate=float(raw.get("max_reject_rate", 0.05)),
        freshness_minutes=int(raw.get("freshness_minutes", 1440)),
        future_tolerance_minutes=int(raw.get("future_tolerance_minutes", 60)),
        extra={k: v for k, v in raw.items() if k not in known},
    )
    _check(contract, path)
    return contract


def _check(c: Contract, path: Traversable) -> None:
    names = c.names
    if len(set(names)) != len(names):
        raise ContractError(f"{path}: duplicate column names")
    for col in (*c.primary_key, *c.partition_by):
        if col not in names:
            raise ContractError(f"{path}: key/partition column {col!r} is not a column")
        if not c.column(col).required:
            raise ContractError(f"{path}: key/partition column {col!r} must be required")
    if c.evolution not in EVOLUTION_POLICIES:
        raise ContractError(f"{path}: evolution must be one of {EVOLUTION_POLICIES}")
    if c.on_schema_mismatch not in SCHEMA_MISMATCH_POLICIES:
        raise ContractError(f"{path}: on_schema_mismatch must be one of {SCHEMA_MISMATCH_POLICIES}")
    for column in c.columns:
        if column.date_of and c.column(column.date_of).kind != "timestamp":
            raise ContractError(f"{path}: {column.name}.date_of must name a timestamp column")
    for fk in c.foreign_keys:
        for name in (fk.column, *fk.must_agree):
            if name not in names:
                raise ContractError(f"{path}: foreign key column {name!r} is not a column")


def packaged_contracts() -> Traversable:
    """The folder of contracts shipped in the package (inside a wheel, a zip or a checkout)."""
    return resources.files(PACKAGE)


def contract_files(base: Traversable) -> list[Traversable]:
    """The `*.toml` files directly in `base`, by name."""
    found = (f for f in base.iterdir() if f.name.endswith(".toml") and f.is_file())
    return sorted(found, key=lambda f: f.name)


def load_contracts(directory: str | None = None) -> dict[str, Contract]:
    """Contracts by entity, in dependency order (parents before children).

    `directory`: a folder of contract files; default the packaged contracts, read through
    `importlib.resources` (a wheel, a zip on `sys.path` or a source checkout alike).
    Re-read whenever a contract file in a folder changes (the cache key holds the files' mtimes).
    """
    if not directory:
        base = packaged_contracts()
        key = _PACKAGED
    else:
        base = Path(directory)
        key = str(Path(directory).resolve())
    stamp = tuple((f.name, _mtime(f)) for f in contract_files(base))
    return _load(key, stamp)


def _mtime(file: Traversable) -> int:
    """A file's modification time (0 inside an archive, whose members do not change)."""
    return file.stat().st_mtime_ns if isinstance(file, Path) else 0


@cache
def _load(key: str, stamp: tuple[tuple[str, int], ...]) -> dict[str, Contract]:
    base = packaged_contracts() if key == _PACKAGED else Path(key)
    found = {c.entity: c for c in map(parse_contract, contract_files(base))}
    if not found:
        raise ContractError(f"no contract files (*.toml) in {base}")
    ordered: dict[str, Contract] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in ordered:
            return
        if name in trail:
            raise ContractError(f"foreign keys form a cycle: {' -> '.join((*trail, name))}")
        if name not in found:
            raise ContractError(f"{trail[-1]} references unknown entity {name!r}")
        for fk in found[name].foreign_keys:
            visit(fk.references, (*trail, name))
        ordered[name] = found[name]

    for name in sorted(found):
        visit(name, ())
    return ordered


def contract_for(entity: str, directory: str | None = None) -> Contract:
    contracts = load_contracts(directory)
    if entity not in contracts:
        raise ContractError(f"no contract for entity {entity!r}; known: {', '.join(contracts)}")
    return contracts[entity]
