"""Summaries of sharded tensors (``DTensor``: FSDP2 ``fully_shard`` parameters and gradients,
tensor parallelism): the local shard, said so, or the whole tensor, combined exactly.

- ``summarize(dtensor)`` (``tensor_summary`` routes a DTensor to its local tensor) describes
  **this rank's local shard** and says so in its ``note`` (``local_note``): the global shape,
  the placements and the mesh. Nothing leaves the rank and nothing waits for another one, so
  it is safe anywhere (hovers, hits, hooks).
- ``summarize_whole(dtensor)`` (``sharded_whole``) describes **the whole tensor**. Each rank
  computes the partials of its shard (``shard_partials``: counts, finite extremes, float64
  sums of x, x^2 and |x|, and a mean and sum of squared deviations for the spread); they are
  gathered and combined (``combine``: counts add, extremes are the extremes of the extremes,
  sums add, the spread combines by Chan's parallel rule); then every shard bins its finite
  values on the shared edges of the global range (``Binning.count``, the arithmetic
  ``summarize`` uses), and the counts add up to the whole tensor's exact histogram. It is a
  collective (two ``all_gather_object`` over the mesh): every rank of the mesh must call it,
  so it runs only on request, at a pause where all ranks stand at the same line, never
  inside a hook or on the healthy path.

Shards along ``Shard`` placements hold each element once; along ``Replicate`` mesh dimensions
only the first coordinate contributes (the others hold copies). A ``Partial`` placement holds
pending sums, not values: its whole tensor is not the union of the shards, and
``summarize_whole`` refuses it instead of combining.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from tensorpeek.summary.histogram import Binning

CHUNK = 1 << 20  # shard values read at a time (float64 temporaries of 8 MB at most)


def is_sharded(x: Any) -> bool:
    """Whether ``x`` is a ``DTensor`` (checked without importing ``torch.distributed``)."""
    module = sys.modules.get("torch.distributed.tensor")
    dtensor = getattr(module, "DTensor", None) if module is not None else None
    return dtensor is not None and isinstance(x, dtensor)


def describe_sharding(x: Any) -> str:
    """``global shape [7, 5], placements (Shard(dim=0),) on mesh cpu(2,)``."""
    mesh = x.device_mesh
    placements = ", ".join(repr(p) for p in x.placements)
    return (
        f"global shape {list(x.shape)}, placements ({placements}) on mesh "
        f"{mesh.device_type}{tuple(mesh.shape)}"
    )


def local_note(x: Any) -> str:
    """The note of a local-shard summary: what the statistics describe and what they do not."""
    return (
        f"local shard of a DTensor ({describe_sharding(x)}): statistics of this rank's shard "
        f"{list(x.to_local().shape)} only; at a pause, tensorpeek.whole_summary() combines "
        "every shard"
    )


@dataclass(frozen=True)
class ShardPartials:
    """What one shard contributes to the whole tensor's statistics (plain numbers, picklable).
    ``mean`` and ``m2`` (sum of squared deviations from it) are over the finite values."""

    numel: int = 0
    nan: int = 0
    posinf: int = 0
    neginf: int = 0
    zeros: int = 0
    finite: int = 0
    min: float | None = None
    max: float | None = None
    sum: float = 0.0
    sumsq: float = 0.0
    abssum: float = 0.0
    mean: float = 0.0
    m2: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pair(a: ShardPartials, b: ShardPartials) -> ShardPartials:
    n = a.finite + b.finite
    if a.finite == 0 or b.finite == 0:
        mean, m2 = (a.mean, a.m2) if b.finite == 0 else (b.mean, b.m2)
    else:
        delta = b.mean - a.mean
        mean = a.mean + delta * (b.finite / n)
        m2 = a.m2 + b.m2 + delta * delta * (a.finite * b.finite / n)
    extremes = [v for v in (a.min, b.min) if v is not None]
    highs = [v for v in (a.max, b.max) if v is not None]
    return ShardPartials(
        numel=a.numel + b.numel,
        nan=a.nan + b.nan,
        posinf=a.posinf + b.posinf,
        neginf=a.neginf + b.neginf,
        zeros=a.zeros + b.zeros,
        finite=n,
        min=min(extremes) if extremes else None,
        max=max(highs) if highs else None,
        sum=a.sum + b.sum,
        sumsq=a.sumsq + b.sumsq,
        abssum=a.abssum + b.abssum,
        mean=mean,
        m2=m2,
    )


def combine(parts: list[ShardPartials]) -> ShardPartials:
    """The partials of the union of the shards (module docstring)."""
    total = ShardPartials()
    for p in parts:
        total = _pair(total, p)
    return total


def shard_partials(local: torch.Tensor) -> ShardPartials:
    """This shard's partials, read ``CHUNK`` values at a time in float64 (never a whole copy)."""
    flat = local.detach().reshape(-1)
    if type(flat) is not torch.Tensor:
        flat = flat.as_subclass(torch.Tensor)
    total = ShardPartials(numel=0)
    with torch.no_grad():
        for start in range(0, flat.numel(), CHUNK):
            c = flat[start : start + CHUNK].to(torch.float64)  # (n,) a private copy
            finite = torch.isfinite(c)
            f = c[finite]
            nan = int(torch.isnan(c).sum())
            posinf = int((c == math.inf).sum())
            neginf = int((c == -math.inf).sum())
            n = f.numel()
            part = ShardPartials(numel=c.numel(), nan=nan, posinf=posinf, neginf=neginf)
            if n:
                lo, hi = torch.aminmax(f)
                s = float(f.sum())
                mean = s / n
                part = replace(
                    part,
                    zeros=int((f == 0).sum()),
                    finite=n,
                    min=float(lo),
                    max=float(hi),
                    sum=s,
                    sumsq=float(torch.dot(f, f)),
                    abssum=float(f.abs().sum()),
                    mean=mean,
                    m2=float(torch.square(f - mean).sum()),
                )
            total = _pair(total, part)
    return total


def shared_binning(total: ShardPartials, bins: int) -> Binning | None:
    """The bins every shard counts on: ``summarize``'s, over the global finite range."""
    if total.finite == 0 or total.min is None or total.max is None:
        return None
    return Binning(total.min, total.max, bins)


def no_counts(binning: Binning) -> list[int]:
    return [0] * (1 if binning.one_bin else binning.bins)


def shard_counts(local: torch.Tensor, binning: Binning) -> list[int]:
    """This shard's finite values counted on the shared bins."""
    flat = local.detach().reshape(-1)
    if type(flat) is not torch.Tensor:
        flat = flat.as_subclass(torch.Tensor)
    if flat.numel() == 0:
        return no_counts(binning)
    return [int(c) for c in binning.count(flat).tolist()]


def whole_statistics(total: ShardPartials) -> dict[str, Any]:
    """The summary fields of the whole tensor from its combined partials."""
    n = total.finite
    stats: dict[str, Any] = {
        "nan": total.nan,
        "posinf": total.posinf,
        "neginf": total.neginf,
        "zeros": total.zeros,
        "finite": n,
        "min": total.min,
        "max": total.max,
        "mean": None,
        "std": None,
        "std_sample": None,
        "norm": None,
        "absmean": None,
        "absmax": None,
    }
    if n:
        var = max(total.m2 / n, 0.0)
        constant = total.min == total.max
        stats.update(
            mean=total.min if constant else total.mean,
            std=0.0 if constant else math.sqrt(var),
            std_sample=(0.0 if constant else math.sqrt(total.m2 / (n - 1))) if n > 1 else None,
            norm=math.sqrt(total.sumsq),
            absmean=total.abssum / n,
            absmax=max(abs(total.min), abs(total.max)),  # type: ignore[arg-type]
        )
    return stats
