"""Tensor breakpoints: pause a training run at the layer and step where a tensor goes bad.

    import tensorpeek
    tensorpeek.break_on(model)                                   # every layer, non-finite origin
    tensorpeek.break_on("encoder.layers.*.attn:grad_output:norm > 1e3")
    with tensorpeek.breakpoints("*:output:nonfinite", action="raise"):
        train()

Breakpoints are global (PyTorch's global module hooks see every model) and cost nothing once
removed: the hooks are installed while at least one breakpoint is enabled and taken away with
the last one.
"""

from __future__ import annotations

import contextlib
import fnmatch
import sys
import types
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import torch

from tensorpeek.conditions import Condition, compile_condition
from tensorpeek.dispatch import ARMED
from tensorpeek.hit import Hit, TensorBreakpointError
from tensorpeek.hooks import Event
from tensorpeek.pause import current_hit
from tensorpeek.spec import BreakpointSpec, SpecError, parse_spec

__all__ = [
    "Breakpoint",
    "Hit",
    "SpecError",
    "TensorBreakpointError",
    "armed",
    "break_on",
    "breakpoints",
    "clear",
    "current_hit",
    "flush",
    "hits",
    "list_breakpoints",
    "set_breakpoints",
]

_next_id = 1


class Breakpoint:
    """An armed tensor breakpoint. ``scope`` (a module) limits ``spec.target`` to that module's
    subtree, with the glob matched against paths relative to it."""

    def __init__(self, spec: BreakpointSpec, scope: torch.nn.Module | None = None) -> None:
        global _next_id
        self.id = _next_id
        _next_id += 1
        self.spec = spec
        self.condition: Condition = compile_condition(spec.condition)
        self.hit_count = 0
        self.error: str | None = None
        self.state: dict[str, list[float]] = {}  # condition's running state (exploding's window)
        self._enabled = spec.enabled
        self._scope = weakref.ref(scope) if scope is not None else None
        self._scope_class = type(scope).__name__ if scope is not None else None
        self._scope_paths: dict[int, str] | None = None
        self.from_code = False  # armed by break_on()/breakpoints(), not from a spec list

    @property
    def enabled(self) -> bool:
        return self._enabled

    def enable(self) -> None:
        self._enabled, self.error = True, None
        ARMED.changed()

    def disable(self) -> None:
        self._enabled = False
        ARMED.changed()

    def remove(self) -> None:
        """Disarm for good; when it was the last breakpoint every hook is removed."""
        ARMED.breakpoints.pop(self.id, None)
        ARMED.changed()

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

    def to_dict(self) -> dict[str, Any]:
        d = self.spec.to_dict()
        d.update(id=self.id, enabled=self.enabled, hit_count=self.hit_count, error=self.error)
        if self._scope_class is not None:
            d["scope"] = self._scope_class
        return d

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"<Breakpoint #{self.id} {self.spec} {state} hits={self.hit_count}>"


def _arm(bp: Breakpoint) -> Breakpoint:
    bp.from_code = True
    ARMED.breakpoints[bp.id] = bp
    ARMED.changed()
    return bp


def _warn_if_compiled_in_place(scope: torch.nn.Module) -> None:
    """``module.compile()`` swaps the module's call for a compiled one in place (no wrapper
    to notice at run time): inside it, module hooks never run eagerly."""
    compiled = [
        name or "<root>"
        for name, m in scope.named_modules()
        if getattr(m, "_compiled_call_impl", None) is not None
    ]
    if compiled:
        shown = ", ".join(compiled[:5]) + (", ..." if len(compiled) > 5 else "")
        warnings.warn(
            f"tensorpeek: {shown} {'is' if len(compiled) == 1 else 'are'} compiled in place "
            "(module.compile()); breakpoints on input, output, grad_input and grad_output "
            "sites cannot fire inside (param_grad and param still do). Run uncompiled to "
            "check layers.",
            RuntimeWarning,
            stacklevel=3,
        )


def break_on(
    target: Any = "*",
    site: str | None = None,
    when: str | None = None,
    *,
    every: int | None = None,
    once: bool = False,
    steps: Any = None,
    action: str | None = None,
    propagated: bool = False,
    allow: Any = (),
    exact: bool = False,
) -> Breakpoint:
    """Arm a breakpoint and return it.

    ``target``: a module (that module and its submodules), ``(model, "glob")`` (paths relative
    to ``model``), a module-path glob or class name, or a whole spec ``"TARGET:SITE:CONDITION"``.
    ``site``: input, output (default), grad_input, grad_output, param_grad, param.
    ``when``: a preset (nonfinite (default), nan, inf, exploding, vanishing, dead, saturated) or
    an expression over summary names such as ``"absmax > 1e4 or std < 1e-6"``.
    ``action``: debugger, pdb, raise, log or record (default: debugger when debugpy has a client,
    pdb on a terminal, raise otherwise). ``every=n`` evaluates only at steps divisible by n;
    ``once`` disarms after the first hit; ``steps=(first, last)`` bounds the steps (inclusive);
    ``propagated`` fires non-finite conditions everywhere, not only at the origin; ``allow``
    lists module-path globs never to fire at; ``exact`` checks accelerator tensors at the layer
    (a host sync) instead of once per step. Steps are counted from the moment the first
    breakpoint is armed. Raises ``SpecError`` for anything invalid.
    """
    scope: torch.nn.Module | None = None
    glob = "*"
    if isinstance(target, torch.nn.Module):
        scope = target
    elif isinstance(target, tuple) and len(target) == 2 and isinstance(target[0], torch.nn.Module):
        scope, glob = target[0], str(target[1])
    elif isinstance(target, str) and ":" in target:
        base = parse_spec(target)
        glob = base.target
        site = site or base.site
        when = when or base.condition
    elif isinstance(target, str):
        glob = target
    else:
        raise SpecError(
            "break_on target must be a module, (module, glob), a glob or a spec string; "
            f"got {target!r}"
        )
    if scope is not None:
        _warn_if_compiled_in_place(scope)
    options = {"allow": list(allow) if not isinstance(allow, str) else [allow], "steps": steps}
    spec = parse_spec(
        {
            "target": glob,
            "site": site or "output",
            "condition": when or "nonfinite",
            "every": every,
            "once": once,
            "action": action,
            "propagated": propagated,
            "exact": exact,
            **options,
        }
    )
    return _arm(Breakpoint(spec, scope))


@contextlib.contextmanager
def armed(*specs: Any, **options: Any) -> Iterator[list[Breakpoint]]:
    """Arm breakpoints for the duration of a ``with`` block and remove them afterwards.

    Either ``breakpoints(model, "output", "nonfinite", action="raise")`` (``break_on``'s
    arguments) or several specs: ``breakpoints("*:output:nonfinite", "fc*:grad_output:norm > 10")``.
    """
    if specs and (
        isinstance(specs[0], (torch.nn.Module, tuple))
        or (len(specs) <= 3 and _looks_like_call(specs))
    ):
        armed = [break_on(*specs, **options)]
    else:
        parsed = [parse_spec(s) for s in specs] or [parse_spec("*:output:nonfinite")]
        parsed = [replace(p, **_spec_options(options)) for p in parsed]
        armed = [_arm(Breakpoint(p)) for p in parsed]
    try:
        yield armed
    finally:
        for bp in armed:
            ARMED.breakpoints.pop(bp.id, None)
        ARMED.changed()


def _looks_like_call(args: tuple[Any, ...]) -> bool:
    # ("fc*", "output", "nonfinite") is break_on's positional form; specs always contain ':'
    return all(isinstance(a, str) and ":" not in a for a in args)


def _spec_options(options: dict[str, Any]) -> dict[str, Any]:
    checked = parse_spec({"target": "*", **options})
    return {k: getattr(checked, k) for k in options}


def clear() -> None:
    """Remove every breakpoint (and with them every hook) and forget past hits."""
    ARMED.breakpoints.clear()
    ARMED.hits.clear()
    ARMED.changed()


def hits() -> list[Hit]:
    """The most recent hits, oldest first (bounded)."""
    return list(ARMED.hits)


def list_breakpoints() -> list[Breakpoint]:
    return list(ARMED.breakpoints.values())


def set_breakpoints(specs: list[Any], *, keep_code: bool = False) -> list[Breakpoint]:
    """Replace all breakpoints by ``specs`` (strings or JSON objects). On a bad spec raise
    ``SpecError`` and change nothing. ``keep_code=True`` keeps those armed by ``break_on`` /
    ``breakpoints(...)`` in the program itself (the breakpoints-file watcher uses it, so that
    editing the file does not disarm what the user's script asked for)."""
    parsed = [parse_spec(s) for s in specs]
    for bp_id, old in list(ARMED.breakpoints.items()):
        if not (keep_code and old.from_code):
            del ARMED.breakpoints[bp_id]
    armed = []
    for spec in parsed:
        bp = Breakpoint(spec)
        ARMED.breakpoints[bp.id] = bp
        armed.append(bp)
    ARMED.changed()
    return armed


def flush() -> None:
    """Read pending deferred (accelerator) checks now instead of at the next step boundary."""
    ARMED.flush()


class _CallableModule(types.ModuleType):
    """``tensorpeek.breakpoints`` is both this module (``hits``, ``clear``, ``list_breakpoints``...)
    and the ``breakpoints(...)`` context manager the package exports. Python binds a package
    attribute to its submodule on import, so the two cannot be different objects: the module
    is callable and its ``breakpoints`` name is the module itself."""

    def __call__(
        self, *specs: Any, **options: Any
    ) -> contextlib.AbstractContextManager[list[Breakpoint]]:
        return armed(*specs, **options)


sys.modules[__name__].__class__ = _CallableModule
breakpoints = sys.modules[__name__]
