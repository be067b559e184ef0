"""A tiny residual classifier trained on synthetic data, with a planted bug.

The bug: ``RMSNorm`` divides by the root-mean-square of its input without an epsilon. The
data loader pads its batch at step 12 with an all-zero row; the bias-free projection in the
first block keeps it zero, and ``0 / 0`` turns into NaN in ``blocks.0.norm``. From there the
NaN reaches the loss, every gradient and, after the optimizer step, every weight.

Run it with ``tensorpeek doctor`` (or ``tensorpeek demo``) to see the origin named.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import torch
from torch import nn

BAD_STEP = 12  # the step whose batch carries a zero (padding) row


class RMSNorm(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, D)
        rms = x.pow(2).mean(dim=-1, keepdim=True).sqrt()  # (B, 1)
        return x / rms * self.scale  # the bug: no epsilon, a zero row gives 0/0 = NaN


class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim, bias=False)
        self.norm = RMSNorm(dim)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, D)
        return x + self.act(self.norm(self.proj(x)))


class Classifier(nn.Module):
    def __init__(self, dim: int = 32, depth: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim) for _ in range(depth))
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, D) -> (B, classes)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def batches(
    steps: int, batch: int, dim: int, classes: int, seed: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Synthetic, linearly separable data; step ``BAD_STEP`` gets one zero padding row."""
    gen = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, dim, generator=gen) * 2
    for step in range(steps):
        y = torch.randint(0, classes, (batch,), generator=gen)
        x = centers[y] + torch.randn(batch, dim, generator=gen)
        if step == BAD_STEP:
            x[-1] = 0.0  # a padded sample
        yield x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = Classifier()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for step, (x, y) in enumerate(batches(args.steps, 64, 32, 4)):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            print(f"step {step:3d}  loss {loss.item():.4f}")
    print(f"final loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
