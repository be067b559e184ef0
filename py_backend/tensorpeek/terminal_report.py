"""Plain-text reports for terminals: a breakpoint hit (where, why, a stats table, a Unicode
histogram, the inputs' summaries) and the list of ``doctor`` findings.

Everything here works on the JSON forms (``Hit.to_dict()``, summary dicts), so what the
terminal shows is exactly what the JSON report holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tensorpeek.report import Report

BAR_WIDTH = 40
HIST_ROWS = 12
_EIGHTHS = " ▏▎▍▌▋▊▉█"


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _bar(count: float, peak: float) -> str:
    if peak <= 0 or count <= 0:
        return ""
    eighths = max(1, round(count / peak * BAR_WIDTH * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def _merge(
    edges: Sequence[float], counts: Sequence[int], rows: int
) -> list[tuple[float, float, int]]:
    n = len(counts)
    if n == 0:
        return []
    group = max(1, -(-n // rows))  # ceil
    out = []
    for i in range(0, n, group):
        j = min(i + group, n)
        out.append((edges[i], edges[j], sum(counts[i:j])))
    return out


def histogram_lines(summary: dict[str, Any], rows: int = HIST_ROWS) -> list[str]:
    """A horizontal-bar histogram of the finite values, then the non-finite counts as bars of
    their own so NaN/Inf are never hidden."""
    hist = summary.get("hist") or {}
    bins = _merge(hist.get("edges") or [], hist.get("counts") or [], rows)
    special = [
        (label, summary.get(key) or 0)
        for key, label in (("nan", "NaN"), ("posinf", "+Inf"), ("neginf", "-Inf"))
    ]
    peak = max([c for _, _, c in bins] + [c for _, c in special] + [0])
    lines = []
    for lo, hi, c in bins:
        lines.append(f"  [{lo:>11.4g}, {hi:>11.4g}) {c:>9,} {_bar(c, peak)}")
    for label, c in special:
        if c:
            lines.append(f"  {label:>26} {c:>9,} {_bar(c, peak)}")
    if hist.get("sampled"):
        lines.append(f"  (histogram from a sample of {hist.get('sample_size'):,} values)")
    if not lines:
        lines.append("  (no values)")
    return lines


STAT_ROWS: tuple[tuple[str, ...], ...] = (
    ("shape", "dtype", "device", "numel"),
    ("nan", "posinf", "neginf", "zeros", "finite"),
    ("min", "max", "mean", "std"),
    ("norm", "absmean", "absmax", "saturated"),
)


def stats_table(summary: dict[str, Any]) -> list[str]:
    """Four aligned rows of ``name value`` pairs (absent names are skipped)."""
    lines = []
    for row in STAT_ROWS:
        cells = []
        for key in row:
            if key not in summary or (key == "saturated" and summary.get(key) is None):
                continue
            value = summary[key]
            text = "×".join(str(d) for d in value) if key == "shape" else _fmt(value)
            cells.append(f"{key:>8} {text:<14}")
        if cells:
            lines.append("  " + " ".join(cells).rstrip())
    return lines


def one_line(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "(no summary)"
    shape = "×".join(str(d) for d in summary.get("shape", []))
    parts = [f"{summary.get('dtype')}[{shape}]"]
    for key in ("nan", "posinf", "neginf"):
        if summary.get(key):
            parts.append(f"{key}={summary[key]}")
    for key in ("min", "max", "mean", "std", "norm"):
        v = summary.get(key)
        if isinstance(v, (int, float)):
            parts.append(f"{key}={v:.4g}")
    return " ".join(parts)


def format_hit(hit: dict[str, Any]) -> str:
    """The readable report printed when a breakpoint fires (from ``Hit.to_dict()``)."""
    spec = hit.get("spec") or {}
    spec_text = f"{spec.get('target')}:{spec.get('site')}:{spec.get('condition')}"
    module = hit["module"] if hit["module"] else '"" (root)'
    param = f"  param: {hit['param']}" if hit.get("param") else ""
    kind = "origin" if hit.get("origin") else "propagated"
    lines = [
        f"━━ tensorpeek: breakpoint #{hit.get('breakpoint')} '{spec_text}' hit",
        f"  module: {module} ({hit.get('module_class')}){param}",
        f"  site: {hit['site']}{'[' + hit['label'] + ']' if hit.get('label') else ''}"
        f"  step: {hit['step']}  condition: {hit['condition']} ({kind})",
    ]
    summary = hit.get("summary")
    if summary:
        lines.append("  tensor:")
        lines.extend("  " + line for line in stats_table(summary))
        lines.append("  histogram:")
        lines.extend("  " + line for line in histogram_lines(summary))
    for i, s in enumerate(hit.get("inputs") or []):
        lines.append(f"  input {i}: {one_line(s)}")
    return "\n".join(lines)


def format_findings(report: Report) -> str:
    """The summary ``doctor`` prints at the end: one line per finding, sorted by step."""
    findings = report.sorted_findings()
    errors, warnings = len(report.errors), len(report.warnings)
    head = (
        f"tensorpeek doctor: {report.steps} step(s), {report.status}: "
        f"{errors} error(s), {warnings} warning(s)"
    )
    lines = [head]
    for f in findings:
        site = f"{f.site}" + (f"[{f.param}]" if f.param else "")
        more = f" (seen {f.count}× until step {f.last_step})" if f.count > 1 else ""
        lines.append(
            f"  {f.severity.upper():7} step {f.step:<4} {f.kind:<9} {f.where} {site}{more}"
        )
        lines.append(f"          {f.message}")
    if not findings:
        lines.append("  no problems found")
    first = report.errors[0] if report.errors else None
    if first is not None and first.summary:
        lines.append(f"first error, {first.where} {first.site} at step {first.step}:")
        lines.extend(stats_table(first.summary))
        lines.extend(histogram_lines(first.summary))
    return "\n".join(lines)
