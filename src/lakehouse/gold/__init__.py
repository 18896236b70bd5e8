"""Gold analytics: engine-neutral SQL models over silver, refreshed in full or incrementally.

Each model is one file in `models/` (a TOML header, then one SELECT in DuckDB dialect);
`render` transpiles it for DuckDB, Spark or Trino; `plan_refresh` decides what a run's changes
make each model recompute, and `refresh_gold` runs the plans on an engine's `GoldSession`
(DuckDB or Spark) and yields the results for the engine to write.
"""

from __future__ import annotations

from lakehouse.engines.dialect import DIALECTS
from lakehouse.gold.model import Column, GoldModel, ModelError, get_model, list_models
from lakehouse.gold.plan import RefreshPlan, Touched, plan_refresh
from lakehouse.gold.refresh import refresh_gold
from lakehouse.gold.render import render
from lakehouse.gold.session import DuckDBSession, GoldSession, GoldWrite

__all__ = [
    "DIALECTS",
    "Column",
    "DuckDBSession",
    "GoldModel",
    "GoldSession",
    "GoldWrite",
    "ModelError",
    "RefreshPlan",
    "Touched",
    "get_model",
    "list_models",
    "plan_refresh",
    "refresh_gold",
    "render",
]
