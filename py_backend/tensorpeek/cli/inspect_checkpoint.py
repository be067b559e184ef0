"""``tensorpeek inspect CHECKPOINT``: one summary line per tensor of a saved checkpoint, with
the bad ones flagged.

Reads ``.safetensors`` files (when the ``safetensors`` package is installed) and anything
``torch.load`` reads with ``weights_only=True`` (state dicts, and nested dicts/lists of
tensors such as ``{"model": ..., "optimizer": ...}``; names are dotted paths). Nothing is
unpickled beyond tensors and plain containers, so inspecting an untrusted file runs no code.

Flags:
- ``error`` — the tensor holds NaN or ±Inf;
- ``warning`` — suspicious: huge values (``|x|max`` > 1e4), a weight matrix that is constant
  or all zeros, values saturating a narrow float type.
Exit code: 1 when any tensor has an error flag, 0 otherwise (warnings do not fail), 2 when
the file cannot be read.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tensorpeek.summary.tensor_summary import TensorSummary, summarize

HUGE_ABSMAX = 1e4


class CheckpointError(ValueError):
    """The checkpoint cannot be read; the message says why."""


@dataclass
class TensorFlag:
    name: str
    summary: TensorSummary
    severity: str | None  # "error", "warning" or None
    reason: str


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor in the file, by dotted name, in file order."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise CheckpointError(
                "reading .safetensors needs the safetensors package: pip install safetensors"
            ) from None
        try:
            return dict(load_file(str(path), device="cpu"))
        except Exception as e:  # noqa: BLE001 - any parse failure becomes one clear message
            raise CheckpointError(f"cannot read {path} as safetensors: {e}") from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - pickle/zip/weights-only errors all mean "unreadable"
        raise CheckpointError(
            f"cannot read {path} with torch.load(weights_only=True): {e}"
        ) from None
    tensors = dict(_flatten(obj, ""))
    if not tensors:
        raise CheckpointError(f"{path} holds no tensors (found {type(obj).__name__})")
    return tensors


def _flatten(obj: Any, prefix: str) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        yield prefix or "<tensor>", obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _flatten(v, f"{prefix}.{i}" if prefix else str(i))


def judge(name: str, x: torch.Tensor, s: TensorSummary) -> TensorFlag:
    """Flag one tensor (see the module docstring for the rules)."""
    if s.nonfinite:
        parts = [
            f"{n} {label}"
            for n, label in ((s.nan, "NaN"), (s.posinf, "+Inf"), (s.neginf, "-Inf"))
            if n
        ]
        return TensorFlag(name, s, "error", "non-finite: " + ", ".join(parts))
    if s.absmax is not None and s.absmax > HUGE_ABSMAX and x.is_floating_point():
        return TensorFlag(name, s, "warning", f"huge values: |x|max = {s.absmax:.3g}")
    if s.saturated:
        return TensorFlag(name, s, "warning", f"{s.saturated} values at the {s.dtype} limit")
    if x.is_floating_point() and x.dim() >= 2 and x.numel() > 1 and s.min == s.max:
        what = "all zeros" if s.min == 0 else f"constant ({s.min:.3g})"
        return TensorFlag(name, s, "warning", f"weight matrix is {what}")
    return TensorFlag(name, s, None, "")


def inspect_checkpoint(path: Path) -> list[TensorFlag]:
    return [judge(name, t, summarize(t)) for name, t in load_tensors(path).items()]


_MARK = {"error": "✗", "warning": "?", None: " "}


def format_flags(path: Path, flags: list[TensorFlag]) -> str:
    width = min(max((len(f.name) for f in flags), default=0), 48)
    lines = [f"{path}: {len(flags)} tensor(s)"]
    for f in flags:
        lines.append(f"{_MARK[f.severity]} {f.name:<{width}}  {f.summary}")
        if f.severity:
            lines.append(f"  {'':<{width}}  ^ {f.severity}: {f.reason}")
    errors = sum(1 for f in flags if f.severity == "error")
    warnings = sum(1 for f in flags if f.severity == "warning")
    params = sum(f.summary.numel for f in flags)
    lines.append(
        f"{params:,} values in {len(flags)} tensor(s): {errors} with non-finite values, "
        f"{warnings} suspicious"
    )
    return "\n".join(lines)


def inspect_main(path: Path) -> int:
    """Print the report; exit code 1 when a tensor holds NaN/Inf, 2 when unreadable."""
    try:
        flags = inspect_checkpoint(path)
    except CheckpointError as e:
        print(f"tensorpeek inspect: {e}", file=sys.stderr)
        return 2
    print(format_flags(path, flags))
    return 1 if any(f.severity == "error" for f in flags) else 0
