"""Read contract files into `Contract`s: parse and check one TOML file, and load a folder of
them (default: the packaged contracts) in dependency order, cached until a file changes."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from lakehouse.contracts.model import (
    EVOLUTION_POLICIES,
    SCHEMA_MISMATCH_POLICIES,
    Column,
    Contract,
    ForeignKey,
)
from lakehouse.errors import ContractError

#: The packaged contracts: a package resource, so they load from a wheel, a zip or a folder
PACKAGE = "lakehouse.contracts"
_PACKAGED = f"package:{PACKAGE}"  # the cache key of the packaged contracts

_MISSING: Any = object()
_KINDS = {str: "text", bool: "true or false", int: "a whole number", float: "a number"}
_KINDS |= {list: "a list", dict: "a table"}
_ENTITY = re.compile(r"^[a-z_][a-z0-9_]*$")  # names tables and SQL relations unquoted


def _get(
    table: dict[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    where: str,
    default: Any = _MISSING,
) -> Any:
    """`table[key]`, or `default` when absent (required when no default is given), refused
    unless of type `kind` (TOML's true/false is no number) with a message naming `where` (the
    file, and the column or foreign key) and the field."""
    if key not in table:
        if default is _MISSING:
            raise ContractError(f"{where}: {key} is missing")
        return default
    value, kinds = table[key], kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(_KINDS[k] for k in kinds if not (k is int and float in kinds))
        raise ContractError(f"{where}: {key} = {value!r} must be {expected}")
    return value


def _names(table: dict[str, Any], key: str, where: str, default: Any = _MISSING) -> tuple[str, ...]:
    """A list of names (`primary_key`, `enum`, ...), as `_get` does for one value."""
    value = _get(table, key, list, where, default)
    if not all(isinstance(v, str) for v in value):
        raise ContractError(f"{where}: {key} = {value!r} must be a list of text values")
    return tuple(value)


def _table(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ContractError(f"{where} = {raw!r} must be a table ([[...]] in TOML)")
    return raw


def _column(raw: Any, path: str, index: int) -> Column:
    """The `index`-th `[[columns]]` entry of the file at `path`."""
    raw = _table(raw, f"{path}: columns[{index}]")
    name = _get(raw, "name", str, f"{path}: columns[{index}]")
    where = f"{path}: column {name!r}"
    if name != name.strip().lower():
        raise ContractError(f"{where}: name must be lowercase without surrounding spaces")
    _known_keys(raw, _COLUMN_KEYS, where)
    number = (int, float)
    col = Column(
        name=name,
        type=_get(raw, "type", str, where),
        required=_get(raw, "required", bool, where),
        description=_get(raw, "description", str, where),
        min=_get(raw, "min", number, where, None),
        max=_get(raw, "max", number, where, None),
        enum=_names(raw, "enum", where, []),
        default=_get(raw, "default", (str, int, float), where, None),
        date_of=_get(raw, "date_of", str, where, None),
        not_in_future=_get(raw, "not_in_future", bool, where, False),
    )
    try:
        col.kind  # noqa: B018 - validates the type name once, at load time
    except ContractError:
        raise ContractError(
            f"{where}: type {col.type!r} is not bigint, string, date, timestamp or decimal(p,s)"
        ) from None
    dec = col.decimal
    if dec and not 0 <= dec[1] < dec[0] <= 38:
        raise ContractError(f"{where}: type {col.type!r} needs 0 <= s < p <= 38")
    if (col.min is not None or col.max is not None) and col.kind not in ("bigint", "decimal"):
        raise ContractError(f"{where}: min and max apply to bigint and decimal columns only")
    if col.min is not None and col.max is not None and col.min > col.max:
        raise ContractError(f"{where}: min = {col.min} is above max = {col.max}")
    if col.enum and col.kind != "string":
        raise ContractError(f"{where}: enum applies to string columns only")
    return col


#: what a `[[columns]]` entry may say (anything else is a typo the author would not see)
_COLUMN_KEYS = {
    "name",
    "type",
    "required",
    "description",
    "min",
    "max",
    "enum",
    "default",
    "date_of",
    "not_in_future",
}
#: what a contract may say at its top level (and `_EXTRA_KEYS`: `zorder`, the columns
#: `optimize` clusters by)
_CONTRACT_KEYS = {
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
_EXTRA_KEYS = {"zorder", "meta"}  # `meta`: the author's own notes (owner, team, ...), kept


def _known_keys(raw: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ContractError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")


def _foreign_key(raw: Any, where: str) -> ForeignKey:
    raw = _table(raw, where)
    return ForeignKey(
        column=_get(raw, "column", str, where),
        references=_get(raw, "references", str, where),
        ref_column=_get(raw, "ref_column", str, where),
        must_agree=_names(raw, "must_agree", where, []),
    )


def parse_contract(path: Traversable) -> Contract:
    """Parse one contract file (a path, or a package resource: `packaged_contracts()`).
    Anything malformed raises a ContractError naming the file and the field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ContractError(f"{path}: not valid TOML: {exc}") from exc
    at = str(path)
    entity = _get(raw, "entity", str, at, "") or path.name.removesuffix(".toml")
    if not _ENTITY.match(entity):
        raise ContractError(f"{at}: entity {entity!r} must be lowercase letters, digits and _")
    _known_keys(raw, _CONTRACT_KEYS | _EXTRA_KEYS, at)
    columns = _get(raw, "columns", list, at)
    foreign_keys = _get(raw, "foreign_keys", list, at, [])
    contract = Contract(
        entity=entity,
        version=_get(raw, "version", int, at),
        description=_get(raw, "description", str, at),
        columns=tuple(_column(c, at, i) for i, c in enumerate(columns)),
        primary_key=_names(raw, "primary_key", at),
        partition_by=_names(raw, "partition_by", at, []),
        foreign_keys=tuple(
            _foreign_key(fk, f"{at}: foreign_keys[{i}]") for i, fk in enumerate(foreign_keys)
        ),
        file_patterns=_names(raw, "file_patterns", at, [f"{entity}*"]),
        recency_column=_get(raw, "recency_column", str, at, None),
        evolution=_get(raw, "evolution", str, at, "evolve"),
        on_schema_mismatch=_get(raw, "on_schema_mismatch", str, at, "reject_file"),
        max_reject_rate=float(_get(raw, "max_reject_rate", (int, float), at, 0.05)),
        freshness_minutes=_get(raw, "freshness_minutes", int, at, 1440),
        future_tolerance_minutes=_get(raw, "future_tolerance_minutes", int, at, 60),
        extra={k: v for k, v in raw.items() if k in _EXTRA_KEYS},
    )
    _check(contract, path)
    return contract


def _check(c: Contract, path: Traversable) -> None:
    names = c.names
    if not names:
        raise ContractError(f"{path}: columns is empty; declare at least the key column")
    for name in names:
        if names.count(name) > 1:
            raise ContractError(f"{path}: duplicate column name {name!r}")
    if not c.primary_key:
        raise ContractError(f"{path}: primary_key is empty; name the key column(s)")
    for field_, cols in (("primary_key", c.primary_key), ("partition_by", c.partition_by)):
        for col in cols:
            if col not in names:
                raise ContractError(f"{path}: {field_} column {col!r} is not a column")
            if not c.column(col).required:
                raise ContractError(f"{path}: {field_} column {col!r} must be required")
    if c.recency_column is not None and c.recency_column not in names:
        raise ContractError(f"{path}: recency_column {c.recency_column!r} is not a column")
    if c.evolution not in EVOLUTION_POLICIES:
        raise ContractError(
            f"{path}: evolution = {c.evolution!r} must be one of {EVOLUTION_POLICIES}"
        )
    if c.on_schema_mismatch not in SCHEMA_MISMATCH_POLICIES:
        raise ContractError(
            f"{path}: on_schema_mismatch = {c.on_schema_mismatch!r} must be one of "
            f"{SCHEMA_MISMATCH_POLICIES}"
        )
    if not 0 <= c.max_reject_rate <= 1:
        raise ContractError(f"{path}: max_reject_rate = {c.max_reject_rate:g} must be in [0, 1]")
    for minutes in ("freshness_minutes", "future_tolerance_minutes"):
        if getattr(c, minutes) < 0:
            raise ContractError(f"{path}: {minutes} = {getattr(c, minutes)} must be 0 or more")
    zorder = c.extra.get("zorder", [])
    if not isinstance(zorder, list) or any(z not in names for z in zorder):
        raise ContractError(f"{path}: zorder = {zorder!r} must be a list of the contract's columns")
    for column in c.columns:
        if column.date_of and column.date_of not in names:
            raise ContractError(
                f"{path}: column {column.name!r}: date_of {column.date_of!r} is not a column"
            )
        if column.date_of and c.column(column.date_of).kind != "timestamp":
            raise ContractError(
                f"{path}: column {column.name!r}: date_of {column.date_of!r} must name a "
                "timestamp column"
            )
    for fk in c.foreign_keys:
        for name in (fk.column, *fk.must_agree):
            if name not in names:
                raise ContractError(f"{path}: foreign_keys: column {name!r} is not a column")


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
        if not base.is_dir():
            raise ContractError(
                f"contracts folder {directory} is not a folder (LAKEHOUSE_CONTRACTS, or "
                "contracts_dir): point it at a folder of contract files (*.toml)"
            )
    stamp = tuple((f.name, _mtime(f)) for f in contract_files(base))
    return _load(key, stamp)


def _mtime(file: Traversable) -> int:
    """A file's modification time (0 inside an archive, whose members do not change)."""
    return file.stat().st_mtime_ns if isinstance(file, Path) else 0


@cache
def _load(key: str, stamp: tuple[tuple[str, int], ...]) -> dict[str, Contract]:
    base = packaged_contracts() if key == _PACKAGED else Path(key)
    found: dict[str, Contract] = {}
    files: dict[str, Traversable] = {}
    for file in contract_files(base):
        c = parse_contract(file)
        if c.entity in found:
            raise ContractError(
                f"{file}: entity {c.entity!r} is already declared by {files[c.entity]}; "
                "keep one file per entity (its version says which one it is)"
            )
        found[c.entity], files[c.entity] = c, file
    if not found:
        raise ContractError(f"no contract files (*.toml) in {base}")
    ordered: dict[str, Contract] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in ordered:
            return
        if name in trail:
            raise ContractError(f"foreign keys form a cycle: {' -> '.join((*trail, name))}")
        for fk in found[name].foreign_keys:
            parent = found.get(fk.references)
            if parent is None:
                raise ContractError(
                    f"{files[name]}: foreign_keys: references unknown entity "
                    f"{fk.references!r}; known: {', '.join(sorted(found))}"
                )
            for col, field_ in (
                (fk.ref_column, "ref_column"),
                *((m, "must_agree") for m in fk.must_agree),
            ):
                if col not in parent.names:
                    raise ContractError(
                        f"{files[name]}: foreign_keys: {field_} {col!r} is not a column of "
                        f"{fk.references}"
                    )
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
