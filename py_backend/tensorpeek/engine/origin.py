"""The origin rules: whether a non-finite value starts at this module and site or merely flows
through it. ``docs/architecture.md`` states the rules; this is their one implementation.

- masks: a tensor whose only non-finite values are ``-inf`` is a mask (additive attention
  masks and ``masked_fill(-inf)`` are built this way). Masks are non-finite by design: a mask
  is never an origin, in the data or as a module's output, and as an input it does not count
  against the module that consumes it. A module that turns a mask into NaN or +inf (a fully
  masked softmax row) is the origin of that NaN.
- forward: the origin is the innermost module during whose call the first non-finite value
  of the pass appeared. A module is the origin when its output holds NaN or +inf (not only a
  mask) while every input it received, positional, keyword and nested, was finite. A child
  that received non-finite values is never the origin: if its parent's inputs were finite,
  the value was born in the parent's own code between its children, and the parent is the
  origin (its finding says before which child, quoting what that child received). An
  enclosing module whose child already reported the origin in this pass, and a module
  reported already in this pass (re-run by activation checkpointing), are not reported again.
- data: non-finite values (not masks) in the root's own inputs, positional or keyword, are the
  origin at module ``""``, site ``input``; everything downstream in that pass is propagated.
- backward: the origin is the first non-finite gradient of the pass that a module's *own*
  backward produced from a finite incoming gradient: a leaf module's own contribution to its
  inputs' gradients (see ``hooks``), or a parent's accumulated input gradient when no child
  started it (a gradient born in the parent's own code between its children reaches the next
  child already bad, so that child is not the origin). A non-root module's ``grad_output`` is
  the same gradient as its producer's ``grad_input``, so while any ``grad_input`` site is armed
  it is never the origin. When the forward of the same pass already went bad (an origin, bad
  data, or a non-finite model output), every non-finite gradient is propagation.
- the loss: when the first non-finite gradient of a backward appears and the tensor
  ``backward()`` was called on is itself non-finite, the finding names the loss, its value and
  step, and the model's output it was computed from.
- param: a parameter that is non-finite after ``optimizer.step()`` while its gradient is
  finite is the origin (the update itself went bad).

The state is per pass: ``new_pass()`` runs at every (non-auxiliary) root forward. The forward
state is per thread (two models training on two threads are two passes); the backward state
is shared, since autograd may run a backward's hooks on its own device threads.
"""

from __future__ import annotations

import math
import threading
import weakref

import torch

from tensorpeek.common.vocabulary import BACKWARD_SITES, OWN_PARAMETER_NOTE
from tensorpeek.engine.conditions import is_checkable
from tensorpeek.engine.events import Event
from tensorpeek.summary.sharded import is_sharded

MASK = frozenset({"neginf"})


def nonfinite_kinds(x: torch.Tensor) -> frozenset[str]:
    """Which of nan/posinf/neginf occur in ``x`` (only called once a screen has tripped, or on
    the few tensors an origin verdict needs)."""
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


def bad_kinds(x: torch.Tensor) -> frozenset[str]:
    """The non-finite kinds of ``x`` that are not a mask (see the module docstring)."""
    kinds = nonfinite_kinds(x)
    return frozenset() if kinds == MASK else kinds


MAX_OWN_TENSORS = 64  # parameters and buffers of an origin module read for its note, at most


def _bad_own_tensors(module: torch.nn.Module | None) -> list[tuple[str, str]]:
    """The module's own (not its children's) parameters and buffers that hold non-finite
    values, with their counts: read only at an origin verdict, never on the healthy path. A
    sharded parameter is read on this rank's shard (a reduction of the DTensor would be a
    collective)."""
    if module is None:
        return []
    found = []
    own = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
    for name, t in own[:MAX_OWN_TENSORS]:
        local = t.to_local() if is_sharded(t) else t  # type: ignore[attr-defined]
        if isinstance(local, torch.Tensor) and is_checkable(local) and nonfinite_kinds(local):
            found.append((name, describe_counts(local)))
    return found


def describe_counts(x: torch.Tensor) -> str:
    """``NaN×3 +Inf×2 -Inf×6`` for a tensor (read only to word a finding)."""
    with torch.no_grad():
        v = x.detach()
        if v.is_complex():
            v = torch.view_as_real(v)
        parts = []
        for label, count in (
            ("NaN", torch.isnan(v).sum()),
            ("+Inf", (v == float("inf")).sum()),
            ("-Inf", (v == float("-inf")).sum()),
        ):
            n = int(count)
            if n:
                parts.append(f"{label}×{n}")
    return " ".join(parts) or "finite values"


class _ForwardPass:
    """One thread's forward pass so far."""

    def __init__(self) -> None:
        self.origins: set[str] = set()  # module paths reported as origins
        self.root_input_bad = False
        self.inputs_reported: set[int] = set()  # breakpoints that reported bad inputs
        self.fed_bad: list[tuple[str, str]] = []  # (child path, what it received)


class OriginRules:
    """What one forward/backward pass has seen so far, and the verdicts drawn from it."""

    def __init__(self) -> None:
        self._thread = threading.local()
        self.grad_input_watched = False  # set by the dispatcher when breakpoints change
        self._loss: list[weakref.ref[torch.Tensor]] = []  # what the current backward() started from
        self.loss_step = 0
        self.new_pass()

    def new_pass(self) -> None:
        self._thread.state = _ForwardPass()
        self._backward_nonfinite_seen = False
        self._forward_went_bad = False  # an origin or bad data in this pass's forward
        self._fed_bad_gradient: set[str] = set()  # modules whose incoming gradient was bad
        self._root_outputs: list[weakref.ref[torch.Tensor]] = []
        self.note: str | None = None  # the explanation of the latest origin verdict

    @property
    def _fwd(self) -> _ForwardPass:
        state: _ForwardPass | None = getattr(self._thread, "state", None)
        if state is None:
            state = self._thread.state = _ForwardPass()
        return state

    def backward_started(self, tensors: list[torch.Tensor], step: int) -> None:
        """``backward()`` starts from ``tensors`` (usually the loss): a new backward pass.
        Held weakly, like the root's outputs: the pass state keeps nothing alive."""
        self._loss = [weakref.ref(t) for t in tensors]
        self.loss_step = step
        self._backward_nonfinite_seen = False
        self._fed_bad_gradient = set()

    def set_root_outputs(self, tensors: list[torch.Tensor]) -> None:
        self._root_outputs = [weakref.ref(t) for t in tensors]

    def first_bad_input(self, breakpoint_id: int, event: Event) -> bool:
        """A breakpoint on a (non-root) module's *input* asks where bad values arrive: it fires,
        as propagated, the first time in a pass that this breakpoint sees them."""
        reported = self._fwd.inputs_reported
        if breakpoint_id in reported:
            return False
        reported.add(breakpoint_id)
        return True

    def is_origin(self, event: Event, x: torch.Tensor) -> bool:
        """Whether a non-finite ``x`` starts here (see the module docstring for the rules).
        Sets ``note`` to the explanation a finding should quote, or None."""
        self.note = None
        if event.site in BACKWARD_SITES:
            return self._backward_origin(event)
        if event.site == "param":
            return all(not is_checkable(g) or not nonfinite_kinds(g) for g in event.input_tensors())
        if event.site == "input":
            if event.path != "" or not bad_kinds(x):
                return False
            self._fwd.root_input_bad = True
            self._forward_went_bad = True
            return True
        return self._forward_origin(event, x)

    def _forward_origin(self, event: Event, x: torch.Tensor) -> bool:
        state = self._fwd
        if state.root_input_bad:
            return False  # everything downstream of bad data is propagated
        if not bad_kinds(x):
            return False  # a mask, by design
        received = [t for t in event.input_tensors() if bad_kinds(t)]
        if received:
            if not state.origins:
                shown = ", ".join(describe_counts(t) for t in received[:2])
                state.fed_bad.append((event.path, shown))
            return False
        if event.path in state.origins:
            return False  # the same module again in this pass (checkpoint recomputation)
        prefix = event.path + "." if event.path else ""
        if any(o.startswith(prefix) for o in state.origins):
            return False  # a child already reported this origin in this pass
        fed = [(p, what) for p, what in state.fed_bad if p.startswith(prefix) and p]
        # -Inf only (a mask: bad_kinds found none) is not finite: say what it received
        masks = [t for t in event.input_tensors() if is_checkable(t) and nonfinite_kinds(t)]
        inputs = (
            f"inputs held no NaN or +Inf (it received {describe_counts(masks[0])}, taken for a "
            "mask, and turned it into NaN or +Inf)"
            if masks
            else "inputs were finite"
        )
        if fed:
            child, what = fed[0]
            owner = event.path or '"" (the root module)'
            self.note = (
                f"born in {owner}'s own forward, before it called {child} "
                f"({child} received {what}); {owner}'s own {inputs}"
            )
        elif masks:
            self.note = f"its {inputs}"
        bad = _bad_own_tensors(event.module)
        if bad:  # the cause, not an overflow: a weight that was already non-finite
            held = "; ".join(f"{name} holds {counts}" for name, counts in bad)
            plural = "s" if len(bad) > 1 else ""
            self.note = f"{OWN_PARAMETER_NOTE}{plural} {held}; its {inputs}" + (
                f" ({self.note})" if fed else ""
            )
        state.origins.add(event.path)
        self._forward_went_bad = True
        return True

    def _backward_origin(self, event: Event) -> bool:
        if self._backward_nonfinite_seen:
            return False
        if self._forward_went_bad or any(
            bad_kinds(o) for o in (r() for r in self._root_outputs) if o is not None
        ):
            self._backward_nonfinite_seen = True
            return False  # the forward already went bad: its gradient is propagation
        if event.site == "grad_output" and event.path != "" and self.grad_input_watched:
            return False  # its producer's grad_input hook sees this same gradient: the origin
        if event.own_contribution and any(bad_kinds(g) for g in event.input_tensors()):
            self._fed_bad_gradient.add(event.path)
            return False  # the gradient reaching this module was already bad: born upstream
        if event.site == "param_grad" and event.path in self._fed_bad_gradient:
            return False  # its module received a bad gradient: the parameter's is a consequence
        self._backward_nonfinite_seen = True
        self.note = self._loss_note()
        return True

    def _loss_note(self) -> str | None:
        """When the loss backward() started from is itself non-finite, say so."""
        for ref in self._loss:
            t = ref()
            if t is None or not is_checkable(t):
                continue
            if not nonfinite_kinds(t):
                continue
            value = _scalar_text(t)
            outputs = [o for o in (r() for r in self._root_outputs) if o is not None]
            outputs = [o for o in outputs if is_checkable(o)]
            came_from = ""
            if outputs:
                if all(not nonfinite_kinds(o) for o in outputs):
                    came_from = "; it was computed outside the model from its finite output"
                else:
                    came_from = "; the model's output was already non-finite"
            return (
                f"the loss (the tensor backward() was called on) is {value} at step "
                f"{self.loss_step}{came_from}"
            )
        return None


def _scalar_text(t: torch.Tensor) -> str:
    if t.numel() == 1:
        v = float(t.detach().reshape(()).float().item())
        return "NaN" if math.isnan(v) else ("+inf" if v > 0 else "-inf")
    return describe_counts(t)


__all__ = ["OriginRules", "bad_kinds", "describe_counts", "nonfinite_kinds"]
