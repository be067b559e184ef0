"""A tiny training job for ``torchrun`` tests of the ranks runtime (gloo, CPU).

Each rank trains ``Sequential(Linear, Plant, ReLU, Linear)`` for ``--steps`` steps, wrapped in
DDP (``--wrap ddp``), sharded with FSDP2's ``fully_shard`` (``--wrap fsdp``) or not wrapped
at all (``--wrap none``: the ranks share no collective, so each goes at its own pace).
``--plant RANK:STEP`` (repeatable) makes ``Plant`` multiply by NaN on that rank at that step;
``--crash RANK:STEP`` raises an ordinary ``ValueError`` there instead; ``--delay RANK:SECONDS``
sleeps before that rank's first step; ``--arm RANK`` (repeatable) arms
``*:output:nonfinite`` with ``tensorpeek.break_on`` on those ranks only (the others stay
unarmed), with ``--action``.

With ``--out DIR`` each rank writes ``DIR/rank<r>.json``: its losses (``float.hex``, for
bitwise comparison), how it ended (``ended``: ``completed``, or the exception's type and
message with the ``Hit`` of a ``TensorBreakpointError`` and the peer's record of a
``PeerStopped``), after a ``--wrap none`` run the job's ``first`` record from the store, and
what tensorpeek left behind after ``tensorpeek.clear()`` (``left``: its threads, whether
its ``sys.excepthook`` still reports crashes, the global module hooks).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules import module as module_hooks


def pairs(values: list[str]) -> dict[int, float]:
    return {int(v.split(":")[0]): float(v.split(":")[1]) for v in values}


class Plant(nn.Module):
    """Identity, except at the planted step: NaN (or an ordinary error) on purpose."""

    def __init__(self) -> None:
        super().__init__()
        self.poison = False
        self.crash = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.crash:
            raise ValueError("an ordinary bug in the training code")
        return x * float("nan") if self.poison else x


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wrap", choices=("ddp", "fsdp", "none"), default="ddp")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--plant", action="append", default=[])
    parser.add_argument("--crash", action="append", default=[])
    parser.add_argument("--delay", action="append", default=[])
    parser.add_argument("--arm", action="append", default=[], type=int)
    parser.add_argument("--action", default=None)
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if rank in args.arm:
        import tensorpeek

        tensorpeek.break_on("*", "output", "nonfinite", action=args.action, once=args.once)

    torch.manual_seed(0)  # the same initial weights on every rank
    model: nn.Module = nn.Sequential(nn.Linear(8, 16), Plant(), nn.ReLU(), nn.Linear(16, 1))
    plant = model[1]
    if args.wrap == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model)
    elif args.wrap == "fsdp":
        from torch.distributed.fsdp import fully_shard

        fully_shard(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(100 + rank)  # each rank its own data
    plants, crashes, delays = pairs(args.plant), pairs(args.crash), pairs(args.delay)
    losses: list[str] = []
    time.sleep(delays.get(rank, 0.0))
    try:
        for step in range(args.steps):
            plant.poison = plants.get(rank) == step
            plant.crash = crashes.get(rank) == step
            x = torch.randn(4, 8, generator=gen)
            y = torch.randn(4, 1, generator=gen)
            loss = nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item().hex())
    except BaseException as e:
        write(args.out, rank, world, losses, ended(e))
        raise
    from tensorpeek.engine.rank_watch import RUNTIME

    first = None
    if args.wrap == "none":
        dist.barrier()  # every rank has published its hits
        first = RUNTIME.channel.read("first") if RUNTIME.channel else None
    import tensorpeek

    tensorpeek.clear()
    left = {
        "threads": [t.name for t in threading.enumerate() if t.name.startswith("tensorpeek")],
        "excepthook_active": RUNTIME.excepthook_active,
        "forward_hooks": len(module_hooks._global_forward_hooks),
        "forward_pre_hooks": len(module_hooks._global_forward_pre_hooks),
    }
    write(args.out, rank, world, losses, {"how": "completed"}, first=first, left=left)
    dist.barrier()
    dist.destroy_process_group()


def ended(e: BaseException) -> dict[str, Any]:
    """How the rank ended, with what tensorpeek attached to the error."""
    how: dict[str, Any] = {"how": type(e).__name__, "message": str(e)}
    hit = getattr(e, "hit", None)
    if hit is not None:
        how["hit"] = {k: v for k, v in hit.to_dict().items() if k not in ("summary", "inputs")}
    record = getattr(e, "record", None)
    if record is not None:
        how["record"] = record
    return how


def write(
    out: str | None, rank: int, world: int, losses: list[str], how: dict[str, Any], **more: Any
) -> None:
    if out:
        record = {"rank": rank, "world_size": world, "losses": losses, "ended": how, **more}
        record["at"] = time.time()  # when this rank ended (the hitting rank: at its hit)
        Path(out, f"rank{rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
