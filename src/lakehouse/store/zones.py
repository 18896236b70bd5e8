"""The zones, and the table layouts of each derived from a contract (bronze text, silver typed,
quarantine)."""

from __future__ import annotations

import pyarrow as pa

from lakehouse.contracts import Contract

ZONES = ("bronze", "silver", "quarantine", "gold", "_ops")  # the folders that hold tables
TS = pa.timestamp("us", tz="UTC")
# lineage carried from bronze to silver and quarantine
LINEAGE = [
    pa.field("_source_file", pa.string(), metadata={"comment": "File path below landing/."}),
    pa.field("_sheet", pa.string(), metadata={"comment": "Sheet name for workbooks, else ''."}),
    pa.field("_row", pa.int64(), metadata={"comment": "Row in the file (header = row 1)."}),
    pa.field("_file_sha256", pa.string(), metadata={"comment": "SHA-256 of the file content."}),
    pa.field("_run_id", pa.string(), metadata={"comment": "Run that wrote this row."}),
    pa.field("_ingested_at", TS, metadata={"comment": "When the run read the file (UTC)."}),
]
LINEAGE_NAMES = [f.name for f in LINEAGE]
BRONZE_EXTRA = [pa.field("_sheet_index", pa.int64(), metadata={"comment": "0-based sheet index."})]
REASONS = pa.field(
    "_reasons", pa.list_(pa.string()), metadata={"comment": "Every reason code the row failed."}
)
QUARANTINED_AT = pa.field("_quarantined_at", TS, metadata={"comment": "Last evaluation (UTC)."})


def text_fields(contract: Contract) -> list[pa.Field]:
    return [
        pa.field(c.name, pa.string(), metadata={"comment": c.description}) for c in contract.columns
    ]


def bronze_schema(contract: Contract) -> pa.Schema:
    return pa.schema([*text_fields(contract), *LINEAGE, *BRONZE_EXTRA])


#: lineage text that is one value per file (every row of a file repeats it)
PER_FILE_TEXT = ("_source_file", "_sheet", "_file_sha256", "_run_id")
#: in a run's batches only: the row's columns whose text was written from typed values, one bit
#: per contract column (`contracts.validation.canonical_mask`); not a column of any table
CANONICAL = "_canonical"


def bronze_batch_schema(contract: Contract) -> pa.Schema:
    """`bronze_schema` as a run holds its rows in memory: the per-file lineage text
    dictionary-encoded (4 bytes a row instead of the text, about 130 bytes a row of order items:
    the batch and its scratch copy half the size); written to Delta as plain text. And
    `CANONICAL`, which validation reads."""
    schema = bronze_schema(contract)
    for name in PER_FILE_TEXT:
        i = schema.get_field_index(name)
        schema = schema.set(i, schema.field(i).with_type(pa.dictionary(pa.int32(), pa.string())))
    return schema.append(pa.field(CANONICAL, pa.int64()))


def silver_schema(contract: Contract) -> pa.Schema:
    return pa.schema([*contract.arrow_schema(), *LINEAGE])


def quarantine_schema(contract: Contract) -> pa.Schema:
    return pa.schema([*text_fields(contract), REASONS, *LINEAGE, BRONZE_EXTRA[0], QUARANTINED_AT])


SCHEMAS = {"bronze": bronze_schema, "silver": silver_schema, "quarantine": quarantine_schema}


def schema_of(zone: str, contract: Contract) -> pa.Schema:
    """The layout of `contract`'s table in `zone` (bronze, silver or quarantine)."""
    return SCHEMAS[zone](contract)


def comment(f: pa.Field) -> str:
    """A field's description (its `comment` metadata; '' when it has none)."""
    meta: dict[bytes, bytes] = f.metadata or {}
    return meta.get(b"comment", b"").decode("utf-8", "replace")


def descriptions(contract: Contract) -> dict[str, str]:
    return {
        "bronze": f"Every received {contract.entity} row, values as text, with lineage.",
        "silver": contract.description,
        "quarantine": f"Rejected {contract.entity} rows: original values, all reasons, lineage.",
    }
