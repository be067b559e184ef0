"""``tensorpeek doctor`` on planted training problems (``scripts/planted_spike.py``): a
learning-rate jump at a known step gives a ``loss_spike`` at the next step naming the layer
that moved first (found independently from the script's own float64 update ratios), a plateau
gives ``stalled``, a learning rate of 0 a ``learning_rate`` finding, a healthy run none; the
report's curves hold the script's own ``loss.item()`` values bit for bit."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).parent / "scripts" / "planted_spike.py"
JUMP_STEP = 30
pytestmark = pytest.mark.slow


def doctor(tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if k != "TENSORPEEK_BREAKPOINTS"}
    done = subprocess.run(
        [sys.executable, "-m", "tensorpeek", "doctor", str(SCRIPT), *args, "--report", str(report)],
        capture_output=True,
        text=True,
        timeout=100,
        env=env,
        cwd=tmp_path,
    )
    assert report.exists(), done.stderr
    return json.loads(report.read_text()), done.stdout


def own_numbers(stdout: str) -> tuple[dict[int, float], dict[str, dict[int, float]]]:
    losses: dict[int, float] = {}
    ratios: dict[str, dict[int, float]] = {}
    for line in stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["loss"]:
            losses[int(parts[1])] = float(parts[2])
        elif parts[:1] == ["ratio"]:
            ratios.setdefault(parts[2], {})[int(parts[1])] = float(parts[3])
    return losses, ratios


def first_mover(ratios: dict[str, dict[int, float]], before: int) -> str:
    """Independently: the layer whose own update ratio grew the most, relative to its mean
    over the steps before, at the first step where any layer's grew tenfold."""
    for step in range(5, before + 1):
        growth = {
            layer: r[step] / statistics.fmean(r[s] for s in range(step))
            for layer, r in ratios.items()
        }
        if max(growth.values()) > 10:
            return max(growth, key=lambda layer: growth[layer])
    raise AssertionError("no layer moved in the script's own numbers")


def kinds(report: dict[str, Any]) -> list[str]:
    return [f["kind"] for f in report["findings"]]


def test_planted_lr_jump_is_a_loss_spike_naming_the_layer_that_moved_first(tmp_path) -> None:
    report, stdout = doctor(tmp_path)
    losses, ratios = own_numbers(stdout)
    spikes = [f for f in report["findings"] if f["kind"] == "loss_spike"]
    assert spikes, report["findings"]
    spike = spikes[0]
    assert spike["step"] == JUMP_STEP + 1  # the first loss computed with the jumped weights
    mover = first_mover(ratios, JUMP_STEP + 1)
    assert mover == "fc2"  # the script's plan, confirmed by its own numbers
    assert spike["module"] == mover
    assert f"first to jump: {mover} at step {JUMP_STEP}" in spike["message"]
    assert spike["severity"] == "warning"
    captured = report["scalars"]["loss"]
    assert [s for s, _ in captured] == sorted(losses)
    assert [v for _, v in captured] == [losses[s] for s in sorted(losses)]  # bit for bit
    assert "stalled" not in kinds(report)
    graph = report["graph"]
    assert [n["id"] for n in graph["nodes"]] == ["", "fc1", "act1", "fc2", "act2", "fc3"]


def test_a_plateau_is_stalled(tmp_path) -> None:
    report, stdout = doctor(tmp_path, "--plateau", "--steps", "100")
    losses, _ = own_numbers(stdout)
    stalled = [f for f in report["findings"] if f["kind"] == "stalled"]
    assert len(stalled) == 1
    since = stalled[0]["step"]
    assert since < 25  # the lr fell to 1e-9 after step 20; one cycle of batches later at most
    assert losses[since] <= min(losses.values()) * (1 + 1e-3)  # the script's own best
    assert stalled[0]["last_step"] == 99
    assert "loss_spike" not in kinds(report)


def test_a_learning_rate_of_zero_is_a_finding(tmp_path) -> None:
    report, _ = doctor(tmp_path, "--lr-zero", "--steps", "40")
    lr = [f for f in report["findings"] if f["kind"] == "learning_rate"]
    assert [(f["site"], f["step"], f["severity"]) for f in lr] == [("lr/2", 0, "warning")]
    assert report["scalars"]["lr/2"][:3] == [[0, 0.0], [1, 0.0], [2, 0.0]]


def test_a_healthy_run_has_no_training_findings(tmp_path) -> None:
    report, _ = doctor(tmp_path, "--healthy", "--steps", "100")
    assert report["findings"] == []
    assert len(report["scalars"]["loss"]) == 100
    assert set(report["scalars"]) >= {"loss", "lr", "lr/1", "lr/2", "grad_norm"}
