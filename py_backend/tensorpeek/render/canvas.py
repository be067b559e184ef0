"""Figures with the object API (never pyplot: no global state, safe across threads), styled
per artist from the theme, and their bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tensorpeek.render.theme import Theme

DPI = 100


def new_figure(width: int, height: int, theme: Theme) -> Figure:
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor=theme.background)
    FigureCanvasAgg(fig)
    return fig


def style_axes(ax: Axes, theme: Theme) -> None:
    ax.set_facecolor(theme.background)
    for spine in ax.spines.values():
        spine.set_color(theme.muted)
    ax.tick_params(colors=theme.foreground, labelsize=theme.font_size * 0.85)
    ax.xaxis.label.set_color(theme.foreground)
    ax.yaxis.label.set_color(theme.foreground)
    ax.xaxis.label.set_fontsize(theme.font_size)
    ax.yaxis.label.set_fontsize(theme.font_size)
    ax.title.set_color(theme.foreground)
    ax.title.set_fontsize(theme.font_size)


def centre_note(ax: Axes, text: str, theme: Theme, colour: Any = None) -> None:
    """A short note in the middle of an axes (e.g. "no finite values")."""
    ax.text(
        0.5,
        0.5,
        text,
        ha="center",
        va="center",
        transform=ax.transAxes,
        color=colour or theme.foreground,
        fontsize=theme.font_size,
    )


def message_axes(fig: Figure, theme: Theme, title: str, message: str) -> None:
    """A readable picture for data with nothing to plot (empty, all non-finite)."""
    ax = fig.add_subplot()
    style_axes(ax, theme)
    ax.set_axis_off()
    ax.set_title(title)
    centre_note(ax, message, theme)


def to_bytes(fig: Figure, fmt: str, pixel_ratio: float = 1.0) -> bytes:
    """The figure's bytes. A pixel ratio above 1 raises the saving resolution only: the layout
    (drawn at ``DPI``) stays the same, a PNG gets that many more pixels per side and an SVG's
    embedded images too (its own size, in points, does not change)."""
    buf = io.BytesIO()
    # no date or software stamps: the same input gives the same bytes (cacheable, testable)
    metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(
        buf,
        format=fmt,
        dpi=DPI * pixel_ratio,
        facecolor=fig.get_facecolor(),
        metadata=metadata,
    )
    return buf.getvalue()


def finite_or_none(values: Sequence[Any]) -> list[float | None]:
    """Payload numbers (null, numbers or the strings "nan"/"inf"/"-inf") as floats, None
    where there is no finite value."""
    out: list[float | None] = []
    for v in values:
        out.append(float(v) if is_number(v) and abs(float(v)) != float("inf") else None)
    return out


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
