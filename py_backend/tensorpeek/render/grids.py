"""2-D pictures: the block heatmap of a matrix (with its colour bar) and per-channel tiles of
an image-like tensor. Cells with no finite value are drawn in the theme's "bad" colour."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from tensorpeek.render.canvas import DPI, centre_note, finite_or_none, message_axes, style_axes
from tensorpeek.render.errors import RenderError
from tensorpeek.render.theme import Theme

_MAX_SIDE = 1024


def _grid(value: Any, what: str) -> np.ndarray:
    """A list of equal-length rows of numbers/nulls as a float64 array, NaN for null."""
    if not isinstance(value, list) or not all(isinstance(r, list) for r in value):
        raise RenderError(f"{what} must be a list of rows (lists of numbers or null)")
    if value and len({len(r) for r in value}) != 1:
        raise RenderError(f"{what}: rows have different lengths")
    if len(value) > _MAX_SIDE or (value and len(value[0]) > _MAX_SIDE):
        raise RenderError(f"{what}: at most {_MAX_SIDE}×{_MAX_SIDE} cells")
    rows = [[math.nan if v is None else v for v in finite_or_none(r)] for r in value]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1 if rows else 0)


def _cmap(theme: Theme) -> Any:
    from matplotlib import colormaps

    return colormaps["magma" if theme.is_dark else "viridis"].with_extremes(bad=theme.bad)


def draw_heatmap(fig: Figure, payload: dict[str, Any], theme: Theme) -> None:
    grid = _grid(payload.get("mean"), "heatmap payload 'mean'")
    name = str(payload.get("name") or "")
    shape = payload.get("shape") or list(grid.shape)
    block = payload.get("block") or [1, 1]
    title = f"{name} {list(shape)}" + (
        f", {block[0]}×{block[1]} block means" if block != [1, 1] else ""
    )
    if grid.size == 0:
        message_axes(fig, theme, title, "no values")
        return
    ax = fig.add_subplot()
    style_axes(ax, theme)
    ax.set_title(title, loc="left")
    finite = grid[np.isfinite(grid)]
    if finite.size == 0:
        ax.imshow(np.zeros_like(grid), cmap=ListedColormap([theme.bad]), aspect="auto")
        centre_note(ax, "no finite values", theme)
        return
    lo, hi = float(finite.min()), float(finite.max())
    image = ax.imshow(
        np.ma.masked_invalid(grid),
        cmap=_cmap(theme),
        aspect="auto",
        interpolation="nearest",
        vmin=lo,
        vmax=hi if hi > lo else lo + 1.0,
    )
    _index_ticks(ax, grid.shape, block)
    bar = fig.colorbar(image, ax=ax)
    bar.ax.tick_params(colors=theme.foreground, labelsize=theme.font_size * 0.8)
    bar.outline.set_edgecolor(theme.muted)
    fig.tight_layout(pad=0.4)


def _index_ticks(ax: Any, cells: tuple[int, ...], block: list[Any]) -> None:
    """Integer ticks in element indices (a cell covers ``block`` elements): a [64, 1] tensor
    gets rows 0..63 and the one column 0, not -0.4..0.4."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

    for axis, n, size in ((ax.yaxis, cells[0], block[0]), (ax.xaxis, cells[1], block[1])):
        step = int(size) if isinstance(size, int) and size > 0 else 1
        nice = MaxNLocator(nbins=6, integer=True).tick_values(0, max(n - 1, 0))
        axis.set_major_locator(FixedLocator([t for t in nice if 0 <= t <= n - 1] or [0]))
        axis.set_major_formatter(FuncFormatter(lambda v, _pos, s=step: f"{round(v) * s}"))
    ax.set_xlim(-0.5, cells[1] - 0.5)
    ax.set_ylim(cells[0] - 0.5, -0.5)


def _rgb(grids: list[np.ndarray], normalize: str) -> np.ndarray | None:
    """Three equal-shape channels as one H×W×3 image in [0, 1]: scaled by the joint range
    (``normalize="image"``) or each channel by its own (``"channel"``); non-finite cells black.
    None when the channels differ in shape or hold no finite value."""
    if len(grids) != 3 or len({g.shape for g in grids}) != 1 or grids[0].size == 0:
        return None
    stack = np.stack(grids, axis=-1)
    finite = np.isfinite(stack)
    if not finite.any():
        return None
    if normalize == "channel":
        lo = np.array([g[np.isfinite(g)].min() if np.isfinite(g).any() else 0.0 for g in grids])
        hi = np.array([g[np.isfinite(g)].max() if np.isfinite(g).any() else 1.0 for g in grids])
    else:
        lo = np.full(3, stack[finite].min())
        hi = np.full(3, stack[finite].max())
    span = np.where(hi > lo, hi - lo, 1.0)
    image = (np.where(finite, stack, lo) - lo) / span
    return np.where(finite, np.clip(image, 0.0, 1.0), 0.0)


def _fitted(titles: list[str], width_px: float, font_pt: float) -> str:
    """The first of ``titles`` (longest first) that fits ``width_px`` at ``font_pt``, the last
    one cut with an ellipsis otherwise (an average glyph is about 0.6 em wide)."""
    chars = max(3, int(width_px / (0.6 * font_pt * DPI / 72)))
    for title in titles:
        if len(title) <= chars:
            return title
    return titles[-1][: chars - 1] + "…"


def draw_channels(fig: Figure, payload: dict[str, Any], theme: Theme) -> None:
    """Per-channel tiles of one image of a batch and, for three channels, the RGB composite
    first (``normalize``: "image" scales the three by their joint range, "channel" each by its
    own; the tiles always use their own range)."""
    channels = payload.get("channels")
    if not isinstance(channels, list):
        raise RenderError("channels payload: 'channels' must be a list of {index, data, min, max}")
    normalize = payload.get("normalize", "image")
    if normalize not in ("image", "channel"):
        raise RenderError(f"channels payload: normalize {normalize!r}; valid: image, channel")
    name = str(payload.get("name") or "")
    if not channels:
        message_axes(fig, theme, name, "no channels")
        return
    grids = []
    for i, channel in enumerate(channels):
        if not isinstance(channel, dict) or "data" not in channel:
            raise RenderError(f"channels payload: channel {i} needs 'data'")
        grids.append(_grid(channel["data"], f"channels payload: channel {i} 'data'"))
    rgb = _rgb(grids, normalize)
    tiles = len(channels) + (rgb is not None)
    cols = min(tiles, 4)
    rows = math.ceil(tiles / cols)
    cmap = _cmap(theme)
    index = payload.get("batch_index", 0)
    position = 1
    if rgb is not None:
        ax = fig.add_subplot(rows, cols, position)
        style_axes(ax, theme)
        ax.set_xticks([])
        ax.set_yticks([])
        title = _fitted(
            [f"{name}[{index}] RGB ({normalize} range)", f"{name}[{index}] RGB", "RGB"],
            fig.get_figwidth() * fig.dpi / cols,
            theme.font_size * 0.85,
        )
        ax.set_title(title, fontsize=theme.font_size * 0.85)
        ax.imshow(rgb, interpolation="nearest")
        position += 1
    for i, (channel, grid) in enumerate(zip(channels, grids, strict=True)):
        ax = fig.add_subplot(rows, cols, position + i)
        style_axes(ax, theme)
        ax.set_xticks([])
        ax.set_yticks([])
        full = f"{name}[{index}, {channel.get('index', i)}]"
        title = _fitted(
            [full, f"[{index}, {channel.get('index', i)}]"],
            fig.get_figwidth() * fig.dpi / cols,
            theme.font_size * 0.85,
        )
        ax.set_title(title, fontsize=theme.font_size * 0.85)
        finite = grid[np.isfinite(grid)] if grid.size else grid
        if finite.size == 0:
            centre_note(ax, "no finite values", theme, colour=theme.bad)
            continue
        lo, hi = float(finite.min()), float(finite.max())
        ax.imshow(
            np.ma.masked_invalid(grid),
            cmap=cmap,
            interpolation="nearest",
            vmin=lo,
            vmax=hi if hi > lo else lo + 1.0,
        )
    fig.tight_layout(pad=0.3)


def draw_batch(fig: Figure, payload: dict[str, Any], theme: Theme) -> None:
    """A grid of the images of a batch, one tile each: an RGB composite for 3 (or 4: the first
    three) channels, the colour map for one; ``normalize`` as for ``channels`` ("image": each
    image by its own joint range, "channel": each channel by its own)."""
    images = payload.get("images")
    if not isinstance(images, list):
        raise RenderError("batch payload: 'images' must be a list of {index, channels}")
    normalize = payload.get("normalize", "image")
    if normalize not in ("image", "channel"):
        raise RenderError(f"batch payload: normalize {normalize!r}; valid: image, channel")
    name = str(payload.get("name") or "")
    if not images:
        message_axes(fig, theme, name, "no images")
        return
    tiles = []
    for n, image in enumerate(images):
        if not isinstance(image, dict) or not isinstance(image.get("channels"), list):
            raise RenderError(f"batch payload: image {n} needs 'channels'")
        grids = [
            _grid(c.get("data") if isinstance(c, dict) else None, f"batch image {n} channel {k}")
            for k, c in enumerate(image["channels"])
        ]
        tiles.append((image.get("index", n), grids))
    width, height = fig.get_figwidth(), fig.get_figheight()
    cols = max(1, min(len(tiles), round(math.sqrt(len(tiles) * width / height))))
    rows = math.ceil(len(tiles) / cols)
    cmap = _cmap(theme)
    for k, (index, grids) in enumerate(tiles):
        ax = fig.add_subplot(rows, cols, k + 1)
        style_axes(ax, theme)
        ax.set_xticks([])
        ax.set_yticks([])
        size = theme.font_size * 0.8
        title = _fitted(
            [f"{name}[{index}]", f"[{index}]"], fig.get_figwidth() * fig.dpi / cols, size
        )
        ax.set_title(title, fontsize=size)
        rgb = _rgb(grids[:3], normalize) if len(grids) in (3, 4) else None
        if rgb is not None:
            ax.imshow(rgb, interpolation="nearest")
            continue
        grid = grids[0] if grids else np.zeros((0, 0))
        finite = grid[np.isfinite(grid)] if grid.size else grid
        if finite.size == 0:
            centre_note(ax, "no finite values", theme, colour=theme.bad)
            continue
        lo, hi = float(finite.min()), float(finite.max())
        ax.imshow(
            np.ma.masked_invalid(grid),
            cmap=cmap,
            interpolation="nearest",
            vmin=lo,
            vmax=hi if hi > lo else lo + 1.0,
        )
    fig.tight_layout(pad=0.3)
