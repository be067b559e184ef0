"""``tensorpeek run|doctor --nproc-per-node 2`` on a real DDP job: ``torch.distributed.run``,
gloo on CPU over loopback, a tiny model, a few steps (``scripts/launch_ddp.py``).

The oracles: the rank, step and module the script plants its NaN at; the exception it raises;
the signal it kills itself with; plain ``torchrun`` for the losses of a healthy run. "Every rank
ended within seconds" is checked against the launcher's own clock with a bound far below
gloo's collective timeout (30 minutes): a rank left waiting in a collective would be there."""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parent / "scripts" / "launch_ddp.py"
ENDED_WITHIN_S = 60  # vs gloo's 1800 s default timeout


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENSORPEEK_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def launch(
    tmp_path: Path, command: str, *args: str, html_report: bool = False, nproc: int = 2
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``tensorpeek COMMAND --nproc-per-node N launch_ddp.py ARGS --report R.json``."""
    report = tmp_path / "merged.json"
    extra = ["--html", str(tmp_path / "merged.html")] if html_report else []
    cli = [sys.executable, "-m", "tensorpeek", command, "--nproc-per-node", str(nproc), *extra]
    proc = subprocess.run(
        [*cli, "--report", str(report), str(SCRIPT), *args],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert report.exists(), f"no merged report\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc, json.loads(report.read_text())


def _by_rank(merged: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {r["rank"]: r for r in merged["ranks"]}


def _planted_first(merged: dict[str, Any]) -> None:
    first = merged["first"]
    assert (first["rank"], first["step"], first["module"], first["site"]) == (
        1,
        2,
        "module.mid",
        "output",
    )
    assert merged["verdict"].startswith("rank 1 first, at step 2, module.mid output")
    assert merged["seconds"] < ENDED_WITHIN_S
    ranks = _by_rank(merged)
    assert set(ranks) == {0, 1} and ranks[1]["status"] == "hit"
    # rank 0 learnt of rank 1's stop through the store (it may have computed one more step on
    # the NaN weights DDP's all-reduce handed it: then it hit later, never first)
    assert ranks[0]["stopped_by"] == 1
    assert ranks[0]["status"] in ("stopped_by_peer", "hit")
    for item in [*merged["hits"], *merged["findings"]]:
        assert item["world_size"] == 2 and item["rank"] in (0, 1) and item["host"]


def test_doctor_names_the_planted_rank_step_and_module_first(tmp_path):
    proc, merged = launch(
        tmp_path, "doctor", "--nan-rank", "1", "--nan-step", "2", html_report=True
    )
    _planted_first(merged)
    assert proc.returncode == 1
    errors = [f for f in merged["findings"] if f["severity"] == "error"]
    assert (errors[0]["rank"], errors[0]["step"], errors[0]["module"]) == (1, 2, "module.mid")
    assert "rank 1 first, at step 2, module.mid output" in proc.stdout
    page = (tmp_path / "merged.html").read_text()
    assert html.escape(merged["verdict"]) in page
    assert "<th>rank</th><th>severity</th>" in page  # the findings' rank column
    assert page.index(html.escape(merged["verdict"])) < page.index("<h2>Findings</h2>")
    assert page.count("Gradient norm per layer over steps, rank ") == 2


def test_run_on_hit_raise_names_the_planted_rank_first(tmp_path):
    proc, merged = launch(
        tmp_path, "run", "--on-hit", "raise", "--nan-rank", "1", "--nan-step", "2"
    )
    _planted_first(merged)
    assert "TensorBreakpointError" in (_by_rank(merged)[1]["error"] or "")
    assert proc.returncode == 1


def _losses(folder: Path) -> dict[int, list[str]]:
    return {r: (folder / f"loss-{r}.txt").read_text().split() for r in (0, 1)}


def test_healthy_job_has_no_findings_and_the_losses_of_plain_torchrun(tmp_path):
    plain, armed = tmp_path / "plain", tmp_path / "armed"
    plain.mkdir()
    armed.mkdir()
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    subprocess.run(
        [*torchrun, str(SCRIPT), "--losses", str(plain)],
        cwd=tmp_path,
        env=_env(),
        check=True,
        capture_output=True,
        timeout=150,
    )
    proc, merged = launch(tmp_path, "doctor", "--losses", str(armed))
    assert proc.returncode == 0, proc.stderr
    assert merged["findings"] == [] and merged["first"] is None
    assert [r["status"] for r in merged["ranks"]] == ["ok", "ok"]
    assert merged["verdict"] == "all 2 rank(s) clean: no tensor hit, no error"
    assert _losses(armed) == _losses(plain)  # bit for bit (float.hex), every rank
    assert len(_losses(armed)[0]) == 6


def test_a_rank_that_raises_is_reported_crashed_not_hit(tmp_path):
    proc, merged = launch(tmp_path, "run", "--raise-rank", "1", "--nan-step", "2")
    ranks = _by_rank(merged)
    assert ranks[1]["status"] == "crashed"
    assert ranks[1]["error"] == "ValueError: planted failure on rank 1 at step 2"
    assert ranks[0]["status"] in ("stopped_by_peer", "crashed")
    assert merged["first"] is None and merged["hits"] == []
    assert "rank 1 crashed (ValueError: planted failure on rank 1 at step 2)" in merged["verdict"]
    assert merged["seconds"] < ENDED_WITHIN_S
    assert proc.returncode != 0


def test_a_killed_rank_is_reported_crashed_not_hit(tmp_path):
    proc, merged = launch(tmp_path, "doctor", "--kill-rank", "1", "--nan-step", "2")
    ranks = _by_rank(merged)
    assert ranks[1]["status"] == "crashed" and "SIGKILL" in ranks[1]["error"]
    assert ranks[1]["exit_code"] == -9
    assert ranks[0]["status"] != "hit" and merged["first"] is None
    assert merged["seconds"] < ENDED_WITHIN_S
    assert proc.returncode != 0


def test_four_ranks_name_the_planted_one_and_the_others_ended(tmp_path):
    proc, merged = launch(
        tmp_path, "doctor", "--nan-rank", "2", "--nan-step", "1", "--steps", "4", nproc=4
    )
    first = merged["first"]
    assert (first["rank"], first["step"], first["module"]) == (2, 1, "module.mid")
    assert merged["verdict"].startswith("rank 2 first, at step 1, module.mid output")
    ranks = _by_rank(merged)
    assert set(ranks) == {0, 1, 2, 3} and merged["world_size"] == 4
    assert ranks[2]["status"] == "hit"
    for r in (0, 1, 3):  # told by the store; at most a later hit on the NaN weights
        assert ranks[r]["status"] in ("stopped_by_peer", "hit") and ranks[r]["stopped_by"] == 2
    assert merged["seconds"] < ENDED_WITHIN_S
    assert proc.returncode == 1


FSDP_SCRIPT = Path(__file__).parent / "scripts" / "launch_fsdp.py"


def test_fsdp2_doctor_names_the_planted_rank_step_and_module_first(tmp_path):
    report = tmp_path / "merged.json"
    cli = [sys.executable, "-m", "tensorpeek", "doctor", "--nproc-per-node", "2"]
    subprocess.run(
        [*cli, "--report", str(report), str(FSDP_SCRIPT), "--nan-rank", "1", "--nan-step", "2"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=150,
    )
    merged = json.loads(report.read_text())
    first = merged["first"]
    assert first is not None
    assert (first["rank"], first["step"], first["module"], first["site"]) == (1, 2, "mid", "output")
    assert merged["seconds"] < ENDED_WITHIN_S
