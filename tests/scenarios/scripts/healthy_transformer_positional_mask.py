"""Healthy: the old ``nn.Transformer`` tutorial: an ``nn.TransformerEncoder`` language model
called as ``model(src, src_mask)``, the additive causal mask (0 / -inf, from
``nn.Transformer.generate_square_subsequent_mask``) passed POSITIONALLY to the root; SGD,
4 steps.

Planted: nothing; the -inf in the root's positional input is a mask by design. Right
answer: no error finding (in particular none at ("", "input")), 4 steps."""

import torch
from torch import nn

EXPECTED = None
ORACLE = "full"


class TransformerLM(nn.Module):
    def __init__(self, vocab: int = 40, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        layer = nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.decoder = nn.Linear(dim, vocab)

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(self.embed(src), mask=src_mask, is_causal=True))


torch.manual_seed(0)
model = TransformerLM()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
mask = nn.Transformer.generate_square_subsequent_mask(8)
steps = 0
for _ in range(4):
    ids = torch.randint(0, 40, (4, 9))
    logits = model(ids[:, :-1], mask)
    loss = nn.functional.cross_entropy(logits.reshape(-1, 40), ids[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    steps += 1
print(f"scenario steps={steps}")
