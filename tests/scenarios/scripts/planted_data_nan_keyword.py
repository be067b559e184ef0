"""Planted: bad data passed by keyword, the way HF code calls models: ``model(**batch)`` with
``inputs_embeds=``. At step 3 one embedding holds +inf.

Right answer: ("", "input", 3): the root's keyword input, not a backward problem at the root
and not the first layer."""

import torch
from torch import nn

EXPECTED = {"module": "", "site": "input", "step": 3}
ORACLE = "full"


class Encoder(nn.Module):
    def __init__(self, dim: int = 12) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 2)

    def forward(self, inputs_embeds=None, attention_mask=None, labels=None):
        h = self.norm(torch.relu(self.proj(inputs_embeds)))  # (B, T, D)
        m = attention_mask.unsqueeze(-1).float()
        logits = self.head((h * m).sum(1) / m.sum(1))
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


torch.manual_seed(0)
model = Encoder()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
for step in range(5):
    batch = {
        "inputs_embeds": torch.randn(3, 5, 12),
        "attention_mask": torch.ones(3, 5, dtype=torch.long),
        "labels": torch.randint(0, 2, (3,)),
    }
    if step == 3:
        batch["inputs_embeds"][2, 1, 7] = float("inf")
    out = model(**batch)
    opt.zero_grad()
    out["loss"].backward()
    opt.step()
