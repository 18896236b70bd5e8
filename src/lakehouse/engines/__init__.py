"""Engines: where data is computed and written. Each declares its capabilities."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.errors import TerminalError

if TYPE_CHECKING:
    from lakehouse.engines.base import Engine
    from lakehouse.store.root import Root

ENGINES = ("local", "spark")


def create_engine(name: str, root: Root, contracts_dir: str | None = None) -> Engine:
    if name == "local":
        from lakehouse.engines.local import LocalEngine

        return LocalEngine(root, contracts_dir)
    if name == "spark":
        try:
            from lakehouse.engines.spark import SparkEngine  # type: ignore[import-not-found]
        except ImportError as exc:
            raise TerminalError(
                "the spark engine needs the 'spark' extra: pip install 'lakehouse[spark]'"
            ) from exc
        engine: Engine = SparkEngine(root, contracts_dir)
        return engine
    raise TerminalError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
