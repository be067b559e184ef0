"""Healthy, real third-party code: a ``transformers`` GPT-2 LM from a tiny config (no download),
called as ``model(**batch)`` with a right-padding ``attention_mask`` and ``labels`` (-100 on
padding); AdamW, 3 steps. The model builds its causal/padding mask internally.

Planted: nothing. Right answer: no error finding, 3 steps."""

import torch
from transformers import GPT2Config, GPT2LMHeadModel

EXPECTED = None
ORACLE = "full"

torch.manual_seed(0)
config = GPT2Config(
    n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=32, bos_token_id=0, eos_token_id=0
)
model = GPT2LMHeadModel(config)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
steps = 0
for _ in range(3):
    ids = torch.randint(0, 100, (3, 10))
    mask = torch.ones(3, 10, dtype=torch.long)
    mask[1, 6:] = 0
    mask[2, 8:] = 0
    batch = {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}
    out = model(**batch)
    opt.zero_grad()
    out.loss.backward()
    opt.step()
    steps += 1
print(f"scenario steps={steps}")
