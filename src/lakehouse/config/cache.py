"""The user cache: what the lakehouse can always derive again, kept between processes.

`$LAKEHOUSE_CACHE`, else `$XDG_CACHE_HOME/lakehouse`, else `~/.cache/lakehouse`. It holds Spark's
Delta jars (`lakehouse.engines.spark.session`) and the derived lineage graph
(`lakehouse.lineage.cache`); deleting it costs time, never data.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    base = os.environ.get("LAKEHOUSE_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lakehouse"
