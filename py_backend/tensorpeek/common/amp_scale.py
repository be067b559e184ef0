"""The tensor ``GradScaler.scale`` returned last and the scale it was multiplied by.

Set by the engine's ``GradScaler`` wrapper (``engine/amp.py``, installed while breakpoints are
armed: ``run``, ``doctor``, VS Code); read by the training capture, whose loss curve is the loss
the user computed, not ``loss * scale``: a backward that starts from the scaled tensor is
recorded divided by the scale it had then (GradScaler's scales are powers of two, so the
division gives back the user's value exactly). Torch-free; holds the tensor weakly."""

from __future__ import annotations

import weakref
from typing import Any

_last: tuple[weakref.ref[Any], Any] | None = None


def scaled(output: Any, scale: Any) -> None:
    """``GradScaler.scale`` returned ``output`` (a tensor) = its input × ``scale``."""
    global _last
    try:
        _last = (weakref.ref(output), scale)
    except TypeError:  # not a tensor (scale() of a list of tensors): nothing to unscale
        _last = None


def scale_of(tensor: Any) -> Any | None:
    """The scale ``tensor`` was multiplied by, if it is the last output of ``scale``."""
    if _last is None:
        return None
    ref, scale = _last
    return scale if ref() is tensor else None


def clear() -> None:
    global _last
    _last = None
