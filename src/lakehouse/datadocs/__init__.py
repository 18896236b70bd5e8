"""Data docs: every table by zone, its columns, checks, lineage and state, as one offline page
(`lakehouse docs`). Built from the contracts, the gold model headers and SQL, and the root."""

from __future__ import annotations

from pathlib import Path

from lakehouse.datadocs.collect import ColumnDoc, Docs, TableDoc, collect
from lakehouse.datadocs.page import render
from lakehouse.datadocs.page import write as write_page
from lakehouse.store.root import Root

__all__ = ["ColumnDoc", "Docs", "TableDoc", "collect", "render", "write"]


def write(
    root: Root,
    out: Path,
    contracts_dir: str | None = None,
    models_dir: str | Path | None = None,
) -> Path:
    """Collect the docs of `root` and write the page to `out`."""
    from lakehouse.config import loader
    from lakehouse.contracts import load_contracts
    from lakehouse.lineage import load_models

    contracts = load_contracts(contracts_dir)
    settings = loader.load(root, entities=contracts)
    docs = collect(root, contracts, load_models(models_dir), settings)
    return write_page(docs, out)
