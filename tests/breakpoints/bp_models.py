"""Small real models for the breakpoint tests (no fakes: real modules, real autograd)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


class MLP(nn.Module):
    """fc1 -> relu -> fc2 -> relu -> head; ``poison`` makes one module produce a NaN."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, width)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(width, width)
        self.act2 = nn.ReLU()
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 4) -> (B, 1)
        return self.head(self.act2(self.fc2(self.act1(self.fc1(x)))))


class Sqrt(nn.Module):
    """sqrt of its input: NaN for negative inputs, and an infinite gradient at 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(x)


@dataclass
class Pair:
    first: torch.Tensor
    second: torch.Tensor | None


class Shapes(nn.Module):
    """Returns its result as a tuple, a dict, a dataclass or None, selected by ``kind``."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> object:
        y = self.lin(x)
        if self.kind == "tuple":
            return (y, None, y * 2)
        if self.kind == "dict":
            return {"out": y, "aux": [y.sum()]}
        if self.kind == "dataclass":
            return Pair(y, None)
        return None


def train(model: nn.Module, steps: int, seed: int = 0, lr: float = 0.1) -> list[float]:
    """A deterministic SGD run; returns the losses as Python floats (bit-exact comparisons)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        x = torch.randn(16, 4, generator=gen)
        y = x.sum(dim=1, keepdim=True)
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
