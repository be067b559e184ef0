"""The whole sharded tensor's summary asked in a real debugger session of a torchrun job.

Two ranks run under ``python -m tensorpeek.cli.debug_ranks`` as the VS Code extension starts
them (``torch.distributed.run -m``, gloo on CPU), each with a real DAP client attached to its
debugpy. Rank 1 stops at a tensor breakpoint (``action="debugger"``, inside
``optimizer.step()`` of an FSDP2 model), which pauses rank 0 too; the test then sends the
extension's one ``evaluate`` to rank 1's stopped frame: the agent's ``whole_summary`` method.
The oracle is the same tensor gathered by the script with ``full_tensor()`` right after that
step, on the healthy path, read here in float64.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_debug_ranks import TIMEOUT, ReportServer, TcpDap  # the launcher test's harness

pytestmark = pytest.mark.slow

WHOLE_SCRIPT = """
import json, sys
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import fully_shard
import tensorpeek

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 1))
fully_shard(model[0])
fully_shard(model[2])
fully_shard(model)
if rank == 1:
    tensorpeek.break_on("0", "param", "step >= 2", action="debugger", once=True)
else:
    tensorpeek.break_on("*", "output", "nonfinite", action="raise")
opt = torch.optim.SGD(model.parameters(), lr=0.1)
gen = torch.Generator().manual_seed(10 + rank)
gathered = []
for step in range(3):
    loss = model(torch.randn(6, 5, generator=gen)).square().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    w = model[0].weight
    gathered.append({"0.weight": w.detach().full_tensor().double().flatten().tolist(),
                     "0.weight.grad": w.grad.full_tensor().double().flatten().tolist()})
if rank == 1:
    with open(sys.argv[1], "w") as f:
        json.dump(gathered, f)
dist.barrier()
dist.destroy_process_group()
"""


def agent_expression(params: dict) -> str:
    request = json.dumps({"version": 1, "method": "whole_summary", "params": params})
    return f"__import__('tensorpeek.agent').agent.request({json.dumps(request)}, locals())"


def test_the_agent_s_whole_summary_at_a_debugger_stop_equals_the_gathered_tensor(
    tmp_path: Path,
) -> None:
    script = tmp_path / "train.py"
    script.write_text(WHOLE_SCRIPT)
    oracle_file = tmp_path / "gathered.json"
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1", "OMP_NUM_THREADS": "1"}
    env.pop("TENSORPEEK_BREAKPOINTS", None)
    report = ReportServer()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    job = subprocess.Popen(
        [*cmd, "-m", "tensorpeek.cli.debug_ranks", "--report", f"127.0.0.1:{report.port}",
         str(script), str(oracle_file)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    clients: dict[int, TcpDap] = {}
    try:
        for e in report.wait("listening", 2):
            clients[e["rank"]] = TcpDap(e["port"])
            clients[e["rank"]].attach()
        stopped = clients[1].wait("event", "stopped")
        thread = stopped["body"]["threadId"]
        clients[1].request("stackTrace", {"threadId": thread})
        frames = clients[1].wait("response", "stackTrace")["body"]["stackFrames"]
        assert Path(frames[0]["source"]["path"]).name == "tensor_breakpoint.py"  # the pause
        user = next(f for f in frames if Path(f["source"].get("path", "")).name == "train.py")
        replies = {}
        for key, params, frame in (
            ("0.weight", {"param": "0.weight", "bins": 16}, frames[0]),
            ("refused", {"expression": "model", "bins": 16}, user),  # not a tensor
            ("by_path", {"expression": "w.grad", "bins": 16}, user),
        ):
            clients[1].request(
                "evaluate",
                {"expression": agent_expression(params), "frameId": frame["id"],
                 "context": "clipboard", "format": {"rawString": True}},
            )  # fmt: skip
            replies[key] = json.loads(clients[1].wait("response", "evaluate")["body"]["result"])
        clients[1].request("continue", {"threadId": thread})
        ended = report.wait("exit", 2)
        for c in clients.values():  # as VS Code's child sessions do when their debuggee ends
            c.wait("event", "terminated")
            c.close()
        out, _ = job.communicate(timeout=TIMEOUT)
    finally:
        for c in clients.values():
            c.close()
        report.close()
        if job.poll() is None:
            os.killpg(job.pid, 9)
            job.wait()
    assert [e["status"] for e in ended] == ["completed", "completed"], out
    gathered = json.loads(oracle_file.read_text())
    whole = replies["0.weight"]
    assert whole["ok"], whole
    ranks = whole["result"]["ranks"]
    assert [(r["rank"], r["state"]) for r in ranks] == [(0, "paused"), (1, "paused")]
    step = 2  # the breakpoint's step: the loop's third iteration
    for name, reply in (("0.weight", whole), ("0.weight.grad", replies["by_path"])):
        assert reply["ok"], reply
        values = torch.tensor(gathered[step][name], dtype=torch.float64)
        got = reply["result"]["summary"]
        assert (got["numel"], got["finite"], got["nan"]) == (35, 35, 0), name
        assert (got["min"], got["max"]) == (float(values.min()), float(values.max())), name
        assert got["mean"] == pytest.approx(float(values.mean()), rel=1e-12), name
        assert got["std"] == pytest.approx(float(values.std(correction=0)), rel=1e-12), name
        edges = torch.tensor(got["hist"]["edges"], dtype=torch.float64)
        inner = torch.bucketize(values, edges[1:-1], right=True)
        assert got["hist"]["counts"] == torch.bincount(inner, minlength=16).tolist(), name
    refused = replies["refused"]
    assert not refused["ok"]
    assert (
        "expected a parameter path or a tensor, got a FSDPSequential"
        in (refused["error"]["message"])
    )
