"""A tiny FSDP2 (``fully_shard``) training job on gloo (CPU) for the launcher tests, run by
``torchrun`` (through ``tensorpeek run|doctor --nproc-per-node N``).

    --steps N          optimizer steps (default 5)
    --nan-rank R       plant a NaN in ``mid``'s output on rank R ...
    --nan-step S       ... in the iteration after S optimizer steps (step S)
"""

from __future__ import annotations

import argparse

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import fully_shard


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
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--nan-rank", type=int, default=-1)
    parser.add_argument("--nan-step", type=int, default=2)
    args = parser.parse_args()

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = Net()
    fully_shard(model.fc1)
    fully_shard(model.fc2)
    fully_shard(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = torch.Generator().manual_seed(100 + rank)
    for step in range(args.steps):
        model.mid.poison = step == args.nan_step and rank == args.nan_rank
        x = torch.randn(4, 8, generator=data)
        loss = nn.functional.mse_loss(model(x), torch.randn(4, 4, generator=data))
        opt.zero_grad()
        loss.backward()
        opt.step()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
