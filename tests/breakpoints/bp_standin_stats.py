"""A small, real stand-in for ``tensorpeek.stats`` / ``tensorpeek.summary`` (issue 2), used only
while that part has not landed: same contract (``compute(x, names)``, ``summarize(x).to_dict()``),
computed plainly in float64. ``conftest.py`` installs it only if the real modules are missing."""

from __future__ import annotations

import sys
import types
from typing import Any

import torch


def compute(x: torch.Tensor, names: list[str]) -> dict[str, Any]:
    with torch.no_grad():
        v = x.detach().reshape(-1).to(torch.float64)
        finite = v[torch.isfinite(v)]
        out: dict[str, Any] = {}
        counts = {
            "nan": int(torch.isnan(v).sum()),
            "posinf": int((v == float("inf")).sum()),
            "neginf": int((v == float("-inf")).sum()),
            "zeros": int((v == 0).sum()),
            "finite": int(finite.numel()),
        }
        for n in names:
            if n in counts:
                out[n] = counts[n]
            elif n == "nonfinite":
                out[n] = counts["nan"] + counts["posinf"] + counts["neginf"]
            elif n == "zeros_frac":
                out[n] = counts["zeros"] / v.numel() if v.numel() else None
            elif finite.numel() == 0:
                out[n] = None
            elif n == "min":
                out[n] = float(finite.min())
            elif n == "max":
                out[n] = float(finite.max())
            elif n == "mean":
                out[n] = float(finite.mean())
            elif n == "std":
                out[n] = float(finite.std(unbiased=False)) if finite.numel() > 1 else 0.0
            elif n == "norm":
                out[n] = float(finite.norm())
            elif n == "absmean":
                out[n] = float(finite.abs().mean())
            elif n == "absmax":
                out[n] = float(finite.abs().max())
            else:
                raise KeyError(n)
        return out


class _Summary:
    def __init__(self, x: torch.Tensor) -> None:
        names = [
            "nan",
            "posinf",
            "neginf",
            "zeros",
            "finite",
            "min",
            "max",
            "mean",
            "std",
            "norm",
            "absmean",
        ]
        self._d = {
            "shape": list(x.shape),
            "dtype": str(x.dtype).replace("torch.", ""),
            "device": str(x.device),
            "numel": x.numel(),
            "nbytes": x.numel() * x.element_size(),
            "requires_grad": x.requires_grad,
            **compute(x, names),
            "hist": {"edges": [], "counts": [], "sampled": False, "sample_size": 0},
        }

    def to_dict(self) -> dict[str, Any]:
        return dict(self._d)


def install() -> None:
    stats = types.ModuleType("tensorpeek.stats")
    stats.compute = compute  # type: ignore[attr-defined]
    summary = types.ModuleType("tensorpeek.summary")
    summary.summarize = lambda x, **kw: _Summary(x)  # type: ignore[attr-defined]
    import tensorpeek

    sys.modules["tensorpeek.stats"] = stats
    sys.modules["tensorpeek.summary"] = summary
    tensorpeek.stats = stats  # type: ignore[attr-defined]
    tensorpeek.summary = summary  # type: ignore[attr-defined]
