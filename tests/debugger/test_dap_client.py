"""The DAP test client itself: it drives a real debugpy adapter to a line breakpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.dap_client import DapSession, DapTimeout, marked_line, marked_lines

pytestmark = pytest.mark.slow


def test_marked_lines_finds_labelled_and_plain_markers(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("a = 1\nb = 2  # @bp\nc = 3  # @bp third\n")
    assert marked_lines(script) == [2, 3]
    assert marked_line(script, "third") == 3
    with pytest.raises(LookupError, match="@bp missing"):
        marked_line(script, "missing")


def test_stops_at_line_breakpoint_and_evaluates_a_local(
    dap: DapSession, fixtures_dir: Path
) -> None:
    script = fixtures_dir / "plain_locals.py"
    thread_id, frame_id = dap.run_to_breakpoint(script, [marked_line(script, "result")])
    frame = dap.stack_trace(thread_id)[0]
    assert frame["name"] == "compute"
    assert frame["line"] == marked_line(script, "result")
    assert dap.evaluate("total * 2", frame_id, context="hover")["result"] == "90"
    assert dap.locals(frame_id)["label"]["value"] == "'total'"
    dap.continue_(thread_id)
    dap.wait_for_event("terminated")
    assert "(45, 'total')" in dap.output()


def test_close_kills_a_debuggee_paused_at_a_breakpoint(fixtures_dir: Path) -> None:
    script = fixtures_dir / "plain_locals.py"
    with DapSession() as dap:
        dap.run_to_breakpoint(script, [marked_line(script, "result")])
        pid = dap.debuggee_pid
        assert pid is not None
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_waiting_for_an_event_that_never_comes_times_out(dap: DapSession) -> None:
    dap.initialize()
    with pytest.raises(DapTimeout, match="'stopped'"):
        dap.wait_for_event("stopped", timeout=0.5)
