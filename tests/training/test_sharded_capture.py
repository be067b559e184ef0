"""FSDP2 (DTensor) parameters: the capture reads each rank's local shards, never the whole
DTensor (that would be a collective inside the user's step), and never raises into the user's
code. One process, a one-rank gloo group, a real ``fully_shard`` model."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys, torch
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard
    import tensorpeek
    from tensorpeek.training.series import STORE

    dist.init_process_group("gloo", init_method="file://" + sys.argv[1], rank=0, world_size=1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    for layer in (model[0], model[2]):
        fully_shard(layer)
    fully_shard(model)
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    x = torch.randn(5, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses, norms = [], []
    for step in range(3):
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        grads = [p.grad.to_local().double() for p in model.parameters()]
        norms.append(float(torch.sqrt(sum((g * g).sum() for g in grads))))
        opt.step()
        losses.append(loss.to_local().item() if hasattr(loss, "to_local") else loss.item())
    tensorpeek.clear()  # flushes the pending values: must not raise
    scalars = STORE.snapshot()
    print(json.dumps({"losses": losses, "norms": norms, "scalars": scalars,
                      "type": type(model[0].weight).__name__}))
    dist.destroy_process_group()
    """
)


@pytest.mark.slow
def test_fsdp2_losses_and_local_gradient_norms_are_captured(tmp_path: Path) -> None:
    script = tmp_path / "sharded.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tensorpeek:" not in done.stderr, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["type"] == "DTensor"
    assert [v for _, v in out["scalars"]["loss"]] == out["losses"]
    assert [v for _, v in out["scalars"]["grad_norm"]] == pytest.approx(out["norms"], rel=1e-5)
    assert [s for s, _ in out["scalars"]["update_ratio/0"]] == [0]
