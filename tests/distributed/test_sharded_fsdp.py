"""Summaries of a real FSDP2 ``fully_shard`` model on 2 gloo ranks (``torchrun``): the local
summary says it is the local shard and describes exactly the local tensor; the whole-tensor
summary, combined from the shards' partials, equals the summary of ``full_tensor()`` computed
on one process (NaN, +Inf and an empty shard included)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parent / "scripts" / "launch_fsdp_summary.py"
EXACT = ("shape", "dtype", "numel", "nan", "posinf", "neginf", "zeros", "finite", "min", "max")
CLOSE = ("mean", "std", "std_sample", "norm", "absmean", "absmax")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[int, dict]:
    out = tmp_path_factory.mktemp("fsdp")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENSORPEEK_")}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    proc = subprocess.run(
        [*torchrun, str(SCRIPT), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {r: json.loads((out / f"rank-{r}.json").read_text()) for r in (0, 1)}


def test_the_whole_tensor_summary_equals_the_full_tensor_s_on_every_rank(results):
    for rank, tensors in results.items():
        assert set(tensors) == {
            "0.weight", "0.bias", "2.weight", "2.bias",
            "0.weight.grad", "0.bias.grad", "2.weight.grad", "2.bias.grad",
        }  # fmt: skip
        for name, got in tensors.items():
            whole, full = got["whole"], got["full"]
            for key in EXACT:
                assert whole[key] == full[key], (rank, name, key)
            for key in CLOSE:
                if full[key] is None:
                    assert whole[key] is None
                else:
                    assert whole[key] == pytest.approx(full[key], rel=1e-12), (rank, name, key)
            assert whole["hist"]["edges"] == full["hist"]["edges"], (rank, name)
            assert whole["hist"]["counts"] == full["hist"]["counts"], (rank, name)
            assert not whole["hist"]["sampled"]
            assert whole["note"].startswith("whole tensor, combined from")


def test_the_planted_values_and_the_empty_shard_are_counted_once(results):
    w = results[0]["0.weight"]["whole"]
    assert (w["nan"], w["posinf"], w["finite"]) == (1, 1, 33)
    assert "combined from 2 shard(s)" in w["note"]
    single_row = results[1]["2.weight"]
    assert single_row["local_shape"] == [0, 7]  # rank 1 holds nothing of a 1-row weight
    assert (
        single_row["whole"]["numel"] == 7
        and "combined from 1 shard(s)" in single_row["whole"]["note"]
    )


def test_the_local_summary_says_it_is_the_local_shard_and_describes_only_it(results):
    local = results[1]["0.weight"]["local"]
    plain = results[1]["0.weight"]["local_plain"]
    assert local["note"].startswith(
        "local shard of a DTensor (global shape [7, 5], placements (Shard(dim=0)) on mesh cpu(2,))"
    )
    assert local["shape"] == [3, 5] and local["numel"] == 15
    for key in (*EXACT, *CLOSE):
        assert local[key] == plain[key], key
    assert local["hist"] == plain["hist"]
    assert (local["nan"], local["posinf"]) == (1, 1)
    assert results[0]["0.weight"]["local"]["nan"] == 0  # rank 0's shard is clean


def test_the_local_summary_calls_no_collective(results):
    for rank, tensors in results.items():
        for name, got in tensors.items():
            assert got["local_collectives"] == 0, (rank, name)
            assert got["whole_collectives"] == 2, (rank, name)  # the counter does count


def test_nothing_in_the_package_computes_a_whole_tensor_summary_on_its_own():
    """``summarize_whole`` is a collective: only a user's request may call it (never a hook,
    the agent or the CLI, which would add a collective to the healthy path)."""
    package = Path(__file__).resolve().parents[2] / "py_backend" / "tensorpeek"
    callers = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "summarize_whole" in path.read_text(encoding="utf-8")
    ]
    assert sorted(callers) == ["summary/sharded.py", "summary/sharded_whole.py"]
