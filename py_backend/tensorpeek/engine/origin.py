"""The origin rules: whether a non-finite value starts at this module and site or merely flows
through it. ``docs/architecture.md`` states the rules; this is their one implementation.

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

The state is per pass: ``new_pass()`` runs at every root forward.
"""

from __future__ import annotations

import torch

from tensorpeek.common.vocabulary import BACKWARD_SITES
from tensorpeek.engine.conditions import is_checkable
from tensorpeek.engine.hooks import Event


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


class OriginRules:
    """What one forward/backward pass has seen so far, and the verdicts drawn from it."""

    def __init__(self) -> None:
        self.grad_input_watched = False  # set by the dispatcher when breakpoints change
        self.new_pass()

    def new_pass(self) -> None:
        self._forward_origins: set[str] = set()
        self._backward_nonfinite_seen = False
        self._root_input_bad = False
        self._inputs_reported: set[int] = set()

    def first_bad_input(self, breakpoint_id: int, event: Event) -> bool:
        """A breakpoint on a (non-root) module's *input* asks where bad values arrive: it fires,
        as propagated, the first time in a pass that this breakpoint sees them."""
        if breakpoint_id in self._inputs_reported:
            return False
        self._inputs_reported.add(breakpoint_id)
        return True

    def is_origin(self, event: Event, x: torch.Tensor) -> bool:
        """Whether a non-finite ``x`` starts here (see the module docstring for the rules)."""
        if event.site in BACKWARD_SITES:
            if self._backward_nonfinite_seen:
                return False
            if event.site == "grad_output" and event.path != "" and self.grad_input_watched:
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
