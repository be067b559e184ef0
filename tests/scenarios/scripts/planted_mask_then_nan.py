"""Planted: a NaN after an expected -inf. A hand-written attention builds its padding mask
inside the model with ``masked_fill(-inf)`` and hands the scores to an ``nn.Softmax`` module.
The -inf values are by design (every row keeps a key) until step 2, when one sequence is ALL
padding: its rows are all -inf and softmax gives 0/0 = NaN.

Right answer: ("attn.softmax", "output", 2): tolerating the mask must not hide the NaN made
from it."""

import torch
from torch import nn

EXPECTED = {"module": "attn.softmax", "site": "output", "step": 2}
ORACLE = "full"


class Attention(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.softmax = nn.Softmax(dim=-1)
        self.scale = dim**-0.5

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:  # (B, T, D), (B, T)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        scores = (q @ k.transpose(1, 2)) * self.scale  # (B, T, T)
        scores = scores.masked_fill(pad[:, None, :], float("-inf"))
        return self.softmax(scores) @ v


class Net(nn.Module):
    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.attn = Attention(dim)
        self.head = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        return self.head(self.attn(x, pad))


torch.manual_seed(0)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
for step in range(4):
    x = torch.randn(3, 5, 8)
    pad = torch.zeros(3, 5, dtype=torch.bool)
    pad[0, 3:] = True
    if step == 2:
        pad[2] = True  # an empty sequence
    loss = model(x, pad).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
