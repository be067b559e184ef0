"""Healthy: an HF-style model returning a ``ModelOutput``-like dataclass, called the way HF
code and ``Trainer`` call it: ``model(**batch)`` with ``input_ids``, ``attention_mask`` and
``labels`` as keywords; the loss is computed inside the model. Adam, 4 steps.

Planted: nothing. Right answer: no error finding, 4 steps."""

from dataclasses import dataclass

import torch
from torch import nn

EXPECTED = None
ORACLE = "full"


@dataclass
class Output:
    loss: torch.Tensor | None
    logits: torch.Tensor


class Classifier(nn.Module):
    def __init__(self, vocab: int = 30, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, 3)

    def forward(self, input_ids, attention_mask, labels=None) -> Output:
        h = torch.relu(self.proj(self.embed(input_ids)))  # (B, T, D)
        m = attention_mask.unsqueeze(-1).float()
        pooled = (h * m).sum(1) / m.sum(1)
        logits = self.head(pooled)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return Output(loss=loss, logits=logits)


torch.manual_seed(0)
model = Classifier()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
steps = 0
for _ in range(4):
    mask = torch.ones(4, 7, dtype=torch.long)
    mask[0, 5:] = 0
    batch = {
        "input_ids": torch.randint(0, 30, (4, 7)),
        "attention_mask": mask,
        "labels": torch.randint(0, 3, (4,)),
    }
    out = model(**batch)
    opt.zero_grad()
    out.loss.backward()
    opt.step()
    steps += 1
print(f"scenario steps={steps}")
