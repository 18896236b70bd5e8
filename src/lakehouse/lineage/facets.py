"""The OpenLineage facets of the lakehouse's datasets, built from the definitions: schema and
documentation (contract or model header), column lineage (the derived graph, ephemeral models
looked through), data quality (the contract's checks as run), and the ids and namespace."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attr
from openlineage.client.facet_v2 import (
    DatasetFacet,
    column_lineage_dataset,
    data_quality_assertions_dataset,
    documentation_dataset,
    schema_dataset,
)
from openlineage.client.uuid import generate_static_uuid

from lakehouse.lineage.graph import ColumnRef, Edge, EdgeKind, LineageGraph
from lakehouse.store import zones

if TYPE_CHECKING:
    from lakehouse.contracts import Contract
    from lakehouse.engines.base import EntityResult
    from lakehouse.gold.model import GoldModel
    from lakehouse.store.root import Root

QUARANTINE_FACET_SCHEMA = "https://lakehouse.dev/spec/QuarantineDatasetFacet.json"


@attr.define
class QuarantineDatasetFacet(DatasetFacet):
    """Rows of this run's batch that were quarantined, in all and per reason code."""

    rowsQuarantined: int
    reasons: dict[str, int]

    @staticmethod
    def _get_schema() -> str:
        return QUARANTINE_FACET_SCHEMA


def stored_edges_into(graph: LineageGraph, table: str, column: str | None = None) -> list[Edge]:
    """The edges into a table (or one column) with ephemeral models looked through: a dataset
    that is never written is replaced by what it reads (an edge stays direct only when both
    steps are direct). Sorted, without duplicates (direct wins)."""
    found: dict[ColumnRef, Edge] = {}

    def add(edge: Edge) -> None:
        old = found.get(edge.source)
        if old is None or (old.kind == "indirect" and edge.kind == "direct"):
            found[edge.source] = edge

    def visit(edge: Edge, kind: EdgeKind, trail: frozenset[str]) -> None:
        src = edge.source
        node = graph.tables.get(src.table)
        if node is None or node.kind != "ephemeral":
            add(Edge(src, table, column, kind))
            return
        if src.table in trail:
            return
        for inner in graph.edges_into(src.table, src.column):
            both: EdgeKind = "direct" if kind == "direct" and inner.kind == "direct" else "indirect"
            visit(inner, both, trail | {src.table})

    for edge in graph.edges_into(table, column):
        visit(edge, edge.kind, frozenset())
    return sorted(found.values(), key=lambda e: (e.source, e.kind))


def namespace_of(root: Root) -> str:
    """The root's URI: `s3://bucket/prefix`, or `file:///abs/path` for a local root."""
    if root.is_local:
        return Path(root.uri).resolve().as_uri()
    return root.uri


def run_uuid(root_uri: str, run_id: str, started: dt.datetime, step: str = "") -> str:
    """A stable UUID (v7, time-ordered) for the run or one of its steps."""
    data = f"{root_uri}|{run_id}|{step}".encode()
    return str(generate_static_uuid(started, data))


def dataset_facets(
    name: str, contracts: Mapping[str, Contract], models: Mapping[str, GoldModel]
) -> dict[str, DatasetFacet]:
    """`schema` (types and descriptions) and `documentation` of a `zone.table` dataset, from
    its contract or model header."""
    columns, description = _schema(name, contracts, models)
    facets: dict[str, DatasetFacet] = {}
    if columns:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name=c, type=t, description=d or None)
                for c, t, d in columns
            ]
        )
    if description:
        facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
            description=description
        )
    return facets


def _schema(
    name: str, contracts: Mapping[str, Contract], models: Mapping[str, GoldModel]
) -> tuple[list[tuple[str, str | None, str]], str]:
    zone, _, table = name.partition(".")
    contract = contracts.get(table)
    if zone == "landing" and contract is not None:
        cols: list[tuple[str, str | None, str]] = [
            (c.name, "string", c.description) for c in contract.columns
        ]
        return cols, f"Files dropped in landing/ named {', '.join(contract.file_patterns)}."
    if zone in ("bronze", "silver", "quarantine") and contract is not None:
        cols = [(f.name, str(f.type), zones.comment(f)) for f in zones.schema_of(zone, contract)]
        return cols, zones.descriptions(contract)[zone]
    if zone == "gold":
        model = models.get(table)
        if model is not None:
            return [(c.name, None, c.description) for c in model.columns], model.description
    return [], ""


def column_lineage_facet(graph: LineageGraph, name: str, namespace: str) -> Any:
    """The `columnLineage` facet of a dataset (None when no column has an input)."""
    if name not in graph.tables:
        return None
    fields = {}
    for column in graph.tables[name].columns:
        edges = stored_edges_into(graph, name, column)
        if not edges:
            continue
        fields[column] = column_lineage_dataset.Fields(
            inputFields=[
                column_lineage_dataset.InputField(
                    namespace=namespace,
                    name=e.source.table,
                    field=e.source.column,
                    transformations=[column_lineage_dataset.Transformation(type=e.kind.upper())],
                )
                for e in edges
            ]
        )
    if not fields:
        return None
    return column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields)


def assertions_facet(r: EntityResult) -> dict[str, Any]:
    """The contract's checks as run on the step's input rows: one failed assertion per
    reason code found (`null_required:user_id`, column `user_id`), or one that passed."""
    facet = data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
        assertions=[
            data_quality_assertions_dataset.Assertion(
                assertion=reason, success=False, column=reason.partition(":")[2] or None
            )
            for reason in sorted(r.reasons)
        ]
        or [data_quality_assertions_dataset.Assertion(assertion="contract", success=True)]
    )
    return {"dataQualityAssertions": facet}
