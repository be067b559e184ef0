"""The HTML report opens in headless Chromium without errors, shows every image (decoded,
non-empty, drawn by ``tensorpeek.render``), holds the findings, and keeps text from the run as
text (escaped)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_support import FIXTURES, run_cli

from tensorpeek.report.html import render_html, write_html
from tensorpeek.report.model import Report

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="/usr/bin/chromium is absent (apt-get install chromium)"
)

_CHECK = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const r = {
    images: imgs.map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0,
                           w: i.naturalWidth, h: i.naturalHeight})),
    errors: window.__errors,
    text: document.body.innerText,
    bold: document.querySelectorAll('b.injected').length,
  };
  const pre = document.createElement('pre');
  pre.id = 'tp-result';
  pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
});
</script>"""


def open_in_chromium(page: Path, tmp_path: Path) -> dict[str, Any]:
    """Load a copy of ``page`` with a checker script in headless Chromium; its findings."""
    probe = tmp_path / f"probe-{page.name}"
    probe.write_text(page.read_text().replace("</body>", _CHECK + "</body>"))
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    m = re.search(r'<pre id="tp-result">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"no result from chromium\n{proc.stderr[-2000:]}"
    return json.loads(html.unescape(m.group(1)))


@needs_chromium
def test_doctor_html_report_shows_findings_chart_and_histograms(tmp_path):
    report_json = tmp_path / "r.json"
    proc = run_cli("doctor", FIXTURES / "forward_nan_deep.py", "--report", report_json)
    assert proc.returncode == 1
    report = Report.from_dict(json.loads(report_json.read_text()))
    page = tmp_path / "report.html"
    write_html(report, page)
    result = open_in_chromium(page, tmp_path)
    assert result["errors"] == []
    alts = [i["alt"] for i in result["images"]]
    assert alts[0] == "gradient norm per layer over steps"
    assert any("encoder.layers.2.whiten output" in a for a in alts)
    assert all(i["ok"] and i["w"] > 100 and i["h"] > 100 for i in result["images"]), result
    assert "encoder.layers.2.whiten" in result["text"] and "1 error(s)" in result["text"]
    assert "http" not in page.read_text().replace("http://www.w3.org", ""), "self-contained"


@needs_chromium
def test_text_from_the_run_is_escaped(tmp_path):
    evil = '<b class="injected">x</b><img src=nope onerror=alert(1)>'
    report = Report(script="train.py", mode="doctor", command=["train.py", evil], steps=1,
                    status="failed", error=f"ValueError: {evil}")  # fmt: skip
    page = tmp_path / "evil.html"
    write_html(report, page)
    result = open_in_chromium(page, tmp_path)
    assert result["bold"] == 0 and result["images"] == [] and result["errors"] == []
    assert evil in result["text"]


def test_healthy_report_says_so_and_draws_only_the_chart():
    report = Report(script="t.py", mode="doctor", command=["t.py"], steps=3,
                    gradient_norms={"metric": "norm", "series": [
                        {"module": "fc", "site": "param_grad", "steps": [0, 1, 2],
                         "values": [1.0, None, 0.5]}]})  # fmt: skip
    page = render_html(report)
    assert "No problems found." in page
    assert page.count("<img ") == 1 and "data:image/svg+xml;base64," in page
