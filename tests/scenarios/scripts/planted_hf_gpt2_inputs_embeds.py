"""Planted, real third-party code: a tiny ``transformers`` GPT-2 fed ``inputs_embeds=`` by
keyword (``model(**batch)``) with a padding mask. At step 1 one embedding vector holds a NaN
(a corrupt feature from an upstream encoder).

Right answer: ("", "input", 1): bad data at the root's keyword input."""

import torch
from transformers import GPT2Config, GPT2LMHeadModel

EXPECTED = {"module": "", "site": "input", "step": 1}
ORACLE = "full"

torch.manual_seed(0)
config = GPT2Config(
    n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=32, bos_token_id=0, eos_token_id=0
)
model = GPT2LMHeadModel(config)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
for step in range(3):
    ids = torch.randint(0, 100, (2, 8))
    mask = torch.ones(2, 8, dtype=torch.long)
    mask[1, 5:] = 0
    embeds = torch.randn(2, 8, 32) * 0.02
    if step == 1:
        embeds[0, 3, 5] = float("nan")
    batch = {
        "inputs_embeds": embeds,
        "attention_mask": mask,
        "labels": ids.masked_fill(mask == 0, -100),
    }
    out = model(**batch)
    opt.zero_grad()
    out.loss.backward()
    opt.step()
