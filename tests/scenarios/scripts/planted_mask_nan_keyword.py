"""Planted: an attention mask in the data that is NOT a mask by design: the collator builds
the additive mask as ``log(keep)`` with ``keep`` computed as ``0/0`` for one sequence at
step 1, so the keyword input ``attn_mask=`` holds NaN (not just 0 / -inf).

Right answer: ("", "input", 1): tolerating -inf masks must not tolerate a NaN in one."""

import torch
from torch import nn

EXPECTED = {"module": "", "site": "input", "step": 1}
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
for step in range(3):
    x = torch.randn(2, 5, 8)
    lengths = torch.tensor([5.0, 3.0])
    keep = (torch.arange(5)[None, :] < lengths[:, None]).float()  # (B, T)
    if step == 1:
        keep[1] = keep[1] * 0.0 / 0.0  # a bug in the collator
    mask = torch.log(keep)[:, None, :].expand(2, 5, 5)  # 0 / -inf
    loss = model(x, attn_mask=mask).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
