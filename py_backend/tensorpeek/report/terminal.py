"""The list of ``doctor`` findings as plain text for terminals.

It works on the report's JSON forms, so what the terminal shows is exactly what the JSON
report holds; a hit's own text is ``tensorpeek.engine.hit.hit_text``. Module paths, parameter
names and messages (which quote class names) come from user code and are printed through
``terminal_safe``.
"""

from __future__ import annotations

from tensorpeek.common.terminal_text import terminal_safe
from tensorpeek.report.model import Report
from tensorpeek.summary.text import histogram_lines, stats_table


def format_findings(report: Report) -> str:
    """The summary ``doctor`` prints at the end: one line per finding, sorted by step."""
    findings = report.sorted_findings()
    errors, warnings = len(report.errors), len(report.warnings)
    infos = f", {len(report.infos)} info" if report.infos else ""
    head = (
        f"tensorpeek doctor: {report.steps} step(s), {report.status}: "
        f"{errors} error(s), {warnings} warning(s){infos}"
    )
    lines = [head]
    for f in findings:
        site = terminal_safe(f"{f.site}" + (f"[{f.param}]" if f.param else ""))
        more = f" (seen {f.count}× until step {f.last_step})" if f.count > 1 else ""
        where = terminal_safe(f.where)
        lines.append(f"  {f.severity.upper():7} step {f.step:<4} {f.kind:<9} {where} {site}{more}")
        lines.append(f"          {terminal_safe(f.message)}")
    if not findings:
        lines.append("  no problems found")
    first = report.errors[0] if report.errors else None
    if first is not None and first.summary:
        where = terminal_safe(f"{first.where} {first.site}")
        lines.append(f"first error, {where} at step {first.step}:")
        lines.extend(stats_table(first.summary))
        lines.extend(histogram_lines(first.summary))
    return "\n".join(lines)
