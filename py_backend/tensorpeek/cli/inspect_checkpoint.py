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

Keys come from an untrusted file: they are printed through ``terminal_safe`` (an ESC
sequence in a key shows as ``\x1b[...``, it cannot erase the lines flagging another tensor),
and containers nested deeper than ``MAX_DEPTH`` are refused with a message (the walk is
iterative and bounded: no RecursionError).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tensorpeek.common.terminal_text import terminal_safe
from tensorpeek.summary.tensor_summary import TensorSummary, summarize

HUGE_ABSMAX = 1e4
MAX_DEPTH = 64  # containers nested deeper than this are refused (state dicts are 2-3 deep)


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
    """(dotted name, tensor) in file order, walking containers with an explicit stack."""
    stack: list[tuple[Any, str, int]] = [(obj, prefix, 0)]
    while stack:
        item, name, depth = stack.pop()
        if isinstance(item, torch.Tensor):
            yield name or "<tensor>", item
            continue
        if isinstance(item, dict):
            children = [(str(k), v) for k, v in item.items()]
        elif isinstance(item, (list, tuple)):
            children = [(str(i), v) for i, v in enumerate(item)]
        else:
            continue
        if depth >= MAX_DEPTH:
            raise CheckpointError(
                f"containers are nested more than {MAX_DEPTH} levels deep (at "
                f"{name[:80]!r}...); not a checkpoint this command inspects"
            )
        for key, value in reversed(children):
            stack.append((value, f"{name}.{key}" if name else key, depth + 1))


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
    """The report; every key is printed through ``terminal_safe``."""
    names = [terminal_safe(f.name) for f in flags]
    width = min(max((len(n) for n in names), default=0), 48)
    lines = [f"{terminal_safe(path)}: {len(flags)} tensor(s)"]
    for f, name in zip(flags, names, strict=True):
        lines.append(f"{_MARK[f.severity]} {name:<{width}}  {f.summary}")
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
        print(f"tensorpeek inspect: {terminal_safe(e)}", file=sys.stderr)
        return 2
    print(format_flags(path, flags))
    return 1 if any(f.severity == "error" for f in flags) else 0
