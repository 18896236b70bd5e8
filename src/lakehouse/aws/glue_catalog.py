"""What the AWS Glue Data Catalog should hold, derived from the contracts and the gold models.

`catalog_tables` lists one table per silver entity (columns, types, comments and partition keys
from the contract) and one per materialized gold model (schema from its Delta table, comments
from the model); `lakehouse.aws.glue_sync.sync` makes the catalog say it.

Tables are Delta tables that Athena (engine v3) reads natively (`table_type=DELTA`) and Glue 5
Spark reads through the Delta catalog (`spark.sql.sources.provider=delta`, serde `path`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.contracts import Contract, load_contracts
from lakehouse.errors import TerminalError
from lakehouse.store import zones

if TYPE_CHECKING:
    from lakehouse.gold.model import GoldModel
    from lakehouse.store.root import Root

DEFAULT_DATABASE = "lakehouse"
MANAGED_BY = "lakehouse"
COMMENT_MAX = 255  # Glue's limit for a column comment
DESCRIPTION_MAX = 2048  # ... and for a table description
PARQUET_IN = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
_NAME = re.compile(r"^[a-z0-9_]{1,255}$")


class CatalogError(TerminalError):
    """The catalog cannot be synced (bad database name, a table the sync does not manage)."""


@dataclass(frozen=True)
class GlueColumn:
    name: str
    type: str  # Hive type name: bigint, string, decimal(12,2), array<string>, ...
    comment: str = ""

    def as_glue(self) -> dict[str, str]:
        out = {"Name": self.name, "Type": self.type}
        if self.comment:
            out["Comment"] = self.comment
        return out


@dataclass(frozen=True)
class CatalogTable:
    """One table as the catalog should describe it."""

    zone: str  # silver | gold
    table: str  # orders, sales_daily, ...
    description: str
    location: str
    columns: tuple[GlueColumn, ...]
    partition_keys: tuple[GlueColumn, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The catalog name: `silver_orders` (Athena has one namespace per database)."""
        return f"{self.zone}_{self.table}"

    @property
    def lakehouse_name(self) -> str:
        return f"{self.zone}.{self.table}"

    def parameters(self) -> dict[str, str]:
        return {
            "EXTERNAL": "TRUE",
            "table_type": "DELTA",
            "classification": "delta",
            "spark.sql.sources.provider": "delta",
            "lakehouse.managed_by": MANAGED_BY,
            "lakehouse.table": self.lakehouse_name,
            **self.properties,
        }

    def table_input(self) -> dict[str, Any]:
        """The Glue `TableInput` (create_table / update_table)."""
        return {
            "Name": self.name,
            "Description": _clip(self.description, DESCRIPTION_MAX),
            "TableType": "EXTERNAL_TABLE",
            "Parameters": self.parameters(),
            "PartitionKeys": [c.as_glue() for c in self.partition_keys],
            "StorageDescriptor": {
                "Columns": [c.as_glue() for c in self.columns],
                "Location": self.location,
                "InputFormat": PARQUET_IN,
                "OutputFormat": PARQUET_OUT,
                "SerdeInfo": {
                    "SerializationLibrary": PARQUET_SERDE,
                    "Parameters": {"path": self.location, "serialization.format": "1"},
                },
            },
        }


# --- what the catalog should hold ------------------------------------------------------------
def glue_type(t: pa.DataType) -> str:
    """The Hive/Glue type name of an Arrow type."""
    simple = {
        pa.int8(): "tinyint",
        pa.int16(): "smallint",
        pa.int32(): "int",
        pa.int64(): "bigint",
        pa.float32(): "float",
        pa.float64(): "double",
        pa.bool_(): "boolean",
        pa.string(): "string",
        pa.large_string(): "string",
        pa.string_view(): "string",
        pa.binary(): "binary",
        pa.large_binary(): "binary",
        pa.date32(): "date",
    }
    if t in simple:
        return simple[t]
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return f"array<{glue_type(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{glue_type(t.key_type)},{glue_type(t.item_type)}>"
    if pa.types.is_struct(t):
        inner = ",".join(
            f"{t.field(i).name}:{glue_type(t.field(i).type)}" for i in range(t.num_fields)
        )
        return f"struct<{inner}>"
    raise CatalogError(f"no Glue type for Arrow type {t}; extend lakehouse.aws.glue_catalog")


def _comment(f: pa.Field) -> str:
    raw = (f.metadata or {}).get(b"comment", b"")
    return _clip(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw), COMMENT_MAX)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _columns(
    schema: pa.Schema, partition_by: Sequence[str], comments: dict[str, str] | None = None
) -> tuple[tuple[GlueColumn, ...], tuple[GlueColumn, ...]]:
    def col(f: pa.Field) -> GlueColumn:
        note = (comments or {}).get(f.name) or _comment(f)
        return GlueColumn(f.name, glue_type(f.type), _clip(note, COMMENT_MAX))

    cols = tuple(col(f) for f in schema if f.name not in partition_by)
    keys = tuple(col(schema.field(p)) for p in partition_by)
    return cols, keys


def location(root: Root, zone: str, table: str) -> str:
    """Table location as Athena and Glue want it (`s3a://` and `s3n://` read as `s3://`)."""
    uri = root.table_uri(zone, table)
    return re.sub(r"^s3[an]://", "s3://", uri)


def silver_table(root: Root, contract: Contract) -> CatalogTable:
    cols, keys = _columns(zones.silver_schema(contract), contract.partition_by)
    return CatalogTable(
        "silver",
        contract.entity,
        contract.description,
        location(root, "silver", contract.entity),
        cols,
        keys,
        {
            **contract.table_properties(),
            "primary_key": ",".join(contract.primary_key),
        },
    )


def gold_table(root: Root, model: GoldModel) -> CatalogTable | None:
    """The model's table from its Delta table's schema; None while it has not been written."""
    from lakehouse.store.delta import try_open

    dt = try_open(root, "gold", model.name)
    if dt is None:
        return None
    schema = pa.schema(dt.schema())
    partition_by = list(dt.metadata().partition_columns)
    comments = {c.name: c.description for c in model.columns}
    cols, keys = _columns(schema, partition_by, comments)
    props = {"grain": _clip(model.grain, 1024), "refresh": model.refresh}
    return CatalogTable(
        "gold", model.name, model.description, location(root, "gold", model.name), cols, keys, props
    )


@dataclass
class Plan:
    tables: list[CatalogTable]
    skipped: list[str]  # lakehouse tables left out, with the reason


def catalog_tables(root: Root, contracts_dir: str | None = None, *, gold: bool = True) -> Plan:
    """Silver tables from the contracts, then gold tables that exist under `root`."""
    plan = Plan([silver_table(root, c) for c in load_contracts(contracts_dir).values()], [])
    if not gold:
        return plan
    from lakehouse.gold import list_models

    for model in list_models():
        t = gold_table(root, model)
        if t is None:
            plan.skipped.append(
                f"gold.{model.name}: no Delta table under {root.uri}/gold yet — "
                "it is registered by the first sync after a run has written it"
            )
        else:
            plan.tables.append(t)
    return plan


def ddl_tables(root: Root, contracts_dir: str | None = None) -> list[CatalogTable]:
    """Silver and materialized gold tables by location only (Athena's Delta DDL names no
    columns), whether or not the gold tables have been written yet."""
    from lakehouse.gold import list_models

    tables = [silver_table(root, c) for c in load_contracts(contracts_dir).values()]
    for m in list_models():
        tables.append(
            CatalogTable("gold", m.name, m.description, location(root, "gold", m.name), ())
        )
    return tables


def check_database_name(name: str) -> str:
    if not _NAME.match(name):
        raise CatalogError(
            f"database name {name!r}: use lower-case letters, digits and '_' (Athena's rule)"
        )
    return name
