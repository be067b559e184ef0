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
- ``batch``: the same ``pixels`` map with one tile per image drawn, each tile also carrying
  its image's ``batch_index`` and its own ``grids`` (the top-level ``grids`` is empty): a grid
  of the batch reads "images[n, c, i, j] = v" like the single image does.
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


def batch_hover(fig: Figure, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Called after drawing. ``draw_batch`` adds one axes per image, in order; a tile drawn as
    an RGB composite (an H×W×3 array) covers its first three channels, a colour-mapped one its
    first channel, and a tile with nothing drawn (no finite value) has no hover."""
    images = payload.get("images") or []
    shape = [int(d) for d in (payload.get("shape") or [])]
    tiles = []
    for n, (ax, image) in enumerate(zip(fig.axes, images, strict=False)):
        drawn = ax.get_images()
        channels = image.get("channels") if isinstance(image, dict) else None
        if not drawn or not isinstance(channels, list) or not channels:
            continue
        grids = {str(c.get("index", k)): c.get("data") for k, c in enumerate(channels)}
        indices = list(grids)
        array = drawn[0].get_array()
        own = indices[:3] if array is not None and array.ndim == 3 else indices[:1]
        if not all(isinstance(grids[c], list) and grids[c] for c in own):
            continue
        tiles.append(
            {
                "plot": plot_rect(ax),
                "channels": own,
                "rows": len(grids[own[0]]),
                "cols": len(grids[own[0]][0]),
                "batch_index": int(image.get("index", n)),
                "grids": {c: grids[c] for c in own},
            }
        )
    if not tiles:
        return None
    return {
        "kind": "pixels",
        "name": str(payload.get("name") or ""),
        "shape": shape[-2:],
        "batch_index": tiles[0]["batch_index"],
        "batched": True,
        "tiles": tiles,
        "grids": {},
    }


HOVER: dict[str, Callable[[Figure, dict[str, Any]], dict[str, Any] | None]] = {
    "histogram": histogram_hover,
    "channels": channels_hover,
    "batch": batch_hover,
}
