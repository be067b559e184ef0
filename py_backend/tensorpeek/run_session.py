"""Breakpoints armed around a user's script for ``tensorpeek run`` and ``tensorpeek doctor``.

A ``RunSession`` arms the specs through ``tensorpeek.breakpoints.set_breakpoints`` and watches
for new hits at two points the training loop passes through often: every root forward (the
breakpoint set's ``on_root_hooks``) and every ``optimizer.step()`` (PyTorch's global optimizer
hooks). Hits recorded in between are handed to ``on_hit`` in order. The same points count
steps, enforce ``--max-steps`` and end the run early (``StopRun``) when asked to. Leaving the
session removes every hook and breakpoint it added.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import torch
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from tensorpeek import breakpoints as bp_api
from tensorpeek.dispatch import ARMED
from tensorpeek.hit import Hit
from tensorpeek.hooks import HOOKS
from tensorpeek.run_script import StopRun
from tensorpeek.steps import StepCounter

MAX_REPORT_HITS = 100  # hit dicts kept for the JSON report; later ones are only counted
MAX_SERIES_POINTS = 400  # gradient-norm points kept per layer (decimated beyond)


class GradientNorms:
    """Per-layer norm of the parameter gradients at each ``optimizer.step()``, for the HTML
    chart. One vector-norm reduction per parameter (accumulated in float64, which costs a
    temporary float64 copy of one gradient at a time) and one host read per step; at most
    ``MAX_SERIES_POINTS`` points per layer."""

    def __init__(self) -> None:
        self.series: dict[str, tuple[list[int], list[float | None]]] = {}
        self.stride = 1

    def record(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        if step % self.stride:
            return
        per_module: dict[str, list[torch.Tensor]] = {}
        for p, _module, path, _pname in HOOKS.optimizer_params(optimizer):
            if p.grad is not None and p.grad.layout == torch.strided:
                per_module.setdefault(path, []).append(p.grad)
        if not per_module:
            return
        paths = list(per_module)
        with torch.no_grad():  # float64: a float32 norm overflows once |g| passes ~1e19
            norms = torch.stack(
                [
                    torch.linalg.vector_norm(
                        torch.stack(
                            [
                                torch.linalg.vector_norm(g.detach(), dtype=torch.float64)
                                for g in grads
                            ]
                        )
                    )
                    for grads in per_module.values()
                ]
            ).tolist()
        for path, value in zip(paths, norms, strict=True):
            steps, values = self.series.setdefault(path, ([], []))
            steps.append(step)
            values.append(value if value == value and abs(value) != float("inf") else None)
        if max(len(s) for s, _ in self.series.values()) > MAX_SERIES_POINTS:
            self.stride *= 2
            for steps, values in self.series.values():
                del steps[1::2], values[1::2]

    def payload(self) -> dict[str, Any] | None:
        """The renderer's ``"timeseries"`` payload, or ``None`` when nothing was recorded."""
        if not self.series:
            return None
        return {
            "metric": "norm",
            "series": [
                {"module": path, "site": "param_grad", "steps": s, "values": v}
                for path, (s, v) in self.series.items()
            ],
        }


class RunSession:
    """Arms ``specs`` for the duration of a ``with`` block; see the module docstring.

    ``on_hit(hit)`` runs for each new hit and may call ``stop(reason)``; ``on_step(step)`` runs
    after each optimizer step (progress lines). ``max_steps`` ends the run after that many
    optimizer steps."""

    def __init__(
        self,
        specs: list[Any],
        *,
        on_hit: Callable[[Hit], None],
        on_step: Callable[[int], None] | None = None,
        max_steps: int | None = None,
        gradient_norms: bool = False,
    ) -> None:
        self.specs = specs
        self.on_hit = on_hit
        self.on_step = on_step
        self.max_steps = max_steps
        self.steps = StepCounter()
        self.norms = GradientNorms() if gradient_norms else None
        self.hit_dicts: list[dict[str, Any]] = []
        self.hits_dropped = 0
        self.armed: list[bp_api.Breakpoint] = []
        self._stop: str | None = None
        self._last_hit: Hit | None = None
        self._handles: list[Any] = []
        self._started = 0.0

    def stop(self, reason: str) -> None:
        """End the script at the next root forward or optimizer step."""
        if self._stop is None:
            self._stop = reason

    @property
    def step_count(self) -> int:
        """Optimizer steps completed; without an optimizer, root forwards completed."""
        return self.steps.current() if self.steps.seen_optimizer else self._forwards()

    def _forwards(self) -> int:
        from tensorpeek.steps import STEPS

        return STEPS.root_forwards_started

    def __enter__(self) -> RunSession:
        self._started = time.monotonic()
        earlier = bp_api.hits()
        self._last_hit = earlier[-1] if earlier else None  # only hits from now on are ours
        ARMED.on_root_hooks.append(self._at_root_forward)
        try:
            self.armed = bp_api.set_breakpoints(self.specs)
        except BaseException:
            ARMED.on_root_hooks.remove(self._at_root_forward)
            ARMED.changed()
            raise
        self._handles = [
            register_optimizer_step_pre_hook(self._before_step),
            register_optimizer_step_post_hook(self._after_step),
        ]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        bp_api.flush()
        self.poll()
        for h in self._handles:
            h.remove()
        self._handles = []
        if self._at_root_forward in ARMED.on_root_hooks:
            ARMED.on_root_hooks.remove(self._at_root_forward)
        bp_api.set_breakpoints([])  # removes every hook tensorpeek installed

    def poll(self) -> None:
        """Hand the hits recorded since the last poll to ``on_hit``, oldest first."""
        recent = bp_api.hits()
        start = 0
        if self._last_hit is not None:
            for i in range(len(recent) - 1, -1, -1):
                if recent[i] is self._last_hit:
                    start = i + 1
                    break
        for hit in recent[start:]:
            self._last_hit = hit
            if len(self.hit_dicts) < MAX_REPORT_HITS:
                self.hit_dicts.append(hit.to_dict())
            else:
                self.hits_dropped += 1
            self.on_hit(hit)

    def _check_stop(self) -> None:
        if self._stop is not None:
            reason, self._stop = self._stop, None
            raise StopRun(reason)

    def _at_root_forward(self) -> None:
        self.poll()
        self._check_stop()

    def _before_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self.norms is not None:
            self.norms.record(optimizer, self.steps.current())

    def _after_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.steps.optimizer_stepped(optimizer)
        self.poll()
        step = self.steps.current()
        if self.on_step is not None:
            self.on_step(step)
        if self.max_steps is not None and step >= self.max_steps:
            self.stop(f"--max-steps {self.max_steps} reached")
        self._check_stop()


class ProgressLine:
    """``step N · E errors · W warnings`` rewritten in place on a terminal, at most 10×/s."""

    def __init__(self, label: str, enabled: bool | None = None) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = 0.0
        self._shown = False

    def update(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        sys.stderr.write(f"\r\x1b[2K{self.label}: {text}")
        sys.stderr.flush()
        self._shown = True

    def clear(self) -> None:
        if self.enabled and self._shown:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
            self._shown = False
