"""Hover maps: what a pointer over a picture points at, for the kinds where that is a number
the picture cannot print everywhere (a histogram bin's range and count). Plain JSON data in
figure fractions from the top-left corner, so the panel maps them onto the picture however
large it shows it.

- ``histogram``: ``{"kind": "bins", "plot": [left, top, right, bottom], "xlim": [lo, hi],
  "edges": [...], "counts": [...]}``: the data area of the bins' axes, its value range, and
  the bins as drawn.
- ``channels``: ``{"kind": "pixels", "name", "shape": [H, W], "batch_index", "batched",
  "tiles": [{"plot", "channels": [c, ...], "rows", "cols"}], "grids": {c: rows of values}}``:
  each tile's image area (the RGB composite lists three channels), its cells, and the values
  drawn in each cell (block means when the image was reduced to fit).
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


def channels_hover(fig: Figure, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Called after drawing: tiles drawn at a fixed aspect get their final box then."""
    channels = payload.get("channels") or []
    grids = {str(c.get("index", i)): c.get("data") for i, c in enumerate(channels)}
    images = [ax for ax in fig.axes if ax.get_images()]
    if not images or not all(isinstance(g, list) and g for g in grids.values()):
        return None
    indices = [str(c.get("index", i)) for i, c in enumerate(channels)]
    shape = [int(d) for d in (payload.get("shape") or [])]
    tiles = []
    # draw_channels adds the RGB composite first (when there is one), then one tile per channel
    rgb = len(images) == len(channels) + 1
    for n, ax in enumerate(images):
        own = indices if rgb and n == 0 else [indices[n - 1 if rgb else n]]
        rows = len(grids[own[0]])
        tiles.append(
            {
                "plot": plot_rect(ax),
                "channels": own,
                "rows": rows,
                "cols": len(grids[own[0]][0]),
            }
        )
    return {
        "kind": "pixels",
        "name": str(payload.get("name") or ""),
        "shape": shape[-2:],
        "batch_index": int(payload.get("batch_index") or 0),
        "batched": len(shape) == 4,
        "tiles": tiles,
        "grids": grids,
    }


HOVER: dict[str, Callable[[Figure, dict[str, Any]], dict[str, Any] | None]] = {
    "histogram": histogram_hover,
    "channels": channels_hover,
}
