"""Exact reductions over every element of a tensor, in one pass over bounded blocks.

This is the torch path: integers, complex, quantized and float8 tensors, tensors on a
device, and every tensor where the fused C kernel was not built. CPU float32, float64,
bfloat16 and float16 blocks normally go to that kernel instead (:mod:`tensorpeek.summary.native`),
which fills the same row (:data:`FIELDS`) in one read.

Why it is shaped like this (CPU numbers in DESIGN.md): reductions that allocate nothing
(``sum``, ``amin``, ``amax``, a dot product) are an order of magnitude cheaper
than the obvious ``std_mean`` or ``isfinite().all()``, and a block of a few MB stays in cache
while several of them read it. So the tensor is walked in blocks of at most ``block`` elements
(:mod:`tensorpeek.summary.blocks`); each block is first screened with ``aminmax`` (finite extremes
mean all are finite, since NaN and Inf propagate), and only blocks that fail pay for counts.

Accuracy: ``torch.sum`` on float32 uses cascade summation: measured errors are ~1e-8 of
sum|x| on random data and at worst ~5e-7 relative (equal values, some lengths). So every
sum is taken in float64, as the fused kernel takes them: the signed sums (which can
cancel), the sums of squares (whose error ``E[x^2] - mean^2`` would amplify) and the sums
of |x|
(:func:`moment_sums`: float32 slices copied into a float64 buffer, then ``sum`` and a BLAS
``dot`` while the slice is in cache; a float32 ``dot`` drifts by ~1e-5 on long runs of
positive values, a float64 one does not). Block partials are added in float64. The variance
is ``E[x^2] - mean^2`` only when that does not cancel; otherwise a second pass sums
``(x - mean)^2`` (see :func:`centered_moments`).

Memory: temporaries are one block-sized buffer plus the histogram sample. Expanded
dimensions (stride 0) are never materialised: the unique elements are reduced once and
counts and sums are weighted by the expansion factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from tensorpeek.summary.dtypes import DtypeInfo

RESCALE_ABOVE = 1e150  # |x|max beyond these: float64 squares overflow or vanish,
RESCALE_BELOW = 1e-150  # so sums of squares are taken of x / |x|max in a second pass
CANCELLATION_LIMIT = 16.0  # E[x^2]/var above this: recompute the variance around the mean
CENTER_SLICE = 1 << 17  # values per slice of the centered pass (1 MB float64 temporaries)
WIDE_SLICE = 1 << 18  # values per float64 slice of narrow floats (2 MB buffer; see stats)

# Layout of one block's partial results (floats, so one tensor can carry them all).
FIELDS = (
    "finite", "nan", "posinf", "neginf", "zeros", "sum", "sumsq", "abssum",
    "min", "max", "absmin", "absmax", "saturated", "subnormal",
)  # fmt: skip
_I = {name: i for i, name in enumerate(FIELDS)}
_ADDED = tuple(i for name, i in _I.items() if name not in ("min", "max", "absmin", "absmax"))


@dataclass
class Wanted:
    """Which reductions to run beyond the min/max screen (``stats.compute`` asks for few)."""

    moments: bool = True  # sum and sum of squares
    abs: bool = True  # sum of |x|
    zeros: bool = True
    narrow: bool = False  # saturation and subnormal counts (narrow float dtypes)


@dataclass
class Partials:
    """Running totals over the blocks seen so far (Python floats/ints, i.e. float64)."""

    rows: list[list[float]] = field(default_factory=list)
    pending: list[torch.Tensor] = field(default_factory=list)  # device rows, read once at the end
    int_extremes: list[torch.Tensor] = field(default_factory=list)
    complex_ranges: list[torch.Tensor] = field(default_factory=list)

    def add(self, row: list[float] | torch.Tensor) -> None:
        if isinstance(row, torch.Tensor):
            self.pending.append(row)
        else:
            self.rows.append(row)

    def total(self) -> dict[str, float]:
        """Combine every block's row (one host transfer for rows computed on a device)."""
        rows = list(self.rows)
        if self.pending:
            rows += torch.stack(self.pending).tolist()
        out = dict.fromkeys(FIELDS, 0.0)
        out.update(min=math.inf, max=-math.inf, absmin=math.inf, absmax=0.0)
        for row in rows:
            for i in _ADDED:
                out[FIELDS[i]] += row[i]
            out["min"] = min(out["min"], row[_I["min"]])
            out["max"] = max(out["max"], row[_I["max"]])
            out["absmin"] = min(out["absmin"], row[_I["absmin"]])
            out["absmax"] = max(out["absmax"], row[_I["absmax"]])
        return out


def finite_row(
    v: torch.Tensor,
    lo: float,
    hi: float,
    info: DtypeInfo,
    want: Wanted,
    scratch: torch.Tensor | None,
    wide: torch.Tensor | None = None,
    spare: torch.Tensor | None = None,
) -> list[float]:
    """Partials of a block known to be all finite (``lo``/``hi``: its min and max).

    ``scratch``: a buffer of the block's size and dtype for |x| and signs; it may be ``v``
    itself when the caller no longer needs the values (they are read first). ``wide``: a
    float64 buffer for the signed sums; ``spare``: one more buffer like ``scratch`` for the
    saturation and subnormal counts of narrow floats. Sums of x and x^2 are taken in
    float64 (:func:`moment_sums`), the sum of |x| too (as the fused kernel does).
    Counts are branch-free (:func:`_nonzeros`, :func:`_count_above`): ``count_nonzero``
    mispredicts a branch per element on randomly placed zeros (1.6 ns per element on ReLU
    outputs here, against 0.2 for the sign-and-dot count).
    """
    n = v.numel()
    absmax = max(-lo, hi)
    row = [0.0] * len(FIELDS)
    row[_I["finite"]] = n
    row[_I["min"]], row[_I["max"]], row[_I["absmax"]] = lo, hi, absmax
    sums = want.moments or want.abs
    # float32 blocks of both signs: |x| from the float64 copy the sums are taken of
    fold = sums and (want.abs or want.zeros) and lo < 0.0 < hi and v.dtype != torch.float64
    total = sumsq = folded_sum = 0.0
    folded_min = math.inf
    if sums:
        total, sumsq, folded_sum, folded_min = moment_sums(
            v, wide, squares=want.moments, magnitudes=fold
        )
    mag: torch.Tensor | None = None  # |x| when it is at hand
    if lo >= 0.0:  # one sign: |x| is x (or -x), no pass needed
        absmin, abssum, mag = lo, total, v
    elif hi <= 0.0:
        absmin, abssum = -hi, -total
    elif fold:
        absmin, abssum = folded_min, folded_sum
    elif want.abs or want.zeros or want.narrow:  # (v is float64 here when want.abs)
        mag = _into(torch.abs, v, scratch)
        abssum = float(mag.sum()) if want.abs else 0.0
        absmin = float(mag.amin())
    else:  # nothing needs |x| (e.g. a condition on absmax only)
        absmin, abssum = 0.0, 0.0
    row[_I["sum"]], row[_I["sumsq"]] = total, sumsq
    row[_I["abssum"]] = abssum
    row[_I["absmin"]] = absmin
    top, tiny = info.max_finite, info.smallest_normal
    saturation = want.narrow and top is not None and absmax >= top
    subnormals = want.narrow and tiny is not None and absmin < tiny
    below = 0
    if saturation or subnormals:
        if mag is None:
            mag = _into(torch.abs, v, scratch)
        above, below = _narrow_counts(mag, info, spare, saturation, subnormals)
        row[_I["saturated"]] = above
    if (want.zeros or subnormals) and absmin == 0.0:
        row[_I["zeros"]] = n - _nonzeros(v if mag is None else mag, scratch)
    if subnormals:
        row[_I["subnormal"]] = below - int(row[_I["zeros"]])
    return row


def _narrow_counts(
    mag: torch.Tensor, info: DtypeInfo, spare: torch.Tensor | None, above: bool, below: bool
) -> tuple[int, int]:
    """``(count(|x| >= max finite), count(|x| < smallest normal))`` of the dtype, each only
    if asked (else 0). Narrow floats have at most 10 mantissa bits, so no value lies within
    2^-20 below either bound: thresholds there split the values exactly as >= would, and no
    element equals them (see :func:`_count_above`)."""
    n = mag.numel()
    top, tiny = info.max_finite, info.smallest_normal
    high = _count_above(mag, top * (1 - 2**-20), spare) if above and top is not None else 0
    low = n - _count_above(mag, tiny * (1 - 2**-20), spare) if below and tiny is not None else 0
    return high, low


def _nonzeros(v: torch.Tensor, scratch: torch.Tensor | None) -> int:
    """How many elements of ``v`` are not zero: sign() is 0 or +-1 and a dot product of
    those is an exact count (every partial sum is a small integer). May overwrite
    ``scratch`` (which may be ``v``)."""
    signs = _into(torch.sign, v, scratch)
    return int(torch.dot(signs, signs))


def _count_above(v: torch.Tensor, threshold: float, spare: torch.Tensor | None) -> int:
    """How many elements of ``v`` exceed ``threshold``, which no element equals: the signs
    of ``v - threshold`` are +-1, so their sum is (above - below). Writes ``spare``."""
    n = v.numel()
    signs = _into(torch.sub, v, spare, threshold)
    return (n + int(signs.sign_().sum())) // 2


def moment_sums(
    v: torch.Tensor, wide: torch.Tensor | None, *, squares: bool, magnitudes: bool = False
) -> tuple[float, float, float, float]:
    """``(sum(x), sum(x^2), sum(|x|), min(|x|))`` of a flat block, the sums in float64 (the
    squares only if ``squares``, the magnitudes only if ``magnitudes`` and ``v`` is not
    float64 already; else 0 and inf).

    A float32 cascade sum is off by up to ~5e-7 of sum|x| on repetitive data, far more
    than 1e-6 of a mean that cancels; ``sum(dtype=float64)`` allocates a float64 copy of
    its whole input and costs ~8x a float32 sum here. So float32 values are copied into
    the float64 buffer ``wide`` (in slices of its size, at most :data:`WIDE_SLICE` when
    none is given), summed there, and their squares taken as a float64 ``dot`` of the slice
    while it is in cache (no float32 square can overflow or vanish either); then, when
    asked, |x| in place in that private copy, summed and its minimum taken. Every sum is
    float64, as in the fused kernel, so both paths give the same numbers to float64
    rounding (a float32 sum of |x| was ~1e-8 relative off the kernel's)."""
    if v.dtype == torch.float64:  # (callers take float64 magnitudes in their own scratch)
        return float(v.sum()), float(torch.dot(v, v)) if squares else 0.0, 0.0, math.inf
    n = v.numel()
    if wide is None:
        wide = torch.empty(min(n, WIDE_SLICE), dtype=torch.float64, device=v.device)
    step = wide.numel()
    total = sq = mag_sum = 0.0
    mag_min = math.inf
    for start in range(0, n, step):
        part = v[start : start + step]
        d = wide[: part.numel()].copy_(part)
        total += float(d.sum())
        if squares:
            sq += float(torch.dot(d, d))
        if magnitudes:  # d is a private copy, still in cache
            d.abs_()
            mag_sum += float(d.sum())
            mag_min = min(mag_min, float(d.amin()))
    return total, sq, mag_sum, mag_min


def _into(
    op: Any, a: torch.Tensor, scratch: torch.Tensor | None, *args: torch.Tensor | float
) -> torch.Tensor:
    """``op(a, *args)`` written into ``scratch`` when it fits (no allocation), else fresh."""
    n = a.numel()
    if scratch is not None and scratch.numel() >= n and scratch.dtype == a.dtype:
        return op(a, *args, out=scratch[:n])
    return op(a, *args)


def masked_row(v: torch.Tensor, info: DtypeInfo) -> torch.Tensor:
    """Partials of any block, NaN/Inf included, as one float64 tensor: nothing is read
    back, so on a GPU nothing crosses to the host until all blocks are done. Sums of x and
    x^2 are taken in float64. Temporaries: a mask and about two block-sized copies."""
    inf = math.inf
    finite = torch.isfinite(v)
    parts = [
        torch.count_nonzero(finite),  # (a bool .sum() would widen to int64 first)
        torch.count_nonzero(torch.isnan(v)),
        torch.count_nonzero(v == inf),
        torch.count_nonzero(v == -inf),
        torch.count_nonzero(v == 0),
    ]
    z = torch.where(finite, v, 0.0)  # non-finite values contribute nothing to the sums
    if z.dtype == torch.float32:  # sums in float64, as in finite_row (a rare path)
        z = z.double()
    parts += [z.sum(), torch.dot(z, z)]
    lo = torch.where(finite, v, inf).amin()
    hi = torch.where(finite, v, -inf).amax()
    mag = z.abs_()
    parts += [mag.sum(), lo, hi, torch.where(finite, mag, inf).amin(), mag.amax()]
    if info.max_finite is not None and info.smallest_normal is not None:
        parts.append(torch.count_nonzero(v.abs() >= info.max_finite))
        parts.append(torch.count_nonzero((mag > 0) & (mag < info.smallest_normal)))
    else:
        parts += [torch.zeros((), dtype=torch.int64, device=v.device)] * 2
    return torch.stack([p.to(torch.float64) for p in parts])


def nonfinite_row(
    v: torch.Tensor,
    info: DtypeInfo,
    want: Wanted,
    scratch: torch.Tensor | None,
    spare: torch.Tensor | None,
    wide: torch.Tensor | None,
) -> list[float]:
    """Partials of a block that holds NaN or +-Inf, on the CPU, without masks: the tensor a
    user inspects after a NaN breakpoint has them scattered everywhere, and boolean masks
    with counts of randomly placed elements cost 0.6-2 ns per element here (``isfinite``
    1.6, ``where`` 2.0, ``count_nonzero`` of a mask 0.7) where ``nan_to_num`` costs 0.1.

    ``z = nan_to_num(v, 0, 0, 0)`` holds the finite values (non-finite ones become 0) and
    takes the finite path's sums. ``e = nan_to_num(v - z, nan=2, posinf=1, neginf=-1)`` is
    0 where ``v`` is finite, so with ``a, p, q`` the NaN, +Inf and -Inf counts, ``sum(e) =
    p - q + 2a``, ``sum(e^2) = p + q + 4a`` and ``sum(|e|) = p + q + 2a``: exact integers.
    ``scratch``/``spare``: block-sized buffers of ``v``'s dtype, neither aliasing ``v``.
    """
    n = v.numel()
    if scratch is None or scratch is v or scratch.numel() < n or scratch.dtype != v.dtype:
        scratch = torch.empty_like(v)
    if spare is None or spare is v or spare.numel() < n or spare.dtype != v.dtype:
        spare = torch.empty_like(v)
    z = torch.nan_to_num(v, 0.0, 0.0, 0.0, out=scratch[:n])
    e = torch.nan_to_num_(torch.sub(v, z, out=spare[:n]), nan=2.0, posinf=1.0, neginf=-1.0)
    s1, s2 = float(e.sum()), float(torch.dot(e, e))
    s3 = float(e.abs_().sum())
    nan = round((s2 - s3) / 2)
    pos_minus_neg, pos_plus_neg = round(s1) - 2 * nan, round(s3) - 2 * nan
    posinf = (pos_plus_neg + pos_minus_neg) // 2
    neginf = pos_plus_neg - posinf
    nonfinite = nan + posinf + neginf
    finite = n - nonfinite
    row = [0.0] * len(FIELDS)
    row[_I["finite"]], row[_I["nan"]] = finite, nan
    row[_I["posinf"]], row[_I["neginf"]] = posinf, neginf
    row[_I["min"]], row[_I["max"]] = math.inf, -math.inf
    if finite == 0:
        row[_I["absmin"]] = math.inf
        row[_I["saturated"]] = posinf + neginf if want.narrow else 0
        return row
    lo, hi = (float(t) for t in torch.aminmax(z))  # over the finite values and 0
    fold = want.abs and z.dtype != torch.float64  # |x| of float32 from the float64 copy
    if want.moments or want.abs:
        sums = moment_sums(z, wide, squares=want.moments, magnitudes=fold)
        row[_I["sum"]], row[_I["sumsq"]] = sums[:2]
        row[_I["abssum"]] = sums[2]
    top, tiny = info.max_finite, info.smallest_normal
    narrow = want.narrow and top is not None and tiny is not None
    zeros: int | None = None  # (unknown unless counted)
    if want.abs or want.zeros or narrow:
        mag = z.abs_()  # z is not needed any more
        if want.abs and not fold:
            row[_I["abssum"]] = float(mag.sum())
        # (below counts the zeros and the replaced values too: they are zeros of mag)
        above, below = _narrow_counts(mag, info, spare, narrow, narrow)
        zeros = n - _nonzeros(mag, mag) - nonfinite
        row[_I["zeros"]] = zeros
        if narrow:
            row[_I["saturated"]] = above + posinf + neginf
            row[_I["subnormal"]] = below - zeros - nonfinite
    if not zeros and (lo == 0.0 or hi == 0.0):  # that 0 may stand for a non-finite value
        if lo == 0.0:
            lo = float(torch.nan_to_num(v, math.inf, math.inf, math.inf, out=spare[:n]).amin())
        if hi == 0.0:
            hi = float(torch.nan_to_num(v, -math.inf, -math.inf, -math.inf, out=spare[:n]).amax())
    row[_I["min"]], row[_I["max"]], row[_I["absmax"]] = lo, hi, max(-lo, hi)
    # (a lower bound of min |x|, which is all the totals use it for)
    row[_I["absmin"]] = min(abs(lo), abs(hi)) if not zeros and lo * hi > 0 else 0.0
    return row


def block_row(
    v: torch.Tensor,
    info: DtypeInfo,
    want: Wanted,
    scratch: torch.Tensor | None,
    branchless: bool,
    wide: torch.Tensor | None = None,
    spare: torch.Tensor | None = None,
) -> list[float] | torch.Tensor:
    """Screen a block with its min and max; finite blocks take the cheap path (see
    :func:`finite_row` for the buffers). One ``aminmax`` reads the block once: over 48
    blocks of 2^20 float32 it took 1.33x a whole ``x.sum()`` where ``amin`` then ``amax``
    took 1.81x; both propagate NaN."""
    if branchless:
        return masked_row(v, info)
    lo, hi = (float(e) for e in torch.aminmax(v))
    if math.isfinite(lo) and math.isfinite(hi):
        return finite_row(v, lo, hi, info, want, scratch, wide, spare)
    return nonfinite_row(v, info, want, scratch, spare, wide)


def centered_moments(
    v: torch.Tensor,
    center: float,
    scale: float,
    *,
    all_finite: bool,
    branchless: bool,
) -> list[float] | torch.Tensor:
    """``[sum(d), sum(d^2), sum|d|]`` with ``d = (x - center) / scale`` over the finite values
    of a block, in float64: the second pass that makes the variance exact when
    ``E[x^2] - mean^2`` would cancel, and keeps squares of float64 values beyond 1e+-150
    from overflowing or vanishing. Works in slices of ``CENTER_SLICE`` (1 MB temporaries)."""
    parts = torch.zeros(3, dtype=torch.float64, device=v.device)
    for start in range(0, v.numel(), CENTER_SLICE):
        d = v[start : start + CENTER_SLICE].to(torch.float64, copy=True)
        if not all_finite:
            d = torch.where(torch.isfinite(d), d, center)
        if center != 0.0:
            d.sub_(center)
        if scale != 1.0:
            d.div_(scale)
        parts[0] += d.sum()
        parts[1] += torch.dot(d, d)
        parts[2] += d.abs_().sum()
    return parts if branchless else parts.tolist()


def needs_rescaling(total: dict[str, float]) -> bool:
    """True when float64 squares of these magnitudes overflow or underflow."""
    top = total["absmax"]
    if total["finite"] == 0:
        return False
    # (many squares below 1e150 can still add up past float64's range: 2e8 of 1e150)
    overflowed = not (math.isfinite(total["sumsq"]) and math.isfinite(total["sum"]))
    return overflowed or top > RESCALE_ABOVE or 0.0 < top < RESCALE_BELOW


def needs_centering(total: dict[str, float]) -> bool:
    """True when ``E[x^2] - mean^2`` loses too many digits to give the variance to 1e-6."""
    n = total["finite"]
    if n < 2:
        return False
    mean = total["sum"] / n
    mean_sq = mean * mean  # (not **: that raises OverflowError instead of giving inf)
    second = total["sumsq"] / n
    var = second - mean_sq
    return var <= 0.0 or second > CANCELLATION_LIMIT * var
