"""lakehouse: raw e-commerce files to ACID Delta Lake tables and answers.

`from lakehouse import Lakehouse` is the Python API; heavy modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakehouse.api import Lakehouse

__all__ = ["Lakehouse"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Lakehouse":
        from lakehouse.api import Lakehouse

        return Lakehouse
    raise AttributeError(name)
