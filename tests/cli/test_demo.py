"""``tensorpeek demo`` (the README's first command) catches its planted bug at the right layer
and step, then flags the NaN planted in a checkpoint; it checks itself and exits 0."""

from __future__ import annotations

import json

import pytest

from tensorpeek.cli.demo_scripts.planted_nan import BAD_STEP

pytestmark = pytest.mark.slow


def test_demo_catches_the_planted_bug_at_its_layer_and_step(cli, tmp_path):
    proc = cli("demo", "--out", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"doctor caught the planted bug at blocks.0.norm, step {BAD_STEP}" in proc.stdout
    assert "✗ blocks.1.proj.weight" in proc.stdout and "demo OK" in proc.stdout
    report = json.loads((tmp_path / "out" / "doctor-report.json").read_text())
    first = report["findings"][0]
    assert (first["kind"], first["module"], first["site"], first["step"]) == (
        "nonfinite", "blocks.0.norm", "output", BAD_STEP,
    )  # fmt: skip
    assert report["steps"] == BAD_STEP + 1
    page = (tmp_path / "out" / "doctor-report.html").read_text()
    assert "blocks.0.norm" in page and page.count("data:image/svg+xml;base64,") >= 2


def test_demo_script_runs_on_its_own_like_any_training_script(tmp_path):
    import subprocess
    import sys

    from tensorpeek.cli.demo import demo_script

    proc = subprocess.run(
        [sys.executable, str(demo_script()), "--steps", "15"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0
    assert "final loss nan" in proc.stdout, "without tensorpeek the NaN goes unnoticed"
