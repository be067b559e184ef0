"""The whole sharded tensor's summary at a pause, asked of the peers through the job's store.

At a pause only the paused rank's user asks, and the other ranks' main threads are suspended
(or blocked in their next collective), so the collective way (every rank calls one function)
cannot run. Instead the paused rank (the requester) asks through the c10d store, and each
peer's watcher thread (``engine.rank_watch``, which runs while its main thread is suspended)
answers (``docs/ranks-protocol.md``: "The whole tensor at a pause"):

1. the requester publishes a request on the stops counter the watchers already poll (kind
   ``request``, stopping nobody) naming the tensor as every rank can resolve it: the
   parameter's path under the root module the engine knows, and whether it is its ``.grad``;
2. each peer resolves it in its own process and publishes its shard's partials
   (``summary.sharded.shard_partials``), or the reason it cannot;
3. the requester combines every rank's partials (``combine``, in mesh order: the arithmetic
   of the collective path) and publishes the shared binning of the global range;
4. each peer publishes its counts on those bins; the requester adds them up.

Each phase waits at most ``timeout`` seconds; a rank that did not answer is named with what
the store knows of it (never registered, crashed, ended, or silent). Nothing here runs on
the healthy path: a peer reacts only when the stops counter moves.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from tensorpeek.common.terminal_text import terminal_safe
from tensorpeek.engine import ranks
from tensorpeek.engine.rank_tensors import TensorRef, WholeSummaryError, resolve_local
from tensorpeek.engine.ranks import RankChannel
from tensorpeek.summary.histogram import Binning
from tensorpeek.summary.sharded import (
    ShardPartials,
    combine,
    no_counts,
    shard_counts,
    shard_partials,
    shared_binning,
)
from tensorpeek.summary.sharded_whole import contributes
from tensorpeek.summary.sharded_whole import whole_summary as combined_summary
from tensorpeek.summary.tensor_summary import TensorSummary

DEFAULT_TIMEOUT_S = 10.0  # each phase of the exchange waits at most this long
MAX_TIMEOUT_S = 600.0
MAX_BINS = 16384
POLL_S = 0.02  # how often a waiting side looks for the other side's keys
SETTLE_S = 0.05  # a waiting peer's main thread is sampled this often ...
SETTLE_SAMPLES = 3  # ... until it stood still this many samples in a row ...
SETTLE_MAX_S = 2.0  # ... or this long has passed


@dataclass(frozen=True)
class WholeSummary:
    """The requester's answer: the summary, what each rank of the mesh said, and notes."""

    name: str
    summary: TensorSummary
    ranks: list[dict[str, Any]]  # {rank, state, step, contributes, local_shape}, mesh order
    notes: list[str]


def mesh_ranks(x: Any) -> list[int]:
    return [int(r) for r in x.device_mesh.mesh.flatten().tolist()]


def _step() -> int:
    """This rank's step; at a pause at a ``param`` hit (inside ``optimizer.step()``, after the
    update, before it is counted) the step that update completes, as a peer past it counts."""
    from tensorpeek.common.steps import STEPS
    from tensorpeek.engine.registry import REGISTRY

    paused = REGISTRY.paused
    inside_step = bool(paused) and getattr(paused[-1], "site", None) == "param"
    return STEPS.current() + int(inside_step)


def _await(
    channel: RankChannel,
    keys: dict[int, str],
    deadline: float,
    quit: threading.Event | None = None,
) -> dict[int, dict[str, Any]]:
    """The records at ``keys`` (rank -> key) that appeared before ``deadline``."""
    got: dict[int, dict[str, Any]] = {}
    while True:
        for rank, key in keys.items():
            if rank not in got:
                value = channel.read(key)
                if value is not None:
                    got[rank] = value
        if len(got) == len(keys) or time.monotonic() >= deadline:
            return got
        if quit is not None:
            if quit.wait(POLL_S):
                return got
        else:
            time.sleep(POLL_S)


# -- the peer's side (the watcher thread) -----------------------------------------------------


def settle_main_thread(quit: threading.Event) -> bool:
    """Wait until this rank's main thread stands still, at most ``SETTLE_MAX_S``: the same
    Python frame at the same instruction in ``SETTLE_SAMPLES`` samples ``SETTLE_S`` apart (it
    is blocked in its next collective, which waits for the paused rank). A rank whose peer
    paused runs on until then, e.g. through the rest of its ``optimizer.step()``; its shard
    is read once it stands. False when it kept moving."""
    ident = threading.main_thread().ident
    last: tuple[int, int, int] | None = None
    same = 0
    deadline = time.monotonic() + SETTLE_MAX_S
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(ident or -1)
        where = (id(frame), id(frame.f_code), frame.f_lasti) if frame is not None else None
        del frame
        same = same + 1 if where is not None and where == last else 0
        last = where
        if same + 1 >= SETTLE_SAMPLES:
            return True
        if quit.wait(SETTLE_S):
            return False
    return False


def serve(
    channel: RankChannel, n: int, record: dict[str, Any], state: str, quit: threading.Event
) -> None:
    """Answer request ``n`` (``record``) from this rank's watcher thread: this shard's
    partials, then its counts on the requester's bins. Never raises (the watcher goes on)."""
    me = channel.me
    try:
        ask = record.get("request") or {}
        timeout = timeout_seconds(ask.get("timeout_s", DEFAULT_TIMEOUT_S))
        if state == "waiting" and not settle_main_thread(quit):
            state = "running"  # it kept moving: its shard is read while it trains
        answer: dict[str, Any] = {"rank": me.rank, "state": state, "step": _step()}
        local = None
        try:
            ref = TensorRef(str(ask["param"]), bool(ask["grad"]), str(ask["root_class"]))
            x = resolve_local(ref)
            mine = contributes(x)
            local = x.to_local()
            with torch.no_grad():
                part = shard_partials(local) if mine else ShardPartials()
            answer.update(
                ok=True,
                partials=part.to_dict(),
                contributes=mine,
                shape=list(x.shape),
                local_shape=list(local.shape),
            )
        except WholeSummaryError as err:
            answer.update(ok=False, error=str(err))
        except (KeyError, TypeError) as err:
            answer.update(ok=False, error=f"a malformed request ({type(err).__name__}: {err})")
        channel.write(f"ask/{n}/part/{me.rank}", answer)
        if not answer["ok"] or local is None:
            return
        bins = _await(channel, {0: f"ask/{n}/bins"}, time.monotonic() + timeout, quit).get(0)
        if bins is None or not isinstance(bins.get("binning"), dict):
            return  # cancelled, nothing finite to bin, or the requester went away
        binning = Binning(**bins["binning"])
        with torch.no_grad():
            counts = shard_counts(local, binning) if answer["contributes"] else no_counts(binning)
        channel.write(f"ask/{n}/counts/{me.rank}", {"rank": me.rank, "counts": counts})
    except Exception as err:  # noqa: BLE001 - the watcher must outlive any request
        channel.write(
            f"ask/{n}/part/{me.rank}",
            {"rank": me.rank, "ok": False, "error": f"internal error: {type(err).__name__}: {err}"},
        )


# -- the requester's side (the paused main thread) --------------------------------------------


def timeout_seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WholeSummaryError(f"timeout must be a number of seconds, got {value!r}")
    if not 0 < value <= MAX_TIMEOUT_S:
        raise WholeSummaryError(f"timeout must be in (0, {MAX_TIMEOUT_S:g}] s, got {value!r}")
    return float(value)


def why_silent(channel: RankChannel, rank: int) -> str:
    """What the store knows of a rank that did not answer."""
    if not channel.has(f"armed/{rank}"):
        return (
            f"rank {rank} has no tensorpeek armed (it never registered with the job's store), "
            "so nothing in it can answer"
        )
    crash = channel.read(f"crashed/{rank}")
    if crash is not None:
        return f"rank {rank} crashed: {terminal_safe(str(crash.get('error')))}"
    for n in range(1, (channel.stops() or 0) + 1):
        stop = channel.read(f"stop/{n}") if n not in channel.own_requests else None
        if stop is None or stop.get("rank") != rank or stop.get("kind") == ranks.REQUEST_KIND:
            continue
        if not stop.get("pauses"):
            return f"rank {rank} has ended ({terminal_safe(str(stop.get('message')))})"
    return (
        f"rank {rank} registered but its watcher did not answer: the process may have died "
        "(killed) or its tensorpeek breakpoints were cleared"
    )


def exchange(
    where: str,
    ref: TensorRef,
    x: Any,
    channel: RankChannel | None,
    mesh: list[int],
    me_rank: int,
    peers: list[int],
    bins: int,
    timeout: float,
    state: str,
) -> WholeSummary:
    n = None
    if channel is not None:
        request = {**ref.to_dict(), "bins": bins, "timeout_s": timeout}
        record = ranks.event_record(
            ranks.REQUEST_KIND, channel.me, f"asks for the whole {ref.text}", step=_step()
        )
        n = channel.publish_request({**record, "request": request})
        if n is None:
            raise WholeSummaryError(f"{where}: the request could not be written to the store")
    mine, local = contributes(x), x.to_local()
    with torch.no_grad():
        own = shard_partials(local) if mine else ShardPartials()
    answers: dict[int, dict[str, Any]] = {
        me_rank: {
            "rank": me_rank,
            "state": state,
            "step": _step(),
            "contributes": mine,
            "local_shape": list(local.shape),
        },
    }
    try:
        if channel is not None and n is not None:
            keys = {r: f"ask/{n}/part/{r}" for r in peers}
            answers.update(_await(channel, keys, time.monotonic() + timeout))
            _check_answers(where, ref, x, channel, peers, answers, timeout)
        parts = [own if r == me_rank else ShardPartials(**answers[r]["partials"]) for r in mesh]
        total = combine(parts)
        binning = shared_binning(total, bins)
        counts = None
        if channel is not None and n is not None:
            channel.write(f"ask/{n}/bins", {"binning": asdict(binning) if binning else None})
        if binning is not None:
            with torch.no_grad():
                per_rank = {me_rank: shard_counts(local, binning) if mine else no_counts(binning)}
            if channel is not None and n is not None:
                keys = {r: f"ask/{n}/counts/{r}" for r in peers}
                got = _await(channel, keys, time.monotonic() + timeout)
                missing = [r for r in peers if r not in got]
                if missing:
                    raise WholeSummaryError(
                        f"{where}: no histogram counts from rank(s) "
                        f"{', '.join(map(str, missing))} within {timeout:g} s: "
                        + "; ".join(why_silent(channel, r) for r in missing)
                    )
                per_rank.update({r: list(got[r]["counts"]) for r in peers})
            counts = [sum(c) for c in zip(*(per_rank[r] for r in mesh), strict=True)]
    except BaseException as err:  # an error, or Ctrl-C in pdb: the peers stop waiting
        if channel is not None and n is not None:
            channel.write(f"ask/{n}/bins", {"cancel": str(err) or type(err).__name__})
        raise
    finally:
        if channel is not None and n is not None:
            for r in peers:
                channel.delete(f"ask/{n}/part/{r}")
                channel.delete(f"ask/{n}/counts/{r}")
    summary = combined_summary(x, total, counts, binning, sum(1 for p in parts if p.numel))
    info = [
        {k: answers[r].get(k) for k in ("rank", "state", "step", "contributes", "local_shape")}
        for r in mesh
    ]
    notes = _notes(me_rank, info)
    if channel is not None:
        summary = replace(summary, note=f"{summary.note}, asked of every rank through the store")
    if notes:
        summary = replace(summary, note=f"{summary.note}; " + "; ".join(notes))
    return WholeSummary(ref.text, summary, info, notes)


def _check_answers(
    where: str,
    ref: TensorRef,
    x: Any,
    channel: RankChannel,
    peers: list[int],
    answers: dict[int, dict[str, Any]],
    timeout: float,
) -> None:
    missing = [r for r in peers if r not in answers]
    if missing:
        raise WholeSummaryError(
            f"{where}: no answer from rank(s) {', '.join(map(str, missing))} within "
            f"{timeout:g} s: " + "; ".join(why_silent(channel, r) for r in missing)
        )
    refused = [answers[r] for r in peers if not answers[r].get("ok")]
    if refused:
        raise WholeSummaryError(
            f"{where}: "
            + "; ".join(
                f"rank {a.get('rank')} cannot give its shard: {terminal_safe(str(a.get('error')))}"
                for a in refused
            )
        )
    for r in peers:
        if answers[r].get("shape") != list(x.shape):
            raise WholeSummaryError(
                f"{where}: rank {r} holds {ref.text} with global shape {answers[r].get('shape')}, "
                f"this rank {list(x.shape)}: not the same tensor"
            )


def _notes(me: int, info: list[dict[str, Any]]) -> list[str]:
    """What the user should know about when the shards were read."""
    notes = []
    step = next(i["step"] for i in info if i["rank"] == me)
    for i in info:
        if i["rank"] == me:
            continue
        if i["state"] == "running":
            notes.append(
                f"rank {i['rank']} was running, not paused: its shard was read while its "
                "training went on"
            )
        if i["step"] != step:
            notes.append(f"rank {i['rank']} is at step {i['step']}, this rank at step {step}")
    return notes
