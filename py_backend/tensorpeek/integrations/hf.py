"""``TensorpeekTrainerCallback``: a Hugging Face ``TrainerCallback`` for
``Trainer(callbacks=[...])``.

For ``train()`` it arms tensorpeek's capture (steps counted, so the loss ``backward()`` starts
from, each param group's learning rate, the gradient norms and update ratios are captured, and
the model's graph traced) and takes every numeric entry of the Trainer's ``logs`` (``on_log``)
into ``tensorpeek.log`` at ``state.global_step``. The Trainer's own ``loss`` (an average over
``logging_steps``), ``grad_norm`` and ``learning_rate`` keep their meaning under a ``logged/``
prefix where the name collides with a captured curve (``logged/loss``, ``logged/grad_norm``).
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from tensorpeek.integrations._metrics import Arming, log_metrics


class TensorpeekTrainerCallback(TrainerCallback):
    """See the module docstring."""

    def __init__(self) -> None:
        self._arming = Arming()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._arming.start(kwargs.get("model"))

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        if logs:
            log_metrics(state.global_step, logs)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._arming.stop()
