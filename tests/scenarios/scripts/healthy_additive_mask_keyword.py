"""Healthy: an additive attention mask (0 / -inf, a causal mask plus padded keys) arrives IN
THE DATA, by keyword: ``model(x, attn_mask=mask)``; the model hands it to
``scaled_dot_product_attention``. Every query keeps at least one key, so the result is finite.

Planted: nothing; the -inf values in the root's keyword input are a mask by design. Right
answer: no error finding, 4 steps."""

import torch
from torch import nn

EXPECTED = None
ORACLE = "full"


class SelfAttention(nn.Module):
    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:  # (B, T, D)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        a = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out(a)


torch.manual_seed(0)
model = SelfAttention()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
steps = 0
for _ in range(4):
    x = torch.randn(2, 5, 8)
    mask = torch.full((2, 5, 5), float("-inf")).triu(1)  # causal: 0 on and below the diagonal
    mask[1, :, 3:] = float("-inf")  # the second sequence's last two keys are padding
    loss = model(x, attn_mask=mask).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    steps += 1
print(f"scenario steps={steps}")
