"""``TensorpeekCallback``: a PyTorch Lightning ``Callback`` for ``Trainer(callbacks=[...])``.

For the fit it arms tensorpeek's capture (steps counted, so the loss ``backward()`` starts from,
each param group's learning rate, the gradient norms and update ratios are captured, and the
LightningModule's graph traced) and takes what ``self.log`` logged into ``tensorpeek.log``:
training metrics at the ``trainer.global_step`` of the batch that logged them, validation
metrics at the ``global_step`` when validation ends (the sanity check is not taken). A metric is
taken when Lightning computed a new value for it (a new tensor), so an epoch-level metric is one
point per epoch; a metric belongs to the phase it first appeared in. Names the
capture owns (``loss``, ``lr``, ``grad_norm``) get a ``logged/`` prefix. Breakpoints armed
otherwise (``--break``, the extension) keep working underneath.

The graph is traced from the LightningModule's forward; when ``training_step`` never calls it
(it calls ``self.net(x)``), from the next forward of each of its direct submodules instead
(those are then the roots, as for the engine: the outermost module whose forward runs; the
graph shown is the latest traced).
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from tensorpeek.integrations._metrics import Arming, log_metrics
from tensorpeek.training.capture import CAPTURE
from tensorpeek.training.graph import TRACER


class TensorpeekCallback(pl.Callback):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self._arming = Arming()
        self._seen: dict[str, Any] = {}  # metric -> the value last taken (held: ids get reused)
        self._phase: dict[str, str] = {}  # metric -> "train" or "validation", where it appeared
        self._batch_step = 0
        self._looked_for_roots = False

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._seen.clear()
        self._looked_for_roots = False
        self._arming.start(pl_module)

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        self._batch_step = trainer.global_step

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, *args: Any) -> None:
        self._take(trainer, self._batch_step, "train")
        if not self._looked_for_roots:
            self._looked_for_roots = True
            if id(pl_module) not in TRACER.graphs:  # training_step never called forward
                for child in pl_module.children():
                    CAPTURE.watch_root(child)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._take(trainer, trainer.global_step, "validation")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._seen.clear()
        self._phase.clear()
        self._arming.stop()

    def on_exception(self, trainer: pl.Trainer, pl_module: Any, exception: BaseException) -> None:
        self._arming.stop()

    def _take(self, trainer: pl.Trainer, step: int, phase: str) -> None:
        """The metrics with a new value that belong to ``phase`` (the phase a metric first
        appeared in: Lightning keeps the other phase's values in ``callback_metrics``)."""
        fresh = {}
        for name, value in dict(trainer.callback_metrics).items():
            if self._phase.setdefault(name, phase) != phase:
                continue
            if self._seen.get(name) is not value:
                self._seen[name] = value
                fresh[name] = value
        log_metrics(step, fresh)
