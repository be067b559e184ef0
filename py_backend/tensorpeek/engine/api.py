"""The breakpoint API: arm, list and remove tensor breakpoints; read their hits.

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
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import torch

from tensorpeek.engine import dispatch, rank_watch
from tensorpeek.engine.breakpoint import Breakpoint
from tensorpeek.engine.compile_warnings import warn_if_compiled_in_place
from tensorpeek.engine.hit import Hit, TensorBreakpointError
from tensorpeek.engine.registry import REGISTRY
from tensorpeek.engine.spec import (
    LIST_SEPARATOR,
    BreakpointSpec,
    SpecError,
    parse_spec,
    parse_spec_list,
)

rank_watch.follow(REGISTRY)  # a multi-rank job's watcher runs while breakpoints are armed

__all__ = [
    "Breakpoint",
    "Hit",
    "SpecError",
    "TensorBreakpointError",
    "break_on",
    "breakpoints",
    "clear",
    "current_hit",
    "flush",
    "hits",
    "list_breakpoints",
    "set_breakpoints",
]


def _arm(bp: Breakpoint) -> Breakpoint:
    bp.from_code = True
    REGISTRY.add([bp])
    return bp


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
    elif isinstance(target, str) and LIST_SEPARATOR in target:
        raise SpecError(
            f"break_on arms one breakpoint; for the ';'-separated list {target!r} use "
            "tensorpeek.breakpoints(...)"
        )
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
        warn_if_compiled_in_place(scope)
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
def breakpoints(*specs: Any, **options: Any) -> Iterator[list[Breakpoint]]:
    """Arm breakpoints for the duration of a ``with`` block and remove them afterwards.

    Either ``breakpoints(model, "output", "nonfinite", action="raise")`` (``break_on``'s
    arguments) or several specs: ``breakpoints("*:output:nonfinite", "fc*:grad_output:norm > 10")``,
    each a spec, a JSON object or a ``;``-separated list (as in ``TENSORPEEK_BREAKPOINTS``).
    """
    if specs and (
        isinstance(specs[0], (torch.nn.Module, tuple))
        or (len(specs) <= 3 and _looks_like_call(specs))
    ):
        armed = [break_on(*specs, **options)]
    else:
        parsed = [p for s in specs for p in _specs_of(s)] or [parse_spec("*:output:nonfinite")]
        parsed = [replace(p, **_spec_options(options)) for p in parsed]
        armed = [_arm(Breakpoint(p)) for p in parsed]
    try:
        yield armed
    finally:
        REGISTRY.remove(armed)


def _looks_like_call(args: tuple[Any, ...]) -> bool:
    # ("fc*", "output", "nonfinite") is break_on's positional form; specs always contain ':'
    # and lists ';'
    return all(isinstance(a, str) and ":" not in a and LIST_SEPARATOR not in a for a in args)


def _specs_of(spec: Any) -> list[BreakpointSpec]:
    if isinstance(spec, str) and LIST_SEPARATOR in spec:
        return parse_spec_list(spec)
    return [parse_spec(spec)]


def _spec_options(options: dict[str, Any]) -> dict[str, Any]:
    checked = parse_spec({"target": "*", **options})
    return {k: getattr(checked, k) for k in options}


def clear() -> None:
    """Remove every breakpoint (and with them every hook) and forget past hits."""
    REGISTRY.clear()


def hits() -> list[Hit]:
    """The most recent hits, oldest first (bounded)."""
    return list(REGISTRY.hits)


def current_hit() -> Hit | None:
    """The hit the program is paused at right now, if any."""
    return REGISTRY.current_hit()


def list_breakpoints() -> list[Breakpoint]:
    return list(REGISTRY.breakpoints.values())


def set_breakpoints(specs: list[Any], *, keep_code: bool = False) -> list[Breakpoint]:
    """Replace all breakpoints by ``specs`` (strings or JSON objects). On a bad spec raise
    ``SpecError`` and change nothing. ``keep_code=True`` keeps those armed by ``break_on`` /
    ``breakpoints(...)`` in the program itself (the breakpoints-file watcher uses it, so that
    editing the file does not disarm what the user's script asked for)."""
    armed = [Breakpoint(parse_spec(s)) for s in specs]
    REGISTRY.replace(armed, keep_code=keep_code)
    return armed


def flush() -> None:
    """Read pending deferred (accelerator) checks now instead of at the next step boundary."""
    dispatch.DISPATCHER.flush()
