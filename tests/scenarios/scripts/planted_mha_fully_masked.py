"""Planted: ``nn.MultiheadAttention`` with a ``key_padding_mask`` (by keyword) that, at step 1,
masks every key of one sequence: the attention weights of that sequence are NaN.

Right answer: ("encoder.attn", "output", 1): the boolean mask is finite data and the
attention's inputs are finite; the NaN is born inside MultiheadAttention."""

import torch
from torch import nn

EXPECTED = {"module": "encoder.attn", "site": "output", "step": 1}
ORACLE = "full"


class Block(nn.Module):
    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, 2, batch_first=True)
        self.ff = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        a, _ = self.attn(x, x, x, key_padding_mask=pad)
        return self.ff(x + a)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = Block()
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x, pad))


torch.manual_seed(0)
model = Net()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(3):
    x = torch.randn(2, 4, 8)
    pad = torch.zeros(2, 4, dtype=torch.bool)
    pad[0, 2:] = True
    if step == 1:
        pad[1] = True
    loss = model(x, pad=pad).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
