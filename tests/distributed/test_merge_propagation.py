"""The merged verdict says when a later hit on another rank is the first rank's NaN carried
over by a collective: that rank's module found its own parameters already non-finite (the
origin rules' note), as DDP's gradient all-reduce leaves every rank's weights after one rank's
NaN. The oracle: the sentence, on hand-made per-rank reports and on a real 2-rank DDP job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tensorpeek.common.vocabulary import OWN_PARAMETER_NOTE
from tensorpeek.report.merge import RankResult, merge_reports

SCRIPT = Path(__file__).parent / "scripts" / "launch_ddp.py"
CARRIED = "its own parameters were already non-finite: propagated from rank 1"


def _report(rank: int, hits: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": 1,
        "script": "train.py",
        "mode": "run",
        "command": ["train.py"],
        "steps": 4,
        "status": "stopped",
        "exit_code": 0,
        "hits": hits,
        "findings": [],
        "error": None,
        "stop_reason": None,
        "breakpoints": [],
        "hits_dropped": 0,
        "gradient_norms": None,
        "rank": rank,
        "world_size": 2,
        "local_rank": rank,
        "host": "node0",
        "stopped_by": None,
    }


def _hit(step: int, module: str, seq: int, note: str | None) -> dict[str, Any]:
    return {
        "breakpoint": 1,
        "module": module,
        "module_class": "Linear",
        "site": "output",
        "step": step,
        "condition": "nonfinite",
        "origin": True,
        "param": None,
        "summary": None,
        "rank_seq": seq,
        "note": note,
    }


@pytest.mark.parametrize(
    ("note", "carried"),
    [(f"{OWN_PARAMETER_NOTE} weight holds NaN×16; its inputs were finite", True), (None, False)],
)
def test_a_later_hit_on_weights_already_bad_is_said_to_be_carried_over(
    note: str | None, carried: bool
) -> None:
    first = RankResult(1, _report(1, [_hit(2, "mid", 1, None)]))
    later = RankResult(0, _report(0, [_hit(3, "fc1", 2, note)]))
    verdict = merge_reports([later, first])["verdict"]
    assert verdict.startswith(
        "rank 1 first, at step 2, mid output; rank 0 hit later, at step 3, fc1 output"
    )
    assert (CARRIED in verdict) is carried


@pytest.mark.slow
def test_ddp_the_rank_that_got_the_nan_through_the_all_reduce_is_said_so(tmp_path: Path) -> None:
    """``--nan-rank 1 --nan-step 2``: rank 1's ``module.mid`` makes the NaN; its gradient
    reaches rank 0 through DDP's all-reduce, so rank 0's weights are NaN after step 2's
    optimizer step, and rank 0 (when it runs step 3 before rank 1's stop reaches it) hits at
    its first layer with weights. Either way it is never rank 0's own origin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENSORPEEK_")}
    report = tmp_path / "merged.json"
    cli = [
        sys.executable,
        "-m",
        "tensorpeek",
        "run",
        "--nproc-per-node",
        "2",
        "--on-hit",
        "continue",
    ]
    args = ["--nan-rank", "1", "--nan-step", "2", "--steps", "4"]
    subprocess.run(
        [*cli, "--report", str(report), str(SCRIPT), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    merged = json.loads(report.read_text())
    assert merged["verdict"].startswith("rank 1 first, at step 2, module.mid output")
    rank0 = next(r for r in merged["ranks"] if r["rank"] == 0)
    assert rank0["status"] == "hit" and rank0["first_bad"]["step"] == 3
    assert rank0["first_bad"]["note"].startswith(OWN_PARAMETER_NOTE)
    assert f"rank 0 hit later, at step 3, module.fc1 output ({CARRIED}" in merged["verdict"]
