"""``tensorpeek doctor`` on training scripts with planted bugs, checked through the JSON report
(DESIGN.md's contract): the first finding names the planted module, site and step."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import FIXTURES

pytestmark = pytest.mark.slow

CONTRACT_KEYS = {"version", "script", "steps", "status", "hits", "findings"}
FINDING_KEYS = {"kind", "module", "site", "step", "severity", "message", "summary"}


def check_contract(report: dict) -> None:
    assert set(report) >= CONTRACT_KEYS
    assert report["version"] == 1
    steps = [f["step"] for f in report["findings"]]
    assert steps == sorted(steps), "findings are sorted by step"
    for f in report["findings"]:
        assert set(f) >= FINDING_KEYS
        assert f["kind"] in {
            "nonfinite",
            "exploding",
            "vanishing",
            "dead",
            "saturated",
            "no_gradient",
            "loss_spike",  # the training curves' findings (issue 17)
            "stalled",
            "learning_rate",
        }
        assert f["severity"] in {"error", "warning", "info"}
        assert f["message"] and "\n" not in f["message"]


@pytest.mark.parametrize(
    ("fixture", "kind", "module", "site", "step"),
    [
        ("forward_nan_deep.py", "nonfinite", "encoder.layers.2.whiten", "output", 3),
        ("data_nan.py", "nonfinite", "", "input", 2),
        ("backward_inf.py", "nonfinite", "magnitude", "grad_input", 2),
        ("fp16_overflow.py", "saturated", "scores", "output", 2),
    ],
)
def test_doctor_names_the_nonfinite_origin(doctor, fixture, kind, module, site, step):
    proc, report = doctor(fixture)
    check_contract(report)
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert len(errors) == 1, report["findings"]  # what follows the origin is not reported again
    first = errors[0]
    assert (first["kind"], first["module"], first["site"], first["step"]) == (
        kind, module, site, step,
    )  # fmt: skip
    assert first["summary"]["nan"] + first["summary"]["posinf"] + first["summary"]["neginf"] > 0
    assert proc.returncode == 1, "an error finding fails the command"
    assert report["status"] == "stopped" and report["steps"] == step + 1
    assert f"step {step}" in proc.stdout


def test_fp16_overflow_is_reported_as_saturation_with_its_dtype(doctor):
    _, report = doctor("fp16_overflow.py")
    first = report["findings"][0]
    assert first["summary"]["dtype"] == "float16"
    assert first["summary"]["posinf"] > 0 and first["summary"]["nan"] == 0
    assert "float16 overflow" in first["message"]


def test_an_infinite_weight_under_autocast_is_named_as_the_cause_not_an_overflow(doctor):
    """±Inf without NaN in a bfloat16 output looks like an overflow; with the module's own
    weight already infinite it is that weight (the oracle: the fixture writes +Inf into
    ``2.weight[3, 5]`` before step 2)."""
    _, report = doctor("inf_weight_autocast.py")
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert len(errors) == 1, report["findings"]
    first = errors[0]
    assert (first["kind"], first["module"], first["site"], first["step"]) == (
        "nonfinite", "2", "output", 2,
    )  # fmt: skip
    assert first["summary"]["dtype"] == "bfloat16" and first["summary"]["nan"] == 0
    assert "its own parameter weight holds +Inf×1; its inputs were finite" in first["message"]
    assert "overflow" not in first["message"]


def test_exploding_gradients_are_found_long_before_they_turn_into_inf(doctor):
    _proc, report = doctor("exploding.py")
    check_contract(report)
    exploding = [f for f in report["findings"] if f["kind"] == "exploding"]
    nonfinite = [f for f in report["findings"] if f["kind"] == "nonfinite"]
    assert {(f["module"], f["site"], f["param"]) for f in exploding} == {
        ("regressor", "param_grad", "weight"),
        ("regressor", "param_grad", "bias"),
    }
    assert nonfinite, "the divergence does reach Inf later in this run"
    first_exploding = min(f["step"] for f in exploding)
    assert first_exploding + 50 < nonfinite[0]["step"]
    # at the warning the gradient was still finite
    weight = next(f for f in exploding if f["param"] == "weight")
    assert weight["summary"]["nan"] == weight["summary"]["posinf"] == 0


def test_dead_relu_is_reported_at_the_activation(doctor):
    proc, report = doctor("dead_relu.py")
    check_contract(report)
    dead = [f for f in report["findings"] if f["kind"] == "dead"]
    assert [(f["module"], f["site"], f["step"]) for f in dead] == [("act1", "output", 0)]
    assert dead[0]["summary"]["zeros"] == dead[0]["summary"]["numel"]
    assert dead[0]["count"] == 5, "seen at each of the 5 steps, reported once"
    assert proc.returncode == 0, "warnings only"
    assert report["status"] == "completed"


def test_vanishing_gradients_reach_the_first_layer(doctor):
    _, report = doctor("vanishing.py")
    check_contract(report)
    vanishing = {(f["module"], f["param"]) for f in report["findings"] if f["kind"] == "vanishing"}
    assert ("0", "weight") in vanishing
    first = next(f for f in report["findings"] if (f["module"], f["param"]) == ("0", "weight"))
    assert first["step"] == 0 and first["site"] == "param_grad"
    assert first["summary"]["norm"] < 1e-7
    assert not [f for f in report["findings"] if f["severity"] == "error"]


def test_healthy_run_reports_no_findings_and_records_gradient_norms(doctor):
    proc, report = doctor("healthy.py", "12")
    check_contract(report)
    assert report["findings"] == [] and report["hits"] == []
    assert proc.returncode == 0 and report["status"] == "completed" and report["steps"] == 12
    assert "trained 12 steps" in proc.stdout, "the script's own output and argv are intact"
    series = {s["module"]: s for s in report["gradient_norms"]["series"]}
    assert set(series) == {"0", "1", "3", "5"}  # every layer with parameters
    assert series["0"]["steps"] == list(range(12))
    assert all(v is not None and v > 0 for v in series["0"]["values"])


def test_attention_key_bias_is_an_info_finding_not_vanishing(doctor):
    proc, report = doctor("attention_key_bias.py")
    check_contract(report)
    assert proc.returncode == 0 and report["status"] == "completed", proc.stderr
    kinds = [(f["kind"], f["severity"], f["module"], f["param"]) for f in report["findings"]]
    assert kinds == [("no_gradient", "info", "attn.key", "bias")]
    assert "receives no gradient" in report["findings"][0]["message"]
    assert "0 error(s), 0 warning(s), 1 info" in proc.stdout
    # the chart shows the norms before clip_grad_norm_(max_norm=1.0), as the findings do
    series = {s["module"]: s for s in report["gradient_norms"]["series"]}
    assert set(series) == {"attn.query", "attn.key", "attn.value", "head"}


def test_max_steps_stops_the_script_cleanly(doctor):
    proc, report = doctor("healthy.py", "50", "--max-steps", "4")
    assert proc.returncode == 0, proc.stderr
    assert report["status"] == "stopped" and report["steps"] == 4
    assert "--max-steps 4" in report["stop_reason"]
    assert "trained" not in proc.stdout, "the script did not run on"


def test_keep_going_runs_past_the_first_error(doctor):
    _, report = doctor("data_nan.py", "--keep-going")
    assert report["status"] == "completed" and report["steps"] == 6
    assert report["findings"][0]["module"] == "" and report["findings"][0]["step"] == 2


def test_progress_line_is_shown_on_a_terminal(tmp_path: Path):
    main, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tensorpeek", "doctor", str(FIXTURES / "healthy.py"), "5"],
        stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=100)
    os.close(main)
    text = b"".join(chunks).decode()
    assert "tensorpeek doctor: step 1 · 0 error(s) · 0 warning(s)" in text
    assert proc.returncode == 0
