"""The whole sharded tensor's summary asked at a pause, for ``test_whole_at_pause.py``; run by
``torchrun --nproc-per-node 2 THIS OUT_DIR`` with ``PYTHONBREAKPOINT=whole_pause_hook.ask``.

FSDP2 (``fully_shard``) on ``Sequential(Linear(5, 7), Tanh, Linear(7, 1))``: ``0.weight`` has
shards of 4 and 3 rows, ``2.weight`` a single row (rank 1's shard is empty). With ``--hsdp``
the mesh is 2 x 1 (replicate x shard): each rank holds a whole copy, only rank 0's counts.
Rank 1 arms ``0:param:step >= 2`` with ``action="pdb"``: inside an ``optimizer.step()`` it
pauses in pdb, where the stand-in user (``whole_pause_hook.ask``) asks for the whole tensors;
rank 0 arms a breakpoint that never fires (so its watcher runs) and goes on into the barrier
after the step, which waits for rank 1. After every step both ranks gather every parameter
and gradient with ``full_tensor()`` on the healthy path: the oracle, read after the pause at
the same values.

Then rank 0 ends (``os._exit(0)``) and rank 1 asks again: a peer that died. Rank 1 writes
``OUT_DIR/rank-1.json``: what was asked at the pause (``asked``), the loop step it happened
in (``paused_in``), the oracle of every step (``oracle``: float64 values of the whole tensor)
and the dead peer's answer (``dead_peer``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import fully_shard

import tensorpeek

model: nn.Module | None = None
loop_step = -1
asked: dict[str, Any] = {}  # filled by whole_pause_hook.ask at the pause
NAMES = ["0.weight", "0.bias", "2.weight", "2.bias"]


def oracle(full: torch.Tensor) -> dict[str, Any]:
    """The whole tensor's values in float64, gathered on the healthy path."""
    return {"values": full.detach().to(torch.float64).reshape(-1).tolist()}


def main() -> None:
    global model, loop_step
    out = Path(sys.argv[1])
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 1))
    mesh = None
    if "--hsdp" in sys.argv:  # a replicate dimension of 2, a shard dimension of 1
        from torch.distributed.device_mesh import init_device_mesh

        mesh = init_device_mesh("cpu", (2, 1), mesh_dim_names=("replicate", "shard"))
    for layer in (model[0], model[2]):
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    if rank == 1:
        tensorpeek.break_on("0", "param", "step >= 2", action="pdb", once=True)
    else:
        tensorpeek.break_on("*", "output", "nonfinite", action="raise")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(10 + rank)
    oracles = []
    for step in range(4):
        loop_step = step
        x = torch.randn(6, 5, generator=gen)
        loss = model(x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        # a collective right after the step, where the peer waits while rank 1 is paused (the
        # gathers below need no communication at all on the 2 x 1 mesh)
        dist.barrier()
        params = dict(model.named_parameters())
        gathered = {name: oracle(params[name].full_tensor()) for name in NAMES}
        gathered.update({f"{n}.grad": oracle(params[n].grad.full_tensor()) for n in NAMES})
        oracles.append(gathered)
    dist.barrier()
    if rank == 0:
        os._exit(0)  # a peer that dies: its watcher is gone, the store (torchrun's) stays
    time.sleep(1.0)
    started = time.monotonic()
    try:
        tensorpeek.whole_summary("0.weight", timeout=2.0)
        dead: dict[str, Any] = {"error": None}
    except ValueError as err:
        dead = {"error": str(err)}
    dead["seconds"] = time.monotonic() - started
    record = {"asked": asked, "oracle": oracles, "dead_peer": dead}
    (out / f"rank-{rank}.json").write_text(json.dumps(record))
    sys.stdout.flush()
    os._exit(0)  # the process group's peer is gone: no orderly teardown to wait for


if __name__ == "__main__":
    main()
