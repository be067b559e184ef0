"""``tensorpeek run|doctor --nproc-per-node N``: bad input gets a clear message, exit code 2 and
launches nothing; torchrun's own options are told apart from tensorpeek's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tensorpeek.cli.launch import LaunchUsageError, child_argv, split_torchrun_options
from tensorpeek.cli.main import _TRAILING, build_parser

MARKER_SCRIPT = "from pathlib import Path\nPath(__file__).with_suffix('.ran').write_text('ran')\n"


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TENSORPEEK_BREAKPOINTS"}
    return subprocess.run(
        [sys.executable, "-m", "tensorpeek", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["doctor", "--nproc-per-node", "0"], "expected a positive integer, got 0"),
        (["run", "--nproc-per-node", "two"], "expected a positive integer, got 'two'"),
        (["doctor", "--nproc_per_node=-3"], "expected a positive integer, got -3"),
        (["doctor", "--nproc-per-node", "2", "--module"], "--module cannot be used"),
    ],
)
def test_bad_nproc_is_refused_before_anything_runs(tmp_path, args, message):
    script = tmp_path / "train.py"
    script.write_text(MARKER_SCRIPT)
    got = _cli(*args, script, cwd=tmp_path)
    assert got.returncode == 2, got.stderr
    assert message in got.stderr
    assert not script.with_suffix(".ran").exists()  # nothing launched
    assert "torch/distributed/run.py" not in got.stderr  # torchrun never started


@pytest.mark.slow
def test_a_missing_script_is_refused_before_launching(tmp_path):
    got = _cli("doctor", "--nproc-per-node", "2", tmp_path / "nope.py", cwd=tmp_path)
    assert got.returncode == 2
    assert "script not found" in got.stderr and "nope.py" in got.stderr
    assert "torch/distributed/run.py" not in got.stderr


@pytest.mark.slow
def test_a_bad_break_spec_is_refused_before_launching(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(MARKER_SCRIPT)
    got = _cli("run", "--nproc-per-node", "2", "--break", "fc:nowhere:nan", script, cwd=tmp_path)
    assert got.returncode == 2 and "bad --break spec" in got.stderr
    assert not script.with_suffix(".ran").exists()


def test_torchrun_options_go_to_torchrun_and_ours_stay():
    ours = {**_TRAILING["doctor"], "-h": False, "--help": False}
    argv = [
        "--nproc-per-node",
        "2",
        "--master-port",
        "29511",
        "--standalone",
        "--max-steps",
        "3",
        "--rdzv-conf=timeout=5",
        "train.py",
        "--master-port",
        "7",  # after SCRIPT: the script's
    ]
    mine, theirs = split_torchrun_options(argv, ours)
    assert theirs == ["--master-port", "29511", "--standalone", "--rdzv-conf=timeout=5"]
    assert mine == ["--nproc-per-node", "2", "--max-steps", "3", "train.py", "--master-port", "7"]


@pytest.mark.parametrize("flag", ["-m", "--no-python", "--run-path"])
def test_options_that_replace_the_program_are_refused(flag):
    with pytest.raises(LaunchUsageError, match="cannot be used with --nproc-per-node"):
        split_torchrun_options([flag, "train.py"], dict(_TRAILING["run"]))


def test_each_rank_runs_the_same_command_without_the_launch_and_report_options():
    parser = build_parser()
    argv = ["run", "--nproc-per-node", "2", "--break", "*:output:nan", "--on-hit", "raise"]
    ns = parser.parse_args([*argv, "--report", "r.json", "t.py", "--lr", "1"])
    assert child_argv("run", ns) == [
        "run",
        "--break",
        "*:output:nan",
        "--on-hit",
        "raise",
        "t.py",
        "--",
        "--lr",
        "1",
    ]
    ns = parser.parse_args(["doctor", "--nproc-per-node", "2", "--max-steps", "4", "t.py"])
    assert child_argv("doctor", ns) == ["doctor", "--max-steps", "4", "t.py", "--"]


def test_terminal_text_escapes_every_string_from_the_rank_reports():
    from tensorpeek.cli.launch import format_merged
    from tensorpeek.report.merge import RankResult, merge_reports

    evil = "\x1b[2Jfc\x1b]0;owned\x07"
    finding = {
        "kind": "nonfinite",
        "module": evil,
        "site": "output",
        "step": 1,
        "severity": "error",
        "message": f"NaN in {evil}",
        "summary": None,
    }
    hit = {"module": evil, "site": "output", "step": 1, "condition": "nonfinite", "rank_seq": 1}
    report = {
        "mode": "doctor",
        "steps": 2,
        "status": "stopped",
        "hits": [hit],
        "findings": [finding],
        "host": evil,
        "rank": 0,
        "world_size": 1,
    }
    text = format_merged("doctor", merge_reports([RankResult(0, report)], 1))
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[2Jfc" in text and "rank 0 first, at step 1" in text
