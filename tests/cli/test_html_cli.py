"""``--html`` end to end: ``doctor`` and ``run`` write the page themselves, drawing with
``tensorpeek.render`` (the language server's renderer), and it opens in headless Chromium."""

from __future__ import annotations

import json

import pytest
from cli_support import FIXTURES, run_cli
from test_html_report import needs_chromium, open_in_chromium

pytestmark = [pytest.mark.slow, needs_chromium]


def test_doctor_html_flag_writes_a_report_that_opens_with_all_images(tmp_path):
    page, data = tmp_path / "doctor.html", tmp_path / "doctor.json"
    proc = run_cli("doctor", FIXTURES / "dead_relu.py", "--html", page, "--report", data)
    assert proc.returncode == 0, proc.stderr
    result = open_in_chromium(page, tmp_path)
    assert result["errors"] == []
    alts = [i["alt"] for i in result["images"]]
    assert alts[0] == "gradient norm per layer over steps"
    assert "step 0 · dead · act1 output" in alts
    assert all(i["ok"] and i["w"] > 100 for i in result["images"]), result["images"]
    findings = json.loads(data.read_text())["findings"]
    for f in findings:  # every finding of the JSON is in the page
        assert f["message"] in result["text"]


def test_run_html_report_shows_the_hit_and_its_histogram(tmp_path):
    page = tmp_path / "run.html"
    proc = run_cli("run", "--html", page, FIXTURES / "data_nan.py")
    assert proc.returncode == 1
    result = open_in_chromium(page, tmp_path)
    assert result["errors"] == [] and "Breakpoint hits" in result["text"]
    assert [i["alt"] for i in result["images"]] == ['step 2 · nonfinite · "" (root) input']
    assert result["images"][0]["ok"]
