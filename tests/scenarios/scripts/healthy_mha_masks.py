"""Healthy: ``nn.MultiheadAttention`` with a boolean ``key_padding_mask`` (the last two keys
of one sequence are padding) and a float additive causal ``attn_mask`` (0 / -inf), both passed
by keyword; Adam, 4 steps.

Planted: nothing; the -inf values are by design and every row keeps a key. Right answer: no
error finding, 4 steps."""

import torch
from torch import nn

EXPECTED = None
ORACLE = "full"


class Encoder(nn.Module):
    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, 2, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:  # (B, T, D)
        T = x.shape[1]
        causal = torch.full((T, T), float("-inf")).triu(1)  # built inside the model
        a, _ = self.attn(x, x, x, key_padding_mask=pad, attn_mask=causal, need_weights=False)
        return self.head(self.norm(x + a))


torch.manual_seed(0)
model = Encoder()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
steps = 0
for _ in range(4):
    x = torch.randn(3, 6, 16)
    pad = torch.zeros(3, 6, dtype=torch.bool)
    pad[1, 4:] = True
    loss = model(x, pad=pad).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    steps += 1
print(f"scenario steps={steps}")
