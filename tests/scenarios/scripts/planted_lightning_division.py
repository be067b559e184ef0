"""Planted, real third-party code: PyTorch Lightning ``Trainer.fit`` on a model whose forward
divides the encoder's output by the first input feature (a "per-sample scale") BETWEEN its
two children; the third batch (step 2) has a sample whose scale is 0: ``h / 0`` gives ±inf
in the root's own forward, before it calls ``head``.

Right answer: ("", "output", 2): born in the root's own forward, not in ``head``, whose inputs
were not finite."""

import sys

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EXPECTED = {"module": "", "site": "output", "step": 2}
ORACLE = "full"


class Regressor(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(5, 16), nn.Tanh())
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.enc(x) / x[:, :1]  # (B, 16) per-sample scale
        return self.head(h)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e-3)


torch.manual_seed(0)
x = torch.rand(16, 5) + 0.5
x[9, 0] = 0.0  # batch 2 (samples 8..11)
loader = DataLoader(TensorDataset(x, torch.randn(16, 1)), batch_size=4)
trainer = pl.Trainer(
    accelerator="cpu",
    max_steps=4,
    logger=False,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    default_root_dir=sys.argv[1] if len(sys.argv) > 1 else None,
)
trainer.fit(Regressor(), loader)
