"""The torch path of a summary's first pass: every block reduced with torch operations
(:mod:`tensorpeek.summary.reductions`). It serves what the fused kernel
(:mod:`tensorpeek.summary.native`) does not read: integers, complex, quantized and float8
tensors, tensors on a device, and every tensor where the kernel was not built.
``stats.measure`` chooses the path.
"""

from __future__ import annotations

import math

import torch

from tensorpeek.summary.blocks import block_values, flat_block, iter_blocks
from tensorpeek.summary.dtypes import DtypeInfo, ValueKind
from tensorpeek.summary.histogram import Sampler
from tensorpeek.summary.reductions import (
    WIDE_SLICE,
    Partials,
    Wanted,
    block_row,
    finite_row,
    nonfinite_row,
)

__all__ = ["UINT64_SHIFT", "torch_pass"]

UINT64_SHIFT = 1 << 63  # uint64 extremes are read as int64 values this much lower


def torch_pass(
    y: torch.Tensor,
    info: DtypeInfo,
    want: Wanted,
    block: int,
    branchless: bool,
    partials: Partials,
    sampler: Sampler | None,
) -> None:
    """Every partial of ``y``'s blocks from torch reductions, added to ``partials``; the
    histogram sample drawn by ``sampler`` from each block while it is in cache."""
    distinct = y.numel()
    narrow = info.kind is ValueKind.NARROW_FLOAT and not branchless
    owned = info.kind in (ValueKind.INTEGER, ValueKind.QUANTIZED, ValueKind.COMPLEX)
    # (buffers that a summary may not need cost nothing: untouched pages are never mapped)
    scratch = gathered = wide = stage = spare = None
    if narrow:  # read in float64 slices (see narrow_rows); strided blocks gathered first
        wide = torch.empty(min(WIDE_SLICE, distinct), dtype=torch.float64, device=y.device)
        scratch = torch.empty_like(wide)  # for the saturation and subnormal counts
        spare = torch.empty_like(wide)  # for slices holding NaN or Inf
        if y.dtype == torch.float16:  # float16 -> float64 is 2.7x slower here than via float32
            stage = torch.empty(wide.numel(), dtype=torch.float32, device=y.device)
        if not y.is_contiguous():
            gathered = torch.empty(min(block, distinct), dtype=y.dtype, device=y.device)
    elif info.kind is ValueKind.FLOAT and not branchless:
        size = min(block, distinct)
        scratch = torch.empty(size, dtype=y.dtype, device=y.device)  # |x| and signs
        spare = torch.empty_like(scratch)  # for blocks holding NaN or Inf
        if not y.is_contiguous():
            gathered = torch.empty(size, dtype=y.dtype, device=y.device)  # the block's values
        if y.dtype != torch.float64:  # the block's float64 copy for the signed sums
            wide = torch.empty(size, dtype=torch.float64, device=y.device)

    for piece in iter_blocks(y, block):
        if narrow and wide is not None and scratch is not None and spare is not None:
            flat, _ = flat_block(piece, gathered)
            for row in narrow_rows(flat, info, want, wide, scratch, spare, stage):
                partials.add(row)
            if sampler is not None:
                sampler.take(flat)
            continue
        v, _ = block_values(piece, info, gathered)
        if info.kind is ValueKind.INTEGER:
            partials.int_extremes.append(torch.stack(list(torch.aminmax(_as_int64(piece)))))
        elif info.kind is ValueKind.COMPLEX:
            partials.complex_ranges.append(complex_ranges(piece))
        if owned:  # v is a fresh copy: sample it first, then it doubles as the scratch
            if sampler is not None:
                sampler.take(v)
            partials.add(block_row(v, info, want, v, branchless, wide))
            continue
        partials.add(block_row(v, info, want, scratch, branchless, wide, spare))
        if sampler is not None:  # the block is in cache by now (block_row only reads v)
            sampler.take(v)


def narrow_rows(
    flat: torch.Tensor,
    info: DtypeInfo,
    want: Wanted,
    wide: torch.Tensor,
    spare: torch.Tensor,
    other: torch.Tensor,
    stage: torch.Tensor | None = None,
) -> list[list[float]]:
    """Partials of a block of a narrow float dtype (float16, bfloat16, float8), one row per
    float64 slice: each slice is converted once, straight from the narrow dtype, and every
    reduction runs on that copy in cache, which it may then overwrite (|x|, signs). In
    float64 even subnormal narrow values are normal numbers, so the saturation and subnormal
    counts are exact comparisons. (Widening to float32 first cost one more pass and buffer.)
    ``spare``: a buffer like ``wide`` for those counts, ``other`` one more for slices
    holding NaN or Inf (see ``reductions.nonfinite_row``); ``stage``: a float32 buffer to
    convert through (measured per element: float16 -> float64 0.80 ns, via float32 0.29 ns;
    bfloat16 -> float64 0.16 ns)."""
    rows = []
    step = wide.numel()
    for start in range(0, flat.numel(), step):
        part = flat[start : start + step]
        if stage is not None:
            part = stage[: part.numel()].copy_(part)
        d = wide[: part.numel()].copy_(part)
        lo, hi = (float(e) for e in torch.aminmax(d))
        if math.isfinite(lo) and math.isfinite(hi):
            rows.append(finite_row(d, lo, hi, info, want, d, None, spare))
        else:
            rows.append(nonfinite_row(d, info, want, other, spare, None))
    return rows


def _as_int64(piece: torch.Tensor) -> torch.Tensor:
    """Integer values as int64 in the same order, for exact extremes: uint64 values beyond
    2^63 do not fit (nor round-trip through float64), so their bits are read as int64 with
    the top bit flipped, i.e. ``x - 2^63`` (``stats`` adds :data:`UINT64_SHIFT` back)."""
    if piece.dtype == torch.uint64:
        return torch.bitwise_xor(piece.view(torch.int64), -UINT64_SHIFT)
    return piece.to(torch.int64)


def complex_ranges(piece: torch.Tensor) -> torch.Tensor:
    """``[re_min, re_max, im_min, im_max]`` over finite parts of a complex block (float64)."""
    z = piece.to(torch.complex128).reshape(-1)
    parts = []
    for part in (z.real, z.imag):
        ok = torch.isfinite(part)
        parts.append(torch.where(ok, part, math.inf).amin())
        parts.append(torch.where(ok, part, -math.inf).amax())
    return torch.stack(parts)
