"""The rank parts of a merged multi-rank HTML report (``tensorpeek.report.merge``'s JSON):
the first-rank verdict, one row per rank, the findings and hits with a rank column, and one
gradient-norm chart per rank. ``report/html.py`` places them on its page.

Every string comes from files the ranks wrote (module paths, messages, host names, errors):
each is HTML-escaped; numbers are formatted from ints only.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

Chart = Callable[[dict[str, Any], str], str]  # (timeseries payload, alt text) -> <img> tag
MAX_ROWS = 200  # findings or hits listed at most


def _e(value: Any) -> str:
    return html.escape(str(value))


def _int(value: Any) -> str:
    return str(int(value)) if isinstance(value, int) and not isinstance(value, bool) else "—"


def _where(item: dict[str, Any]) -> str:
    name = item.get("module") or '"" (root)'
    return f"{name}.{item['param']}" if item.get("param") else str(name)


def _ranks_table(merged: dict[str, Any]) -> str:
    rows = [
        "<tr><th>rank</th><th>local rank</th><th>host</th><th>status</th><th>steps</th>"
        "<th>exit code</th><th>first bad event / error</th></tr>"
    ]
    for r in merged["ranks"]:
        status = r["status"]
        css = {"hit": "error", "crashed": "error", "stopped_by_peer": "warning"}.get(status, "ok")
        label = status
        if status == "stopped_by_peer" and r.get("stopped_by") is not None:
            label = f"stopped by rank {_int(r['stopped_by'])}"
        first = r.get("first_bad")
        if first:
            detail = f"step {_int(first['step'])}: <code>{_e(_where(first))}</code> " + _e(
                f"{first['site']} ({first['what']})"
            )
            if r.get("stopped_by") is not None and status == "hit":
                detail += f"; also stopped by rank {_int(r['stopped_by'])}"
        else:
            detail = f"<code>{_e(r['error'])}</code>" if r.get("error") else ""
        rows.append(
            f"<tr><td>{_int(r['rank'])}</td><td>{_int(r.get('local_rank'))}</td>"
            f"<td>{_e(r.get('host') or '—')}</td><td class='{css}'>{_e(label)}</td>"
            f"<td>{_int(r.get('steps'))}</td><td>{_int(r.get('exit_code'))}</td>"
            f"<td>{detail}</td></tr>"
        )
    return "<table class='ranks'>" + "".join(rows) + "</table>"


def _findings_table(merged: dict[str, Any]) -> str:
    findings = merged["findings"]
    if not findings:
        return '<p class="ok">No problems found on any rank.</p>'
    rows = [
        "<tr><th>rank</th><th>severity</th><th>step</th><th>kind</th><th>module</th>"
        "<th>site</th><th>message</th></tr>"
    ]
    for f in findings[:MAX_ROWS]:
        severity = f.get("severity")
        css = severity if severity in ("error", "warning") else ""
        rows.append(
            f"<tr><td>{_int(f.get('rank'))}</td><td class='{css}'>{_e(severity)}</td>"
            f"<td>{_int(f.get('step'))}</td><td>{_e(f.get('kind'))}</td>"
            f"<td><code>{_e(_where(f))}</code></td><td>{_e(f.get('site'))}</td>"
            f"<td>{_e(f.get('message'))}</td></tr>"
        )
    more = len(findings) - MAX_ROWS
    return (
        "<table>" + "".join(rows) + "</table>" + (f"<p>… and {more} more.</p>" if more > 0 else "")
    )


def _hits_table(merged: dict[str, Any]) -> str:
    rows = [
        "<tr><th>rank</th><th>step</th><th>module</th><th>site</th><th>condition</th>"
        "<th>origin</th></tr>"
    ]
    hits = merged["hits"]
    for h in hits[:MAX_ROWS]:
        rows.append(
            f"<tr><td>{_int(h.get('rank'))}</td><td>{_int(h.get('step'))}</td>"
            f"<td><code>{_e(_where(h))}</code></td><td>{_e(h.get('site'))}</td>"
            f"<td><code>{_e(h.get('condition'))}</code></td>"
            f"<td>{'origin' if h.get('origin') else 'propagated'}</td></tr>"
        )
    more = len(hits) - MAX_ROWS
    return (
        "<table>" + "".join(rows) + "</table>" + (f"<p>… and {more} more.</p>" if more > 0 else "")
    )


def rank_parts(merged: dict[str, Any], chart: Chart) -> list[str]:
    """The page's rank sections, verdict first; ``chart`` draws one gradient-norm chart."""
    bad = merged.get("first") is not None or any(r["status"] == "crashed" for r in merged["ranks"])
    parts = [
        f"<p class='verdict {'error' if bad else 'ok'}'>{_e(merged['verdict'])}</p>",
        f"<h2>Ranks ({_int(merged.get('world_size'))})</h2>",
        _ranks_table(merged),
    ]
    if merged.get("mode") == "doctor" or merged["findings"]:
        parts += ["<h2>Findings</h2>", _findings_table(merged)]
    if merged["hits"] and merged.get("mode") != "doctor":
        parts += ["<h2>Breakpoint hits</h2>", _hits_table(merged)]
    for r in merged["ranks"]:
        payload = r.get("gradient_norms")
        if payload:
            alt = f"rank {_int(r['rank'])}: gradient norm per layer over steps"
            parts += [
                f"<h2>Gradient norm per layer over steps, rank {_int(r['rank'])}</h2>",
                f"<figure>{chart(payload, alt)}</figure>",
            ]
    return parts
