"""Deferred non-finite checks for accelerator tensors: no host sync per module.

Reading a per-module verdict on a GPU (``bool(t)``, ``.item()``) waits for the device and
stalls the pipeline. For CUDA (any non-CPU) tensors, a ``nonfinite``/``nan``/``inf`` check
therefore only launches its screening reduction (``x.sum()``, asynchronous) and queues the
0-dim result with where it came from. The queue is read with a single host transfer per
device at the next flush point: the optimizer's ``step()``, the next root forward, or an
explicit ``tensorpeek.breakpoints.flush()``. The first queued check that tripped is the
origin; the hit names its module, site and step. ``exact=True`` on a breakpoint opts out
(check and pause at the layer itself, paying the sync). ``set_mode("always")`` forces this
path on CPU so the logic is tested without a GPU.
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass
from typing import Any

import torch

from tensorpeek.engine.conditions import has_nonfinite, nonfinite_screen

MAX_PENDING = 1 << 16  # a run that never flushes still keeps bounded memory
_MODES = ("auto", "always", "never")
_mode = "auto"


def set_mode(mode: str) -> str:
    """``auto`` (defer non-CPU tensors), ``always`` (also CPU; for tests) or ``never``.
    Returns the previous mode."""
    global _mode
    if mode not in _MODES:
        raise ValueError(f"deferred mode must be one of {', '.join(_MODES)}, got {mode!r}")
    previous, _mode = _mode, mode
    return previous


def inline_on_cpu() -> bool:
    """Whether CPU tensors are checked at once (every mode but ``always``)."""
    return _mode != "always"


def should_defer(x: torch.Tensor, exact: bool) -> bool:
    if exact or _mode == "never":
        return False
    return _mode == "always" or x.device.type != "cpu"


@dataclass
class Pending:
    """A queued check: the breakpoint, the event it came from and the device-side screen."""

    breakpoint: Any
    event: Any  # hooks.Event, with tensors dropped (they are only weakly held below)
    label: str
    screen: torch.Tensor  # 0-dim, finite iff the tensor was (or its sum overflowed)
    tensor: weakref.ref[torch.Tensor]
    shape: tuple[int, ...]
    dtype: str
    device: str


class DeferredQueue:
    def __init__(self) -> None:
        self.pending: list[Pending] = []
        self.dropped = 0
        self.syncs = 0  # host reads done by flush(); tests and benchmarks count them

    def add(self, breakpoint: Any, event: Any, label: str, x: torch.Tensor) -> None:
        if len(self.pending) >= MAX_PENDING:
            if not self.dropped:
                warnings.warn(
                    f"tensorpeek: more than {MAX_PENDING} deferred checks without a step "
                    "boundary; further checks are skipped until the next step or "
                    "tensorpeek.engine.api.flush()",
                    RuntimeWarning,
                    stacklevel=2,
                )
            self.dropped += 1
            return
        self.pending.append(
            Pending(
                breakpoint,
                event,
                label,
                nonfinite_screen(x)[0],
                weakref.ref(x),
                tuple(x.shape),
                str(x.dtype),
                str(x.device),
            )
        )

    def clear(self) -> None:
        self.pending = []

    def flush(self) -> list[tuple[Pending, bool]]:
        """Read every queued screen (one host transfer per device); return the tripped checks
        in the order they were queued, each with whether an exact re-check confirmed it
        (``True``) or the tensor was already freed so only the screen speaks (``False``)."""
        pending, self.pending, self.dropped = self.pending, [], 0
        if not pending:
            return []
        by_device: dict[str, list[int]] = {}
        for i, p in enumerate(pending):
            by_device.setdefault(p.device, []).append(i)
        finite = [True] * len(pending)
        with torch.no_grad():
            for indices in by_device.values():
                screens = torch.stack([_real(pending[i].screen) for i in indices])
                flags = torch.isfinite(screens).cpu().tolist()  # the one sync for this device
                self.syncs += 1
                for i, ok in zip(indices, flags, strict=True):
                    finite[i] = bool(ok)
        tripped: list[tuple[Pending, bool]] = []
        for p, ok in zip(pending, finite, strict=True):
            if ok:
                continue
            x = p.tensor()
            if x is None:
                tripped.append((p, False))
            elif has_nonfinite(x, p.breakpoint.condition.kind):
                tripped.append((p, True))
        return tripped


def _real(screen: torch.Tensor) -> torch.Tensor:
    # a complex sum is finite iff both parts are; |z| is inf/nan iff a part is
    return (screen.abs() if screen.is_complex() else screen).to(torch.float64)


QUEUE = DeferredQueue()
