"""The HTML report's training pictures as inline SVG written here, in Python: the captured curves
(loss with its findings marked, learning rates, gradient norms, logged metrics, update ratios)
and the module graph in the layered layout the panel uses (``render.graph``), nodes coloured by
health. No scripts, no external files; every string from the run (series names, module paths,
class names, messages) is escaped, in text and in attributes alike.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

from tensorpeek.common.numbers import format_number
from tensorpeek.render.errors import RenderError
from tensorpeek.render.graph import layout_graph

W, H = 460, 190  # one chart
LEFT, RIGHT, TOP, BOTTOM = 56, 10, 22, 24
PALETTE = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#e16f24", "#6e7781")
HEALTH_COLOURS = {
    "origin": "#d1242f",
    "propagated": "#ff8182",
    "dead": "#6e7781",
    "vanishing": "#a475f9",
    "healthy": "#4ac26b",
    "unknown": "#d0d7de",
}
LOG_RANGE = 100.0  # a chart whose positive values span more than this is drawn in log scale
MAX_LINES = 8  # series drawn in one chart (update ratios: the first ones by name)
SEVERITY_COLOURS = {"error": "#d1242f", "warning": "#bf8700", "info": "#6e7781"}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _float(v: Any) -> float:
    if isinstance(v, str):
        return float(v) if v in ("nan", "inf", "-inf") else math.nan
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def chart_groups(scalars: Mapping[str, list[list[Any]]]) -> list[tuple[str, list[str]]]:
    """(title, series names) of each chart, loss first."""
    names = list(scalars)
    groups: list[tuple[str, list[str]]] = []

    def take(title: str, chosen: list[str]) -> None:
        if chosen:
            groups.append((title, chosen[:MAX_LINES]))
        for n in chosen:
            names.remove(n)

    take("loss", [n for n in names if n == "loss" or n.endswith("/loss")])
    take("learning rate", [n for n in names if n == "lr" or n.startswith("lr/") or "/lr" in n])
    take("gradient norm", [n for n in names if "grad_norm" in n])
    take("update ratio ‖Δw‖/‖w‖", [n for n in names if "update_ratio/" in n])
    for n in list(names):
        take(n, [n])
    return groups


def curves_svg(
    title: str, series: Mapping[str, list[list[Any]]], marks: list[dict[str, Any]]
) -> str:
    """One chart: each series a polyline (gaps at non-finite values), ``marks`` (findings:
    ``step``, ``severity``, ``message``) as vertical lines with their message as a tooltip."""
    points = {name: [(int(s), _float(v)) for s, v in pts] for name, pts in series.items() if pts}
    finite = [v for pts in points.values() for _, v in pts if math.isfinite(v)]
    steps = [s for pts in points.values() for s, _ in pts] + [m["step"] for m in marks]
    if not finite or not steps:
        return ""
    lo, hi = min(finite), max(finite)
    log = lo > 0 and hi / lo > LOG_RANGE  # a spike of 1000x would flatten the rest of the curve
    if log:
        title = f"{title} (log scale)"
    if hi == lo:
        lo, hi = lo - (abs(lo) or 1) * 0.5, hi + (abs(hi) or 1) * 0.5
    s0, s1 = min(steps), max(steps)
    if s1 == s0:
        s1 = s0 + 1
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(step: float) -> float:
        return LEFT + (step - s0) / (s1 - s0) * pw

    def y(v: float) -> float:
        if log:
            return TOP + (math.log10(hi) - math.log10(v)) / (math.log10(hi) - math.log10(lo)) * ph
        return TOP + (hi - v) / (hi - lo) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="curve" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img" aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fff" stroke="#d0d7de"/>',
        f'<text x="{LEFT}" y="14" font-size="12" font-weight="600">{_e(title)}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + 9}" font-size="10" text-anchor="end">'
        f"{_e(format_number(hi))}</text>",
        f'<text x="{LEFT - 4}" y="{TOP + ph}" font-size="10" text-anchor="end">'
        f"{_e(format_number(lo))}</text>",
        f'<text x="{LEFT}" y="{H - 8}" font-size="10">step {s0}</text>',
        f'<text x="{LEFT + pw}" y="{H - 8}" font-size="10" text-anchor="end">step {s1}</text>',
    ]
    for mark in marks:
        colour = SEVERITY_COLOURS.get(str(mark.get("severity")), "#6e7781")
        mx = x(mark["step"])
        out.append(
            f'<line class="mark" x1="{mx:.1f}" x2="{mx:.1f}" y1="{TOP}" y2="{TOP + ph}" '
            f'stroke="{colour}" stroke-dasharray="4 3"><title>{_e(mark.get("message", ""))}'
            "</title></line>"
        )
    for i, (name, pts) in enumerate(points.items()):
        colour = PALETTE[i % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for s, v in pts:
            if math.isfinite(v):
                runs[-1].append(f"{x(s):.1f},{y(v):.1f}")
            elif runs[-1]:
                runs.append([])
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="1.5" fill="{colour}"/>')
            elif run:
                out.append(
                    f'<polyline class="series" data-series="{_e(name)}" fill="none" '
                    f'stroke="{colour}" stroke-width="1.3" points="{" ".join(run)}">'
                    f"<title>{_e(name)}</title></polyline>"
                )
        if len(points) > 1:
            out.append(
                f'<text x="{LEFT + pw - 4}" y="{TOP + 12 + 12 * i}" font-size="10" '
                f'text-anchor="end" fill="{colour}">{_e(name)}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def training_charts(
    scalars: Mapping[str, list[list[Any]]], findings: list[dict[str, Any]]
) -> list[str]:
    """Every chart of the report; loss-chart marks are the training findings (spikes,
    plateaus), learning-rate marks the learning-rate findings."""
    charts = []
    for title, names in chart_groups(scalars):
        if title == "loss":
            marks = [f for f in findings if f["kind"] in ("loss_spike", "stalled")]
        elif title == "learning rate":
            marks = [f for f in findings if f["kind"] == "learning_rate"]
        else:
            marks = []
        svg = curves_svg(title, {n: scalars[n] for n in names}, marks)
        if svg:
            charts.append(svg)
    return charts


def graph_svg(graph: Mapping[str, Any]) -> str:
    """The module graph, laid out by ``render.graph``; empty when it cannot be laid out."""
    try:
        layout = layout_graph(graph)
    except RenderError:
        return ""
    nodes = {n["id"]: n for n in graph.get("nodes", [])}
    width, height = layout["width"], layout["height"]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="the graph of modules">',
        '<defs><marker id="tp-arrow" viewBox="0 0 8 8" refX="8" refY="4" '
        'markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" '
        'fill="#57606a"/></marker></defs>',
    ]
    kinds = {(e["source"], e["target"]): e for e in graph.get("edges", [])}
    for edge in layout["edges"]:
        info = kinds.get((edge["source"], edge["target"]), {})
        dash = ' stroke-dasharray="5 3"' if info.get("kind") == "functional" else ""
        pts = " ".join(f"{px},{py}" for px, py in edge["points"])
        label = info.get("label") or info.get("kind") or ""
        out.append(
            f'<polyline class="edge" fill="none" stroke="#57606a" stroke-width="1.2"{dash} '
            f'marker-end="url(#tp-arrow)" points="{pts}"><title>{_e(edge["source"] or "input")} '
            f"→ {_e(edge['target'])} ({_e(label)})</title></polyline>"
        )
    for box in layout["nodes"]:
        node = nodes[box["id"]]
        health = str(node.get("health", "unknown"))
        fill = HEALTH_COLOURS.get(health, HEALTH_COLOURS["unknown"])
        label = node.get("label") or box["id"] or "input"
        out.append(
            f'<g class="node" data-health="{_e(health)}"><title>{_e(box["id"] or "input")} '
            f"({_e(node.get('type', ''))}): {_e(health)}</title>"
            f'<rect x="{box["x"]}" y="{box["y"]}" width="{box["w"]}" height="{box["h"]}" '
            f'rx="4" fill="{fill}" stroke="#24292f" stroke-width="0.8"/>'
            f'<text x="{box["x"] + box["w"] / 2}" y="{box["y"] + box["h"] / 2 + 4}" '
            f'font-size="12" font-family="ui-monospace,monospace" text-anchor="middle">'
            f"{_e(label)}</text></g>"
        )
    out.append("</svg>")
    return "".join(out)


def legend() -> str:
    items = "".join(
        f'<span class="swatch" style="background:{colour}"></span>{_e(name)} '
        for name, colour in HEALTH_COLOURS.items()
    )
    return f'<p class="legend">{items}</p>'
