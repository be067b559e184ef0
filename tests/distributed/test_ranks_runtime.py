"""The ranks runtime inside one process that torchrun's variables make "rank 1 of 2", against
a real ``TCPStore`` in the test standing in for torchrun's agent store; the test plays rank
0 through its own ``RankChannel``. Covers the watcher's life (started by arming, ended by
``clear()``), a peer's stop raising ``PeerStopped`` in the main thread, a paused peer and its
resume, a crash through ``sys.excepthook``, and the snapshot's rank fields against the
committed schema.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from store_helpers import eventually

import tensorpeek
from tensorpeek.engine import rank_watch, ranks
from tensorpeek.engine.rank_watch import RUNTIME, PeerStopped, peer_stop_line
from tensorpeek.engine.ranks import RankChannel

REPO = Path(__file__).resolve().parents[2]


def watcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tensorpeek-ranks" and t.is_alive()]


class Poison(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float("nan")


def test_arming_starts_one_watcher_that_registers_and_clear_ends_it(rank0: RankChannel) -> None:
    hook_before = sys.excepthook
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    tensorpeek.break_on("*", "grad_output", "nonfinite", action="record")
    assert len(watcher_threads()) == 1 and watcher_threads()[0].daemon
    registered = eventually(lambda: rank0.read("armed/1"))
    assert registered["rank"] == 1 and registered["world_size"] == 2
    assert RUNTIME.excepthook_active and sys.excepthook is not hook_before
    tensorpeek.clear()
    assert watcher_threads() == []
    assert sys.excepthook is hook_before and not RUNTIME.excepthook_active


def test_a_hit_is_published_first_and_carries_the_rank(rank0: RankChannel) -> None:
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    Poison()(torch.ones(3))
    hit = tensorpeek.hits()[-1]
    assert (hit.rank, hit.world_size, hit.local_rank) == (1, 2, 1)
    assert hit.rank_seq == 1 and hit.first is not None and hit.first["seq"] == 1
    first = eventually(lambda: rank0.read("first"))
    assert (first["rank"], first["step"], first["module_class"], first["kind"]) == (
        1,
        0,
        "Poison",
        "hit",
    )
    assert rank0.stops() == 0  # action "record" stops nobody


def test_a_peers_raise_stops_this_rank_with_peer_stopped_naming_it(rank0: RankChannel) -> None:
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    assert eventually(lambda: RUNTIME.channel is not None)
    record = ranks.event_record("hit", rank0.me, "rank 0/2 hit 'x' at fc (Linear) output", step=7)
    record.update(step=7, module="fc", pauses=False, action="raise")
    with pytest.raises(PeerStopped) as caught:
        rank0.publish_stop(record)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the training loop, in Python
            time.sleep(0.005)
    assert RUNTIME.exit_timer is not None
    RUNTIME.exit_timer.cancel()
    assert "tensorpeek: [rank 1/2] stopping: rank 0/2 hit 'x' at fc (Linear) output" in str(
        caught.value
    )
    assert caught.value.record["rank"] == 0 and RUNTIME.stopped_by["step"] == 7  # type: ignore[index]


def test_a_paused_peer_makes_this_rank_wait_and_its_resume_continues_it(
    rank0: RankChannel, capfd: pytest.CaptureFixture[str]
) -> None:
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    assert eventually(lambda: RUNTIME.channel is not None)
    record = ranks.event_record("hit", rank0.me, "rank 0/2 hit 'x' at fc (Linear) output", step=3)
    record.update(pauses=True, action="pdb")
    n = rank0.publish_stop(record)
    assert eventually(lambda: RUNTIME.stopped_by is not None)
    assert RUNTIME.exit_timer is None or not RUNTIME.exit_timer.is_alive()  # nothing ends us
    rank0.publish_resume(n, record["seq"])  # type: ignore[arg-type]
    assert eventually(lambda: RUNTIME.stopped_by is None)
    err = capfd.readouterr().err
    assert (
        "tensorpeek: [rank 1/2] pausing: rank 0/2 hit 'x' at fc (Linear) output (in pdb); this "
        "rank waits and continues when rank 0 continues"
    ) in err
    assert "tensorpeek: [rank 1/2] rank 0 continued; so does this rank" in err


def test_a_peers_pause_suspends_this_rank_only_after_the_delay_and_not_once_resumed(
    rank0: RankChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a debugger the watcher suspends this rank for a peer's pause, but only
    ``PEER_PAUSE_DELAY_S`` after reading it (the peer's own stop must reach the client first,
    or the client takes this rank for the one that stopped), and not at all when the peer has
    resumed by then; a suspended rank is resumed with the peer."""
    calls: list[tuple[str, float]] = []
    monkeypatch.setattr(rank_watch, "_debugger_connected", lambda: True)
    monkeypatch.setattr(
        rank_watch,
        "_suspend_main_thread",
        lambda: calls.append(("suspend", time.monotonic())) or True,
    )
    monkeypatch.setattr(
        rank_watch, "_resume_main_thread", lambda: calls.append(("resume", time.monotonic()))
    )
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    assert eventually(lambda: RUNTIME.channel is not None)

    def pause(step: int) -> tuple[int, dict[str, Any]]:
        record = ranks.event_record("hit", rank0.me, "rank 0/2 hit 'x' at fc (Linear)", step=step)
        record.update(pauses=True, action="debugger")
        return rank0.publish_stop(record), record

    n, record = pause(3)
    # the watcher has read it (and waits out the delay): the peer resumes now, inside it
    assert eventually(lambda: RUNTIME.stopped_by is not None and RUNTIME.stopped_by["step"] == 3)
    rank0.publish_resume(n, record["seq"])
    time.sleep(rank_watch.PEER_PAUSE_DELAY_S + 4 * rank_watch.POLL_S)
    assert calls == []
    n, record = pause(4)  # a real pause: suspended after the delay, resumed with the peer
    published = time.monotonic()
    assert eventually(lambda: calls)[0][0] == "suspend"
    assert calls[0][1] - published >= rank_watch.PEER_PAUSE_DELAY_S
    rank0.publish_resume(n, record["seq"])
    assert eventually(lambda: len(calls) == 2) and calls[1][0] == "resume"


def test_an_uncaught_ordinary_error_is_published_as_a_crash(
    rank0: RankChannel, capfd: pytest.CaptureFixture[str]
) -> None:
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    assert eventually(lambda: RUNTIME.channel is not None)
    try:
        raise ValueError("an ordinary bug")
    except ValueError as e:
        sys.excepthook(type(e), e, e.__traceback__)  # what the interpreter does at the top
    crash = eventually(lambda: rank0.read("crashed/1"))
    assert crash["kind"] == "crashed" and crash["error"] == "ValueError: an ordinary bug"
    assert eventually(lambda: rank0.read("stop/1"))["kind"] == "crashed"
    assert rank0.read("first") is None  # a crash is never a hit
    assert "ValueError: an ordinary bug" in capfd.readouterr().err  # the traceback still shown


def test_a_tensor_breakpoint_error_reaching_the_top_is_not_a_crash(rank0: RankChannel) -> None:
    tensorpeek.break_on("*", "output", "nonfinite", action="raise")
    with pytest.raises(tensorpeek.TensorBreakpointError) as caught:
        Poison()(torch.ones(2))
    assert caught.value.hit.report().startswith("━━ tensorpeek: [rank 1/2] breakpoint #")
    stop = eventually(lambda: rank0.read("stop/1"))
    assert stop["kind"] == "hit" and stop["action"] == "raise" and stop["pauses"] is False
    e = caught.value
    sys.excepthook(type(e), e, None)
    time.sleep(0.2)
    assert not rank0.has("crashed/1") and rank0.stops() == 1


def test_the_snapshot_of_a_rank_validates_and_names_rank_and_first(rank0: RankChannel) -> None:
    import jsonschema

    from tensorpeek.agent import request

    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    x = Poison()(torch.ones(3))
    frame = {"hit": tensorpeek.hits()[-1], "x": x}
    reply = json.loads(
        request(json.dumps({"version": 1, "method": "snapshot", "params": {}}), frame)
    )
    schema = json.loads((REPO / "docs" / "snapshot.schema.json").read_text())
    jsonschema.validate(reply["result"], dict(schema, **schema["x-methods"]["snapshot"]["result"]))
    snap = reply["result"]
    assert (snap["rank"]["rank"], snap["rank"]["world_size"], snap["rank"]["local_rank"]) == (
        1,
        2,
        1,
    )
    assert snap["rank"]["first"]["seq"] == 1 and snap["rank"]["stopped_by"] is None
    assert (snap["hit"]["rank"], snap["hit"]["rank_seq"]) == (1, 1)
    assert snap["hit"]["first"]["module_class"] == "Poison"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("ValueError: an ordinary bug", "crashed"),
        ("bdb.BdbQuit", "quit"),
        ("tensorpeek.engine.rank_watch.PeerStopped: tensorpeek: [rank 1/2] stopping: x", None),
        ("tensorpeek.engine.hit.TensorBreakpointError: ━━ tensorpeek: [rank 1/2] ...", None),
        ("TensorBreakpointError: ━━ tensorpeek: ...", None),
    ],
)
def test_a_failed_script_is_a_crash_unless_it_failed_of_a_hit_or_a_peer(
    rank0: RankChannel, error: str, kind: str | None
) -> None:
    """``run``/``doctor`` hand over the error as ``run_script`` words it (the exception's
    qualified name, as ``traceback.format_exception_only`` writes it)."""
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    assert eventually(lambda: RUNTIME.channel is not None)
    RUNTIME.script_ended("failed", error, 5)
    if kind is None:
        time.sleep(0.2)
        assert rank0.stops() == 0 and not rank0.has("crashed/1")
    else:
        stop = eventually(lambda: rank0.read("stop/1"))
        assert (stop["kind"], stop["rank"], stop["step"], stop["error"]) == (kind, 1, 5, error)


def test_a_run_stopped_on_purpose_stops_the_peers(rank0: RankChannel) -> None:
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    assert eventually(lambda: RUNTIME.channel is not None)
    RUNTIME.script_ended("stopped", "doctor: nonfinite at fc output, step 3", 3)
    stop = eventually(lambda: rank0.read("stop/1"))
    assert (stop["kind"], stop["pauses"], stop["message"]) == (
        "stopped",
        False,
        "doctor: nonfinite at fc output, step 3",
    )
    assert "stopping: rank 1/2 stopped: doctor: nonfinite" in peer_stop_line(stop, None)


def _peer_raise(peer: RankChannel, step: int, module: str) -> dict[str, Any]:
    record = ranks.event_record(
        "hit", peer.me, f"rank 0/2 hit 'x' at {module} (Linear) output", step=step
    )
    record.update(step=step, module=module, pauses=False, action="raise")
    return record


def test_two_peer_stops_raise_peer_stopped_once_naming_the_first(
    rank0: RankChannel, capfd: pytest.CaptureFixture[str]
) -> None:
    """A second stop (another rank hit later, or a crash it caused) is said, never raised
    again: a second PeerStopped would land in whatever handles the first (the report)."""
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    assert eventually(lambda: RUNTIME.channel is not None)
    caught: list[PeerStopped] = []
    rank0.publish_stop(_peer_raise(rank0, 4, "fc"))
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.005)
    except PeerStopped as e:
        caught.append(e)
    rank0.publish_stop(_peer_raise(rank0, 5, "head"))
    try:  # the handling of the first goes on in Python: nothing more lands in it
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            time.sleep(0.005)
    except PeerStopped as e:
        caught.append(e)
    assert RUNTIME.exit_timer is not None
    RUNTIME.exit_timer.cancel()
    assert [e.record["module"] for e in caught] == ["fc"]
    assert RUNTIME.stopped_by is not None and RUNTIME.stopped_by["module"] == "fc"
    err = capfd.readouterr().err
    assert "[rank 1/2] also stopped: rank 0/2 hit 'x' at head (Linear) output" in err


def test_once_the_script_has_ended_a_peers_stop_raises_nothing(
    rank0: RankChannel, capfd: pytest.CaptureFixture[str]
) -> None:
    """``run``/``doctor`` hold peer stops when the script ends: tensorpeek's epilogue (the
    traceback, the rank's report) runs to its end, and no exit timer cuts it short."""
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    assert eventually(lambda: RUNTIME.channel is not None)
    RUNTIME.hold_peer_stop()
    rank0.publish_stop(_peer_raise(rank0, 4, "fc"))
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # would raise PeerStopped if it were delivered
        time.sleep(0.005)
    assert RUNTIME.exit_timer is None or not RUNTIME.exit_timer.is_alive()
    assert "[rank 1/2] also stopped: rank 0/2 hit 'x' at fc (Linear) output" in (
        capfd.readouterr().err
    )


def test_a_collective_failing_after_a_peers_stop_is_its_consequence_not_a_crash(
    rank0: RankChannel, capfd: pytest.CaptureFixture[str]
) -> None:
    """gloo's "Connection closed by peer" can reach the main thread before the watcher reads
    the peer's stop: the excepthook finds that stop in the store, says it, publishes no
    crash (which would stop the others a second time and blame this rank)."""
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    assert eventually(lambda: RUNTIME.channel is not None)
    RUNTIME.hold_peer_stop()  # what the excepthook does first; keeps the race out of the test
    rank0.publish_stop(_peer_raise(rank0, 2, "fc"))
    error = RuntimeError("[pair.cc:553] Connection closed by peer [127.0.0.1]:6369")
    sys.excepthook(type(error), error, None)
    time.sleep(0.2)
    assert not rank0.has("crashed/1") and rank0.stops() == 1
    assert RUNTIME.stopped_by is not None and RUNTIME.stopped_by["rank"] == 0
    err = capfd.readouterr().err
    assert "tensorpeek: [rank 1/2] stopping: rank 0/2 hit 'x' at fc (Linear) output" in err
    assert "Connection closed by peer" in err  # the traceback is still shown


def test_a_collective_failing_after_a_peer_quit_pdb_at_its_pause_names_the_quit(
    rank0: RankChannel, capfd: pytest.CaptureFixture[str]
) -> None:
    """The peer paused in pdb at its hit, then quit pdb: its process ended, and this rank's
    collective failed before its watcher read the quit (the watcher waits before joining a
    pause). What ended this rank is the quit, not the pause it had joined."""
    tensorpeek.break_on("*", "output", "nonfinite", action="record")
    assert eventually(lambda: RUNTIME.channel is not None)
    pause = ranks.event_record("hit", rank0.me, "rank 0/2 hit 'x' at fc (Linear) output", step=2)
    pause.update(pauses=True, action="pdb")
    rank0.publish_stop(pause)
    RUNTIME.hold_peer_stop()  # what the excepthook does first; keeps the race out of the test
    quit_ = ranks.event_record("quit", rank0.me, "rank 0 quit: BdbQuit", step=2, error="BdbQuit")
    rank0.publish_crash(quit_)
    error = RuntimeError("[pair.cc:553] Connection closed by peer [127.0.0.1]:6369")
    sys.excepthook(type(error), error, None)
    assert not rank0.has("crashed/1") and rank0.stops() == 2
    assert RUNTIME.stopped_by is not None and RUNTIME.stopped_by["kind"] == "quit"
    err = capfd.readouterr().err
    assert "tensorpeek: [rank 1/2] stopping: rank 0/2 quit the debugger at its hit" in err
    assert RUNTIME.peer_stop() == RUNTIME.stopped_by  # the launcher's report says the same


def test_a_watcher_connecting_late_handles_the_peers_open_pause_and_request_only(
    rank0: RankChannel, capfd: pytest.CaptureFixture[str]
) -> None:
    """Rank 0 paused and asked for a whole tensor before this rank armed (a slow start): the
    open pause makes this rank wait and the open request gets this rank's part. A pause that
    was resumed and a request already settled before are not acted on again. (This rank's
    watcher used to skip every stop published before it connected: the peer's request then
    went unanswered and failed after its timeout.)"""

    def request(text: str) -> dict[str, Any]:
        record = ranks.event_record(
            ranks.REQUEST_KIND, rank0.me, f"asks for the whole {text}", step=3
        )
        ask = {"param": text, "grad": False, "root_class": "Linear", "timeout_s": 5, "bins": 8}
        return {**record, "request": ask}

    old_pause = ranks.event_record("hit", rank0.me, "rank 0/2 hit 'old' at fc", step=1)
    old_pause.update(pauses=True, action="pdb")
    n_old = rank0.publish_stop(old_pause)
    rank0.publish_resume(n_old, old_pause["seq"])  # type: ignore[arg-type]
    n_settled = rank0.publish_request(request("settled.weight"))
    rank0.write(f"ask/{n_settled}/bins", {"cancel": "timed out"})
    pause = ranks.event_record("hit", rank0.me, "rank 0/2 hit 'x' at fc (Linear) output", step=3)
    pause.update(pauses=True, action="pdb")
    rank0.publish_stop(pause)
    n_open = rank0.publish_request(request("fc.weight"))
    tensorpeek.break_on("*", "output", "nonfinite", action="record")  # arms: connects now
    answer = eventually(lambda: rank0.read(f"ask/{n_open}/part/1"))
    assert answer["rank"] == 1 and answer["state"] in ("waiting", "running")
    assert RUNTIME.stopped_by is not None and RUNTIME.stopped_by["step"] == 3
    time.sleep(0.5)  # the watcher had its chance at the closed ones
    assert not rank0.has(f"ask/{n_settled}/part/1")
    err = capfd.readouterr().err
    assert "pausing: rank 0/2 hit 'x' at fc (Linear) output (in pdb)" in err
    assert "hit 'old'" not in err
    rank0.write(f"ask/{n_open}/bins", {"binning": None})  # the requester is done
