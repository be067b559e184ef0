"""Passes over a tensor that produce exact statistics; ``compute(x, names)`` for breakpoint
conditions, which asks only for what a condition names (``absmax`` is one min and max per
block; ``std`` adds a sum and a sum of squares; nothing else runs).

``measure`` is the driver behind both ``compute`` and ``summarize``: a first pass over the
blocks of the distinct elements (the fused kernel of :mod:`tensorpeek.summary.native` or torch
reductions, and the histogram sample while each block is in cache), and a second pass only
when needed — to bin every element for an exact histogram,
or to recompute the variance around the mean when ``E[x^2] - mean^2`` would cancel.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from tensorpeek.summary import native
from tensorpeek.summary.blocks import block_values, flat_block, iter_blocks, unique_view
from tensorpeek.summary.dtypes import DtypeInfo, ValueKind, dtype_info
from tensorpeek.summary.histogram import Binning, Sampler
from tensorpeek.summary.names import STAT_NAMES
from tensorpeek.summary.readable import readable_tensor
from tensorpeek.summary.reductions import (
    FIELDS,
    Partials,
    Wanted,
    centered_moments,
    needs_centering,
    needs_rescaling,
)
from tensorpeek.summary.torch_pass import UINT64_SHIFT, torch_pass

__all__ = ["compute"]

# Elements per block of float32/float64 tensors: each block is read by several reductions
# while it is in cache, its float64 copy (for the signed sums, see
# reductions.moment_sums) taken whole. Same-run sweep at 50M float32 (medians of 21, x.sum()
# 11 ms): 2^19-element blocks with a 2^19 float64 copy 95.6 ms, 2^19 with 2^18-element
# copies 105.9 ms, 2^20 with 2^18 109.0 ms; smaller blocks pay more per-op overhead, larger
# ones fall out of cache. Buffers: 2 MB of scratch and 4 MB of float64, under 10% of any
# tensor of 60 MB or more together with the 2^20-element histogram sample.
BLOCK = 1 << 19
# Narrow floats (float16, bfloat16, float8) are read in blocks of 2^20 and converted to
# float64 in WIDE_SLICE pieces (2 MB, plus one more for counts): a 50M bfloat16 summary
# then needs ~6 MB with its sample, under 10% of the tensor's 100 MB.
NARROW_BLOCK = 1 << 20

FUSED_BLOCKS = 4  # blocks per call of the fused kernel on contiguous tensors

# Set by tests to run the device code path (no data-dependent branches) on the CPU.
BRANCHLESS_ON_CPU = False

_SUM, _SUMSQ, _ABSSUM = (FIELDS.index(name) for name in ("sum", "sumsq", "abssum"))
_MOMENT_NAMES = frozenset({"mean", "std", "std_sample", "norm"})


@dataclass
class Measurement:
    """Weighted totals over all elements (see ``reductions.FIELDS``) and what goes with them."""

    total: dict[str, float]
    weight: int  # each distinct element stands for this many (expanded dimensions)
    distinct: int  # number of distinct elements read
    int_range: tuple[int, int] | None = None  # exact extremes of integer tensors
    real_range: tuple[float, float] | None = None
    imag_range: tuple[float, float] | None = None
    centered: tuple[float, ...] | None = None  # sums of d, d^2, |d| for d = (x - center) / scale
    center: float = 0.0
    scale: float = 1.0
    sample: torch.Tensor | None = None  # finite sampled values, when sampled
    hist_counts: list[int] | None = None  # exact counts (already weighted), when exact
    binning: Binning | None = None


def _compute_dtype(info: DtypeInfo, x: torch.Tensor) -> torch.dtype:
    """The dtype ``blocks.block_values`` produces for ``x``."""
    if info.kind is ValueKind.FLOAT:
        return x.dtype
    if info.kind in (ValueKind.INTEGER, ValueKind.COMPLEX):
        return torch.float64
    return torch.float32


def measure(
    x: torch.Tensor,
    want: Wanted,
    *,
    sample_size: int = 0,
    exact_hist_limit: int = 0,
    bins: int = 0,
    scale: str = "linear",
) -> Measurement:
    """Run the passes. ``bins == 0``: no histogram. ``x`` must be a plain, detached,
    non-sparse tensor with readable values and at least one element.

    It runs with the process's own intra-op thread count: changing it, even briefly, would
    change a process-wide setting of the program it is a guest in (``torch.set_num_threads``
    also sets the count new threads start with), so a summary on a busy machine is slower
    rather than different.
    """
    return _measure(x, want, sample_size, exact_hist_limit, bins, scale)


@dataclass
class _Walk:
    """What the passes over one tensor share."""

    y: torch.Tensor  # the distinct elements (see blocks.unique_view)
    weight: int  # how often each stands in the tensor
    info: DtypeInfo
    want: Wanted
    block: int  # elements per block
    branchless: bool  # the device code path: nothing read back until the end
    sampler: Sampler | None  # draws the histogram sample, when it is sampled
    partials: Partials = field(default_factory=Partials)


def _measure(
    x: torch.Tensor,
    want: Wanted,
    sample_size: int,
    exact_hist_limit: int,
    bins: int,
    scale: str,
) -> Measurement:
    info = dtype_info(x.dtype)
    branchless = x.device.type != "cpu" or BRANCHLESS_ON_CPU
    y, weight = unique_view(x)
    distinct = y.numel()
    narrow = info.kind is ValueKind.NARROW_FLOAT and not branchless
    sampler = None
    if bins and distinct > exact_hist_limit:
        # narrow floats are sampled in their own dtype (exact, and half the memory)
        keep = x.dtype if info.kind is ValueKind.NARROW_FLOAT else _compute_dtype(info, x)
        sampler = Sampler(distinct, sample_size, keep, x.device)
    walk = _Walk(y, weight, info, want, NARROW_BLOCK if narrow else BLOCK, branchless, sampler)
    # (a condition on min/max/NaN/Inf only needs the torch path's aminmax screen: one read
    # at memory speed, twice as fast as the kernel computing everything)
    screen_only = not (want.moments or want.abs or want.zeros or want.narrow)
    if not branchless and not screen_only and native.can_read(x):
        _fused_pass(walk)
    else:
        torch_pass(walk.y, info, want, walk.block, branchless, walk.partials, sampler)
    return _finish(walk, bins, scale)


def _fused_pass(walk: _Walk) -> None:
    """Every partial from the fused kernel (see :mod:`tensorpeek.summary.native`): one call per
    ``FUSED_BLOCKS`` blocks of a contiguous tensor, else one per gathered block. The sample
    is drawn from the same blocks as on the torch path, so both give the same histogram."""
    y, block, sampler, info = walk.y, walk.block, walk.sampler, walk.info
    if y.is_contiguous():
        flat = y.reshape(-1)
        step = block * FUSED_BLOCKS
        for start in range(0, flat.numel(), step):
            part = flat[start : start + step]
            walk.partials.add(native.reduce_row(part, info))
            if sampler is not None:  # while the part is in cache
                for at in range(0, part.numel(), block):
                    sampler.take(part[at : at + block])
        return
    # strided: read in place by the kernel (several blocks a call when nothing is sampled,
    # else one, its values left in a buffer for the sampler)
    gathered = None
    if sampler is not None:
        gathered = torch.empty(min(block, y.numel()), dtype=y.dtype, device=y.device)
    for piece in iter_blocks(y, block if sampler is not None else block * FUSED_BLOCKS):
        row, values = _strided_row(piece, info, 0.0, gathered)
        walk.partials.add(row)
        if sampler is not None and values is not None:
            sampler.take(values)


def _strided_row(
    piece: torch.Tensor, info: DtypeInfo, center: float, into: torch.Tensor | None
) -> tuple[list[float], torch.Tensor | None]:
    """The kernel's row of a strided block, and its values flat in ``into`` when given.
    Views of more than two dimensions (once merged) are gathered by torch, one buffer-sized
    block at a time (``into``, or a fresh buffer when none is given)."""
    row = native.reduce_strided(piece, info, center, into)
    if row is not None:
        return row, None if into is None else into[: piece.numel()]
    rows: list[list[float]] = []
    buffer = into
    if buffer is None:
        buffer = torch.empty(min(BLOCK, piece.numel()), dtype=piece.dtype, device=piece.device)
    flat = None  # (with ``into``, the piece fits it: one part)
    for part in iter_blocks(piece, buffer.numel()):
        flat, _ = flat_block(part, buffer)
        rows.append(native.reduce_row(flat, info, center))
    total = Partials(rows=rows).total()
    return [total[name] for name in FIELDS], flat


def _finish(walk: _Walk, bins: int, scale: str) -> Measurement:
    """Totals from the partials, then the second pass and the sample where needed."""
    y, info, want, weight, sampler = walk.y, walk.info, walk.want, walk.weight, walk.sampler
    partials, block, branchless = walk.partials, walk.block, walk.branchless
    distinct = y.numel()
    total = partials.total()
    for name in ("finite", "nan", "posinf", "neginf", "zeros", "sum", "sumsq", "abssum"):
        total[name] *= weight
    for name in ("saturated", "subnormal"):
        total[name] *= weight
    m = Measurement(total, weight, distinct)
    _read_ranges(m, partials, UINT64_SHIFT if y.dtype == torch.uint64 else 0)

    has_finite = total["finite"] > 0
    rescale = want.moments and needs_rescaling(total)
    recenter = want.moments and has_finite and needs_centering(total)
    center_pass = rescale or recenter
    if rescale:  # (centering is then skipped: values that large or small rarely cancel)
        m.scale = total["absmax"]
    elif recenter:
        m.center = total["sum"] / total["finite"]
    if bins and has_finite:
        # (the mean |x|; it vanishes for subnormals and overflows for huge values, where the
        # largest |x| serves)
        linthresh = total["abssum"] / total["finite"]
        if not 0.0 < linthresh < math.inf:
            linthresh = total["absmax"] if 0.0 < total["absmax"] < math.inf else 1.0
        m.binning = Binning(total["min"], total["max"], bins, scale, linthresh)
    exact_hist = m.binning is not None and sampler is None
    if center_pass or exact_hist:
        _second_pass(m, y, info, block, center_pass, exact_hist, branchless)
    if sampler is not None:
        sample = sampler.values()
        nonfinite = total["nan"] + total["posinf"] + total["neginf"] > 0
        m.sample = sample[torch.isfinite(sample)] if nonfinite else sample
    return m


def _read_ranges(m: Measurement, partials: Partials, int_shift: int) -> None:
    if partials.int_extremes:
        ext = torch.stack(partials.int_extremes).tolist()
        m.int_range = (min(e[0] for e in ext) + int_shift, max(e[1] for e in ext) + int_shift)
    if partials.complex_ranges:
        r = torch.stack(partials.complex_ranges).tolist()
        re = (min(e[0] for e in r), max(e[1] for e in r))
        im = (min(e[2] for e in r), max(e[3] for e in r))
        m.real_range = re if math.isfinite(re[0]) else None
        m.imag_range = im if math.isfinite(im[0]) else None


def _second_pass(
    m: Measurement,
    y: torch.Tensor,
    info: DtypeInfo,
    block: int,
    center_pass: bool,
    exact_hist: bool,
    branchless: bool,
) -> None:
    centered: list[Any] = []
    counts = None
    t = m.total
    nonfinite = t["nan"] + t["posinf"] + t["neginf"] > 0
    # sums around the mean by the fused kernel where it reads y (not when rescaling, which
    # only float64 values beyond 1e+-150 need)
    readable = not branchless and native.can_read(y)
    fused = center_pass and m.scale == 1.0 and readable
    # strided blocks are read in place by the kernel where it reads y (their values left
    # in one buffer when they are binned), else gathered into one buffer for the pass;
    # never copied into a fresh tensor per block
    strided = not y.is_contiguous()
    buffer = None
    if strided and (readable or info.kind in (ValueKind.FLOAT, ValueKind.NARROW_FLOAT)):
        dtype = y.dtype if readable else _compute_dtype(info, y)
        buffer = torch.empty(min(block, y.numel()), dtype=dtype, device=y.device)
    values_needed = exact_hist or (center_pass and not fused)  # (beyond the kernel's row)
    for piece in iter_blocks(y, block):
        if readable and strided:
            row, flat = _strided_row(piece, info, m.center, buffer if values_needed else None)
            piece = flat if flat is not None else piece
        elif fused:
            row = native.reduce_row(piece.reshape(-1), info, m.center)
        if fused:
            centered.append([row[_SUM], row[_SUMSQ], row[_ABSSUM]])
            if not exact_hist:
                continue
        if readable:  # the kernel bins the block in its own dtype (see Binning.count)
            v = piece.reshape(-1)
        else:
            v, _ = block_values(piece, info, buffer)
        if center_pass and not fused:
            centered.append(
                centered_moments(
                    v, m.center, m.scale, all_finite=not nonfinite, branchless=branchless,
                )
            )  # fmt: skip
        if exact_hist and m.binning is not None:
            c = m.binning.count(v, all_finite=not nonfinite)
            counts = c if counts is None else counts + c
    if center_pass:
        rows = [r for r in centered if not isinstance(r, torch.Tensor)]
        pending = [r for r in centered if isinstance(r, torch.Tensor)]
        if pending:
            rows += torch.stack(pending).tolist()
        m.centered = tuple(sum(r[i] for r in rows) * m.weight for i in range(3))
    if counts is not None:
        m.hist_counts = [c * m.weight for c in counts.tolist()]


def moments(m: Measurement) -> dict[str, float | None]:
    """mean, population/sample std, L2 norm and mean |x| of the finite values."""
    t = m.total
    n = t["finite"]
    if n == 0:
        return dict.fromkeys(("mean", "std", "std_sample", "norm", "absmean"))
    k = m.scale  # statistics below are of x / k, scaled back at the end
    mean, norm, absmean = t["sum"] / n, math.sqrt(t["sumsq"]), t["abssum"] / n
    if m.centered is not None:
        s1, s2, s_abs = m.centered
        std = k * math.sqrt(max(s2 / n - (s1 / n) * (s1 / n), 0.0))
        mean = m.center + k * (s1 / n)
        if k != 1.0:  # rescaled: the first pass's sums overflowed or vanished
            norm, absmean = k * math.sqrt(s2), k * (s_abs / n)
    else:
        std = math.sqrt(max(t["sumsq"] / n - mean * mean, 0.0))
    if t["min"] == t["max"]:  # constant: exactly, whatever the rounding (or range) of the sums
        c = abs(t["min"])
        mean, std, absmean, norm = t["min"], 0.0, c, c * math.sqrt(n)
    return {
        "mean": mean,
        "std": std,
        "std_sample": std * math.sqrt(n / (n - 1)) if n > 1 else None,
        "norm": norm,
        "absmean": absmean,
    }


def compute(x: Any, names: Iterable[str]) -> dict[str, float | int | None]:
    """Only the named statistics of ``x`` (see ``STAT_NAMES``), each by the cheapest reduction.

    Counts are ints; value statistics are over finite values and ``None`` when there are
    none. Unknown names raise ``ValueError`` listing the valid ones.
    """

    wanted = list(names)
    unknown = sorted(set(wanted) - set(STAT_NAMES))
    if unknown:
        raise ValueError(f"unknown statistic(s) {unknown}; valid: {', '.join(STAT_NAMES)}")
    tensor, info = readable_tensor(x)
    out: dict[str, float | int | None] = dict.fromkeys(wanted)
    if "numel" in out:
        out["numel"] = x.numel() if isinstance(x, torch.Tensor) else getattr(x, "size", None)
    if tensor is None or tensor.numel() == 0:
        for name in ("nan", "posinf", "neginf", "nonfinite", "finite", "zeros"):
            if name in out and tensor is not None:
                out[name] = 0
        return out
    want = Wanted(
        moments=bool(_MOMENT_NAMES & set(wanted)),
        abs="absmean" in out,
        zeros="zeros" in out or "zeros_frac" in out,
        narrow=info.kind is ValueKind.NARROW_FLOAT
        and not {"saturated", "subnormal"}.isdisjoint(out),
    )
    with torch.no_grad():
        m = measure(tensor, want)
    values = derived(m, info)
    if want.moments or want.abs:
        values.update(moments(m))
    for name in wanted:
        if name in values:
            out[name] = values[name]
    return out


def derived(m: Measurement, info: DtypeInfo) -> dict[str, float | int | None]:
    """Counts and extremes of a measurement, as Python ints/floats (None where undefined)."""
    t = m.total
    finite = int(t["finite"])
    numel = finite + int(t["nan"] + t["posinf"] + t["neginf"])
    lo: float | int | None = None
    hi: float | int | None = None
    absmax: float | int | None = None
    if m.int_range is not None:
        lo, hi = m.int_range
        absmax = max(abs(lo), abs(hi))
    elif finite:
        lo, hi, absmax = t["min"], t["max"], t["absmax"]
    narrow = info.kind is ValueKind.NARROW_FLOAT
    return {
        "nan": int(t["nan"]),
        "posinf": int(t["posinf"]),
        "neginf": int(t["neginf"]),
        "nonfinite": numel - finite,
        "finite": finite,
        "zeros": int(t["zeros"]),
        "zeros_frac": t["zeros"] / numel if numel else None,
        "min": lo,
        "max": hi,
        "absmax": absmax,
        "saturated": int(t["saturated"]) if narrow else None,
        "subnormal": int(t["subnormal"]) if narrow else None,
    }
