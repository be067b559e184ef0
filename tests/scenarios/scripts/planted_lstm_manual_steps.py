"""Planted: an LSTM language model trained WITHOUT an optimizer (manual SGD), its loss from an
``nn.NLLLoss()`` module (a second root module, called every batch). Before batch 4 the script
"loads a corrupted checkpoint shard": one LSTM weight becomes NaN, so the LSTM's output is
NaN from finite inputs.

Right answer: ("rnn", "output", 4): the step is the number of ``backward()`` calls before it
(4), not the number of root calls (8 with the loss module)."""

import torch
from torch import nn

EXPECTED = {"module": "rnn", "site": "output", "step": 4}
ORACLE = "full"


class RNNModel(nn.Module):
    def __init__(self, vocab: int = 20, dim: int = 8) -> None:
        super().__init__()
        self.encoder = nn.Embedding(vocab, dim)
        self.rnn = nn.LSTM(dim, dim, batch_first=True)
        self.decoder = nn.Linear(dim, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.encoder(ids))
        return nn.functional.log_softmax(self.decoder(out), dim=-1)


torch.manual_seed(0)
model = RNNModel()
criterion = nn.NLLLoss()
for batch in range(7):
    if batch == 4:
        with torch.no_grad():
            model.rnn.weight_hh_l0[3, 2] = float("nan")
    ids = torch.randint(0, 20, (3, 6))
    loss = criterion(model(ids[:, :-1]).reshape(-1, 20), ids[:, 1:].reshape(-1))
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(p.grad, alpha=-0.1)
