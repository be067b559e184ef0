"""``summarize_whole(dtensor)``: the whole sharded tensor's ``TensorSummary``, combined from
every shard's partials (``summary/sharded.py`` says how and why it is exact).

A collective: every rank of the DTensor's mesh must call it (two ``all_gather_object``: the
partials, then the histogram counts on the shared edges). So it is computed only on request,
at a pause where all ranks stand at the same line; nothing in tensorpeek's hooks calls it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from tensorpeek.summary.histogram import Binning, Histogram
from tensorpeek.summary.sharded import (
    ShardPartials,
    combine,
    describe_sharding,
    is_sharded,
    no_counts,
    shard_counts,
    shard_partials,
    shared_binning,
    whole_statistics,
)
from tensorpeek.summary.tensor_summary import TensorSummary, summarize


def whole_summary(
    x: Any, total: ShardPartials, counts: list[int] | None, binning: Binning | None, shards: int
) -> TensorSummary:
    """The whole tensor's summary: the local shard's dtype and device facts, the global shape,
    the combined statistics and histogram, and a note saying it is combined."""
    local = x.to_local().detach().reshape(-1)[:0]
    meta = summarize(local, bins=1)  # dtype and device facts only: reads no value
    hist = Histogram((), (), sampled=False, sample_size=0)
    if binning is not None and counts is not None:
        hist = Histogram(binning.edges(), tuple(counts), False, total.finite)
    parameter = isinstance(x, torch.nn.Parameter)
    return replace(
        meta,
        shape=tuple(x.shape),
        numel=total.numel,
        nbytes=total.numel * x.element_size(),
        requires_grad=x.requires_grad,
        is_leaf=x.is_leaf,
        grad_fn=type(x.grad_fn).__name__ if x.grad_fn is not None else None,
        is_parameter=parameter,
        container="parameter" if parameter else "tensor",
        hist=hist,
        note=f"whole tensor, combined from {shards} shard(s) ({describe_sharding(x)})",
        **whole_statistics(total),
    )


def contributes(x: Any) -> bool:
    """Whether this rank's shard holds values of its own (not a replica's copy)."""
    from torch.distributed.tensor.placement_types import Replicate

    coordinate = x.device_mesh.get_coordinate() or []
    return all(
        c == 0 for c, p in zip(coordinate, x.placements, strict=False) if isinstance(p, Replicate)
    )


def summarize_whole(x: Any, bins: int = 32) -> TensorSummary:
    """The whole DTensor's summary, combined from every shard (a collective: module
    docstring). ``ValueError`` for a tensor that is not a DTensor, a ``Partial`` placement
    (pending sums, not values) or a mesh of several dimensions that does not span the job."""
    if not is_sharded(x):
        raise ValueError("summarize_whole expects a DTensor (a sharded tensor)")
    if not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    import torch.distributed as dist
    from torch.distributed.tensor.placement_types import Partial

    if any(isinstance(p, Partial) for p in x.placements):
        raise ValueError(
            "a Partial placement holds pending sums, not values: reduce it (e.g. "
            "redistribute to Replicate) before summarizing the whole tensor"
        )
    mesh = x.device_mesh
    if mesh.ndim == 1:
        group, size = mesh.get_group(), mesh.size()
    elif mesh.size() == dist.get_world_size():
        group, size = None, mesh.size()
    else:
        raise ValueError("a mesh of several dimensions must span the whole job")
    local = x.to_local()
    mine = contributes(x)
    gathered: list[Any] = [None] * size
    dist.all_gather_object(
        gathered, (shard_partials(local) if mine else ShardPartials()).to_dict(), group=group
    )
    parts = [ShardPartials(**p) for p in gathered]
    total = combine(parts)
    binning = shared_binning(total, bins)
    counts = None
    if binning is not None:
        own = shard_counts(local, binning) if mine else no_counts(binning)
        all_counts: list[Any] = [None] * size
        dist.all_gather_object(all_counts, own, group=group)
        counts = [sum(c) for c in zip(*all_counts, strict=True)]
    return whole_summary(x, total, counts, binning, sum(1 for p in parts if p.numel))
