"""Healthy, real third-party code: a tiny ``transformers`` GPT-2 (eager attention) where one
sequence of the batch is ALL padding (``attention_mask`` row of zeros, labels -100), as a
bucketing collator can produce. GPT-2 builds its additive mask in its own code; the fully
masked attention rows stay finite there, and the logits and the loss are finite.

Planted: nothing. Right answer: no error finding, 3 steps (issue 13, item 2: today's rule
"a new kind of non-finite value is an origin" must not fire on the mask)."""

import torch
from transformers import GPT2Config, GPT2LMHeadModel

EXPECTED = None
ORACLE = "full"

torch.manual_seed(0)
config = GPT2Config(
    n_layer=2,
    n_embd=32,
    n_head=2,
    vocab_size=100,
    n_positions=32,
    bos_token_id=0,
    eos_token_id=0,
    attn_implementation="eager",
)
model = GPT2LMHeadModel(config)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
steps = 0
for _ in range(3):
    ids = torch.randint(1, 100, (3, 8))
    mask = torch.ones(3, 8, dtype=torch.long)
    mask[1] = 0  # an all-padding sequence
    mask[2, 5:] = 0
    out = model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100))
    opt.zero_grad()
    out.loss.backward()
    opt.step()
    steps += 1
print(f"scenario steps={steps}")
