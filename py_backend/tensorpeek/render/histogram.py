"""The histogram picture of one summary: finite-value bins, the exact min/max and mean ± σ
marked, and NaN / +Inf / -Inf as labelled extra bars beside it so bad values are never
hidden."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from tensorpeek.render.canvas import centre_note, is_number, message_axes, style_axes
from tensorpeek.render.errors import RenderError
from tensorpeek.render.theme import Theme

_NONFINITE = (("nan", "NaN"), ("posinf", "+Inf"), ("neginf", "-Inf"))


def _count(payload: dict[str, Any], key: str) -> int:
    value = payload.get(key, 0) or 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RenderError(f"histogram payload: {key!r} must be a non-negative count, got {value!r}")
    return value


def _bins(payload: dict[str, Any]) -> tuple[list[float], list[float]]:
    hist = payload.get("hist")
    if hist is None:
        return [], []
    if not isinstance(hist, dict):
        raise RenderError("histogram payload: 'hist' must be an object with 'edges' and 'counts'")
    edges, counts = hist.get("edges"), hist.get("counts")
    if not isinstance(edges, list) or not isinstance(counts, list):
        raise RenderError("histogram payload: 'hist.edges' and 'hist.counts' must be lists")
    if counts and len(edges) != len(counts) + 1:
        raise RenderError(
            f"histogram payload: {len(counts)} counts need {len(counts) + 1} edges,"
            f" got {len(edges)}"
        )
    if not all(is_number(e) for e in edges) or not all(is_number(c) and c >= 0 for c in counts):
        raise RenderError("histogram payload: edges must be numbers and counts non-negative")
    return [float(e) for e in edges], [float(c) for c in counts]


def drawn_bins(payload: dict[str, Any]) -> tuple[list[float], list[float]]:
    """The bins as drawn: the payload's, except that a constant tensor's one bin of zero width
    is widened to a visible bar."""
    edges, counts = _bins(payload)
    if sum(counts) > 0 and edges[-1] <= edges[0]:
        lo, hi = edges[0], edges[-1]
        pad = abs(lo) * 0.05 or 0.5
        return [lo - pad, hi + pad], [sum(counts)]
    return edges, counts


def draw_histogram(fig: Figure, payload: dict[str, Any], theme: Theme) -> None:
    edges, counts = _bins(payload)
    bad = [(label, _count(payload, key)) for key, label in _NONFINITE]
    bad = [(label, n) for label, n in bad if n > 0]
    name = str(payload.get("name") or "")
    sampled = bool((payload.get("hist") or {}).get("sampled"))
    title = f"{name}  (sampled)" if sampled else name

    if sum(counts) == 0 and not bad:
        message_axes(
            fig, theme, title, "no values" if not payload.get("numel") else "no finite values"
        )
        return

    grid = fig.add_gridspec(1, 2, width_ratios=[6, 1.2 * len(bad)]) if bad else None
    ax = fig.add_subplot(grid[0, 0]) if grid is not None else fig.add_subplot()
    style_axes(ax, theme)
    # a narrow picture has no room for the legend beside the title: the title goes a row higher
    narrow = fig.get_figwidth() * fig.dpi < 760
    ax.set_title(title, loc="left", pad=theme.font_size * (1.9 if narrow else 0.4))
    log = payload.get("yscale") == "log"
    if sum(counts) > 0:
        edges, counts = drawn_bins(payload)
        ax.stairs(counts, edges, fill=True, color=theme.accent, alpha=0.85, label="count")
        _marks(ax, payload, theme)
        if log:
            ax.set_yscale("log")
    else:
        centre_note(ax, "no finite values", theme)
    ax.set_xlabel("value")
    ax.locator_params(nbins=6)

    if grid is not None:
        side = fig.add_subplot(grid[0, 1])
        style_axes(side, theme)
        labels = [label for label, _ in bad]
        side.bar(labels, [n for _, n in bad], color=theme.bad)
        for i, (_, n) in enumerate(bad):
            side.annotate(
                f"{n}",
                (i, n),
                ha="center",
                va="bottom",
                color=theme.bad,
                fontsize=theme.font_size * 0.85,
            )
        # its own y scale, no tick labels: ticks are most of matplotlib's drawing time
        side.yaxis.set_visible(False)
        side.set_ylim(0.5 if log else 0, max(n for _, n in bad) * 1.25)
        if log:
            side.set_yscale("log")
    # fixed margins in pixels, from the font size (tight_layout measures every text artist and
    # doubles the drawing time): the title and legend above the axes, tick labels and the axis
    # label below, tick labels on the left
    width_px, height_px = fig.get_figwidth() * fig.dpi, fig.get_figheight() * fig.dpi
    font_px = theme.font_size * fig.dpi / 72
    fig.subplots_adjust(
        left=min(0.25, (font_px * 4 + 16) / width_px),
        right=1 - 12 / width_px,
        bottom=min(0.35, (font_px * 2.6 + 10) / height_px),
        top=1 - min(0.35, (font_px * (3.0 if narrow else 1.7) + 10) / height_px),
        wspace=0.08,
    )


def _marks(ax: Any, payload: dict[str, Any], theme: Theme) -> None:
    lo, hi = payload.get("min"), payload.get("max")
    mean: Any = payload.get("mean")
    std: Any = payload.get("std")
    if is_number(mean) and is_number(std) and std > 0:
        ax.axvspan(mean - std, mean + std, color=theme.accent, alpha=0.12, label="μ ± σ")
    if is_number(mean):
        ax.axvline(mean, color=theme.foreground, linewidth=1.2, label=f"μ={mean:.3g}")
    for value, label in ((lo, "min"), (hi, "max")):
        if is_number(value):
            ax.axvline(
                value, color=theme.muted, linewidth=1, linestyle="--", label=f"{label}={value:.3g}"
            )
    # above the axes, right-aligned on the title's line: never over the bars
    legend = ax.legend(
        fontsize=theme.font_size * 0.75,
        frameon=False,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=5,
        borderaxespad=0.1,
        handlelength=1.2,
        columnspacing=1.0,
    )
    for text in legend.get_texts():
        text.set_color(theme.foreground)
