"""Table and column lineage derived from contracts and gold model SQL (see `derive`).

```python
from lakehouse.lineage import lakehouse_graph
g = lakehouse_graph()
g.upstream("gold.product_performance", "revenue")      # transitive, to landing
g.downstream("silver.orders", "payment_method")         # what a change would touch
```
"""

from __future__ import annotations

from pathlib import Path

from lakehouse.contracts import load_contracts
from lakehouse.gold.model import GoldModel, all_models, read_models
from lakehouse.lineage.cache import cached_graph
from lakehouse.lineage.derive import ModelLineage, build_graph, model_lineage, sql_schema
from lakehouse.lineage.graph import (
    ColumnRef,
    Edge,
    EdgeKind,
    Hit,
    LineageError,
    LineageGraph,
    TableNode,
)

__all__ = [
    "ColumnRef",
    "Edge",
    "EdgeKind",
    "Hit",
    "LineageError",
    "LineageGraph",
    "ModelLineage",
    "TableNode",
    "build_graph",
    "cached_graph",
    "lakehouse_graph",
    "load_models",
    "model_lineage",
    "sql_schema",
]


def load_models(directory: str | Path | None = None) -> dict[str, GoldModel]:
    """Gold models by name: the packaged ones, or every `*.sql` in `directory` (read by the
    gold loader itself, so the same rules apply)."""
    return all_models() if directory is None else read_models(Path(directory))


def lakehouse_graph(
    contracts_dir: str | None = None, models_dir: str | Path | None = None
) -> LineageGraph:
    """The lineage of the lakehouse these contracts and models define (default: packaged)."""
    return cached_graph(load_contracts(contracts_dir), load_models(models_dir))
