"""What both framework callbacks share: counting steps for the fit, and handing the framework's
metrics to ``tensorpeek.log`` under names that do not collide with the captured curves."""

from __future__ import annotations

from typing import Any

from tensorpeek.common.steps import STEPS
from tensorpeek.training.capture import CAPTURE
from tensorpeek.training.log import log
from tensorpeek.training.series import is_number

CAPTURED = ("loss", "lr", "grad_norm", "grad_norm_clipped")


def metric_name(name: str) -> str:
    """A framework's ``loss`` (averaged over its logging window) is not the captured per-step
    loss: names the capture owns get a ``logged/`` prefix."""
    head = name.split("/")[0]
    if head in CAPTURED or name.startswith("update_ratio/"):
        return f"logged/{name}"
    return name


def numeric(value: Any) -> bool:
    if is_number(value):
        return True
    numel = getattr(value, "numel", None)
    return callable(numel) and numel() == 1 and not getattr(value, "is_complex", lambda: False)()


def log_metrics(step: int, metrics: dict[str, Any]) -> None:
    """``tensorpeek.log`` the numeric entries (one-element tensors are read lazily)."""
    chosen = {metric_name(str(k)): v for k, v in metrics.items() if numeric(v)}
    if chosen:
        log(step=max(int(step), 0), **chosen)


class Arming:
    """Counting steps (so the loss, lr and norms are captured) from ``start`` to ``stop``."""

    def __init__(self) -> None:
        self.active = False

    def start(self, model: Any) -> None:
        if self.active:
            return
        CAPTURE.install()
        STEPS.acquire()
        self.active = True
        if model is not None:
            CAPTURE.watch_root(model)

    def stop(self) -> None:
        if self.active:
            self.active = False
            STEPS.release()
