"""The Lightning ``Callback`` and the Hugging Face ``TrainerCallback`` with the real frameworks
(tiny models, CPU): the frameworks' logged metrics at their global steps, the captured loss
against the frameworks' own numbers, and nothing left armed afterwards."""

from __future__ import annotations

import warnings

import pytest
import torch
from models import hooks_of
from torch import nn

from tensorpeek.common.steps import STEPS
from tensorpeek.training.series import STORE

pytestmark = pytest.mark.slow


def test_lightning_callback_takes_self_log_metrics_at_the_global_step(tmp_path) -> None:
    pl = pytest.importorskip("pytorch_lightning")
    from tensorpeek.integrations.lightning import TensorpeekCallback

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
            self.own_losses: list[tuple[int, float]] = []

        def training_step(self, batch, batch_idx):
            x, y = batch
            logits = self.net(x)
            loss = nn.functional.cross_entropy(logits, y)
            self.log("train_loss", loss)
            self.log("acc", (logits.argmax(1) == y).float().mean())
            self.own_losses.append((self.global_step, loss.item()))
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", nn.functional.cross_entropy(self.net(x), y))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    g = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(
        torch.randn(64, 4, generator=g), torch.randint(0, 2, (64,), generator=g)
    )
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    module = Module()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[TensorpeekCallback()],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's advice about num_workers
        trainer.fit(module, loader, loader)
    scalars = STORE.snapshot()
    assert trainer.global_step == 16
    own = module.own_losses
    assert [s for s, _ in own] == list(range(16))
    assert scalars["train_loss"] == [[s, v] for s, v in own]  # self.log's value, its step
    assert scalars["loss"] == [[s, v] for s, v in own]  # the captured loss, bit for bit
    assert [s for s, _ in scalars["acc"]] == list(range(16))
    assert [s for s, _ in scalars["val_loss"]] == [8, 16]  # once per validation run
    assert scalars["lr"] == [[s, 0.1] for s in range(16)]
    graph = STORE.graph
    assert graph is not None
    # training_step calls self.net, never forward: net is the root that runs (paths under it)
    assert [(e["source"], e["target"]) for e in graph["edges"]] == [
        ("", "0"),
        ("0", "1"),
        ("1", "2"),
    ]
    assert graph["nodes"][0] == {"id": "", "label": "input", "type": "Sequential"}
    assert not STEPS.counting and hooks_of(module) == 0


def test_hf_trainer_callback_takes_the_trainers_logs_at_the_global_step(tmp_path) -> None:
    transformers = pytest.importorskip("transformers")
    from tensorpeek.integrations.hf import TensorpeekTrainerCallback

    class Regressor(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(4, 16)
            self.act = nn.Tanh()
            self.fc2 = nn.Linear(16, 1)

        def forward(self, x, labels=None):
            out = self.fc2(self.act(self.fc1(x)))
            loss = nn.functional.mse_loss(out.squeeze(-1), labels)
            return {"loss": loss, "logits": out}

    g = torch.Generator().manual_seed(0)
    xs = torch.randn(40, 4, generator=g)
    data = [{"x": x, "labels": x.sum()} for x in xs]
    model = Regressor()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=10,
        logging_steps=2,
        per_device_train_batch_size=4,
        learning_rate=0.05,
        lr_scheduler_type="linear",
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
        use_cpu=True,
    )
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=data, callbacks=[TensorpeekTrainerCallback()]
    )
    trainer.train()
    scalars = STORE.snapshot()
    logged = [h for h in trainer.state.log_history if "loss" in h and "train_runtime" not in h]
    assert [h["step"] for h in logged] == [2, 4, 6, 8, 10]
    assert scalars["logged/loss"] == [[h["step"], h["loss"]] for h in logged]
    assert scalars["learning_rate"] == [[h["step"], h["learning_rate"]] for h in logged]
    captured = dict(scalars["loss"])
    assert sorted(captured) == list(range(10))
    for h in logged:  # the Trainer's loss is the mean of the window's per-step losses
        window = [captured[s] for s in range(h["step"] - 2, h["step"])]
        assert h["loss"] == pytest.approx(sum(window) / 2, rel=1e-4)
    lrs = dict(scalars["lr"])  # the captured lr follows the linear schedule to 0
    assert lrs[0] == pytest.approx(0.05) and lrs[9] == pytest.approx(0.005)
    assert {(e["source"], e["target"]) for e in STORE.graph["edges"]} == {
        ("", "fc1"),
        ("fc1", "act"),
        ("act", "fc2"),
    }
    assert not STEPS.counting and hooks_of(model) == 0
