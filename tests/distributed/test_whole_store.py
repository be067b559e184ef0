"""The whole-tensor exchange on the store, inside one process: torchrun's variables make it
"rank 1 of 2" and a real ``TCPStore`` in the test stands in for torchrun's agent store; the
test plays rank 0 through its own ``RankChannel`` (as ``test_ranks_runtime.py`` does).

Covers the peer's side (a request it cannot resolve gets its reason, a malformed one too, and
a request stops nobody), the requester's words for a silent rank, bad input to
``tensorpeek.whole_summary``, the no-peer path on a one-rank FSDP2 group against a float64
oracle, and the healthy path (no store operation from the training thread, none but the
watcher's one poll from the watcher).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
from store_helpers import eventually

import tensorpeek
from tensorpeek.engine import ranks
from tensorpeek.engine.rank_summary import why_silent
from tensorpeek.engine.rank_watch import RUNTIME
from tensorpeek.engine.ranks import RankChannel, RankIdentity
from tensorpeek.summary.sharded import is_sharded


def ask(rank0: RankChannel, **request: Any) -> dict[str, Any]:
    """Rank 0's request, published as the requester does; returns rank 1's answer."""
    record = ranks.event_record(ranks.REQUEST_KIND, rank0.me, "asks", step=0)
    n = rank0.publish_request({**record, "request": {"timeout_s": 2.0, **request}})
    answer = eventually(lambda: rank0.read(f"ask/{n}/part/1"))
    assert answer, "rank 1's watcher did not answer"
    rank0.write(f"ask/{n}/bins", {"cancel": "the test asked only for the first phase"})
    return answer  # type: ignore[no-any-return]


def test_a_request_a_peer_cannot_resolve_gets_that_peer_s_reason_and_stops_nobody(
    rank0: RankChannel,
) -> None:
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    model = torch.nn.Linear(3, 2)
    model(torch.ones(1, 3))  # the engine now knows this root
    assert eventually(lambda: RUNTIME.channel is not None)
    cases = [
        (dict(param="nope", grad=False, root_class="Linear"),
         "no parameter 'nope' under its model (Linear: weight, bias)"),
        (dict(param="weight", grad=False, root_class="Linear"),
         "'weight' is not sharded here (a Parameter, not a DTensor): its local summary is the "
         "whole tensor"),
        (dict(param="weight", grad=True, root_class="Linear"),
         "'weight' has no gradient (.grad is None)"),
        (dict(param="weight", grad=False, root_class="Other"),
         "no model of class Other has run forward while tensorpeek was armed here"),
        (dict(grad=False, root_class="Linear"), "a malformed request (KeyError: 'param')"),
    ]  # fmt: skip
    for request, reason in cases:
        answer = ask(rank0, **request)
        assert (answer["ok"], answer["error"], answer["rank"]) == (False, reason, 1)
        assert answer["state"] == "running"  # no peer paused: this rank trains on
    assert RUNTIME.running and RUNTIME.stopped_by is None  # a request is no stop
    assert RUNTIME.peer_stop() is None  # ... for the launcher's report either
    model(torch.ones(1, 3))  # and training goes on: nothing was raised into this thread


def test_a_silent_rank_is_named_with_what_the_store_knows_of_it(rank0: RankChannel) -> None:
    assert why_silent(rank0, 5) == (
        "rank 5 has no tensorpeek armed (it never registered with the job's store), so nothing "
        "in it can answer"
    )
    for rank in (2, 3, 4):
        rank0.write(f"armed/{rank}", {"rank": rank})
    rank0.write("crashed/3", {"kind": "crashed", "rank": 3, "error": "ValueError: v"})
    assert why_silent(rank0, 3) == "rank 3 crashed: ValueError: v"
    ended = ranks.event_record("stopped", RankIdentity(2, 8, 2, "h"), "ended by doctor", step=4)
    rank0.publish_stop(ended)
    assert why_silent(rank0, 2) == "rank 2 has ended (ended by doctor)"
    assert why_silent(rank0, 4) == (
        "rank 4 registered but its watcher did not answer: the process may have died (killed) "
        "or its tensorpeek breakpoints were cleared"
    )


@pytest.mark.parametrize(
    ("target", "kwargs", "message"),
    [
        ("weight", {}, "whole_summary('weight'): 'weight' is not sharded here (a Parameter, not "
                       "a DTensor): its local summary is the whole tensor"),
        ("weight.grad", {}, "whole_summary('weight.grad'): 'weight' has no gradient"),
        ("nope", {}, "no parameter 'nope' under the model tensorpeek knows"),
        (torch.ones(2), {}, "this tensor is not a parameter or a parameter's gradient of a model "
                            "tensorpeek knows"),
        (3, {}, "expected a parameter path or a tensor, got a int"),
        ("weight", {"bins": 0}, "bins must be an integer between 1 and 16384, got 0"),
        ("weight", {"timeout": -1}, "timeout must be in (0, 600] s, got -1"),
        ("weight", {"timeout": "5"}, "timeout must be a number of seconds, got '5'"),
    ],
    ids=["not-sharded", "no-grad", "unknown", "stranger", "not-a-name", "bins", "timeout", "type"],
)  # fmt: skip
def test_bad_input_gets_a_clear_message_and_changes_nothing(
    target: Any, kwargs: dict[str, Any], message: str
) -> None:
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    try:
        model = torch.nn.Linear(3, 2)
        model(torch.ones(1, 3))
        before = [p.detach().clone() for p in model.parameters()]
        with pytest.raises(ValueError) as caught:
            tensorpeek.whole_summary(target, **kwargs)
        assert message in str(caught.value)
        assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
        assert model.weight.grad is None
    finally:
        tensorpeek.clear()


def test_a_one_rank_mesh_needs_no_peer_and_equals_the_float64_oracle(tmp_path: Path) -> None:
    from torch.distributed.fsdp import fully_shard

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rdzv'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 1))
        fully_shard(model)
        tensorpeek.break_on("*", "output", "nonfinite", action="record")
        model(torch.randn(4, 5)).sum().backward()
        for name, grad in (("0.weight", False), ("0.weight.grad", True)):
            got = tensorpeek.whole_summary(name, bins=8)
            p = model[0].weight
            full = (p.grad if grad else p).detach().full_tensor().to(torch.float64)
            assert (got.numel, got.finite, got.nan) == (35, 35, 0)
            assert (got.min, got.max) == (float(full.min()), float(full.max()))
            assert got.mean == pytest.approx(float(full.mean()), rel=1e-12)
            assert got.std == pytest.approx(float(full.std(correction=0)), rel=1e-12)
            assert sum(got.hist.counts) == 35 and len(got.hist.counts) == 8
            assert got.note.startswith("whole tensor, combined from 1 shard(s)")
            assert "through the store" not in got.note  # nobody else was asked

        from tensorpeek.debugger.presentation import tensor_children

        children = {name: value for name, value, _ in tensor_children(model[0].weight)}
        assert children["whole tensor (on request)"].startswith(
            "evaluate tensorpeek.whole_summary(<this tensor>) in the Debug Console"
        )
        assert "at a pause, tensorpeek.whole_summary() combines" in children["note"]
        plain = {name for name, _, _ in tensor_children(torch.ones(3))}
        assert "whole tensor (on request)" not in plain

        # inside the forward FSDP2 holds the unsharded tensor: the name and that very tensor
        # still lead to the sharded DTensor, with the same answer
        seen: dict[str, Any] = {}

        def inside(module: Any, args: Any, out: Any) -> None:
            held = model[0].weight
            seen["held_is_sharded"] = is_sharded(held)
            seen["by_name"] = tensorpeek.whole_summary("0.weight", bins=8)
            seen["by_tensor"] = tensorpeek.whole_summary(held, bins=8)

        handle = model[1].register_forward_hook(inside)
        try:
            with torch.no_grad():
                model(torch.randn(4, 5))
        finally:
            handle.remove()
        assert seen["held_is_sharded"] is False
        assert seen["by_name"] == seen["by_tensor"] == tensorpeek.whole_summary("0.weight", bins=8)
    finally:
        tensorpeek.clear()
        dist.destroy_process_group()


class CountingStore:
    """The channel's store, counting every operation by thread and (method, key)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.ops: list[tuple[str, str, str]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def counted(*args: Any) -> Any:
            key = args[0] if args and isinstance(args[0], str) else repr(args[:1])
            self.ops.append((threading.current_thread().name, name, key))
            return method(*args)

        return counted


def test_the_healthy_path_adds_no_store_operation(rank0: RankChannel) -> None:
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    channel = eventually(lambda: RUNTIME.channel)
    counting = CountingStore(channel.store)
    channel.store = counting
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        loss = model(torch.randn(8, 4, generator=gen)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    time.sleep(3 * 0.1)  # a few of the watcher's polls
    threads = {t for t, _, _ in counting.ops}
    assert threads == {"tensorpeek-ranks"}  # nothing on the training thread
    assert {(m, k) for _, m, k in counting.ops} == {("add", "stops")}  # the one poll


def test_only_a_user_s_request_starts_an_exchange() -> None:
    """The exchange runs on request only: the Python API and the agent method ask; a peer
    serves only from its watcher, for a record of kind ``request``."""
    package = Path(__file__).resolve().parents[2] / "py_backend" / "tensorpeek"

    def files_with(text: str) -> list[str]:
        return sorted(
            str(path.relative_to(package))
            for path in package.rglob("*.py")
            if text in path.read_text(encoding="utf-8")
        )

    assert files_with("request_whole(") == ["agent/whole_summary.py", "engine/rank_whole.py"]
    assert files_with("rank_summary.serve(") == ["engine/rank_watch.py"]


def test_a_peer_counts_on_the_requester_s_bins_and_stops_waiting_when_cancelled(
    master: Any, tmp_path: Path
) -> None:
    """The peer's side of both phases (``serve``, as the watcher runs it) on a real one-rank
    FSDP2 shard, the test playing the requester on the store."""
    from dataclasses import asdict

    from torch.distributed.fsdp import fully_shard

    from tensorpeek.engine.rank_summary import serve
    from tensorpeek.summary.sharded import ShardPartials, shard_partials, shared_binning

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rdzv'}", rank=0, world_size=1)
    try:
        torch.manual_seed(1)
        model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 1))
        fully_shard(model)
        tensorpeek.break_on("*", "output", "nonfinite", action="record")
        model(torch.randn(4, 5)).sum().backward()
        client = dist.TCPStore("127.0.0.1", master.port, is_master=False)
        channel = RankChannel(
            dist.PrefixStore("tensorpeek/serve/0", client), RankIdentity(1, 2, 1, "h")
        )
        asker = RankIdentity(0, 2, 0, "p")
        request = {"param": "0.weight", "grad": False, "root_class": type(model).__name__}
        record = {
            **ranks.event_record(ranks.REQUEST_KIND, asker, "asks", step=0),
            "request": {**request, "bins": 8, "timeout_s": 30.0},
        }
        quit = threading.Event()
        local = model[0].weight.to_local().detach()

        def serving(n: int) -> threading.Thread:
            thread = threading.Thread(target=serve, args=(channel, n, record, "paused", quit))
            thread.start()
            return thread

        first = serving(1)
        part = eventually(lambda: channel.read("ask/1/part/1"))
        assert part["ok"] and part["state"] == "paused" and part["contributes"] is True
        assert part["partials"] == shard_partials(local).to_dict()
        assert (part["shape"], part["local_shape"]) == ([7, 5], [7, 5])
        binning = shared_binning(ShardPartials(**part["partials"]), 8)
        assert binning is not None
        channel.write("ask/1/bins", {"binning": asdict(binning)})
        first.join(timeout=5)
        counts = channel.read("ask/1/counts/1")
        values = local.to(torch.float64).flatten()
        edges = torch.tensor(binning.edges(), dtype=torch.float64)
        oracle = torch.bincount(torch.bucketize(values, edges[1:-1], right=True), minlength=8)
        assert counts == {"rank": 1, "counts": oracle.tolist()}

        second = serving(2)
        assert eventually(lambda: channel.read("ask/2/part/1"))
        channel.write("ask/2/bins", {"cancel": "rank 3 did not answer"})
        second.join(timeout=5)  # well before the request's 30 s
        assert not second.is_alive() and not channel.has("ask/2/counts/1")
    finally:
        tensorpeek.clear()
        dist.destroy_process_group()
