"""Saying, once, when ``torch.compile`` hides the modules breakpoints watch.

Inside a compiled region module hooks never run eagerly, so input, output, grad_input and
grad_output breakpoints cannot fire there (param_grad and param still do). Three ways to get
there, three signs:
- a root that is a ``torch.compile`` wrapper (``OptimizedModule``) starts a forward;
- a module compiled in place (``module.compile()``) is given to ``break_on``;
- an optimizer steps twice with no module forward seen in between (``module.compile()`` on
  the root, or a compiled training step).
TorchScript models (``torch.jit.script`` / ``torch.jit.trace``) hide their layers the same
way: only the root's own call is a Python call, so that is said once per model too.
"""

from __future__ import annotations

import warnings
from typing import Any

MODULE_SITES = frozenset({"input", "output", "grad_input", "grad_output"})
_CANNOT_FIRE = (
    "breakpoints on input, output, grad_input and grad_output sites cannot fire inside "
    "(param_grad and param still do). Run the model uncompiled to check layers."
)


def is_compiled_wrapper(module: Any) -> bool:
    return type(module).__name__ == "OptimizedModule"


def _is_torchscript(module: Any) -> bool:
    import torch

    return isinstance(module, torch.jit.ScriptModule)


def warn_if_compiled_in_place(scope: Any) -> None:
    """``module.compile()`` swaps the module's call for a compiled one in place (no wrapper
    to notice at run time): inside it, module hooks never run eagerly."""
    compiled = [
        name or "<root>"
        for name, m in scope.named_modules()
        if getattr(m, "_compiled_call_impl", None) is not None
    ]
    if compiled:
        shown = ", ".join(compiled[:5]) + (", ..." if len(compiled) > 5 else "")
        verb = "is" if len(compiled) == 1 else "are"
        warnings.warn(
            f"tensorpeek: {shown} {verb} compiled in place (module.compile()); {_CANNOT_FIRE}",
            RuntimeWarning,
            stacklevel=4,
        )


class CompileWarnings:
    """The run-time signs (compiled roots, optimizer steps without forwards), each said once."""

    def __init__(self) -> None:
        self._compiled_roots: set[int] = set()
        self._forwards = 0  # root forwards seen (eagerly)
        self._forwards_at_step: dict[int, int] = {}  # id(optimizer) -> _forwards at its step
        self._no_forward_warned = False

    def root_forward(self, root: Any) -> None:
        self._forwards += 1
        if id(root) in self._compiled_roots:
            return
        if is_compiled_wrapper(root):
            self._compiled_roots.add(id(root))
            warnings.warn(
                f"tensorpeek: this model is torch.compile'd; {_CANNOT_FIRE}",
                RuntimeWarning,
                stacklevel=4,
            )
        elif _is_torchscript(root):
            self._compiled_roots.add(id(root))
            warnings.warn(
                f"tensorpeek: {type(root).__name__} is a TorchScript model (torch.jit.script or "
                "trace): its layers run inside TorchScript and are invisible to module hooks; "
                "only its own input and output are checked. Run the Python model to check "
                "layers.",
                RuntimeWarning,
                stacklevel=4,
            )

    def optimizer_step(self, optimizer: Any, armed_sites: set[str]) -> None:
        """An optimizer stepped twice with module-site breakpoints armed and no module
        forward seen in between: the model most likely runs compiled in place. Said once
        (per optimizer: several may step after one forward)."""
        before = self._forwards_at_step.get(id(optimizer))
        self._forwards_at_step[id(optimizer)] = self._forwards
        if before is None or before != self._forwards or self._no_forward_warned:
            return
        if not armed_sites & MODULE_SITES:
            return
        self._no_forward_warned = True
        warnings.warn(
            "tensorpeek: an optimizer step ran but no module forward was seen since the last "
            "one; if the model runs compiled (module.compile(), torch.compile of the training "
            f"step), {_CANNOT_FIRE}",
            RuntimeWarning,
            stacklevel=4,
        )
