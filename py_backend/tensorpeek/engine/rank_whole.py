"""``tensorpeek.whole_summary``: the whole sharded tensor's summary, asked at a pause of
every rank of its mesh through the job's store (``engine.rank_summary`` is the exchange,
``docs/ranks-protocol.md`` its keys). Usable from pdb or the Debug Console at a pause."""

from __future__ import annotations

from typing import Any

from tensorpeek.engine import ranks
from tensorpeek.engine.rank_summary import (
    DEFAULT_TIMEOUT_S,
    MAX_BINS,
    WholeSummary,
    exchange,
    mesh_ranks,
    timeout_seconds,
)
from tensorpeek.engine.rank_tensors import WholeSummaryError, reference, resolve_local
from tensorpeek.engine.rank_watch import RUNTIME
from tensorpeek.summary.tensor_summary import TensorSummary

__all__ = ["WholeSummary", "WholeSummaryError", "request_whole", "whole_summary"]


def request_whole(target: Any, bins: int = 32, timeout: float = DEFAULT_TIMEOUT_S) -> WholeSummary:
    """The whole tensor's summary, asked of every rank of its mesh through the store (module
    docstring). ``WholeSummaryError`` says why not, naming the ranks concerned."""
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
        raise WholeSummaryError(f"bins must be an integer between 1 and {MAX_BINS}, got {bins!r}")
    timeout = timeout_seconds(timeout)
    ref = reference(target)
    where = f"whole_summary({ref.text!r})"
    try:
        x = resolve_local(ref)
    except WholeSummaryError as err:
        raise WholeSummaryError(f"{where}: {err}") from None
    me = ranks.identity()
    mesh = mesh_ranks(x)
    my_rank = me.rank if me is not None else 0  # a single process: a mesh of rank 0 only
    if my_rank not in mesh:
        raise WholeSummaryError(f"{where}: this rank ({my_rank}) is not in the tensor's mesh")
    peers = [r for r in mesh if r != my_rank]
    channel = None
    if peers:
        if me is None or not RUNTIME.running:
            raise WholeSummaryError(
                f"{where}: this rank has no tensorpeek breakpoint armed, so its peers cannot be "
                "asked; arm every rank (e.g. TENSORPEEK_BREAKPOINTS for the whole job)"
            )
        channel = RUNTIME.connected()
        if channel is None:
            raise WholeSummaryError(f"{where}: the job's c10d store cannot be reached")
    state = RUNTIME.serving_state()
    return exchange(where, ref, x, channel, mesh, my_rank, peers, bins, timeout, state)


def whole_summary(target: Any, bins: int = 32, timeout: float = DEFAULT_TIMEOUT_S) -> TensorSummary:
    """The whole sharded tensor's summary, at a pause (from pdb, or the Debug Console).

    ``target``: a parameter path under the model (``"0.weight"``, ``"0.weight.grad"``) or the
    parameter or gradient itself. Every rank of the tensor's mesh is asked through the job's
    store (their watcher threads answer while they are paused); ``note`` says how it was
    combined and when a peer's shard may be from another moment. ``ValueError`` (naming the
    ranks concerned) when it cannot be given: a rank did not answer within ``timeout``
    seconds, cannot resolve the name, or the tensor is not sharded."""
    return request_whole(target, bins=bins, timeout=timeout).summary
