"""Writing a report to its JSON and HTML files."""

from __future__ import annotations

from pathlib import Path

from tensorpeek.report.model import Report


def write_reports(report: Report, json_path: Path | None, html_path: Path | None) -> None:
    """Write the JSON and/or HTML report and say where they went."""
    if json_path is not None:
        report.write_json(json_path)
        print(f"tensorpeek: report written to {json_path}", flush=True)
    if html_path is not None:
        from tensorpeek.report.html import write_html  # matplotlib: only when asked for

        write_html(report, html_path)
        print(f"tensorpeek: HTML report written to {html_path}", flush=True)
