"""Planted, real third-party code: a tiny ``transformers`` BERT classifier whose second
layer's feed-forward weight is poisoned before step 2 (one entry set to +inf, as a corrupted
checkpoint shard would), called as ``model(**batch)`` with a padding mask.

Right answer: ("bert.encoder.layer.1.intermediate.dense", "output", 2): that Linear turns
finite inputs into non-finite outputs."""

import torch
from transformers import BertConfig, BertForSequenceClassification

EXPECTED = {"module": "bert.encoder.layer.1.intermediate.dense", "site": "output", "step": 2}
ORACLE = "full"

torch.manual_seed(0)
config = BertConfig(
    vocab_size=100,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=32,
    num_labels=2,
)
model = BertForSequenceClassification(config)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
for step in range(4):
    if step == 2:
        with torch.no_grad():
            model.bert.encoder.layer[1].intermediate.dense.weight[7, 3] = float("inf")
    mask = torch.ones(3, 8, dtype=torch.long)
    mask[2, 5:] = 0
    batch = {
        "input_ids": torch.randint(1, 100, (3, 8)).masked_fill(mask == 0, 0),
        "attention_mask": mask,
        "labels": torch.randint(0, 2, (3,)),
    }
    out = model(**batch)
    opt.zero_grad()
    out.loss.backward()
    opt.step()
