"""A reference detector for the non-finite origin, written from issue 13's rules and nothing
of tensorpeek: it runs a scenario script in-process (``runpy``) and reports the FIRST place in
time where a non-finite value starts, as ``(module, site, step)``.

How it sees the model (PyTorch's public extension points only):
- ``nn.Module.__call__`` is wrapped, so every call is seen with its positional AND keyword
  arguments and its output; a per-thread call stack gives the root (the outermost module
  running on that thread) and the dotted path from that root's ``named_modules()``.
- ``register_full_backward_hook`` on every module called: its ``grad_input`` is the module's
  OWN contribution (autograd wraps the module's inputs), not a gradient accumulated from
  several consumers.
- ``Tensor.backward`` is wrapped to see the scalar backward starts from (the loss) and to
  count ``backward()`` calls; ``register_optimizer_step_post_hook`` counts optimizer steps.

The rules (issue 13, "What it must do"):
- data: non-finite values anywhere in the root's arguments (nested containers included)
  → ``("", "input")``;
- a non-root module entered with non-finite arguments before any origin: the value was born
  in its parent's own code → ``(parent, "output")``;
- a module returning non-finite values (all its arguments being finite, since otherwise the
  rule above fired first) → ``(module, "output")``: children return first, so the innermost
  module wins;
- backward: a module whose ``grad_output`` is finite and whose own ``grad_input`` is not →
  ``(module, "grad_input")``; the root receiving a non-finite ``grad_output`` (the loss code
  made it) → ``("", "grad_output")``;
- the loss: ``backward()`` starting from a non-finite scalar → ``("", "loss")`` (the
  contract has no site for it; the test checks the finding's message instead);
- tolerated by design: a tensor whose only non-finite values are ``-inf`` (additive and
  ``masked_fill(-inf)`` attention masks). A NaN or ``+inf`` is never tolerated, so a NaN after
  a mask is still caught at the module that produced it.
- step: optimizer steps completed (the largest count over optimizers); in a run with no
  optimizer step, ``backward()`` calls completed; with neither, completed calls of the first
  root module. The counters are snapshotted at each event and resolved at the end of the run,
  when it is known which definition applies.
"""

from __future__ import annotations

import dataclasses
import runpy
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook


@dataclass(frozen=True)
class Origin:
    module: str
    site: str
    step: int


def tensors_in(value: Any, depth: int = 0) -> Iterator[torch.Tensor]:
    """Every tensor inside ``value``: tuples, lists, dicts, dataclasses (HF ``ModelOutput`` is
    both a dict and a dataclass) and objects exposing ``to_tuple``."""
    if depth > 6:
        return
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from tensors_in(v, depth + 1)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from tensors_in(v, depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from tensors_in(getattr(value, f.name, None), depth + 1)


def is_bad(t: torch.Tensor) -> bool:
    """Holds a non-finite value that is not a tolerated ``-inf`` (see the module docstring)."""
    if not t.is_floating_point() or t.numel() == 0 or t.device.type == "meta":
        return False
    with torch.no_grad():
        x = t.detach()
        if bool(torch.isfinite(x).all()):
            return False
        return bool(torch.isnan(x).any() or torch.isposinf(x).any())


def any_bad(value: Any) -> bool:
    return any(is_bad(t) for t in tensors_in(value))


@dataclass
class _Frame:
    module: nn.Module
    path: str | None  # None: not in the root's tree (its code counts as the parent's)


@dataclass
class ReferenceDetector:
    """Run a script under the rules above; ``backward_hooks=False`` for scripts whose in-place
    ops cannot coexist with full backward hooks (PyTorch raises)."""

    backward_hooks: bool = True
    first: tuple[str, str, tuple[int, int, int]] | None = None
    opt_steps: dict[int, int] = field(default_factory=dict)
    backward_done: int = 0
    first_root: int | None = None
    first_root_calls: int = 0

    def __post_init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.RLock()
        self._paths: dict[int, dict[int, str]] = {}
        self._hooked: set[int] = set()
        self._handles: list[Any] = []

    # -- the counters ------------------------------------------------------------------
    def _counters(self) -> tuple[int, int, int]:
        return (max(self.opt_steps.values(), default=0), self.backward_done, self.first_root_calls)

    def _record(self, module: str, site: str) -> None:
        with self._lock:
            if self.first is None:
                self.first = (module, site, self._counters())

    def result(self) -> Origin | None:
        if self.first is None:
            return None
        module, site, (opt, bwd, calls) = self.first
        return Origin(module, site, self._resolve(opt, bwd, calls))

    def steps(self) -> int:
        return self._resolve(*self._counters())

    def _resolve(self, opt: int, bwd: int, calls: int) -> int:
        if self.opt_steps:
            return opt
        if self.backward_done:
            return bwd
        return calls

    # -- forward -----------------------------------------------------------------------
    def _stack(self) -> list[_Frame]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def _call(self, original: Any, module: nn.Module, args: tuple, kwargs: dict) -> Any:
        if torch.jit.is_tracing():  # torch.jit.trace running the model once: not training
            return original(module, *args, **kwargs)
        stack = self._stack()
        if not stack:
            paths = {id(m): name for name, m in module.named_modules()}
            self._paths[id(module)] = paths
            self._local.root = module
            path: str | None = ""
            if self.first_root is None:
                self.first_root = id(module)
            if any_bad((args, kwargs)):
                self._record("", "input")
        else:
            path = self._paths[id(self._local.root)].get(id(module))
            parent = next((f.path for f in reversed(stack) if f.path is not None), "")
            if path is not None and any_bad((args, kwargs)):
                self._record(parent, "output")
        scripted = isinstance(module, torch.jit.ScriptModule)  # takes no backward hooks
        if (
            self.backward_hooks
            and path is not None
            and not scripted
            and id(module) not in self._hooked
        ):
            self._hooked.add(id(module))
            self._handles.append(module.register_full_backward_hook(self._backward_hook(path)))
        stack.append(_Frame(module, path))
        try:
            out = original(module, *args, **kwargs)
        finally:
            stack.pop()
        if path is not None and any_bad(out):
            self._record(path, "output")
        if not stack and id(module) == self.first_root:
            self.first_root_calls += 1
        return out

    # -- backward ----------------------------------------------------------------------
    def _backward_hook(self, path: str) -> Any:
        def hook(module: nn.Module, grad_input: Any, grad_output: Any) -> None:
            if self.first is not None:
                return
            if any_bad(grad_output):
                if path == "":
                    self._record("", "grad_output")
                return  # a non-root's grad_output is made by a producer that reported it
            if any_bad(grad_input):
                self._record(path, "grad_input")

        return hook

    def _backward(self, original: Any, tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if tensor.numel() == 1 and not bool(torch.isfinite(tensor.detach()).all()):
            self._record("", "loss")
        out = original(tensor, *args, **kwargs)
        self.backward_done += 1
        return out

    def _optimizer_stepped(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        with self._lock:
            self.opt_steps[id(optimizer)] = self.opt_steps.get(id(optimizer), 0) + 1

    # -- running a script --------------------------------------------------------------
    def run(self, script: Path, args: list[str] | None = None) -> Origin | None:
        """Execute ``script`` as ``__main__`` under the detector; return the first origin."""
        call, backward = nn.Module.__call__, torch.Tensor.backward
        detector = self

        def patched_call(module: nn.Module, *a: Any, **kw: Any) -> Any:
            return detector._call(call, module, a, kw)

        def patched_backward(tensor: torch.Tensor, *a: Any, **kw: Any) -> Any:
            return detector._backward(backward, tensor, *a, **kw)

        saved_argv, saved_path = sys.argv, list(sys.path)
        sys.argv = [str(script), *(args or [])]
        sys.path.insert(0, str(script.parent))
        nn.Module.__call__ = patched_call  # type: ignore[method-assign]
        torch.Tensor.backward = patched_backward  # type: ignore[method-assign]
        step_hook = register_optimizer_step_post_hook(self._optimizer_stepped)
        try:
            runpy.run_path(str(script), run_name="__main__")
        finally:
            nn.Module.__call__ = call  # type: ignore[method-assign]
            torch.Tensor.backward = backward  # type: ignore[method-assign]
            step_hook.remove()
            for h in self._handles:
                h.remove()
            sys.argv, sys.path[:] = saved_argv, saved_path
        return self.result()
