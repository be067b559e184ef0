"""Hover maps: what a pointer over a picture points at, for the kinds where that is a number
the picture cannot print everywhere (a histogram bin's range and count). Plain JSON data in
figure fractions from the top-left corner, so the panel maps them onto the picture however
large it shows it.

- ``histogram``: ``{"kind": "bins", "plot": [left, top, right, bottom], "xlim": [lo, hi],
  "edges": [...], "counts": [...]}``: the data area of the bins' axes, its value range, and
  the bins as drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tensorpeek.render.histogram import drawn_bins


def plot_rect(ax: Axes) -> list[float]:
    """The axes' data area: [left, top, right, bottom], fractions of the figure from its
    top-left corner."""
    box = ax.get_position()
    return [round(box.x0, 6), round(1 - box.y1, 6), round(box.x1, 6), round(1 - box.y0, 6)]


def histogram_hover(fig: Figure, payload: dict[str, Any]) -> dict[str, Any] | None:
    edges, counts = drawn_bins(payload)
    if not fig.axes or sum(counts) == 0:
        return None
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    return {
        "kind": "bins",
        "plot": plot_rect(ax),
        "xlim": [float(lo), float(hi)],
        "edges": edges,
        "counts": [int(c) for c in counts],
    }


HOVER: dict[str, Callable[[Figure, dict[str, Any]], dict[str, Any] | None]] = {
    "histogram": histogram_hover,
}
