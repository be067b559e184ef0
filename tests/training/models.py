"""Small models the training tests share (CPU, seconds)."""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    """A residual block: x + fc2(act(fc1(x)))."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d, d)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, d)
        return x + self.fc2(self.act(self.fc1(x)))


class ResNet(nn.Module):
    """stem -> blocks.0 -> blocks.1 -> head, each block a residual."""

    def __init__(self, d_in: int = 6, d: int = 16, d_out: int = 3) -> None:
        super().__init__()
        self.stem = nn.Linear(d_in, d)
        self.blocks = nn.Sequential(Block(d), Block(d))
        self.head = nn.Linear(d, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2)
    )


def batches(n: int, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(32, 6, generator=g), torch.randn(32, 2, generator=g)) for _ in range(n)]


def hooks_of(model: nn.Module) -> int:
    """Every hook registered on the model's modules and parameters."""
    n = 0
    for m in model.modules():
        n += len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        n += len(m._backward_pre_hooks) + len(m._forward_hooks_with_kwargs)
    for p in model.parameters():
        n += len(p._backward_hooks or {}) + len(
            getattr(p, "_post_accumulate_grad_hooks", None) or {}
        )
    return n
