"""Summaries of FSDP2 (``fully_shard``) parameters and gradients on 2 gloo ranks, for
``test_sharded_fsdp.py``; run by ``torchrun --nproc-per-node 2 THIS OUT_DIR``.

After one training step, a NaN and a +Inf are planted in rank 1's shard of ``0.weight`` (7
rows: shards of 4 and 3 rows) and ``2.weight`` has a single row (rank 1's shard is empty).
Each rank writes ``OUT_DIR/rank-<r>.json``: per tensor, ``summarize`` of the DTensor (the
local shard, with its note) and how many collectives it called, ``summarize`` of its local
tensor, ``summarize_whole`` (the
collective) and ``summarize`` of ``full_tensor()`` (the whole tensor gathered onto this one
process: the oracle).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import fully_shard

from tensorpeek.summary.sharded_whole import summarize_whole
from tensorpeek.summary.tensor_summary import summarize


def count_collectives() -> list[str]:
    """Record every collective call (and every DTensor redistribution) from now on."""
    calls: list[str] = []
    from torch.distributed.tensor import DTensor

    def counting(owner: object, name: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            calls.append(name)
            return original(*args, **kwargs)

        setattr(owner, name, wrapper)

    for name in ("all_gather_object", "all_reduce", "all_gather", "all_gather_into_tensor",
                 "reduce_scatter_tensor", "broadcast", "barrier"):  # fmt: skip
        counting(dist, name)
    for name in ("full_tensor", "redistribute"):
        counting(DTensor, name)
    return calls


def main() -> None:
    out = Path(sys.argv[1])
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 1))
    for layer in (model[0], model[2]):
        fully_shard(layer)
    fully_shard(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(10 + rank))
    model(x).square().mean().backward()
    opt.step()
    if rank == 1:
        with torch.no_grad():
            local = model[0].weight.to_local()
            local[0, 1] = float("nan")
            local[2, 3] = float("inf")
    collectives = count_collectives()
    results = {}
    tensors = {name: p for name, p in model.named_parameters()}
    tensors.update({f"{name}.grad": p.grad for name, p in model.named_parameters()})
    for name, t in tensors.items():
        collectives.clear()
        local = summarize(t)  # this rank's shard only: no collective, nothing leaves the rank
        local_collectives = len(collectives)
        whole = summarize_whole(t)
        whole_collectives = len(collectives) - local_collectives
        full = t.full_tensor()  # the oracle: the whole tensor on this process
        results[name] = {
            "local": local.to_dict(),
            "local_collectives": local_collectives,
            "whole_collectives": whole_collectives,
            "local_plain": summarize(t.to_local()).to_dict(),
            "whole": whole.to_dict(),
            "full": summarize(full).to_dict(),
            "local_shape": list(t.to_local().shape),
        }
    (out / f"rank-{rank}.json").write_text(json.dumps(results))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
