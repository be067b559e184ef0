"""A tiny DDP training job on gloo (CPU) for the launcher tests, run by ``torchrun`` (through
``tensorpeek run|doctor --nproc-per-node N``).

    --steps N          optimizer steps (default 6)
    --nan-rank R       plant a NaN in ``module.mid``'s output on rank R ...
    --nan-step S       ... in the iteration after S optimizer steps (step S)
    --raise-rank R     raise ValueError on rank R at step --nan-step (a crash, not a hit)
    --kill-rank R      SIGKILL rank R itself at step --nan-step
    --losses DIR       write each rank's losses (float.hex, one a line) to DIR/loss-<rank>.txt
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


class Mid(nn.Module):
    """Scales its input; on the planted rank and step its output holds a NaN."""

    def __init__(self) -> None:
        super().__init__()
        self.poison = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 16)
        y = x * 0.5
        if self.poison:
            y = y.clone()
            y[0, 0] = float("nan")
        return y


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.act = nn.Tanh()
        self.mid = Mid()
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 8) -> (B, 4)
        return self.fc2(self.mid(self.act(self.fc1(x))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--nan-rank", type=int, default=-1)
    parser.add_argument("--nan-step", type=int, default=2)
    parser.add_argument("--raise-rank", type=int, default=-1)
    parser.add_argument("--kill-rank", type=int, default=-1)
    parser.add_argument("--losses", type=Path)
    args = parser.parse_args()

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)  # the same initial weights on every rank
    model = DistributedDataParallel(Net())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = torch.Generator().manual_seed(100 + rank)  # each rank its own batches
    losses = []
    for step in range(args.steps):
        if step == args.nan_step and rank == args.raise_rank:
            raise ValueError(f"planted failure on rank {rank} at step {step}")
        if step == args.nan_step and rank == args.kill_rank:
            os.kill(os.getpid(), signal.SIGKILL)
        model.module.mid.poison = step == args.nan_step and rank == args.nan_rank
        x = torch.randn(4, 8, generator=data)
        target = torch.randn(4, 4, generator=data)
        loss = nn.functional.mse_loss(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    if args.losses is not None:
        text = "".join(f"{v.hex()}\n" for v in losses)
        (args.losses / f"loss-{rank}.txt").write_text(text)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
