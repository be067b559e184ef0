"""The float64 oracle the summary tests compare against: the obvious, slow computation."""

from __future__ import annotations

import math
from typing import Any

import torch


def logical_values(t: torch.Tensor) -> torch.Tensor:
    """Every logical element of ``t`` as float64 (complex: the magnitude; sparse: the stored
    values; quantized: dequantized), materialised the simple way."""
    t = t.detach()
    if t.layout == torch.sparse_coo:
        t = t._values()
    elif t.layout != torch.strided:
        t = t.values()
    if t.is_quantized:
        t = t.dequantize()
    if t.is_complex():
        t = t.to(torch.complex128).abs()
    return t.to(torch.float64).reshape(-1).clone()


def oracle(t: torch.Tensor) -> dict[str, Any]:
    v = logical_values(t)
    fin = v[torch.isfinite(v)]
    out: dict[str, Any] = {
        "nan": int(torch.isnan(v).sum()),
        "posinf": int((v == math.inf).sum()),
        "neginf": int((v == -math.inf).sum()),
        "zeros": int((v == 0).sum()),
        "finite": fin.numel(),
    }
    if fin.numel() == 0:
        out.update(dict.fromkeys(("min", "max", "mean", "std", "std_sample", "norm", "absmean")))
        return out
    # moments of fin / k, scaled back: float64 squares of |x| beyond 1e+-154 would overflow
    # or vanish, and the oracle must be right there too
    k = float(fin.abs().max()) or 1.0
    unit = fin / k
    out.update(
        min=float(fin.min()),
        max=float(fin.max()),
        mean=k * float(unit.mean()),
        std=k * float(unit.std(correction=0)),
        std_sample=k * float(unit.std(correction=1)) if fin.numel() > 1 else None,
        norm=k * float(unit.norm()),
        absmean=k * float(unit.abs().mean()),
        absmax=float(fin.abs().max()),
    )
    return out


def close(
    actual: float | None, expected: float | None, rel: float = 1e-6, scale: float = 0.0
) -> bool:
    """Relative error at most ``rel``; ``scale`` adds an absolute allowance of
    ``rel * scale`` for quantities that can cancel to ~0 (a mean of signed values)."""
    if expected is None or actual is None:
        return actual is None and expected is None
    return abs(actual - expected) <= rel * (abs(expected) + scale)
