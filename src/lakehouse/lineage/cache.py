"""The derived lineage graph, kept in the user cache (`lakehouse.config.cache`) between runs.

Deriving the graph walks every gold model's SQL with sqlglot (≈ 0.3 s per process); a run, the
`lineage` command and the data docs need the same graph each time. It is stored as JSON under a
key that changes with anything it is derived from: the contracts and models as loaded, the
lakehouse package's own source and sqlglot's version. So an edited model, contract or release
derives it again, and a stale graph is never read. A cache that cannot be read or written
(read-only home, a package inside a zip) is skipped: the graph is derived, as without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.config.cache import cache_dir
from lakehouse.lineage.derive import build_graph
from lakehouse.lineage.graph import ColumnRef, Edge, LineageGraph, TableNode

if TYPE_CHECKING:
    from lakehouse.contracts import Contract
    from lakehouse.gold.model import GoldModel

KEEP = 16


def cached_graph(
    contracts: Mapping[str, Contract], models: Mapping[str, GoldModel]
) -> LineageGraph:
    """`build_graph(contracts, models)`, read from the cache when it was derived before."""
    code = _package_digest()
    try:
        folder: Path | None = cache_dir() / "lineage"
    except RuntimeError:  # no home directory to keep a cache in (a service account)
        folder = None
    if code is None or folder is None:
        return build_graph(contracts, models)
    path = folder / f"{_key(code, contracts, models)}.json"
    try:
        return _loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    graph = build_graph(contracts, models)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(_dumps(graph))
        os.replace(scratch, path)  # whole or not at all, whoever else writes it
        _prune(path.parent)
    except OSError:
        pass
    return graph


def _prune(folder: Path) -> None:
    """Keep the `KEEP` newest graphs: each edit of a model or release leaves one behind."""
    graphs = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in graphs[KEEP:]:
        old.unlink(missing_ok=True)


@cache
def _package_digest() -> str | None:
    """The lakehouse package's Python source, hashed (≈ 8 ms); None when it is not a folder."""
    from importlib.metadata import version

    package = Path(__file__).resolve().parents[1]
    if not package.is_dir():
        return None
    digest = hashlib.sha256(version("sqlglot").encode())
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _key(code: str, contracts: Mapping[str, Contract], models: Mapping[str, GoldModel]) -> str:
    definitions = repr((sorted(contracts.items()), sorted(models.items())))
    return hashlib.sha256(f"{code}\n{definitions}".encode()).hexdigest()[:32]


def _dumps(graph: LineageGraph) -> str:
    return json.dumps(
        {
            "tables": [
                [t.name, list(t.columns), t.description, t.kind] for t in graph.tables.values()
            ],
            "edges": [
                [e.source.table, e.source.column, e.target_table, e.target_column, e.kind]
                for e in graph.edges
            ],
        }
    )


def _loads(text: str) -> LineageGraph:
    data: dict[str, Any] = json.loads(text)
    tables = {n: TableNode(n, tuple(cols), desc, kind) for n, cols, desc, kind in data["tables"]}
    edges = [Edge(ColumnRef(st, sc), tt, tc, kind) for st, sc, tt, tc, kind in data["edges"]]
    return LineageGraph(tables, edges)
