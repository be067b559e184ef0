"""Per-layer pictures: one bar per module for a statistic (log scale; vanishing, exploding
and non-finite layers highlighted) and small multiples of a statistic over steps."""

from __future__ import annotations

import math
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from tensorpeek.render.canvas import finite_or_none, message_axes, style_axes
from tensorpeek.render.errors import RenderError
from tensorpeek.render.theme import Theme

FLAGS = (None, "nonfinite", "exploding", "vanishing", "dead", "saturated")
_MAX_PANELS = 12


def draw_layers(fig: Figure, payload: dict[str, Any], theme: Theme) -> None:
    layers = payload.get("layers")
    if not isinstance(layers, list):
        raise RenderError("layers payload: 'layers' must be a list of {module, value, flag}")
    metric = str(payload.get("metric") or "norm")
    site = str(payload.get("site") or "")
    title = f"{metric} of {site}" if site else metric
    if not layers:
        message_axes(fig, theme, title, "no layers recorded yet")
        return
    names, values, colours = [], [], []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or "module" not in layer:
            raise RenderError(f"layers payload: layer {i} needs 'module'")
        flag = layer.get("flag")
        if flag not in FLAGS:
            raise RenderError(f"layers payload: layer {i} flag {flag!r}; valid: {FLAGS}")
        (value,) = finite_or_none([layer.get("value")])
        names.append(str(layer["module"]) or "(root)")
        values.append(value)
        colours.append(
            theme.bad
            if flag in ("nonfinite", "exploding")
            else theme.warn
            if flag is not None
            else theme.accent
        )
    ax = fig.add_subplot()
    style_axes(ax, theme)
    ax.set_title(title, loc="left")
    positive = [v for v in values if v is not None and v > 0]
    floor = min(positive) / 10 if positive else 1e-12
    heights = [v if v is not None and v > 0 else floor for v in values]
    bars = ax.barh(range(len(names)), heights, color=colours)
    for bar, value in zip(bars, values, strict=True):
        if value is None:  # non-finite: a hatched stub, labelled, so it never reads as small
            bar.set_hatch("//")
            bar.set_edgecolor(theme.bad)
            ax.annotate(
                "NaN/Inf",
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                color=theme.bad,
                fontsize=theme.font_size * 0.8,
            )
    ax.set_yticks(range(len(names)), names, fontsize=theme.font_size * 0.8)
    ax.invert_yaxis()
    if positive:
        ax.set_xscale("log")
    ax.set_xlabel(metric)
    fig.tight_layout(pad=0.4)


def fit_text(text: str, chars: int) -> str:
    """``text`` shortened in the middle to at most ``chars`` characters (module paths keep
    their start and their last part: ``encoder.layers.11.attn`` -> ``encoder.…11.attn``)."""
    if len(text) <= chars or chars < 5:
        return text
    keep = chars - 1
    return text[: keep // 2] + "…" + text[len(text) - (keep - keep // 2) :]


def draw_timeseries(fig: Figure, payload: dict[str, Any], theme: Theme) -> None:
    series = payload.get("series")
    if not isinstance(series, list):
        raise RenderError(
            "timeseries payload: 'series' must be a list of {module, site, steps, values}"
        )
    metric = str(payload.get("metric") or "norm")
    if not series:
        message_axes(fig, theme, metric, "no history recorded yet")
        return
    shown = series[:_MAX_PANELS]
    width_px = fig.get_figwidth() * fig.dpi
    cols = max(1, min(len(shown), 3, int(width_px // 220)))  # at least ~220 px per panel
    rows = math.ceil(len(shown) / cols)
    # a title character is about 0.8 em wide; tick labels take ~70 px of each panel
    panel_chars = int((width_px / cols - 80) / (theme.font_size * 0.85))
    for i, s in enumerate(shown):
        if not isinstance(s, dict) or not isinstance(s.get("steps"), list):
            raise RenderError(f"timeseries payload: series {i} needs 'steps' and 'values' lists")
        steps, values = s["steps"], s.get("values")
        if not isinstance(values, list) or len(values) != len(steps):
            raise RenderError(
                f"timeseries payload: series {i} has {len(steps)} steps but values differ"
            )
        ax = fig.add_subplot(rows, cols, i + 1)
        style_axes(ax, theme)
        title = f"{s.get('module') or '(root)'} {s.get('site', '')}".strip()
        ax.set_title(fit_text(title, panel_chars), loc="left")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))  # steps are integers
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
        finite = finite_or_none(values)
        ys = [math.nan if v is None else v for v in finite]
        ax.plot(
            steps, ys, color=theme.accent, linewidth=1.2, marker="." if len(steps) < 30 else None
        )
        bad_steps = [st for st, v in zip(steps, finite, strict=True) if v is None]
        for st in bad_steps:  # a step whose value was non-finite: a red mark at the axis
            ax.axvline(st, color=theme.bad, linewidth=1, alpha=0.7)
        if any(v is not None and v > 0 for v in finite) and all(v is None or v > 0 for v in finite):
            ax.set_yscale("log")
            plain = FuncFormatter(lambda v, _pos: f"{v:.3g}")  # 3, not 3×10⁰
            ax.yaxis.set_major_formatter(plain)
            positive = [v for v in finite if v is not None and v > 0]
            if max(positive) < 10 * min(positive):
                # within one decade there may be no major tick: label 2× and 5× minors only
                ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
                ax.yaxis.set_minor_formatter(plain)
            else:  # several decades: every minor labelled would be a pile of overlapping text
                ax.yaxis.set_minor_formatter(NullFormatter())
    if len(series) > _MAX_PANELS:
        fig.suptitle(
            f"{metric}: first {_MAX_PANELS} of {len(series)} series",
            color=theme.foreground,
            fontsize=theme.font_size,
        )
    fig.tight_layout(pad=0.3)
