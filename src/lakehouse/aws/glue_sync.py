"""Make the AWS Glue Data Catalog hold what `glue_catalog.catalog_tables` says.

`sync` creates what is missing, updates what differs and leaves the rest alone, so a second sync
makes no call that writes. A column the contract no longer has is never dropped: the table keeps
it, in its place, and the report names it as drift. Tables lakehouse did not create are never
touched.

With a Lake Formation LF-Tag key (`lf_tag_key`, or `LAKEHOUSE_LF_TAG_KEY` in the environment, set
by the deployed Glue job) every synced table is also classified for tag-based access control:
silver and gold tables get `<key>=analyst`, columns that identify a customer get
`<key>=restricted` (a column tag overrides the table's), and every other table keeps what it
inherits from the database (`restricted`, set by the stack). Analysts are granted on
`<key>=analyst` only, so a table this code does not classify stays invisible (fail closed).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lakehouse.aws.glue_catalog import (
    DEFAULT_DATABASE,
    MANAGED_BY,
    CatalogError,
    CatalogTable,
    check_database_name,
)
from lakehouse.errors import TerminalError


@dataclass
class SyncReport:
    database: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)  # kept columns the contract no longer has
    skipped: list[str] = field(default_factory=list)
    tagged: list[str] = field(default_factory=list)  # Lake Formation classification written
    database_created: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.database_created)

    def lines(self) -> list[str]:
        out = [f"database {self.database}" + (" (created)" if self.database_created else "")]
        out += [f"created   {t}" for t in self.created]
        out += [f"updated   {t}" for t in self.updated]
        out += [f"unchanged {t}" for t in self.unchanged]
        out += [f"drift     {d}" for d in self.drift]
        out += [f"skipped   {s}" for s in self.skipped]
        out += [f"tagged    {t}" for t in self.tagged]
        return out


#: Lake Formation classification (LF-Tag values the stack defines on its tag key)
ANALYST = "analyst"
RESTRICTED = "restricted"
ANALYST_ZONES = ("silver", "gold")
#: columns that identify a customer: the contracts' `user_id` (orders, order_items) and the gold
#: models that keep it (customer_profile, customer_segments); hidden from analysts
CUSTOMER_IDENTIFIERS = frozenset({"user_id"})
LF_TAG_KEY_ENV = "LAKEHOUSE_LF_TAG_KEY"


def glue_client(client: Any = None, service: str = "glue") -> Any:
    if client is not None:
        return client
    try:
        import boto3
    except ImportError as exc:
        raise TerminalError("catalog sync needs boto3: pip install 'lakehouse[aws]'") from exc
    return boto3.client(service)


def classify(table: CatalogTable) -> tuple[str, list[str]]:
    """The table's LF-Tag value and the columns to restrict."""
    value = ANALYST if table.zone in ANALYST_ZONES else RESTRICTED
    columns = (*table.columns, *table.partition_keys)
    return value, [c.name for c in columns if c.name in CUSTOMER_IDENTIFIERS]


def tag_tables(
    tables: Sequence[CatalogTable], database: str, tag_key: str, *, client: Any = None
) -> list[str]:
    """Write every table's classification (AddLFTagsToResource overwrites a key's value, so
    this is idempotent; it runs on every sync, so a failed attempt is repaired by the next)."""
    lf = glue_client(client, "lakeformation")
    done = []
    for table in tables:
        value, restricted = classify(table)
        calls: list[tuple[dict[str, Any], str]] = [
            ({"Table": {"DatabaseName": database, "Name": table.name}}, value)
        ]
        if restricted:
            columns: dict[str, Any] = {
                "TableWithColumns": {
                    "DatabaseName": database,
                    "Name": table.name,
                    "ColumnNames": restricted,
                }
            }
            calls.append((columns, RESTRICTED))
        for resource, tag_value in calls:
            answer = lf.add_lf_tags_to_resource(
                Resource=resource, LFTags=[{"TagKey": tag_key, "TagValues": [tag_value]}]
            )
            if answer.get("Failures"):
                raise CatalogError(
                    f"Lake Formation refused tag {tag_key}={tag_value} on "
                    f"{database}.{table.name}: {answer['Failures']}"
                )
        done.append(
            f"{table.name} {tag_key}={value}"
            + (f" ({', '.join(restricted)}: {RESTRICTED})" if restricted else "")
        )
    return done


def sync(
    tables: Iterable[CatalogTable],
    database: str = DEFAULT_DATABASE,
    *,
    description: str = "Lakehouse tables (silver and gold Delta tables), from the contracts.",
    client: Any = None,
    lf_tag_key: str | None = None,
    lakeformation_client: Any = None,
) -> SyncReport:
    """Create or update `database` and its tables; idempotent; never drops a column. With an
    LF-Tag key (default: `LAKEHOUSE_LF_TAG_KEY`), classify the tables for Lake Formation."""
    tables = list(tables)
    glue = glue_client(client)
    check_database_name(database)
    report = SyncReport(database)
    report.database_created = _ensure_database(glue, database, description)
    for table in tables:
        current = _get_table(glue, database, table.name)
        wanted = table.table_input()
        if current is None:
            glue.create_table(DatabaseName=database, TableInput=wanted)
            report.created.append(table.name)
            continue
        params = current.get("Parameters") or {}
        if params.get("lakehouse.managed_by") != MANAGED_BY:
            raise CatalogError(
                f"{database}.{table.name} exists but was not created by lakehouse "
                "(no lakehouse.managed_by parameter); drop or rename it, or sync into another "
                "database with --database"
            )
        merged, drift = _merge(current, wanted, table)
        report.drift += drift
        if _comparable(current) == _comparable(merged):
            report.unchanged.append(table.name)
        else:
            glue.update_table(DatabaseName=database, TableInput=merged)
            report.updated.append(table.name)
    tag_key = lf_tag_key if lf_tag_key is not None else os.environ.get(LF_TAG_KEY_ENV, "")
    if tag_key:
        report.tagged = tag_tables(tables, database, tag_key, client=lakeformation_client)
    return report


def _ensure_database(glue: Any, database: str, description: str) -> bool:
    try:
        current = glue.get_database(Name=database)["Database"]
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(
            DatabaseInput={
                "Name": database,
                "Description": description,
                "Parameters": {"lakehouse.managed_by": MANAGED_BY},
            }
        )
        return True
    if current.get("Description", "") != description:
        glue.update_database(
            Name=database,
            DatabaseInput={
                "Name": database,
                "Description": description,
                "Parameters": {**current.get("Parameters", {}), "lakehouse.managed_by": MANAGED_BY},
            },
        )
    return False


def _get_table(glue: Any, database: str, name: str) -> dict[str, Any] | None:
    try:
        table: dict[str, Any] = glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None
    return table


def _merge(
    current: dict[str, Any], wanted: dict[str, Any], table: CatalogTable
) -> tuple[dict[str, Any], list[str]]:
    """`wanted`, plus what the catalog has that the contract dropped (kept and reported), plus
    parameters someone else added (kept)."""
    drift: list[str] = []
    merged = {**wanted}
    sd = {**wanted["StorageDescriptor"]}
    have_cols = current.get("StorageDescriptor", {}).get("Columns", [])
    want_names = {c["Name"] for c in sd["Columns"]} | {k["Name"] for k in wanted["PartitionKeys"]}
    kept = [c for c in have_cols if c["Name"] not in want_names]
    for c in kept:
        drift.append(
            f"{table.name}.{c['Name']} ({c['Type']}) is in the catalog but not in "
            f"{table.lakehouse_name}'s contract: kept (the Delta table keeps it too); drop it "
            "from the catalog by hand if it is really gone"
        )
    sd["Columns"] = _keep_in_place(sd["Columns"], have_cols, kept)
    merged["StorageDescriptor"] = sd
    have_keys = [k["Name"] for k in current.get("PartitionKeys", [])]
    want_keys = [k["Name"] for k in wanted["PartitionKeys"]]
    if have_keys and have_keys != want_keys:
        drift.append(
            f"{table.name}: partitioned by {have_keys} in the catalog but {want_keys} in the "
            "contract; the catalog keeps its keys — re-partitioning needs a table rewrite"
        )
        merged["PartitionKeys"] = [_glue_column(k) for k in current["PartitionKeys"]]
        key_names = set(have_keys)
        sd["Columns"] = [c for c in sd["Columns"] if c["Name"] not in key_names]
    merged["Parameters"] = {**(current.get("Parameters") or {}), **wanted["Parameters"]}
    return merged, drift


def _keep_in_place(
    wanted: list[dict[str, Any]], have: list[dict[str, Any]], kept: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`wanted` with each kept column back after the column it followed in the catalog."""
    out = list(wanted)
    kept_names = {c["Name"] for c in kept}
    for i, c in enumerate(have):
        if c["Name"] not in kept_names:
            continue
        before = [p["Name"] for p in have[:i]]
        names = [x["Name"] for x in out]
        at = max((names.index(n) + 1 for n in before if n in names), default=0)
        out.insert(at, _glue_column(c))
    return out


def _glue_column(c: dict[str, Any]) -> dict[str, str]:
    return {k: c[k] for k in ("Name", "Type", "Comment") if k in c}


def _comparable(t: dict[str, Any]) -> dict[str, Any]:
    """The parts of a table (as get_table returns it, or a TableInput) that sync manages."""
    sd = t.get("StorageDescriptor", {})
    serde = sd.get("SerdeInfo", {})
    return {
        "Description": t.get("Description", ""),
        "TableType": t.get("TableType"),
        "Parameters": t.get("Parameters") or {},
        "PartitionKeys": [_glue_column(k) for k in t.get("PartitionKeys", [])],
        "Columns": [_glue_column(c) for c in sd.get("Columns", [])],
        "Location": sd.get("Location"),
        "InputFormat": sd.get("InputFormat"),
        "OutputFormat": sd.get("OutputFormat"),
        "Serde": (serde.get("SerializationLibrary"), serde.get("Parameters") or {}),
    }
