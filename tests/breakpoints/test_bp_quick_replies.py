"""What a tensorpeek pause changes in debugpy's in-process side (``engine.quick_replies``):
``TCP_NODELAY`` on pydevd's socket to the adapter and pydevd's 20 ms wait loop for the pause,
only where that changes nothing else, restored at the resume; under the real adapter too."""

from __future__ import annotations

import socket
import sys
import threading
import types
from pathlib import Path

import pytest

from support.dap_client import DapSession
from tensorpeek.engine import quick_replies

SCRIPT = Path(__file__).resolve().parent / "scripts" / "train_bad_step.py"
TIMEOUT = 60.0


def fake_debugger(sock: object = None, **state: object) -> types.SimpleNamespace:
    defaults = {"gui_in_use": False, "activate_gui_function": None, "mpl_modules_for_patching": {}}
    return types.SimpleNamespace(writer=types.SimpleNamespace(sock=sock), **{**defaults, **state})


@pytest.fixture
def tcp_pair() -> tuple[socket.socket, socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    server.close()
    yield client, peer
    client.close()
    peer.close()


@pytest.fixture
def debugger(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """A stand-in for pydevd's global debugger, found where quick_replies looks for it."""
    box = types.SimpleNamespace(py_db=None)
    fake_pydevd = types.SimpleNamespace(get_global_debugger=lambda: box.py_db)
    monkeypatch.setitem(sys.modules, "pydevd", fake_pydevd)
    monkeypatch.delenv("TENSORPEEK_QUICK_REPLIES", raising=False)
    return box


def test_the_socket_gets_no_delay_and_the_pause_the_quick_loop_then_both_as_they_were(
    tcp_pair: tuple[socket.socket, socket.socket], debugger: types.SimpleNamespace
) -> None:
    sock, _ = tcp_pair
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    debugger.py_db = fake_debugger(sock)
    with quick_replies.quick_replies():
        assert debugger.py_db.gui_in_use is True
    assert debugger.py_db.gui_in_use is False
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1  # kept: for the session


def test_the_quick_loop_is_restored_when_the_pause_ends_in_an_exception(
    debugger: types.SimpleNamespace,
) -> None:
    debugger.py_db = fake_debugger()
    with pytest.raises(KeyboardInterrupt), quick_replies.quick_replies():
        raise KeyboardInterrupt  # the user quits at the pause
    assert debugger.py_db.gui_in_use is False


@pytest.mark.parametrize(
    "state",
    [
        {"gui_in_use": True},  # pydevd's own GUI mode: left on after the pause
        {"activate_gui_function": print},  # a GUI loop to start at this stop
        {"mpl_modules_for_patching": {"socket": print}},  # a loaded module pydevd would patch
        {"mpl_modules_for_patching": None},  # not pydevd as we know it
    ],
)
def test_pydevd_is_left_alone_where_its_gui_mode_would_change_something(
    debugger: types.SimpleNamespace, state: dict[str, object]
) -> None:
    debugger.py_db = fake_debugger(**state)
    before = debugger.py_db.gui_in_use
    with quick_replies.quick_replies():
        assert debugger.py_db.gui_in_use is before
    assert debugger.py_db.gui_in_use is before


def test_a_pause_off_the_main_thread_or_switched_off_changes_no_wait_loop(
    debugger: types.SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    debugger.py_db = fake_debugger()
    seen: list[object] = []

    def pause() -> None:
        with quick_replies.quick_replies():
            seen.append(debugger.py_db.gui_in_use)

    worker = threading.Thread(target=pause)  # an autograd worker's backward hook
    worker.start()
    worker.join()
    monkeypatch.setenv("TENSORPEEK_QUICK_REPLIES", "0")
    pause()
    assert seen == [False, False]


def test_sockets_other_than_tcp_and_odd_debuggers_are_left_as_they_are(
    debugger: types.SimpleNamespace,
) -> None:
    left, right = socket.socketpair()  # AF_UNIX
    try:
        assert quick_replies.no_delay(fake_debugger(left)) is False
    finally:
        left.close()
        right.close()
    assert quick_replies.no_delay(fake_debugger(object())) is False
    assert quick_replies.no_delay(types.SimpleNamespace()) is False
    debugger.py_db = types.SimpleNamespace(writer=None)  # no gui_in_use at all
    with quick_replies.quick_replies():
        pass
    assert not hasattr(debugger.py_db, "gui_in_use")


@pytest.mark.slow
def test_under_the_real_adapter_the_pause_has_both_and_the_resume_restores_the_loop(
    tmp_path: Path,
) -> None:
    env = {
        "TENSORPEEK_BREAKPOINTS": "*:output:nonfinite",
        "TP_SCENARIO": "forward",
        "TP_BAD_STEP": "3",
        "TP_REPORT_PYDEVD": "1",
        "TENSORPEEK_CACHE_DIR": str(tmp_path),
    }
    with DapSession() as dap:
        dap.initialize()
        dap.launch(SCRIPT, env=env, timeout=TIMEOUT)
        dap.configuration_done(TIMEOUT)
        thread_id = int(dap.wait_for_event("stopped", TIMEOUT)["threadId"])
        frame_id = int(dap.stack_trace(thread_id, TIMEOUT)[0]["id"])
        state = "(d.gui_in_use, d.writer.sock.getsockopt(6, 1) != 0)"  # IPPROTO_TCP, TCP_NODELAY
        expr = f"(lambda d: {state})(__import__('pydevd').get_global_debugger())"
        assert dap.evaluate(expr, frame_id, timeout=TIMEOUT)["result"] == "(True, True)"
        dap.continue_(thread_id, TIMEOUT)
        assert dap.wait_for_event("exited", TIMEOUT)["exitCode"] == 0
        assert "pydevd gui_in_use=False" in dap.output()
