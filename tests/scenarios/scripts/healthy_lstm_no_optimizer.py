"""Healthy: the PyTorch word-language-model example's shape: an LSTM over 17 batches,
``nn.NLLLoss()`` as a module on ``log_softmax`` output, gradient clipping and a manual SGD
update (no optimizer object). The hidden state is carried and detached between batches.

Planted: nothing. Right answer: no error finding; steps = ``backward()`` calls = 17 (not the
number of root calls, which is 34 with the loss module). ``--max-steps 5`` stops it after 5."""

import torch
from torch import nn

EXPECTED = None
ORACLE = "full"


class RNNModel(nn.Module):
    def __init__(self, vocab: int = 30, dim: int = 12) -> None:
        super().__init__()
        self.encoder = nn.Embedding(vocab, dim)
        self.rnn = nn.LSTM(dim, dim, batch_first=True)
        self.decoder = nn.Linear(dim, vocab)

    def forward(self, ids, hidden):
        out, hidden = self.rnn(self.encoder(ids), hidden)
        return nn.functional.log_softmax(self.decoder(out), dim=-1), hidden


torch.manual_seed(0)
model = RNNModel()
criterion = nn.NLLLoss()
hidden = (torch.zeros(1, 4, 12), torch.zeros(1, 4, 12))
steps = 0
for _ in range(17):
    ids = torch.randint(0, 30, (4, 6))
    hidden = tuple(h.detach() for h in hidden)
    out, hidden = model(ids[:, :-1], hidden)
    loss = criterion(out.reshape(-1, 30), ids[:, 1:].reshape(-1))
    model.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 0.25)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(p.grad, alpha=-0.5)
    steps += 1
print(f"scenario steps={steps}")
