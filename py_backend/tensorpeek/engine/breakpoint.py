"""``Breakpoint``: one armed tensor breakpoint (its spec, compiled condition, scope, hit count
and running state) and how it matches modules and steps. Imports no torch."""

from __future__ import annotations

import fnmatch
import itertools
import warnings
import weakref
from typing import TYPE_CHECKING, Any

from tensorpeek.engine.conditions import Condition, compile_condition
from tensorpeek.engine.registry import REGISTRY
from tensorpeek.engine.spec import BreakpointSpec

if TYPE_CHECKING:
    import torch

    from tensorpeek.engine.events import Event

_ids = itertools.count(1)
_SKIPS_SAID: set[str] = set()  # the sorts of unreadable tensors already said (once a process)


class Breakpoint:
    """An armed tensor breakpoint. ``scope`` (a module) limits ``spec.target`` to that module's
    subtree, with the glob matched against paths relative to it."""

    def __init__(self, spec: BreakpointSpec, scope: torch.nn.Module | None = None) -> None:
        self.id = next(_ids)
        self.spec = spec
        self.condition: Condition = compile_condition(spec.condition)
        self.hit_count = 0
        self.error: str | None = None
        self.skipped = 0  # tensors the condition could not read (skipped, never disabling)
        self.skip_reason: str | None = None
        self.state: dict[str, list[float]] = {}  # condition's running state (exploding's window)
        self._enabled = spec.enabled
        self._scope = weakref.ref(scope) if scope is not None else None
        self._scope_class = type(scope).__name__ if scope is not None else None
        self._scope_paths: dict[int, str] | None = None
        self.from_code = False  # armed by break_on()/breakpoints(), not from a spec list
        # the hooks' screen may take it at every step (a non-finite condition, no step filter)
        self.screens_every_step = (
            self.condition.nonfinite_family and spec.every is None and spec.steps is None
        )

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def scoped(self) -> bool:
        """Armed on a module (``break_on(model)``): its target is relative to that module."""
        return self._scope is not None

    def enable(self) -> None:
        self._enabled, self.error = True, None
        REGISTRY.changed()

    def disable(self) -> None:
        self._enabled = False
        REGISTRY.changed()

    def remove(self) -> None:
        """Disarm for good; when it was the last breakpoint every hook is removed."""
        REGISTRY.remove([self])

    def matches(self, module: torch.nn.Module, path: str) -> bool:
        target = self.spec.target
        if self._scope is not None:
            scope = self._scope()
            if scope is None:
                return False
            if self._scope_paths is None:
                self._scope_paths = {id(m): name for name, m in scope.named_modules()}
            rel = self._scope_paths.get(id(module))
            if rel is None:
                return False
            if not fnmatch.fnmatchcase(rel, target):
                return False
        elif not (
            fnmatch.fnmatchcase(path, target)
            or target == type(module).__name__
            or target == f"{type(module).__module__}.{type(module).__qualname__}"
        ):
            return False
        return not any(fnmatch.fnmatchcase(path, a) for a in self.spec.allow)

    def in_steps(self, step: int) -> bool:
        if self.spec.every is not None and step % self.spec.every:
            return False
        if self.spec.steps is None:
            return True
        lo, hi = self.spec.steps
        return (lo is None or step >= lo) and (hi is None or step <= hi)

    def fail(self, error: Exception, event: Event) -> None:
        """A run-time evaluation error: report it once, disable this breakpoint, keep training."""
        self.error = f"{type(error).__name__}: {error}"
        warnings.warn(
            f"tensorpeek: breakpoint #{self.id} '{self.spec}' failed at {event.path or '<root>'} "
            f"{event.site} step {event.step} ({self.error}); it is disabled, training goes on",
            RuntimeWarning,
            stacklevel=2,
        )
        self.disable()

    def skip(self, kind: str) -> None:
        """A tensor this condition cannot read here (``kind`` says which sort): skip it and
        count it; the breakpoint stays armed for every tensor that can be read. Said once per
        sort of tensor for the whole process (per-sample gradients with vmap are ordinary
        PyTorch, not a problem to repeat)."""
        self.skipped += 1
        self.skip_reason = kind
        if kind in _SKIPS_SAID:
            return
        _SKIPS_SAID.add(kind)
        warnings.warn(
            f"tensorpeek: breakpoint conditions cannot read {kind}; such tensors are skipped "
            "and counted (Breakpoint.skipped), the breakpoints stay armed",
            RuntimeWarning,
            stacklevel=2,
        )

    def to_dict(self) -> dict[str, Any]:
        d = self.spec.to_dict()
        d.update(id=self.id, enabled=self.enabled, hit_count=self.hit_count, error=self.error)
        if self._scope_class is not None:
            d["scope"] = self._scope_class
        return d

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"<Breakpoint #{self.id} {self.spec} {state} hits={self.hit_count}>"
