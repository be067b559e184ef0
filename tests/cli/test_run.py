"""``tensorpeek run``: the script runs exactly as ``python SCRIPT ARGS`` would (checked against
a real ``python`` as the oracle), breakpoints fire with a readable report, and every error
is clear and exits non-zero."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import FIXTURES

pytestmark = pytest.mark.slow


def python_direct(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("args", [["3", "--flag", "x y"], ["0"], ["quit now"]])
def test_script_sees_what_python_would_show_it(cli, tmp_path, args):
    script = FIXTURES / "argv_echo.py"
    expected = python_direct(script, *args, cwd=tmp_path)
    got = cli("run", script, *args, cwd=tmp_path)
    assert json.loads(got.stdout.splitlines()[0]) == json.loads(expected.stdout)
    assert got.returncode == expected.returncode
    if args == ["quit now"]:  # sys.exit("text"): printed to stderr, exit code 1
        assert "quit now" in got.stderr and got.returncode == 1


def test_relative_script_path_and_trailing_script_options(cli, tmp_path):
    (tmp_path / "sub").mkdir()
    script = tmp_path / "sub" / "echo.py"
    script.write_text((FIXTURES / "argv_echo.py").read_text())
    got = cli("run", "sub/echo.py", "0", "--report", "r.json", "--", "--report", cwd=tmp_path)
    seen = json.loads(got.stdout.splitlines()[0])
    expected = python_direct(Path("sub/echo.py"), "0", "--report", cwd=tmp_path)
    assert seen == json.loads(expected.stdout)
    assert seen["argv"] == ["sub/echo.py", "0", "--report"]
    assert seen["path0"] == str(script.parent.resolve())
    assert (tmp_path / "r.json").exists(), "--report after SCRIPT is tensorpeek's"


def test_forward_nan_hit_prints_a_readable_report_and_stops(cli, tmp_path):
    report = tmp_path / "r.json"
    proc = cli(
        "run", "--break", "*:output:nonfinite", "--report", report, FIXTURES / "forward_nan_deep.py"
    )
    assert proc.returncode == 1, "a hit ends the run with --on-hit report (the default)"
    err = proc.stderr
    assert "hit at encoder.layers.2.whiten (Whiten) output at step 3" in err
    assert "condition: nonfinite (origin)" in err
    assert "NaN" in err and "█" in err, "the histogram shows the NaN count as a bar"
    assert "input 0: float32[8×16]" in err
    data = json.loads(report.read_text())
    assert data["status"] == "stopped" and data["findings"] == []
    hit = data["hits"][0]
    assert (hit["module"], hit["site"], hit["step"], hit["origin"]) == (
        "encoder.layers.2.whiten", "output", 3, True,
    )  # fmt: skip
    assert hit["summary"]["nan"] == 128
    assert "done" not in proc.stdout


def test_expression_breakpoint_on_gradients(cli):
    proc = cli(
        "run", "--break", "regressor:param_grad:absmax > 1000", FIXTURES / "exploding.py"
    )  # fmt: skip
    assert proc.returncode == 1
    assert "hit at regressor.weight (Linear) param_grad at step" in proc.stderr
    assert "condition: absmax > 1000" in proc.stderr


def test_on_hit_continue_runs_to_the_end_and_exits_like_the_script(cli, tmp_path):
    report = tmp_path / "r.json"
    proc = cli(
        "run", "--on-hit", "continue", "--report", report, FIXTURES / "forward_nan_deep.py"
    )  # fmt: skip
    assert proc.returncode == 0 and "done nan" in proc.stdout
    data = json.loads(report.read_text())
    assert data["status"] == "completed" and data["hits"][0]["step"] == 3


def test_on_hit_raise_raises_inside_the_script(cli):
    proc = cli("run", "--on-hit", "raise", FIXTURES / "forward_nan_deep.py")
    assert proc.returncode == 1
    assert "TensorBreakpointError" in proc.stderr
    assert "forward_nan_deep.py" in proc.stderr, "the traceback goes through the script"
    assert "at encoder.layers.2.whiten (Whiten) output" in proc.stderr


def test_on_hit_pdb_opens_pdb_in_the_hit_frame(cli):
    proc = cli(
        "run", "--on-hit", "pdb", FIXTURES / "forward_nan_deep.py", "--steps", "4",
        stdin="p hit.module, hit.step, int(tensor.isnan().sum())\ncontinue\n",
    )  # fmt: skip
    assert "('encoder.layers.2.whiten', 3, 128)" in proc.stdout
    assert proc.returncode == 0 and "done nan" in proc.stdout


def test_healthy_script_runs_unchanged(cli):
    proc = cli("run", FIXTURES / "healthy.py", "5")
    assert proc.returncode == 0 and "trained 5 steps" in proc.stdout
    assert "0 hit(s)" in proc.stderr


def test_script_that_raises_shows_its_traceback_and_still_writes_the_report(cli, tmp_path):
    report = tmp_path / "r.json"
    proc = cli("run", "--report", report, FIXTURES / "raises.py")
    assert proc.returncode == 1
    assert "ValueError: corrupt shard 7" in proc.stderr
    assert 'raises.py", line' in proc.stderr and "load_batch" in proc.stderr
    assert "run_script.py" not in proc.stderr and "tensorpeek/cli.py" not in proc.stderr
    data = json.loads(report.read_text())
    assert data["status"] == "failed" and data["error"] == "ValueError: corrupt shard 7"
    assert data["steps"] == 1


def test_doctor_on_a_script_that_raises_writes_the_report(cli, tmp_path):
    report = tmp_path / "r.json"
    proc = cli("doctor", FIXTURES / "raises.py", "--report", report)
    assert proc.returncode == 1 and "ValueError: corrupt shard 7" in proc.stderr
    assert json.loads(report.read_text())["status"] == "failed"


def test_missing_script_is_a_clear_error(cli, tmp_path):
    for command in ("run", "doctor"):
        proc = cli(command, tmp_path / "nope.py")
        assert proc.returncode == 2
        assert f"tensorpeek {command}: script not found:" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_bad_spec_says_what_is_valid_and_runs_nothing(cli, tmp_path):
    marker = tmp_path / "ran"
    script = tmp_path / "s.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    proc = cli("run", "--break", "fc:outptu:nonfinite", script)
    assert proc.returncode == 2
    assert "unknown site 'outptu'; valid sites: input, output, grad_input" in proc.stderr
    proc = cli("run", "--break", "fc:output:nromal > 3", script)
    assert proc.returncode == 2 and "unknown name 'nromal'" in proc.stderr
    assert "presets: nonfinite" in proc.stderr
    assert not marker.exists()


def test_bad_on_hit_and_max_steps_are_usage_errors(cli):
    proc = cli("run", "--on-hit", "explode", FIXTURES / "healthy.py")
    assert proc.returncode == 2 and "invalid choice: 'explode'" in proc.stderr
    proc = cli("doctor", FIXTURES / "healthy.py", "--max-steps", "0")
    assert proc.returncode == 2 and "expected a positive integer" in proc.stderr


def test_breakpoints_from_the_environment_are_ignored_with_a_note(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "TENSORPEEK_BREAKPOINTS": "*:output:absmax > -1"}  # would fire at once
    proc = subprocess.run(
        [sys.executable, "-m", "tensorpeek", "run", str(FIXTURES / "healthy.py"), "3"],
        env=env, capture_output=True, text=True, timeout=100,
    )  # fmt: skip
    assert proc.returncode == 0 and "trained 3 steps" in proc.stdout
    assert "ignoring TENSORPEEK_BREAKPOINTS" in proc.stderr
