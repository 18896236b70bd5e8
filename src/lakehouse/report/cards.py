"""The page model: pages hold cards; a card holds a finding title, a chart and/or HTML.

A chart has one or more *variants* (complete plotly figures), picked in the browser by the
filter state: `keys` names the state fields that choose the variant ("grain": day | week |
month, "dept": a department or "*" for all), so filtering needs no server and no re-computing.
Charts with `date_axis` follow the date-range filter by zooming their x axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# the "all departments" value of the dept key: "", which no department can be (a department is
# required, and empty text is none); "*" was the key of a department named "*" as well
ALL = ""
GRAINS = ("day", "week", "month")


def variant_key(**state: str) -> str:
    """The key of one variant, from the state fields in the order they were given."""
    return "|".join(state.values())


@dataclass
class Chart:
    variants: dict[str, dict[str, Any]]  # variant key -> {"data": [...], "layout": {...}}
    keys: tuple[str, ...] = ()
    date_axis: bool = False
    height: int = 300
    titles: dict[str, str] = field(default_factory=dict)  # variant key -> card title
    subtitles: dict[str, str] = field(default_factory=dict)  # variant key -> card subtitle

    def spec(self) -> dict[str, Any]:
        return {
            "variants": self.variants,
            "keys": list(self.keys),
            "dateAxis": self.date_axis,
            "titles": self.titles,
            "subtitles": self.subtitles,
        }


@dataclass
class Card:
    id: str
    title: str  # states the finding, e.g. "Revenue grew 12 % week over week"
    subtitle: str = ""  # what is measured and how (plain text)
    chart: Chart | None = None
    html: str = ""  # extra HTML below the chart (tables), already escaped
    note: str | None = None  # why something is missing or needs care (plain text)
    wide: bool = False
    filters: tuple[str, ...] = ()  # filters that change this card: "date", "dept", "grain"


@dataclass
class Page:
    id: str
    title: str
    cards: list[Card] = field(default_factory=list)
    intro: str = ""  # HTML above the cards (tiles)
    filters: tuple[str, ...] = ()  # filter controls shown on this page


def missing(card_id: str, subject: str, table: str, wide: bool = False) -> Card:
    """A card that explains a gold table is not there yet."""
    return Card(
        card_id,
        f"{subject}: no data yet",
        note=f"{table} does not exist yet under this root (or could not be read: the "
        "Operations page names it). It is written by `lakehouse run` once orders have been "
        "loaded; run the pipeline, then rebuild this report.",
        wide=wide,
    )
