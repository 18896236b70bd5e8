"""The range a number setting accepts, declared once per field (`number`) and checked by
`lakehouse.config.loader.load` (and by settings that check themselves when made)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Bounds:
    """The values a number setting accepts: `low` to `high`, `low` itself only when not
    `above_low`. Declared once per field (`field(metadata=...)`, see `number`)."""

    low: float = 0.0
    high: float = math.inf
    above_low: bool = False

    def allows(self, value: float) -> bool:
        return (value > self.low if self.above_low else value >= self.low) and value <= self.high

    def __str__(self) -> str:
        if self.high < math.inf:
            return f"between {_shown(self.low)} and {_shown(self.high)}"
        return f"{'>' if self.above_low else '>='} {_shown(self.low)}"


def _shown(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:g}"


NON_NEGATIVE = Bounds()  # every number without bounds of its own; 0 means "off" or "none"
SHARE = Bounds(0.0, 1.0)  # rates and shares
AT_LEAST_ONE = Bounds(1.0)  # counts where 0 makes no sense
POSITIVE = Bounds(above_low=True)  # durations where 0 would spin or expire at once


def number(default: Any, bounds: Bounds) -> Any:
    """A number setting with its accepted range, checked by `load` (one place for all ranges)."""
    return field(default=default, metadata={"bounds": bounds})
