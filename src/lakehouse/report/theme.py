"""Colours and the shared plotly layout: colour-blind-safe (Okabe and Ito), system fonts only."""

from __future__ import annotations

from typing import Any

# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
BLUE = "#0072B2"
ORANGE = "#E69F00"
GREEN = "#009E73"
PURPLE = "#CC79A7"
SKY = "#56B4E9"
VERMILLION = "#D55E00"
YELLOW = "#F0E442"
BLACK = "#000000"
GREY = "#9E9E9E"
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
PALETTE = (BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION, BLACK, YELLOW)
UP, DOWN = BLUE, VERMILLION  # changes: never red/green
STATUS = {"SUCCEEDED": BLUE, "FAILED": VERMILLION, "RUNNING": ORANGE}
SEQUENTIAL = "Cividis"  # perceptually uniform, readable with colour-vision deficiencies
# diverging around a midpoint (zmid): vermillion-orange below, white, blue above
DIVERGING = [[0.0, VERMILLION], [0.25, "#F4B183"], [0.5, "#F7F7F7"], [0.75, "#8CC4E6"], [1.0, BLUE]]
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def base_layout(height: int) -> dict[str, Any]:
    return {
        "height": height,
        "autosize": True,
        "margin": {"l": 60, "r": 20, "t": 12, "b": 44},
        "font": {"family": FONT, "size": 13, "color": INK},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "colorway": list(PALETTE),
        "separators": ".,",
        "hoverlabel": {"font": {"family": FONT, "size": 13}},
        "legend": {
            "orientation": "h",
            "y": 1.02,
            "yanchor": "bottom",
            "x": 0,
            "font": {"size": 12},
        },
        "xaxis": {"gridcolor": GRID, "linecolor": GRID, "zeroline": False, "automargin": True},
        "yaxis": {"gridcolor": GRID, "linecolor": GRID, "zeroline": False, "automargin": True},
    }
