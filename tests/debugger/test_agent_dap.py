"""The agent through a real debugpy adapter, called exactly as the extension calls it: one
``evaluate`` (context ``clipboard``) of ``__import__('tensorpeek.agent').agent.request(<JSON
string literal>, locals())`` in the focused frame."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.dap_client import DapSession, marked_line

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parent / "fixtures" / "agent_frames.py"
EVIL_PREFIX = "x'); import os; os.system('touch "


def agent_expression(method: str, params: dict[str, Any]) -> str:
    """What the extension sends: ASCII request JSON written as a JSON string literal."""
    req = json.dumps({"version": 1, "method": method, "params": params}, ensure_ascii=True)
    return f"__import__('tensorpeek.agent').agent.request({json.dumps(req)}, locals())"


def ask(dap: DapSession, frame_id: int, method: str, **params: Any) -> dict[str, Any]:
    if method == "snapshot":  # a loaded test machine must not make the budget drop tensors
        params.setdefault("time_budget_ms", 60_000)
    raw = dap.evaluate(
        agent_expression(method, params), frame_id, context="clipboard", raw_string=True
    )["result"]
    return json.loads(raw)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("injection") / "pwned"


@pytest.fixture(scope="module")
def paused(marker: Path) -> Iterator[tuple[DapSession, int]]:
    with DapSession() as dap:
        _, frame_id = dap.run_to_breakpoint(
            SCRIPT, [marked_line(SCRIPT, "inspect")], args=[str(marker)], timeout=60
        )
        yield dap, frame_id


def test_snapshot_through_evaluate_lists_the_frame_tensors(paused: tuple[DapSession, int]) -> None:
    dap, frame_id = paused
    reply = ask(dap, frame_id, "snapshot")
    assert reply["ok"], reply
    snap = reply["result"]
    names = [t["name"] for t in snap["tensors"]]
    assert names[:1] == ["big"]
    assert {"self.fc.weight", "self.fc.bias", "self.head.weight", "batch[0]", "batch[1]"} <= set(
        names
    )
    big = next(t for t in snap["tensors"] if t["name"] == "big")["summary"]
    assert big["shape"] == [1024, 1024] and big["nan"] == 0
    assert snap["hit"] is None and snap["breakpoints"] == []
    assert 0 < snap["elapsed_ms"] < 5000


def test_repr_and_raw_string_replies_carry_the_same_json(paused: tuple[DapSession, int]) -> None:
    dap, frame_id = paused
    expr = agent_expression("snapshot", {"max_depth": 0})
    as_repr = dap.evaluate(expr, frame_id, context="clipboard")["result"]
    raw = dap.evaluate(expr, frame_id, context="clipboard", raw_string=True)["result"]
    decoded = json.loads(ast.literal_eval(as_repr))
    assert decoded["ok"] and decoded["result"]["tensors"] == json.loads(raw)["result"]["tensors"]


def test_a_2_mb_reply_survives_the_adapter_in_clipboard_context(
    paused: tuple[DapSession, int],
) -> None:
    dap, frame_id = paused
    params = {"expression": "big", "heatmap_size": 256, "bins": 8192, "max_bytes": 8 << 20}
    expr = agent_expression("detail", params)
    raw = dap.evaluate(expr, frame_id, context="clipboard", raw_string=True)["result"]
    assert len(raw) > 2_000_000
    reply = json.loads(raw)
    assert reply["ok"] and len(reply["result"]["heatmap"]["mean"]) == 256
    assert len(reply["result"]["histogram"]["hist"]["counts"]) == 8192
    # the reason for "clipboard": the repl context cuts the same answer short
    repl = dap.evaluate(expr, frame_id, context="repl")["result"]
    assert len(repl) < len(raw) // 2


def test_an_injection_attempt_in_a_variable_name_is_only_data(
    paused: tuple[DapSession, int], marker: Path
) -> None:
    dap, frame_id = paused
    evil = EVIL_PREFIX + str(marker) + "') #"
    # the module frame holds a global with that name; the method frame a dict key
    module_frame = dap.stack_trace(dap.threads()[0]["id"])[1]["id"]
    snap = ask(dap, module_frame, "snapshot", max_depth=0)["result"]
    assert evil in [t["name"] for t in snap["tensors"]]
    by_name = ask(dap, module_frame, "detail", expression=evil)
    assert by_name["ok"] and by_name["result"]["summary"]["shape"] == [3]
    key_path = "weird[" + repr(evil) + "]"
    nested = ask(dap, frame_id, "snapshot")["result"]
    assert key_path in [t["name"] for t in nested["tensors"]]
    assert ask(dap, frame_id, "detail", expression=key_path)["result"]["summary"]["shape"] == [2]
    # as a breakpoint target the text is only a glob that matches no module path
    armed = ask(dap, frame_id, "set_breakpoints", specs=[{"target": evil}])["result"]
    assert armed["applied"] and armed["breakpoints"][0]["definition"]["target"] == evil
    code = f"__import__('os').system('touch {marker}')"
    rejected = ask(dap, frame_id, "set_breakpoints", specs=[f"*:output:{code}"])["result"]
    assert rejected["applied"] is False and rejected["errors"][0]["index"] == 0
    assert rejected["breakpoints"] == armed["breakpoints"]  # nothing changed
    assert ask(dap, frame_id, "set_breakpoints", specs=[])["result"]["breakpoints"] == []
    assert ask(dap, frame_id, "detail", expression=evil + "\n__import__('os')")["ok"] is False
    assert not marker.exists()


def test_a_tensor_breakpoint_stop_reports_its_hit(marker: Path) -> None:
    with DapSession() as dap:
        dap.initialize()
        dap.launch(SCRIPT, args=[str(marker), "nan"], timeout=60)
        dap.configuration_done(timeout=60)
        stopped = dap.wait_for_event("stopped", timeout=60)
        frame_id = dap.stack_trace(stopped["threadId"])[0]["id"]
        snap = ask(dap, frame_id, "snapshot")["result"]
        # the same snapshot came ahead of the stop, as a custom event (what the panel shows)
        names = [e.get("event") for e in dap.events]
        assert names.count("tensorpeekSnapshot") == 1, names
        assert names.index("tensorpeekSnapshot") < names.index("stopped"), names
        pushed = dap.wait_for_event("tensorpeekSnapshot", timeout=1)
        assert pushed["version"] == 1 and isinstance(pushed["reply"], str)
        told = json.loads(pushed["reply"])
        assert told["ok"], told
        for key in ("hit", "hit_line", "breakpoints", "hit_params", "version"):
            assert told["result"].get(key) == snap.get(key), key
        assert [t["name"] for t in told["result"]["tensors"]] == [
            t["name"] for t in snap["tensors"]
        ]
        hit = snap["hit"]
        assert hit is not None, snap
        assert hit["module"] == "poison" and hit["site"] == "output" and hit["origin"] is True
        assert hit["summary"]["nan"] == 6
        assert [b["spec"] for b in snap["breakpoints"]] == ["*:output:nonfinite"]
        assert snap["breakpoints"][0]["hit_count"] == 1
        assert "tensor" in [t["name"] for t in snap["tensors"]]
        # the user's own line the hit came from: the line in Net.forward that called poison
        assert snap["hit_line"] == {
            "path": str(SCRIPT.resolve()),
            "line": marked_line(SCRIPT, "poison_call"),
            "function": "forward",
        }
        # the hit local reads as one short line in Variables, hovers and inline values
        shown = dap.evaluate("hit", frame_id, context="variables")["result"]
        assert shown == "<Hit #1 poison (Poison) output step 0 nonfinite origin>", shown


def test_no_snapshot_is_sent_ahead_when_it_is_switched_off(marker: Path) -> None:
    """``TENSORPEEK_PUSH_SNAPSHOT=0``: the stop happens as before, and the client asks."""
    with DapSession() as dap:
        dap.initialize()
        dap.launch(
            SCRIPT, args=[str(marker), "nan"], env={"TENSORPEEK_PUSH_SNAPSHOT": "0"}, timeout=60
        )
        dap.configuration_done(timeout=60)
        stopped = dap.wait_for_event("stopped", timeout=60)
        frame_id = dap.stack_trace(stopped["threadId"])[0]["id"]
        assert ask(dap, frame_id, "snapshot")["result"]["hit"]["module"] == "poison"
        assert "tensorpeekSnapshot" not in [e.get("event") for e in dap.events]
