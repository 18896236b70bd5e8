"""lakehouse: raw e-commerce files to ACID Delta Lake tables and answers.

`from lakehouse import Lakehouse` is the Python API; heavy modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakehouse.store.arrow_pool import prefer_jemalloc

if TYPE_CHECKING:
    from lakehouse.api import Lakehouse

__all__ = ["Lakehouse"]
__version__ = "0.1.0"

prefer_jemalloc()  # before pyarrow loads: see lakehouse.store.arrow_pool


def __getattr__(name: str) -> Any:
    if name == "Lakehouse":
        from lakehouse.api import Lakehouse

        return Lakehouse
    raise AttributeError(name)
