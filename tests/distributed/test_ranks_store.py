"""The ranks runtime's records on a real c10d ``TCPStore`` (in this process, loopback): who
is first, what is published once, identity from torchrun's variables and from an
initialized group. The same store class torchrun's agent runs; no launcher needed here.

The oracle for "first" is the definition in ``docs/ranks-protocol.md``: the lowest step,
then the lowest sequence number, computed in the test from the records it published.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import torch.distributed as dist

from tensorpeek.engine import ranks
from tensorpeek.engine.hit import Hit, hit_text
from tensorpeek.engine.rank_watch import PeerStopped, peer_stop_line
from tensorpeek.engine.ranks import RankChannel, RankIdentity


@pytest.fixture(scope="module")
def master() -> Any:
    server = dist.TCPStore(
        "127.0.0.1", 0, is_master=True, wait_for_workers=False, timeout=timedelta(seconds=10)
    )
    yield server
    del server


@pytest.fixture
def store(master: Any, request: pytest.FixtureRequest) -> Any:
    """The module's store server, with a namespace of the test's own (a fresh job)."""
    return (master, f"tensorpeek/{request.node.name}/0")


def channel(store: Any, rank: int, world_size: int = 4) -> RankChannel:
    server, namespace = store if isinstance(store, tuple) else (store, "tensorpeek/job/0")
    client = dist.TCPStore("127.0.0.1", server.port, is_master=False, timeout=timedelta(seconds=10))
    return RankChannel(
        dist.PrefixStore(namespace, client), RankIdentity(rank, world_size, rank, "h")
    )


def eventually(read: Callable[[], Any]) -> Any:
    """``read()`` once it is truthy: a ``set`` on one connection is not acknowledged, so
    another connection may see it a moment later (the protocol's readers poll too)."""
    deadline = time.monotonic() + 5
    value = read()
    while not value and time.monotonic() < deadline:
        time.sleep(0.01)
        value = read()
    return value


def make_hit(step: int, module: str = "fc", rank: int | None = None) -> Hit:
    return Hit(
        breakpoint_id=1,
        spec={"target": "*", "site": "output", "condition": "nonfinite"},
        module=module,
        module_class="Linear",
        site="output",
        step=step,
        condition="nonfinite",
        origin=True,
        param=None,
        label="",
        summary=None,
        rank=rank,
    )


def publish(ch: RankChannel, step: int) -> dict[str, Any]:
    record = ranks.hit_record(make_hit(step), ch.me, "log")
    ch.publish_hit(record)
    return record


def test_first_is_the_lowest_step_even_when_it_reached_the_store_later(store: Any) -> None:
    late_step, early_step = channel(store, 0), channel(store, 1)
    a = publish(late_step, step=7)  # seq 1
    b = publish(early_step, step=3)  # seq 2
    assert (a["seq"], b["seq"]) == (1, 2)
    first = late_step.read("first")
    assert first is not None and (first["rank"], first["step"], first["seq"]) == (1, 3, 2)


def test_same_step_is_decided_by_sequence_not_by_rank(store: Any) -> None:
    three, zero = channel(store, 3), channel(store, 0)
    publish(three, step=5)
    publish(zero, step=5)
    first = zero.read("first")
    assert first is not None and (first["rank"], first["seq"]) == (3, 1)


def test_only_a_ranks_first_hit_is_published(store: Any) -> None:
    ch = channel(store, 2)
    publish(ch, step=4)
    second = publish(ch, step=1)  # later hit of the same rank, at a lower step (a new model)
    assert second["seq"] is None
    assert ch.read("hit/2")["step"] == 4  # type: ignore[index]
    assert ch.read("first")["step"] == 4  # type: ignore[index]
    assert ch.store.add("seq", 0) == 1  # one sequence number taken, no more


def test_first_is_the_minimum_when_ranks_publish_at_once(store: Any) -> None:
    chans = [channel(store, r, world_size=8) for r in range(8)]
    steps = [6, 2, 9, 2, 4, 2, 8, 3]
    records: list[dict[str, Any]] = []
    barrier = threading.Barrier(len(chans))

    def go(ch: RankChannel, step: int) -> None:
        barrier.wait()
        records.append(publish(ch, step))

    threads = [threading.Thread(target=go, args=(c, s)) for c, s in zip(chans, steps, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    oracle = min(records, key=lambda r: (r["step"], r["seq"]))
    first = chans[0].read("first")
    assert first is not None and (first["rank"], first["seq"]) == (oracle["rank"], oracle["seq"])
    assert sorted(r["seq"] for r in records) == list(range(1, 9))


def test_stops_are_numbered_and_each_rank_knows_its_own(store: Any) -> None:
    a, b = channel(store, 0, 2), channel(store, 1, 2)
    assert a.stops() == 0
    n = b.publish_stop(ranks.hit_record(make_hit(3), b.me, "raise"))
    assert n == 1 and a.stops() == 1 and n in b.own_stops and n not in a.own_stops
    record = eventually(lambda: a.read("stop/1"))
    assert record is not None and record["kind"] == "hit" and record["pauses"] is False
    assert record["rank"] == 1 and record["step"] == 3 and record["module"] == "fc"
    b.publish_resume(1, record["seq"])
    assert eventually(lambda: a.has("resume/1"))


def test_a_crash_is_recorded_as_a_crash_and_as_a_stop_never_as_a_hit(store: Any) -> None:
    a, b = channel(store, 0, 2), channel(store, 1, 2)
    record = ranks.event_record("crashed", b.me, "rank 1 crashed", step=2, error="ValueError: x")
    b.publish_crash(record)
    assert eventually(lambda: a.read("crashed/1"))["error"] == "ValueError: x"
    assert eventually(lambda: a.read("stop/1"))["kind"] == "crashed"
    assert a.read("first") is None and not a.has("hit/1")


def test_armed_ranks_are_those_that_registered(store: Any) -> None:
    zero, two = channel(store, 0), channel(store, 2)
    zero.register()
    two.register()
    assert eventually(lambda: zero.armed_ranks() == [0, 2])


def test_a_store_that_went_away_makes_every_call_return_none() -> None:
    master = dist.TCPStore(
        "127.0.0.1", 0, is_master=True, wait_for_workers=False, timeout=timedelta(seconds=10)
    )
    ch = channel(master, 0, 2)
    assert ch.stops() == 0
    del master  # the server ends, as torchrun's agent store does at the end of a job
    assert ch.stops() is None and ch.read("first") is None
    assert ch.publish_stop(ranks.event_record("stopped", ch.me, "x", step=0)) is None
    assert ch.failed is not None


def test_identity_from_torchrun_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    me = ranks.identity()
    assert me is not None and (me.rank, me.world_size, me.local_rank) == (3, 4, 1)
    assert me.tag == "[rank 3/4]" and me.host


@pytest.mark.parametrize("world", [None, "1"])
def test_a_single_process_has_no_identity_and_no_rank_fields(
    monkeypatch: pytest.MonkeyPatch, world: str | None
) -> None:
    monkeypatch.setenv("RANK", "0")
    if world is None:
        monkeypatch.delenv("WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("WORLD_SIZE", world)
    assert ranks.identity() is None
    hit = make_hit(1)
    assert "rank" not in hit.to_dict() and "[rank" not in hit.report()
    assert hit.where() == "fc (Linear) output at step 1"


def test_identity_from_an_initialized_group_wins_over_the_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("WORLD_SIZE", "9")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rdzv'}", rank=0, world_size=1)
    try:
        assert ranks.identity() is None  # the group says world size 1: a single process
    finally:
        dist.destroy_process_group()
    assert ranks.identity() is not None  # without a group, torchrun's variables again


def test_a_hit_in_a_rank_carries_the_rank_in_its_json_and_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    hit = make_hit(4)
    d = hit.to_dict()
    assert (d["rank"], d["world_size"], d["local_rank"]) == (1, 2, 1)
    assert d["host"] and d["rank_seq"] is None and d["first"] is None
    assert hit_text(d).startswith("━━ tensorpeek: [rank 1/2] breakpoint #1")
    assert "rank 1/2" in repr(hit)
    assert hit.where() == "[rank 1/2] fc (Linear) output at step 4"
    d["first"] = {"seq": 1, "message": "rank 0/2 hit '*:output:nonfinite' at a (A) output"}
    assert "first in the job: rank 0/2 hit" in hit_text(d)


def test_peer_stopped_is_not_an_exception_a_training_loop_would_swallow() -> None:
    record = {"kind": "hit", "rank": 1, "world_size": 2, "message": "rank 1/2 hit x at y"}
    exc_type = type("PeerStopped", (PeerStopped,), {"record": record})
    with pytest.raises(PeerStopped, match="stopping: rank 1/2 hit x at y"):
        try:
            raise exc_type
        except Exception:  # noqa: BLE001 - what a training loop's retry would catch
            pytest.fail("PeerStopped was caught as an Exception")
    crash = {"kind": "crashed", "rank": 0, "world_size": 2, "step": 3, "error": "ValueError: v"}
    assert "rank 0/2 crashed at step 3: ValueError: v" in peer_stop_line(crash, None)
    evil = {"kind": "hit", "rank": 1, "world_size": 2, "message": "x\x1b[2Jy"}
    assert "\x1b" not in peer_stop_line(evil, None)
