"""Numbers and findings for people: currency, thousands, percentages, changes, durations.

The same rules drive chart titles ("Revenue grew 12 % week over week"), tables and the hover
formats handed to plotly (d3-format strings), so a number reads the same everywhere.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CHF": "CHF "}
DASH = "\u2013"  # en dash: ranges and missing values
MINUS = "\u2212"  # typographic minus sign
TIMES = "\u00d7"
STEADY = 0.005  # changes smaller than ±0.5 % read as "held steady"


@dataclass(frozen=True)
class Money:
    """How amounts are shown: `prefix` before the number ('$', 'CHF ', '' when unknown)."""

    code: str | None = None

    @property
    def prefix(self) -> str:
        if not self.code:
            return ""
        return SYMBOLS.get(self.code, f"{self.code} ")

    def __call__(self, value: float | None, *, cents: bool | None = None) -> str:
        return money(value, self.prefix, cents=cents)


def _bad(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(value: float | None, prefix: str = "", *, cents: bool | None = None) -> str:
    """'$1,234.56'; whole amounts of 10,000 and more drop the cents ('$12,346') unless `cents`."""
    if value is None or _bad(value):
        return DASH
    show_cents = cents if cents is not None else abs(value) < 10_000
    sign = "-" if value < 0 else ""
    body = f"{abs(value):,.2f}" if show_cents else f"{abs(value):,.0f}"
    return f"{sign}{prefix}{body}"


def number(value: float | None, decimals: int = 0) -> str:
    """Thousands separators: 12,345 (or 1,234.5 with decimals=1)."""
    if value is None or _bad(value):
        return DASH
    return f"{value:,.{decimals}f}"


def compact(value: float | None, prefix: str = "") -> str:
    """Short form for tiles: 950, 12.3k, 4.56M."""
    if value is None or _bad(value):
        return DASH
    v = abs(value)
    sign = "-" if value < 0 else ""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= limit:
            scaled = v / limit
            return f"{sign}{prefix}{scaled:,.{0 if scaled >= 100 else 1}f}{suffix}"
    return f"{sign}{prefix}{v:,.0f}"


def pct(value: float | None, decimals: int | None = None) -> str:
    """A fraction as a percentage: 0.1234 -> '12.3 %' (whole numbers from 10 % up: '42 %')."""
    if value is None or _bad(value):
        return DASH
    p = value * 100
    if decimals is None:
        decimals = 0 if abs(p) >= 10 else 1
    text = f"{p:,.{decimals}f}"
    if decimals and "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} %"


def signed_pct(value: float | None) -> str:
    """A change as a signed percentage: '+12 %', '-3.4 %' (typographic minus), '±0 %'."""
    if value is None or _bad(value):
        return DASH
    if abs(value) < STEADY:
        return "±0 %"
    sign = "+" if value > 0 else MINUS
    return sign + pct(abs(value))


def change_phrase(subject: str, rate: float | None, period: str) -> str:
    """'Revenue grew 12 % week over week' / 'fell 4.1 %' / 'held steady'."""
    if rate is None or _bad(rate):
        return f"{subject}: no earlier {period} to compare with"
    over = {"day": "day over day", "week": "week over week", "month": "month over month"}.get(
        period, f"vs the previous {period}"
    )
    if abs(rate) < STEADY:
        return f"{subject} held steady {over}"
    verb = "grew" if rate > 0 else "fell"
    return f"{subject} {verb} {pct(abs(rate))} {over}"


def size(num_bytes: float | None) -> str:
    """'512 B', '12.3 kB', '4.5 MB', '1.2 GB' (powers of 1000)."""
    if num_bytes is None or _bad(num_bytes):
        return DASH
    for limit, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if num_bytes >= limit:
            return f"{num_bytes / limit:,.1f} {unit}"
    return f"{num_bytes:,.0f} B"


def duration(seconds: float | None) -> str:
    """'0.8 s', '12 s', '3 min 5 s', '2 h 4 min'."""
    if seconds is None or _bad(seconds):
        return DASH
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s" if sec else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"


def day(value: dt.date | str | None) -> str:
    """'1 Apr 2025'."""
    if value is None:
        return DASH
    d = dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value
    return f"{d.day} {d:%b %Y}"


def moment(value: dt.datetime | None) -> str:
    """'2025-04-01 14:03 UTC'."""
    if value is None:
        return DASH
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return f"{value:%Y-%m-%d %H:%M} UTC"


def ago(value: dt.datetime | None, now: dt.datetime) -> str:
    """'5 min ago', '3 h ago', '2 d ago'."""
    if value is None:
        return "never"
    seconds = (now - value).total_seconds()
    if seconds < 0:
        return "just now"
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86_400:.0f} d ago"


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def weekday(iso_day: int) -> str:
    """ISO day of week (1 = Monday) -> 'Monday'."""
    return WEEKDAYS[iso_day - 1]


def label(code: str) -> str:
    """'cash_on_delivery' -> 'Cash on delivery'; 'at_risk' -> 'At risk'."""
    text = code.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else code


GRAIN_PLURAL = {"day": "days", "week": "weeks", "month": "months"}
