"""``summarize(x) -> TensorSummary``: exact statistics of every element of a tensor or array.

This is what the debugger hover, the Tensor panel, breakpoint hits and the CLI show. It runs
inside the user's training process, so it is a guest there: it works under ``no_grad`` on a
detached alias, never writes to the tensor (``_version`` is unchanged), never touches the
global RNG (the histogram sample has its own generator), keeps its temporaries to a few
blocks of the tensor (see :mod:`tensorpeek.summary.reductions`), and on an accelerator moves only a
few scalars and the histogram counts to the host.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import torch

from tensorpeek.common.json_safe import json_safe
from tensorpeek.summary import native
from tensorpeek.summary.dtypes import ValueKind, dtype_info, dtype_name
from tensorpeek.summary.histogram import Histogram
from tensorpeek.summary.readable import (
    MKLDNN,
    as_tensor,
    nested_layout,
    nested_shape,
    read_values,
    readable_tensor,
)
from tensorpeek.summary.reductions import Wanted
from tensorpeek.summary.sharded import is_sharded, local_note
from tensorpeek.summary.stats import Measurement, derived, measure, moments
from tensorpeek.summary.text import format_line, sparkline

__all__ = ["Histogram", "TensorSummary", "readable_tensor", "sparkline", "summarize"]

# histograms are exact up to these many distinct elements (with / without the fused kernel)
EXACT_HIST_LIMIT, EXACT_HIST_LIMIT_FUSED = 1 << 22, 1 << 24
QUICK_EXACT_LIMIT = 1 << 20  # quick mode: statistics exact up to this many elements
QUICK_SAMPLE_SIZE = 1 << 16  # quick mode: histogram (and above the limit, moment) sample


@dataclass(frozen=True)
class TensorSummary:
    """Metadata and value statistics of one tensor. Value statistics are over the finite
    values (``None`` when there are none, or for meta tensors); counts are over all."""

    # metadata
    shape: tuple[int, ...]  # nested tensors: -1 for each ragged dimension
    dtype: str  # "float32", "bfloat16", ... (numpy arrays: the matching torch name)
    dtype_short: str  # "f32", "bf16", ...
    device: str
    numel: int
    nbytes: int
    layout: str  # "strided", "sparse_coo", "sparse_csr", "jagged", "nested_strided", ...
    requires_grad: bool
    is_leaf: bool
    grad_fn: str | None
    is_parameter: bool
    container: str  # "tensor", "parameter" or "ndarray"
    # counts over all elements
    nan: int | None = None
    posinf: int | None = None
    neginf: int | None = None
    zeros: int | None = None
    finite: int | None = None
    # statistics of the finite values
    min: float | int | None = None
    max: float | int | None = None
    mean: float | None = None
    std: float | None = None  # population (divide by n)
    std_sample: float | None = None  # sample (divide by n - 1)
    norm: float | None = None  # L2
    absmean: float | None = None
    absmax: float | int | None = None
    hist: Histogram | None = None
    # dtype- and layout-specific extras
    saturated: int | None = None  # narrow floats: |x| >= the dtype's largest finite value
    subnormal: int | None = None  # narrow floats: 0 < |x| < smallest normal
    nnz: int | None = None  # sparse: stored values (the statistics are over these)
    real_range: tuple[float, float] | None = None  # complex: finite range of the real part
    imag_range: tuple[float, float] | None = None
    quick: bool = False  # computed in quick mode
    estimated: tuple[str, ...] = ()  # fields estimated from a sample (quick mode)
    # why values are missing, when they are; or how they were read, when the statistics
    # are not simply over the tensor's elements (uncoalesced sparse, nested buffers)
    note: str | None = None

    @property
    def nonfinite(self) -> int | None:
        return None if self.nan is None else self.nan + (self.posinf or 0) + (self.neginf or 0)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data (DESIGN.md's keys): non-finite floats become strings."""
        out = asdict(self)
        out["shape"] = list(self.shape)
        out["nonfinite"] = self.nonfinite
        out["estimated"] = list(self.estimated)
        if self.hist is not None:
            out["hist"]["edges"] = list(self.hist.edges)
            out["hist"]["counts"] = list(self.hist.counts)
        return json_safe(out)

    def __str__(self) -> str:
        return format_line(self)


def summarize(
    x: Any,
    *,
    bins: int = 32,
    scale: Literal["linear", "symlog"] = "linear",
    mode: Literal["full", "quick"] = "full",
    sample_size: int = 1 << 20,
    exact_hist_limit: int | None = None,
) -> TensorSummary:
    """Summarize a ``torch.Tensor`` (any dtype, layout, device) or a ``numpy.ndarray``.

    ``mode="full"``: every statistic exact over all elements; the histogram is exact up to
    ``exact_hist_limit`` distinct elements and from a uniform sample of ``sample_size``
    above. By default that limit is 2^24 where the fused kernel bins the values (one more
    read: faster than drawing the sample up to about that size, and no sample buffer),
    else 2^22. ``mode="quick"`` (debugger hovers): the histogram comes from at most 2^16
    values; statistics are exact up to 2^20 elements; above, counts of NaN/Inf and min/max
    stay exact while moments and zeros come from the sample. Estimated fields are listed
    in ``estimated``.
    """
    if not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    if scale not in ("linear", "symlog"):
        raise ValueError(f"scale must be 'linear' or 'symlog', got {scale!r}")
    if mode not in ("full", "quick"):
        raise ValueError(f"mode must be 'full' or 'quick', got {mode!r}")
    if sample_size < 1:
        raise ValueError(f"sample_size must be positive, got {sample_size!r}")
    if is_sharded(x):  # a DTensor: this rank's shard, said so (summary/sharded.py)
        s = summarize(x.to_local(), bins=bins, scale=scale, mode=mode, sample_size=sample_size,
                      exact_hist_limit=exact_hist_limit)  # fmt: skip
        return replace(s, note=local_note(x) + (f"; {s.note}" if s.note else ""))
    original, container = as_tensor(x)
    meta = _metadata(original, container)
    with torch.no_grad():
        readable = read_values(x)
        values, info = readable.values, readable.info
        meta["note"] = readable.note
        if values is None:
            return TensorSummary(**meta)
        if original.layout not in (torch.strided, torch.jagged):
            meta["nnz"] = values.numel()
        if values.numel() == 0:
            return TensorSummary(
                **meta, nan=0, posinf=0, neginf=0, zeros=0, finite=0,
                hist=Histogram((), (), sampled=False, sample_size=0, scale=scale),
            )  # fmt: skip
        quick = mode == "quick"
        if exact_hist_limit is None:
            fused = scale == "linear" and native.can_read(values)
            exact_hist_limit = EXACT_HIST_LIMIT_FUSED if fused else EXACT_HIST_LIMIT
        sampled_moments = quick and values.numel() > QUICK_EXACT_LIMIT
        if quick:  # the sparkline of a hover needs no more than a 2^16 sample
            sample_size, exact_hist_limit = QUICK_SAMPLE_SIZE, QUICK_SAMPLE_SIZE
        if sampled_moments:
            want = Wanted(moments=False, abs=False, zeros=False)
        else:
            want = Wanted(narrow=info.kind is ValueKind.NARROW_FLOAT)
        m = measure(values, want, sample_size=sample_size, exact_hist_limit=exact_hist_limit,
                    bins=bins, scale=scale)  # fmt: skip
        stats = derived(m, info)
        estimated: tuple[str, ...] = ("hist",) if quick and m.sample is not None else ()
        if sampled_moments:
            stats.update(_sample_estimates(m))
            estimated = ("zeros", "mean", "std", "std_sample", "norm", "absmean", "hist")
        else:
            stats.update(moments(m))
    fields: dict[str, Any] = {
        k: v for k, v in stats.items() if k not in ("nonfinite", "zeros_frac")
    }
    return TensorSummary(
        **meta,
        **fields,
        hist=_histogram(m, scale),
        real_range=m.real_range,
        imag_range=m.imag_range,
        quick=quick,
        estimated=estimated,
    )


def _metadata(t: torch.Tensor, container: str) -> dict[str, Any]:
    info = dtype_info(t.dtype)
    shape = tuple(t.shape) if not t.is_nested else nested_shape(t)
    layout = str(t.layout).removeprefix("torch.").lstrip("_")  # (torch._mkldnn: "mkldnn")
    if t.is_nested:
        layout = nested_layout(t)
    if t.layout in (torch.strided, torch.jagged, MKLDNN) or t.is_meta:
        nbytes = t.numel() * t.element_size()
    elif t.layout == torch.sparse_coo:
        nbytes = t._values().numel() * t.element_size() + t._indices().numel() * 8
    else:  # compressed layouts: values plus the two index tensors
        compressed, plain = (
            (t.crow_indices(), t.col_indices())
            if t.layout in (torch.sparse_csr, torch.sparse_bsr)
            else (t.ccol_indices(), t.row_indices())
        )
        nbytes = t.values().numel() * t.element_size()
        nbytes += sum(i.numel() * i.element_size() for i in (compressed, plain))
    grad_fn = type(t.grad_fn).__name__ if t.grad_fn is not None else None
    return {
        "shape": shape,
        "dtype": dtype_name(t.dtype),
        "dtype_short": info.short,
        "device": str(t.device),
        "numel": t.numel(),
        "nbytes": nbytes,
        "layout": layout,
        "requires_grad": t.requires_grad,
        "is_leaf": t.is_leaf,
        "grad_fn": grad_fn,
        "is_parameter": isinstance(t, torch.nn.Parameter),
        "container": container,
    }


def _sample_estimates(m: Measurement) -> dict[str, float | int | None]:
    """Quick mode: zeros and moments estimated from the sample, scaled to all finite values."""
    s = m.sample
    if s is None or s.numel() == 0:
        return dict.fromkeys(("zeros", "mean", "std", "std_sample", "norm", "absmean"))
    s = s.to(torch.float64)
    finite = m.total["finite"]
    k = s.numel()
    mean, second, absmean, zeros = torch.stack(
        [s.mean(), s.square().mean(), s.abs().mean(), torch.count_nonzero(s == 0)]
    ).tolist()
    var = max(float(torch.var(s, correction=0)), 0.0)
    return {
        "zeros": round(zeros / k * finite),
        "mean": mean,
        "std": math.sqrt(var),
        "std_sample": math.sqrt(var * finite / (finite - 1)) if finite > 1 else None,
        "norm": math.sqrt(second * finite),
        "absmean": absmean,
    }


def _histogram(m: Measurement, scale: str) -> Histogram:
    b = m.binning
    if b is None:  # no finite values
        return Histogram((), (), sampled=m.sample is not None, sample_size=0, scale=scale)
    linthresh = b.linthresh if scale == "symlog" else None
    if m.hist_counts is not None:
        counts = m.hist_counts
        return Histogram(b.edges(), tuple(counts), False, int(m.total["finite"]), scale, linthresh)
    sample = m.sample
    if sample is None:  # (neither exact nor sampled: nothing was binned)
        return Histogram((), (), sampled=False, sample_size=0, scale=scale)
    counts = b.count(sample, all_finite=True).tolist()  # the sample holds finite values only
    return Histogram(b.edges(), tuple(counts), True, sample.numel(), scale, linthresh)
