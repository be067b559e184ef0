"""From a hook event to a hit: which breakpoints watch a module, whether their condition
holds, whether a non-finite value starts here (origin) or merely flows through, and what to
do about it.

Origin rules (DESIGN.md):
- forward: a module's result is the origin when its inputs are finite and it is not; or,
  when no origin was reported yet in this pass, when it holds a kind of non-finite value
  (NaN, +inf, -inf) that none of its inputs holds. A ``-inf`` attention mask therefore does
  not make every attention layer an origin, but a NaN appearing after it does, while an
  earlier origin's +inf meeting its -inf as NaN downstream is propagation. An enclosing
  module whose child already reported the origin in this pass is not reported again.
  Non-finite values in the root's own inputs are reported at module ``""``, site ``input``,
  and everything downstream of them in that pass counts as propagated.
- backward: the first non-finite gradient seen in a backward pass (hooks fire from the loss
  backwards) is the origin; later ones are propagated. A module's ``grad_output`` is the same
  tensor as its producer's ``grad_input`` and its hook may run first, so while any
  ``grad_input`` site is armed a non-root ``grad_output`` is never the origin: the producer's
  ``grad_input`` (or, for a functional op, the enclosing module's) is where it starts.
- param: a parameter that is non-finite after ``optimizer.step()`` while its gradient is
  finite is the origin (the update itself went bad).
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections import deque
from typing import TYPE_CHECKING, Any

import torch

from tensorpeek import deferred, history, pause
from tensorpeek.conditions import EvalContext, is_checkable
from tensorpeek.hit import MAX_INPUT_SUMMARIES, Hit, summary_dict
from tensorpeek.hooks import HOOKS, Event, Table
from tensorpeek.steps import STEPS

if TYPE_CHECKING:
    from tensorpeek.breakpoints import Breakpoint

MAX_HITS = 256  # hits kept by ``hits()``
BACKWARD_SITES = frozenset({"grad_input", "grad_output", "param_grad"})


def nonfinite_kinds(x: torch.Tensor) -> frozenset[str]:
    """Which of nan/posinf/neginf occur in ``x`` (only called once a screen has tripped)."""
    if not is_checkable(x):
        return frozenset()
    with torch.no_grad():
        x = x.detach()
        if bool(torch.isfinite(x.sum())):
            return frozenset()
        if x.is_complex():
            x = torch.view_as_real(x)
        kinds = {"nan"} if bool(torch.isnan(x).any()) else set()
        if bool((x == float("inf")).any()):
            kinds.add("posinf")
        if bool((x == float("-inf")).any()):
            kinds.add("neginf")
        return frozenset(kinds)


class BreakpointSet:
    """The armed breakpoints and the per-pass state the origin rules need."""

    def __init__(self) -> None:
        self.breakpoints: dict[int, Breakpoint] = {}
        self.generation = 0
        self.hits: deque[Hit] = deque(maxlen=MAX_HITS)
        self._lock = threading.RLock()
        self._forward_origins: set[str] = set()
        self._backward_nonfinite_seen = False
        self._grad_input_watched = False
        self._root_input_bad = False
        self._inputs_reported: set[int] = set()
        self._compiled_warned: set[int] = set()
        self._forwards = 0  # root forwards seen (eagerly)
        self._forwards_at_step: dict[int, int] = {}  # id(optimizer) -> _forwards at its step
        self._no_forward_warned = False
        self.on_root_hooks: list[Any] = []  # called at each root forward (the autoarm file watcher)

    def changed(self) -> None:
        """Breakpoints were added, removed, enabled or disabled: re-wire the hooks."""
        with self._lock:
            self.generation += 1
            self._grad_input_watched = any(
                bp.enabled and bp.spec.site == "grad_input" for bp in self.breakpoints.values()
            )
            HOOKS.invalidate()
            if any(bp.enabled for bp in self.breakpoints.values()) or self.on_root_hooks:
                HOOKS.install(self)
            else:
                HOOKS.uninstall()
                deferred.QUEUE.clear()

    def table_for(self, module: torch.nn.Module, path: str) -> Table:
        table: Table = {}
        for bp in self.breakpoints.values():
            if bp.enabled and bp.matches(module, path):
                table.setdefault(bp.spec.site, []).append(bp)
                # bad data entering the root is an origin at ("", "input") for output watchers too
                origin_mode = bp.condition.nonfinite_family and not bp.spec.propagated
                if origin_mode and bp.spec.site == "output" and path == "":
                    table.setdefault("input", []).append(bp)
        return table

    def on_root_forward(self, root: torch.nn.Module) -> None:
        self._forwards += 1
        self.flush()
        self._forward_origins = set()
        self._backward_nonfinite_seen = False
        self._root_input_bad = False
        self._inputs_reported = set()
        for hook in list(self.on_root_hooks):
            hook()
        if type(root).__name__ == "OptimizedModule" and id(root) not in self._compiled_warned:
            self._compiled_warned.add(id(root))
            warnings.warn(
                "tensorpeek: this model is torch.compile'd; breakpoints on modules inside the "
                "compiled region (input, output, grad_input, grad_output sites) cannot fire there. "
                "param_grad and param breakpoints still work; run the model uncompiled to "
                "check layers.",
                RuntimeWarning,
                stacklevel=2,
            )

    def on_optimizer_step(self, optimizer: torch.optim.Optimizer, when: str) -> None:
        if when == "pre":
            self.flush()
            return
        self._warn_if_no_forward_was_seen(optimizer)
        step = STEPS.current()
        for p, module, path, pname in HOOKS.optimizer_params(optimizer):
            table = HOOKS.table(module)[1]
            if "param" in table:
                grad = [p.grad] if p.grad is not None else []
                self.on_event(
                    Event(module, path, "param", [(pname, p)], grad, param=pname, step=step)
                )

    def _warn_if_no_forward_was_seen(self, optimizer: torch.optim.Optimizer) -> None:
        """An optimizer stepped twice with module-site breakpoints armed and no module
        forward seen in between: the model most likely runs compiled in place
        (``module.compile()``, or a compiled training step), where module hooks never run
        eagerly. Said once. (Per optimizer: several may step after one forward.)"""
        before = self._forwards_at_step.get(id(optimizer))
        self._forwards_at_step[id(optimizer)] = self._forwards
        if before is None or before != self._forwards or self._no_forward_warned:
            return
        sites = {bp.spec.site for bp in self.breakpoints.values() if bp.enabled}
        if not sites & {"input", "output", "grad_input", "grad_output"}:
            return
        self._no_forward_warned = True
        warnings.warn(
            "tensorpeek: an optimizer step ran but no module forward was seen since the last "
            "one; if the model runs compiled (module.compile(), torch.compile of the training "
            "step), breakpoints on input, output, grad_input and grad_output sites cannot "
            "fire inside it (param_grad and param still do). Run the model uncompiled to "
            "check layers.",
            RuntimeWarning,
            stacklevel=3,
        )

    def on_event(self, event: Event) -> None:
        for bp in list(self._bps_for(event)):
            root_input_only = event.site == "input" and bp.spec.site != "input"
            if root_input_only and (bp.spec.propagated or not bp.condition.nonfinite_family):
                continue
            self._check(bp, event)

    def _bps_for(self, event: Event) -> list[Breakpoint]:
        if event.module is None:
            return []
        return HOOKS.table(event.module)[1].get(event.site, [])

    def _check(self, bp: Breakpoint, event: Event) -> None:
        if not bp.enabled or not bp.in_steps(event.step):
            return
        for label, x in event.tensors:
            if not isinstance(x, torch.Tensor):
                continue
            if (
                bp.condition.nonfinite_family
                and is_checkable(x)
                and deferred.should_defer(x, bp.spec.exact)
            ):
                deferred.QUEUE.add(
                    bp,
                    Event(event.module, event.path, event.site, [], [], event.param, event.step),
                    label,
                    x,
                )
                continue
            ctx = EvalContext(
                event.step, event.site, event.module, f"{event.path}:{event.site}:{label}", bp.state
            )
            try:
                fired, values = bp.condition.evaluate(x, ctx)
            except Exception as e:  # noqa: BLE001 - any user-expression failure disables the breakpoint
                bp.fail(e, event)
                return
            history.record(event.path, event.site, event.step, values)
            if not fired:
                continue
            if not bp.condition.nonfinite_family:
                self._fire(bp, event, label, x, origin=True)
                return
            origin = self._is_origin(event, x)
            if origin or bp.spec.propagated or self._first_bad_input(bp, event):
                self._fire(bp, event, label, x, origin=origin)
                return

    def _first_bad_input(self, bp: Breakpoint, event: Event) -> bool:
        """A breakpoint on a (non-root) module's *input* asks where bad values arrive: it fires,
        as propagated, the first time in a pass that this breakpoint sees them."""
        if event.site != "input" or bp.spec.site != "input":
            return False
        if id(bp) in self._inputs_reported:
            return False
        self._inputs_reported.add(id(bp))
        return True

    def _is_origin(self, event: Event, x: torch.Tensor) -> bool:
        """Whether a non-finite ``x`` starts here (see the module docstring for the rules)."""
        if event.site in BACKWARD_SITES:
            if self._backward_nonfinite_seen:
                return False
            if event.site == "grad_output" and event.path != "" and self._grad_input_watched:
                return False  # its producer's grad_input hook sees this same tensor: the origin
            self._backward_nonfinite_seen = True
            return True
        if event.site == "param":
            return all(not is_checkable(g) or not nonfinite_kinds(g) for g in event.inputs)
        if event.site == "input":
            if event.path != "":
                return False
            self._root_input_bad = True
            return True
        if self._root_input_bad:
            return False  # everything downstream of bad data is propagated
        out = nonfinite_kinds(x)
        incoming: set[str] = set()
        for t in event.inputs:
            incoming |= nonfinite_kinds(t)
        if not out - incoming:
            return False
        if incoming and self._forward_origins:
            return False  # e.g. +inf and -inf from an earlier origin meeting here as NaN
        prefix = event.path + "." if event.path else ""
        if any(o.startswith(prefix) for o in self._forward_origins if o != event.path):
            return False  # a child already reported this origin in this pass
        self._forward_origins.add(event.path)
        return True

    def flush(self) -> None:
        """Read the deferred checks queued since the last flush and fire their hits."""
        seen: set[int] = set()
        for p, _confirmed in deferred.QUEUE.flush():
            bp: Breakpoint = p.breakpoint
            if not bp.enabled or (not bp.spec.propagated and id(bp) in seen):
                continue
            seen.add(id(bp))
            x = p.tensor()
            self._fire(bp, p.event, p.label, x, origin=True, deferred_meta=p)

    def _fire(
        self,
        bp: Breakpoint,
        event: Event,
        label: str,
        x: torch.Tensor | None,
        origin: bool,
        deferred_meta: Any = None,
    ) -> None:
        bp.hit_count += 1
        module = event.module
        if x is not None:
            summary = summary_dict(x)
        else:
            m = deferred_meta
            summary = {"shape": list(m.shape), "dtype": m.dtype, "device": m.device, "freed": True}
        inputs = [
            summary_dict(t)
            for t in event.inputs[:MAX_INPUT_SUMMARIES]
            if isinstance(t, torch.Tensor)
        ]
        hit = Hit(
            breakpoint_id=bp.id,
            spec=bp.spec.to_dict(),
            module=event.path,
            module_class=type(module).__name__ if module is not None else "?",
            site=event.site,
            step=event.step,
            condition=bp.spec.condition,
            origin=origin,
            param=event.param,
            label=label,
            summary=summary,
            input_summaries=[s for s in inputs if s is not None],
            deferred=deferred_meta is not None,
            _tensor=x,
            _module=module,
        )
        with self._lock:
            if self.hits:
                self.hits[-1].weaken()
            self.hits.append(hit)
        if bp.spec.once:
            bp.disable()
        pause.deliver(hit, bp.spec.action)


ARMED = BreakpointSet()


def report_error(message: str) -> None:
    """One line on stderr for problems the user must know about but that must not stop training."""
    print(f"tensorpeek: {message}", file=sys.stderr, flush=True)
