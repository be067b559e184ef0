"""Per-layer norms of the parameter gradients at each optimizer step, for the report's chart.

The norms are those the backward pass produced, before any clipping: a training loop calls
``clip_grad_norm_`` between ``backward()`` and ``optimizer.step()``, so reading ``p.grad`` at
the optimizer's pre-step hook would chart clipped norms while the findings table (from the
``param_grad`` breakpoints, which fire as each gradient is accumulated) reports unclipped
ones. Each parameter's norm is therefore taken by a post-accumulate-grad hook (the last
micro-batch's accumulation holds the whole gradient) and only collected at the step.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

from tensorpeek.engine.hooks import HOOKS
from tensorpeek.summary.sharded import is_sharded

MAX_SERIES_POINTS = 400  # gradient-norm points kept per layer (decimated beyond)


def _norm64(g: torch.Tensor) -> torch.Tensor:
    # float64: a float32 norm overflows once |g| passes ~1e19. A DTensor (FSDP2) gradient: this
    # rank's shard (the whole tensor's norm would be a collective inside a hook; each rank's
    # report charts its own shards)
    if is_sharded(g):
        g = g.to_local()  # type: ignore[attr-defined]  # a DTensor (is_sharded)
    return torch.linalg.vector_norm(g.detach(), dtype=torch.float64)


class GradientNorms:
    """Per-layer norm of the parameter gradients at each ``optimizer.step()``, for the HTML
    chart. Between ``start()`` and ``stop()`` every parameter of a module that runs forward
    gets a post-accumulate-grad hook taking its gradient's norm (one vector-norm reduction,
    in float64, no host read); at each step the norms of the optimizer's parameters are
    combined per layer with one host read. At most ``MAX_SERIES_POINTS`` points per layer."""

    def __init__(self) -> None:
        self.series: dict[str, tuple[list[int], list[float | None]]] = {}
        self.stride = 1
        self._forward_hook: Any = None
        self._modules: dict[int, weakref.ref[torch.nn.Module]] = {}
        self._param_hooks: dict[int, tuple[weakref.ref[torch.Tensor], Any]] = {}
        # id(param) -> (the param, its gradient's norm at the latest accumulation)
        self._accumulated: dict[int, tuple[weakref.ref[torch.Tensor], torch.Tensor]] = {}

    def start(self) -> None:
        """Hook the parameters of every module that runs forward from now on."""
        if self._forward_hook is None:
            self._forward_hook = torch.nn.modules.module.register_module_forward_pre_hook(
                self._module_runs
            )

    def stop(self) -> None:
        """Remove every hook ``start`` added."""
        if self._forward_hook is not None:
            self._forward_hook.remove()
            self._forward_hook = None
        for _ref, handle in self._param_hooks.values():
            handle.remove()
        self._param_hooks.clear()
        self._modules.clear()
        self._accumulated.clear()

    def _module_runs(self, module: torch.nn.Module, args: Any) -> None:
        known = self._modules.get(id(module))
        if known is not None and known() is module:
            return
        self._modules[id(module)] = weakref.ref(module)
        for p in module.parameters(recurse=False):
            hooked = self._param_hooks.get(id(p))
            if not p.requires_grad or (hooked is not None and hooked[0]() is p):
                continue
            self._param_hooks[id(p)] = (
                weakref.ref(p),
                p.register_post_accumulate_grad_hook(self._gradient_accumulated),
            )

    def _gradient_accumulated(self, p: torch.Tensor) -> None:
        g = p.grad
        if g is not None and g.layout == torch.strided:
            with torch.no_grad():
                self._accumulated[id(p)] = (weakref.ref(p), _norm64(g))

    def _norm_of(self, p: torch.Tensor) -> torch.Tensor | None:
        """The norm taken at accumulation, else (a parameter never hooked, e.g. inside a
        compiled region) the norm of ``p.grad`` as it is now."""
        entry = self._accumulated.pop(id(p), None)
        if entry is not None and entry[0]() is p:
            return entry[1]
        if p.grad is not None and p.grad.layout == torch.strided:
            with torch.no_grad():
                return _norm64(p.grad)
        return None

    def record(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        per_module: dict[str, list[torch.Tensor]] = {}
        skip = bool(step % self.stride)
        for p, _module, path, _pname in HOOKS.optimizer_params(optimizer):
            if skip:
                self._accumulated.pop(id(p), None)  # the next step's norms start afresh
                continue
            norm = self._norm_of(p)
            if norm is not None:
                per_module.setdefault(path, []).append(norm)
        if not per_module:
            return
        paths = list(per_module)
        with torch.no_grad():
            norms = torch.stack(
                [torch.linalg.vector_norm(torch.stack(ns)) for ns in per_module.values()]
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
