"""The HTML report (``--html``): one self-contained file with the findings, the training curves
(loss, learning rates, gradient norms, metrics; findings marked) and the graph of modules
(``training_svg``: inline SVG, no scripts), the per-layer gradient-norm chart over steps and
histograms of the offending tensors.

Pictures come from ``tensorpeek.render.render`` (the same renderer the language server uses)
and are inlined as ``data:`` URIs, so the file opens anywhere, offline, and several
matplotlib SVGs cannot clash over element ids. Every piece of text from the run (module paths,
messages, the script's error) is HTML-escaped; the page has no scripts.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tensorpeek.report.model import Report
from tensorpeek.report.training_svg import graph_svg, legend, training_charts

MAX_HISTOGRAMS = 12  # offending tensors drawn at most (first findings / hits first)
Draw = Callable[..., bytes]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1d1d1f}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}code{font:13px ui-monospace,monospace}
.error{color:#b00020;font-weight:600}.warning{color:#9a6700;font-weight:600}
.ok{color:#1a7f37;font-weight:600}figure{display:inline-block;margin:8px}
figcaption{font-size:12px;color:#555;max-width:960px}pre{background:#f6f8fa;padding:8px;
overflow-x:auto}
svg.curve{margin:4px 8px 4px 0}.legend{font-size:12px}.swatch{display:inline-block;width:10px;
height:10px;margin:0 4px 0 10px;border:1px solid #999}
"""


def _draw_default() -> Draw:
    from tensorpeek.render import render

    return render


def _img(
    draw: Draw, kind: str, payload: dict[str, Any], alt: str, width: int = 480, height: int = 300
) -> str:
    svg = draw(kind, payload, fmt="svg", width=width, height=height)
    data = base64.b64encode(svg).decode("ascii")
    return (
        f'<img class="chart" alt="{html.escape(alt)}" width="{width}" height="{height}" '
        f'src="data:image/svg+xml;base64,{data}">'
    )


def _chart_height(payload: dict[str, Any]) -> int:
    """The renderer draws one small panel per layer, three to a row: give each row room."""
    rows = -(-len(payload.get("series", [])) // 3)
    return min(max(300, 200 * rows), 4000)


def _e(value: Any) -> str:
    return html.escape(str(value))


def _where(module: str, param: str | None) -> str:
    name = module if module else '"" (root)'
    return f"{name}.{param}" if param else name


def _findings_table(report: Report) -> str:
    findings = report.sorted_findings()
    if not findings:
        return '<p class="ok">No problems found.</p>'
    rows = [
        "<tr><th>severity</th><th>step</th><th>kind</th><th>module</th><th>site</th>"
        "<th>message</th></tr>"
    ]
    for f in findings:
        count = f" <small>(×{f.count}, until step {f.last_step})</small>" if f.count > 1 else ""
        rows.append(
            f'<tr><td class="{_e(f.severity)}">{_e(f.severity)}</td><td>{f.step}</td>'
            f"<td>{_e(f.kind)}</td><td><code>{_e(_where(f.module, f.param))}</code></td>"
            f"<td>{_e(f.site)}</td><td>{_e(f.message)}{count}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _hits_table(report: Report) -> str:
    rows = [
        "<tr><th>#</th><th>step</th><th>module</th><th>site</th><th>condition</th>"
        "<th>origin</th></tr>"
    ]
    for h in report.hits[:50]:
        rows.append(
            f"<tr><td>{_e(h.get('breakpoint'))}</td><td>{_e(h['step'])}</td>"
            f"<td><code>{_e(_where(h['module'], h.get('param')))}</code></td>"
            f"<td>{_e(h['site'])}</td><td><code>{_e(h['condition'])}</code></td>"
            f"<td>{'origin' if h.get('origin') else 'propagated'}</td></tr>"
        )
    more = len(report.hits) - 50 + report.hits_dropped
    tail = f"<p>… and {more} more hit(s).</p>" if more > 0 else ""
    return "<table>" + "".join(rows) + "</table>" + tail


def _offending(report: Report) -> list[tuple[str, dict[str, Any]]]:
    """(caption, summary) of the tensors worth a histogram: findings first, else hits."""
    out: list[tuple[str, dict[str, Any]]] = []
    for f in report.sorted_findings():
        if f.summary and f.summary.get("numel"):
            out.append(
                (f"step {f.step} · {f.kind} · {_where(f.module, f.param)} {f.site}", f.summary)
            )
    if not out:
        for h in report.hits:
            s = h.get("summary")
            if s and s.get("numel"):
                where = _where(h["module"], h.get("param"))
                out.append((f"step {h['step']} · {h['condition']} · {where} {h['site']}", s))
    return out[:MAX_HISTOGRAMS]


def _training_parts(report: Report) -> list[str]:
    """The curves and the graph of modules, when the run captured them."""
    parts: list[str] = []
    charts = training_charts(report.scalars, [f.to_dict() for f in report.sorted_findings()])
    if charts:
        parts += [
            "<h2>Training curves</h2>",
            "<div>" + "".join(charts) + "</div>",
            "<p><small>Dashed lines: findings (hover for their message). Loss: the value"
            " <code>backward()</code> started from, per step.</small></p>",
        ]
    if report.graph and report.graph.get("nodes"):
        drawing = graph_svg(report.graph)
        if drawing:
            parts += [
                "<h2>Graph of modules</h2>",
                legend(),
                f'<div style="overflow-x:auto">{drawing}</div>',
                "<p><small>Traced from one forward pass; dashed edges: functional code between"
                " modules (a residual add, a view).</small></p>",
            ]
    return parts


def render_html(
    report: Report, draw: Draw | None = None, ranks: dict[str, Any] | None = None
) -> str:
    """The report page as a string (``draw`` is ``tensorpeek.render.render`` unless given);
    ``ranks``: a merged multi-rank report's JSON, whose rank parts replace the tables."""
    draw = draw or _draw_default()
    errors, warnings = len(report.errors), len(report.warnings)
    verdict_class = "error" if errors else ("warning" if warnings else "ok")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>tensorpeek {report.mode}: {_e(Path(report.script).name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>tensorpeek {report.mode}: <code>{_e(' '.join(report.command))}</code></h1>",
        f"<p>{report.steps} step(s), status <b>{_e(report.status)}</b>, exit code "
        f"{report.exit_code}. <span class='{verdict_class}'>{errors} error(s), "
        f"{warnings} warning(s)</span>.</p>",
    ]
    if report.stop_reason:
        parts.append(f"<p>Stopped: {_e(report.stop_reason)}</p>")
    if report.error:
        parts.append(f"<p class='error'>The script raised: <code>{_e(report.error)}</code></p>")
    if ranks is not None:  # verdict, ranks, findings and hits with a rank column, per-rank norms
        from tensorpeek.report.html_ranks import rank_parts

        def chart(payload: dict[str, Any], alt: str) -> str:
            return _img(draw, "timeseries", payload, alt, 960, _chart_height(payload))

        parts += rank_parts(ranks, chart)
    elif report.mode == "doctor" or report.findings:
        parts += ["<h2>Findings</h2>", _findings_table(report)]
    parts += _training_parts(report)
    if report.hits and report.mode != "doctor" and ranks is None:
        parts += ["<h2>Breakpoint hits</h2>", _hits_table(report)]
    if report.gradient_norms:
        parts += [
            "<h2>Gradient norm per layer over steps</h2>",
            "<figure>",
            _img(
                draw,
                "timeseries",
                report.gradient_norms,
                "gradient norm per layer over steps",
                width=960,
                height=_chart_height(report.gradient_norms),
            ),
            "<figcaption>Norm of each layer's parameter gradients at every optimizer step"
            " (gaps: non-finite).</figcaption></figure>",
        ]
    offending = _offending(report)
    if offending:
        parts.append("<h2>Offending tensors</h2>")
        for caption, summary in offending:
            payload = {**summary, "name": caption}
            parts.append(
                f"<figure>{_img(draw, 'histogram', payload, caption)}"
                f"<figcaption>{_e(caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(
    report: Report, path: Path, draw: Draw | None = None, ranks: dict[str, Any] | None = None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_html(report, draw, ranks), encoding="utf-8")
    tmp.replace(path)
