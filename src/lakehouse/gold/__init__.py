"""Gold analytics: engine-neutral SQL models over silver, refreshed in full or incrementally.

Each model is one file in `models/` (a TOML header, then one SELECT in DuckDB dialect);
`render` transpiles it for DuckDB, Spark or Trino; `refresh_gold` runs the models on DuckDB
for what a run touched and returns Arrow tables for the engine to write.
"""

from __future__ import annotations

from lakehouse.dialect import DIALECTS
from lakehouse.gold.model import Column, GoldModel, ModelError, get_model, list_models
from lakehouse.gold.refresh import GoldWrite, RefreshPlan, Touched, plan_refresh, refresh_gold
from lakehouse.gold.render import render

__all__ = [
    "DIALECTS",
    "Column",
    "GoldModel",
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
