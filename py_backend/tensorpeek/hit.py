"""``Hit``: why a tensor breakpoint fired, and the error raised for ``action="raise"``.

A hit keeps a reference to the offending tensor and module (never a copy) while it is the
latest hit; older hits in the ring buffer drop to weak references so that a long run does not
keep old activations alive.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import torch

MAX_INPUT_SUMMARIES = 4


class TensorBreakpointError(RuntimeError):
    """Raised by a breakpoint with ``action="raise"``; the message is the hit report and
    ``.hit`` is the ``Hit``."""

    def __init__(self, hit: Hit) -> None:
        super().__init__(hit.report())
        self.hit = hit


def summary_dict(x: torch.Tensor | None) -> dict[str, Any] | None:
    """The full summary of a tensor (computed once per hit, so cost does not matter much)."""
    if x is None:
        return None
    from tensorpeek.summary import summarize

    return summarize(x).to_dict()


@dataclass
class Hit:
    """One firing of a breakpoint: where (module path and class, site, parameter), when (step),
    why (condition, origin or propagated), and what (tensor summary, input summaries)."""

    breakpoint_id: int
    spec: dict[str, Any]
    module: str
    module_class: str
    site: str
    step: int
    condition: str
    origin: bool
    param: str | None
    label: str
    summary: dict[str, Any] | None
    input_summaries: list[dict[str, Any]] = field(default_factory=list)
    deferred: bool = False
    _tensor: Any = field(default=None, repr=False)
    _module: Any = field(default=None, repr=False)

    @property
    def tensor(self) -> torch.Tensor | None:
        """The offending tensor (``None`` once an older hit's tensor has been freed)."""
        t = self._tensor
        return t() if isinstance(t, weakref.ref) else t

    @property
    def module_object(self) -> torch.nn.Module | None:
        m = self._module
        return m() if isinstance(m, weakref.ref) else m

    def weaken(self) -> None:
        """Drop the strong references (the hit is no longer the latest one)."""
        for name in ("_tensor", "_module"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, weakref.ref):
                try:
                    setattr(self, name, weakref.ref(value))
                except TypeError:
                    setattr(self, name, None)

    def where(self) -> str:
        module = self.module or "<root>"
        param = f".{self.param}" if self.param else ""
        label = f"[{self.label}]" if self.label and self.label != self.param else ""
        return f"{module}{param} ({self.module_class}) {self.site}{label} at step {self.step}"

    def report(self) -> str:
        """A few lines for terminals and exception messages."""
        kind = "origin" if self.origin else "propagated"
        lines = [
            f"tensorpeek: breakpoint #{self.breakpoint_id} '{self.spec_text()}' hit: {self.where()}"
        ]
        lines.append(
            f"  condition: {self.condition} ({kind}{', deferred check' if self.deferred else ''})"
        )
        if self.summary is not None:
            lines.append("  tensor: " + _one_line(self.summary))
        for i, s in enumerate(self.input_summaries):
            lines.append(f"  input {i}: " + _one_line(s))
        return "\n".join(lines)

    def spec_text(self) -> str:
        return f"{self.spec.get('target')}:{self.spec.get('site')}:{self.spec.get('condition')}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the agent's snapshot and the CLI's report use it)."""
        return {
            "breakpoint": self.breakpoint_id,
            "spec": dict(self.spec),
            "module": self.module,
            "module_class": self.module_class,
            "site": self.site,
            "step": self.step,
            "condition": self.condition,
            "origin": self.origin,
            "param": self.param,
            "label": self.label,
            "deferred": self.deferred,
            "summary": self.summary,
            "inputs": list(self.input_summaries),
        }

    def __str__(self) -> str:
        return self.report()


def _one_line(s: dict[str, Any]) -> str:
    shape = "×".join(str(d) for d in s.get("shape", []))
    parts = [f"{s.get('dtype')}[{shape}]"]
    for key in ("nan", "posinf", "neginf"):
        if s.get(key):
            parts.append(f"{key}={s[key]}")
    for key in ("min", "max", "mean", "std"):
        v = s.get(key)
        if v is not None:
            parts.append(f"{key}={v:.4g}")
    return " ".join(parts)
