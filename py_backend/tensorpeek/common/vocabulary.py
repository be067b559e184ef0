"""The words every part shares: the sites a breakpoint can watch and the conditions that ask
for non-finite values (breakpoint specs, the origin rules and the report's findings use them)."""

from __future__ import annotations

SITES: tuple[str, ...] = ("input", "output", "grad_input", "grad_output", "param_grad", "param")
FORWARD_SITES = frozenset({"input", "output"})
BACKWARD_SITES = frozenset({"grad_input", "grad_output", "param_grad"})
NONFINITE_CONDITIONS = frozenset({"nonfinite", "nan", "inf"})  # the presets of the origin rules
# how an origin's note starts when the module's own parameters hold the non-finite values
OWN_PARAMETER_NOTE = "its own parameter"
