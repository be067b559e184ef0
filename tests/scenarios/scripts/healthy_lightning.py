"""Healthy, real third-party code: a tiny PyTorch Lightning ``Trainer.fit`` (CPU, no logger, no
checkpoints, no progress bar, ``max_steps=4``). Lightning runs the forward and backward inside
``optimizer.step(closure)``. The default root dir is ``sys.argv[1]`` (a tmp folder).

Planted: nothing. Right answer: no error finding, 4 steps (``trainer.global_step``)."""

import sys

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EXPECTED = None
ORACLE = "full"


class Regressor(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(5, 16), nn.ReLU())
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.enc(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e-2)


torch.manual_seed(0)
x = torch.randn(16, 5)
loader = DataLoader(TensorDataset(x, x.sum(-1, keepdim=True)), batch_size=4)
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
print(f"scenario steps={trainer.global_step}")
