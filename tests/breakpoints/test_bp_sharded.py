"""DTensor (FSDP2) tensors at a breakpoint: each rank checks its own shard, never the whole
DTensor (a reduction of a DTensor is a collective; inside a hook it could hang a job whose
ranks diverge). One process, a one-rank gloo group, a real ``fully_shard`` model."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import json, sys, torch
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard
    import tensorpeek
    from tensorpeek.engine import history

    dist.init_process_group("gloo", init_method="file://" + sys.argv[1], rank=0, world_size=1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    for layer in (model[0], model[2]):
        fully_shard(layer)
    fully_shard(model)
    bps = [tensorpeek.break_on("*", site, "nonfinite", action="record")
           for site in ("output", "grad_output", "param")]
    x = torch.randn(5, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(2):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    healthy = tensorpeek.hits()
    norms = history.layer_history()["0"]["param"][-1]["summary"]
    grad = model[0].weight.grad
    # the param site checks each parameter after optimizer.step(); 0.bias is 0's last one,
    # whose values the history keeps for (0, param) at that step
    local_norm = float(torch.linalg.vector_norm(model[0].bias.to_local().double()))
    bias_type = type(model[0].bias).__name__
    with torch.no_grad():
        model[0].weight.to_local()[0, 0] = float("nan")
    opt.zero_grad()
    model(x).pow(2).mean().backward()
    print(json.dumps({
        "grad_type": type(grad).__name__,
        "param_type": bias_type,
        "healthy_hits": len(healthy),
        "norm_recorded": norms.get("norm"),
        "local_norm": local_norm,
        "hits": [[h.module, h.site, h.param, h.summary.get("nan") if h.summary else None]
                 for h in tensorpeek.hits()],
    }))
    tensorpeek.clear()
    dist.destroy_process_group()
    """
)


def test_dtensor_gradients_are_checked_on_the_local_shard(tmp_path: Path) -> None:
    script = tmp_path / "sharded.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["grad_type"] == "DTensor" and out["param_type"] == "DTensor"
    assert out["healthy_hits"] == 0
    # the recorded norm is the local shard's (oracle: float64 norm of to_local()); a norm of
    # the DTensor itself would have been a collective inside the hook
    assert abs(out["norm_recorded"] - out["local_norm"]) <= 1e-5 * out["local_norm"]
    # the planted NaN in layer 0's weight: its output is the forward origin
    first = out["hits"][0]
    assert first[0] == "0" and first[1] == "output"
