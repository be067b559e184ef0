"""Pictures of tensor summaries with matplotlib: ``render(kind, payload) -> bytes``.

Kinds and their payloads (the agent's ``detail``, the CLI's HTML report and the language
server's ``tensorpeek/render`` request all use these; see docs/architecture.md):

- ``histogram``: a summary dict (``hist.edges/counts``, ``nan/posinf/neginf``,
  ``min/max/mean/std``), optional ``name`` and ``yscale`` ("linear" | "log").
- ``heatmap``: ``{name, shape, block, mean, min, max}`` (rows of numbers or null).
- ``channels``: ``{name, shape, batch_index, channels: [{index, data, min, max}]}``,
  optional ``normalize`` ("image" | "channel": the RGB composite's range).
- ``batch``: ``{name, shape, normalize?, images: [{index, channels: [...]}]}``: a grid of the
  images of a batch (each image's channels as in ``channels``).
- ``layers``: ``{metric, site, layers: [{module, value, flag}]}``.
- ``timeseries``: ``{metric, series: [{module, site, steps, values}]}``.

Only matplotlib's object API is used (no pyplot state), so rendering is safe from several
threads; results are cached by content. ``render_picture`` also gives a *hover map* for the
kinds a pointer can read (``hover.py``): where the plot lies in the picture and what is under
each point of it, so the panel can show a histogram bin's range and count.

May import: matplotlib and numpy. Never torch or any other part of tensorpeek: payloads are
plain dicts.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from tensorpeek.render.canvas import new_figure, to_bytes
from tensorpeek.render.errors import RenderError
from tensorpeek.render.grids import draw_batch, draw_channels, draw_heatmap
from tensorpeek.render.histogram import draw_histogram
from tensorpeek.render.hover import HOVER
from tensorpeek.render.layers import draw_layers, draw_timeseries
from tensorpeek.render.theme import Theme

__all__ = ["FORMATS", "KINDS", "RenderError", "Rendered", "Theme", "render", "render_picture"]

_DRAW: dict[str, Callable[..., None]] = {
    "histogram": draw_histogram,
    "heatmap": draw_heatmap,
    "channels": draw_channels,
    "batch": draw_batch,
    "layers": draw_layers,
    "timeseries": draw_timeseries,
}
KINDS = tuple(_DRAW)
FORMATS = ("svg", "png")
_CACHE_SIZE = 128
_cache: OrderedDict[str, Rendered] = OrderedDict()
_cache_lock = threading.Lock()


class Rendered(NamedTuple):
    """A picture's bytes and, for kinds a pointer can read, its hover map (plain JSON data)."""

    data: bytes
    hover: dict[str, Any] | None


def render(
    kind: str,
    payload: dict[str, Any],
    *,
    fmt: str = "svg",
    theme: Theme | None = None,
    width: int = 480,
    height: int = 300,
    pixel_ratio: float = 1.0,
    cache: bool = True,
) -> bytes:
    """The bytes of ``render_picture`` (same arguments)."""
    return render_picture(
        kind,
        payload,
        fmt=fmt,
        theme=theme,
        width=width,
        height=height,
        pixel_ratio=pixel_ratio,
        cache=cache,
    ).data


def render_picture(
    kind: str,
    payload: dict[str, Any],
    *,
    fmt: str = "svg",
    theme: Theme | None = None,
    width: int = 480,
    height: int = 300,
    pixel_ratio: float = 1.0,
    cache: bool = True,
) -> Rendered:
    """Draw one picture; SVG text (UTF-8) or PNG bytes, laid out for ``width``×``height`` CSS
    pixels. ``pixel_ratio`` (1 to 4: the screen's device pixels per CSS pixel) multiplies the
    pixels of what is raster: the whole PNG, the images inside an SVG (heatmaps, channels).
    Raises ``RenderError`` naming the field when the request cannot be drawn."""
    if kind not in _DRAW:
        raise RenderError(f"unknown picture kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise RenderError(f"unknown format {fmt!r}; valid formats: svg, png")
    if not isinstance(payload, dict):
        raise RenderError(f"payload must be an object, got {type(payload).__name__}")
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or not 32 <= value <= 4096:
            raise RenderError(f"{name} must be an integer from 32 to 4096, got {value!r}")
    if (
        isinstance(pixel_ratio, bool)
        or not isinstance(pixel_ratio, (int, float))
        or not 1 <= pixel_ratio <= 4
    ):
        raise RenderError(f"pixel ratio must be a number from 1 to 4, got {pixel_ratio!r}")
    ratio = round(float(pixel_ratio), 2)
    theme = theme or Theme()
    key = _key(kind, payload, fmt, theme, width, height, ratio) if cache else None
    if key is not None:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
    fig = new_figure(width, height, theme)
    _DRAW[kind](fig, payload, theme)
    data = to_bytes(fig, fmt, ratio)
    # after drawing: images with a fixed aspect get their final axes box only when drawn
    hover = HOVER[kind](fig, payload) if kind in HOVER else None
    out = Rendered(data, hover)
    if key is not None:
        with _cache_lock:
            _cache[key] = out
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return out


def _key(
    kind: str, payload: dict[str, Any], fmt: str, theme: Theme, w: int, h: int, ratio: float
) -> str:
    try:
        text = json.dumps(
            [kind, payload, fmt, theme.key(), w, h, ratio], sort_keys=True, default=str
        )
    except (TypeError, ValueError) as e:
        raise RenderError(f"payload is not JSON data: {e}") from None
    return hashlib.sha256(text.encode()).hexdigest()
