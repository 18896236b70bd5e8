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
from lakehouse.gold.model import GoldModel, ModelError, all_models, parse_model
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
    "lakehouse_graph",
    "load_models",
    "model_lineage",
    "sql_schema",
]


def load_models(directory: str | Path | None = None) -> dict[str, GoldModel]:
    """Gold models by name: the packaged ones, or every `*.sql` in `directory` (parsed with the
    loader's own `parse_model`, so the same rules apply)."""
    if directory is None:
        return all_models()
    models: dict[str, GoldModel] = {}
    for path in sorted(Path(directory).glob("*.sql")):
        model = parse_model(path.read_text(encoding="utf-8"), str(path))
        if model.name != path.stem:
            raise ModelError(f"{path}: name = {model.name!r} must equal the file name")
        models[model.name] = model
    if not models:
        raise ModelError(f"no gold model files (*.sql) in {directory}")
    return models


def lakehouse_graph(
    contracts_dir: str | None = None, models_dir: str | Path | None = None
) -> LineageGraph:
    """The lineage of the lakehouse these contracts and models define (default: packaged)."""
    return build_graph(load_contracts(contracts_dir), load_models(models_dir))
