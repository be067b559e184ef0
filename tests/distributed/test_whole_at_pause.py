"""The whole sharded tensor's summary asked at a pause, in a real ``torchrun`` job (gloo on
CPU, 2 ranks, FSDP2 ``fully_shard``): rank 1 pauses in pdb inside ``optimizer.step()`` (a
``param`` breakpoint) and asks for every parameter and gradient while rank 0 waits in the
test's own gather; the peers answer through the job's store from their watcher threads.

The oracle is the same tensor gathered with ``full_tensor()`` on the healthy path right after
that step (no value changes between the pause and the gather), read in float64 by the test
here: counts and extremes exact, moments to float64 rounding, the histogram on the summary's
own edges recounted independently. Then rank 0 dies and rank 1 asks again: a clear message
naming rank 0 within the timeout, not a hang.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch

pytestmark = pytest.mark.slow

SCRIPTS = Path(__file__).parent / "scripts"
SCRIPT = SCRIPTS / "whole_at_pause.py"
NAMES = ["0.weight", "0.bias", "2.weight", "2.bias"]


@pytest.fixture(scope="module", params=["fsdp", "hsdp"])
def job(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict[str, Any]:
    """``fsdp``: a 1-D mesh of 2 (shards of 4 and 3 rows); ``hsdp``: a 2 x 1 mesh (replicate x
    shard), each rank holding a whole copy of which only rank 0's counts."""
    out = tmp_path_factory.mktemp("whole")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENSORPEEK_")}
    env.update(
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(SCRIPTS),
        PYTHONBREAKPOINT="whole_pause_hook.ask",
        PYTHONUNBUFFERED="1",
    )
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    proc = subprocess.run(
        [*torchrun, "--standalone", str(SCRIPT), str(out), f"--{request.param}"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=150,
        cwd=out,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    record = json.loads((out / "rank-1.json").read_text())
    record["stderr"] = proc.stderr
    record["mesh"] = request.param
    return record


def float64_oracle(values: list[float], edges: list[float]) -> dict[str, Any]:
    """The whole tensor's statistics computed here, independently of tensorpeek."""
    x = torch.tensor(values, dtype=torch.float64)
    finite = x[torch.isfinite(x)]
    edge = torch.tensor(edges, dtype=torch.float64)
    inner = torch.bucketize(finite, edge[1:-1], right=True)  # bin i: edges[i] <= v < edges[i+1]
    return {
        "numel": x.numel(),
        "nan": int(torch.isnan(x).sum()),
        "zeros": int((x == 0).sum()),
        "finite": finite.numel(),
        "min": float(finite.min()),
        "max": float(finite.max()),
        "mean": float(finite.mean()),
        "std": float(finite.std(correction=0)),
        "norm": float(torch.linalg.vector_norm(finite)),
        "absmean": float(finite.abs().mean()),
        "counts": torch.bincount(inner, minlength=len(edges) - 1).tolist(),
    }


def test_the_whole_summary_asked_at_a_pause_equals_the_gathered_tensor(job):
    step = job["asked"]["paused_in"]
    assert step >= 1  # the breakpoint fired in a later step, once
    for name in [*NAMES, *(f"{n}.grad" for n in NAMES)]:
        got = job["asked"][name]["summary"]
        values = job["oracle"][step][name]["values"]
        want = float64_oracle(values, got["hist"]["edges"])
        for key in ("numel", "nan", "zeros", "finite", "min", "max"):
            assert got[key] == want[key], (name, key)
        for key in ("mean", "std", "norm", "absmean"):
            assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-300), (name, key)
        assert got["hist"]["counts"] == want["counts"], name
        assert not got["hist"]["sampled"] and got["hist"]["sample_size"] == want["finite"]
        assert len(got["hist"]["counts"]) == (16 if want["min"] < want["max"] else 1), name
        assert got["note"].startswith("whole tensor, combined from"), name
        assert "asked of every rank through the store" in got["note"]


def test_the_shards_held_by_each_rank_are_named_and_replicas_or_empty_shards_count_nothing(job):
    ranks = job["asked"]["ranks"]
    held = [(r["rank"], r["local_shape"], r["contributes"]) for r in ranks]
    if job["mesh"] == "fsdp":
        assert held == [(0, [4, 5], True), (1, [3, 5], True)]
        single_row = job["asked"]["2.weight"]["summary"]  # rank 1's shard of it is empty
        assert single_row["numel"] == 7 and "combined from 1 shard(s)" in single_row["note"]
    else:  # rank 1 holds a replica: counted once, from rank 0
        assert held == [(0, [7, 5], True), (1, [7, 5], False)]
        assert "combined from 1 shard(s)" in job["asked"]["0.weight"]["summary"]["note"]
        assert (
            "(Replicate(), Shard(dim=0)) on mesh cpu(2, 1)"
            in (job["asked"]["0.weight"]["summary"]["note"])
        )
    assert ranks[1]["state"] == "paused"
    # the other rank stands in its next collective ("waiting"), unless on a loaded machine it
    # took longer than the settle time to get there: then it says it was read "running"
    assert ranks[0]["state"] in ("waiting", "running")
    assert ranks[0]["step"] == ranks[1]["step"]  # both after the same update


def test_a_parameter_and_its_gradient_can_be_named_by_the_tensor_itself(job):
    asked = job["asked"]
    assert asked["by_tensor"] == asked["0.weight"]["summary"]
    assert asked["by_tensor_grad"] == asked["0.weight.grad"]["summary"]


def test_the_agent_method_answers_the_same_in_the_schema_s_shape(job):
    from tensorpeek.agent.schema import json_schema

    schema = json_schema()
    result_schema = {"$defs": schema["$defs"], **schema["x-methods"]["whole_summary"]["result"]}
    for key, same_as in (("agent_param", "0.weight.grad"), ("agent_expression", "0.weight")):
        reply = job["asked"][key]
        assert reply["ok"], reply
        jsonschema.validate(reply["result"], result_schema)
        assert reply["result"]["name"] == same_as
        assert reply["result"]["summary"] == job["asked"][same_as]["summary"]
        assert [r["rank"] for r in reply["result"]["ranks"]] == [0, 1]
    both = job["asked"]["agent_both"]
    assert not both["ok"] and "exactly one of params.expression" in both["error"]["message"]


def test_an_unknown_name_is_a_clear_error_listing_the_parameters(job):
    message = job["asked"]["unknown"]
    assert message.startswith("no parameter '0.nope' under the model tensorpeek knows")
    assert "0.weight" in message and "'.grad'" in message


def test_a_tensor_a_peer_cannot_resolve_is_refused_with_that_peer_s_reason(job):
    assert job["asked"]["peer_refuses"] == (
        "whole_summary('0.weight'): rank 0 cannot give its shard: no model of class Other has "
        "run forward while tensorpeek was armed here"
    )


def test_a_peer_that_died_is_named_within_the_timeout_not_a_hang(job):
    dead = job["dead_peer"]
    assert dead["error"] == (
        "whole_summary('0.weight'): no answer from rank(s) 0 within 2 s: rank 0 registered "
        "but its watcher did not answer: the process may have died (killed) or its tensorpeek "
        "breakpoints were cleared"
    )
    assert 2.0 <= dead["seconds"] < 2.0 + 8.0  # the timeout (a hang guard, not a speed test)
