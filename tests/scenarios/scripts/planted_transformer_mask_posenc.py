"""Planted: the old ``nn.Transformer`` tutorial model with a bug in its positional encoding,
while a healthy additive causal mask (0 / -inf) is passed POSITIONALLY to the root. The
encoding divides by the position index, which starts at 0: ``sin(x / 0)``, i.e. sin(±inf) = NaN,
in ``pos_encoder`` at step 0. The mask must be tolerated, and must not hide this.

Right answer: ("pos_encoder", "output", 0), not ("", "input", 0)."""

import torch
from torch import nn

EXPECTED = {"module": "pos_encoder", "site": "output", "step": 0}
ORACLE = "full"


class PositionalEncoding(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D)
        pos = torch.arange(x.shape[1], dtype=x.dtype)[None, :, None]  # starts at 0
        return x + torch.sin(x / pos)


class TransformerModel(nn.Module):
    def __init__(self, vocab: int = 30, dim: int = 8) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.pos_encoder = PositionalEncoding()
        layer = nn.TransformerEncoderLayer(dim, 2, 16, dropout=0.0, batch_first=True)
        self.transformer_encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.linear = nn.Linear(dim, vocab)

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        h = self.pos_encoder(self.embedding(src))
        return self.linear(self.transformer_encoder(h, src_mask))


torch.manual_seed(0)
model = TransformerModel()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
mask = nn.Transformer.generate_square_subsequent_mask(6)
for _ in range(3):
    ids = torch.randint(0, 30, (2, 7))
    out = model(ids[:, :-1], mask)
    loss = nn.functional.cross_entropy(out.reshape(-1, 30), ids[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
