"""tensorpeek: tensor summaries and tensor breakpoints for debugging PyTorch training.

The public API is small and imported lazily, so that ``import tensorpeek`` inside a
training process costs nothing until a feature is used::

    import tensorpeek
    print(tensorpeek.summarize(x))            # one dense line per tensor
    tensorpeek.break_on(model, "output", "nonfinite")
    tensorpeek.watch(model, log="gradients")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it; resolved on first attribute access (PEP 562)
_EXPORTS: dict[str, str] = {
    "summarize": "tensorpeek.summary",
    "TensorSummary": "tensorpeek.summary",
    "break_on": "tensorpeek.breakpoints",
    "breakpoints": "tensorpeek.breakpoints",
    "clear": "tensorpeek.breakpoints",
    "hits": "tensorpeek.breakpoints",
    "Breakpoint": "tensorpeek.breakpoints",
    "Hit": "tensorpeek.breakpoints",
    "TensorBreakpointError": "tensorpeek.breakpoints",
    "watch": "tensorpeek.watch",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tensorpeek' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
