"""Healthy, real third-party code: ``transformers`` BERT for sequence classification from a
tiny config (no download), ``model(**batch)`` with a padding ``attention_mask`` and
``token_type_ids``; AdamW, 3 steps. BERT's attention KEY bias gets an exactly-zero gradient
by construction (softmax is shift-invariant): the ``vanishing`` preset must not flag it
(issue 13, item 7).

Planted: nothing. Right answer: no error finding, no ``vanishing`` finding, 3 steps."""

import torch
from transformers import BertConfig, BertForSequenceClassification

EXPECTED = None
ORACLE = "full"
FORBIDDEN_KINDS = ["vanishing"]

torch.manual_seed(0)
config = BertConfig(
    vocab_size=100,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=32,
    num_labels=3,
)
model = BertForSequenceClassification(config)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
steps = 0
for _ in range(3):
    mask = torch.ones(4, 9, dtype=torch.long)
    mask[0, 5:] = 0
    mask[3, 7:] = 0
    batch = {
        "input_ids": torch.randint(1, 100, (4, 9)).masked_fill(mask == 0, 0),
        "attention_mask": mask,
        "token_type_ids": torch.zeros(4, 9, dtype=torch.long),
        "labels": torch.randint(0, 3, (4,)),
    }
    out = model(**batch)
    opt.zero_grad()
    out.loss.backward()
    opt.step()
    steps += 1
print(f"scenario steps={steps}")
