"""The stop's snapshot sent ahead of a debugger stop (``engine.pause.announce_stop``): what is
sent is exactly the agent's answer to the extension's first question in the pause frame, it is
sent only through pydevd's writer, and no failure of it ever reaches the user's program (the
real adapter's event order is checked in ``tests/debugger/test_agent_dap.py``)."""

from __future__ import annotations

import json
import sys
import types
import warnings
from typing import Any

import pytest
import torch

import tensorpeek
from tensorpeek import agent
from tensorpeek.common import stop_announcer
from tensorpeek.engine import api, pause


class Poison(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (-x.abs() - 1).log()  # NaN everywhere, whatever the weights before it


@pytest.fixture
def hit_locals() -> dict[str, Any]:
    """A real hit's pause-frame locals (recorded, so nothing stops)."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), Poison())
    tensorpeek.break_on("*:output:nonfinite", action="record")
    with torch.no_grad():
        model(torch.ones(2, 3))
    (hit,) = api.hits()
    return {"hit": hit, "tensor": hit.tensor, "module": hit.module_object, "stop": print}


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """A stand-in for pydevd's ``send_json_message``: what it was given."""
    messages: list[dict[str, Any]] = []
    fake = types.ModuleType("pydevd")

    def send_json_message(msg: dict[str, Any]) -> bool:
        messages.append(msg)
        return True

    fake.send_json_message = send_json_message  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pydevd", fake)
    monkeypatch.delenv("TENSORPEEK_PUSH_SNAPSHOT", raising=False)
    return messages


def without_timing(reply: dict[str, Any]) -> dict[str, Any]:
    result = dict(reply["result"])
    result.pop("elapsed_ms")
    return dict(reply, result=result)


def test_the_event_carries_the_agents_own_snapshot_of_the_pause_frame(
    hit_locals: dict[str, Any], sent: list[dict[str, Any]]
) -> None:
    assert stop_announcer.announcer is not None  # plugged in by `import tensorpeek`
    assert pause.announce_stop(hit_locals) is True
    (message,) = sent
    assert message["type"] == "event" and message["event"] == pause.SNAPSHOT_EVENT
    assert message["body"]["version"] == 1
    told = json.loads(message["body"]["reply"])
    # the oracle: the reply the extension's evaluate gets in that frame (`snapshot`, no params)
    asked = json.loads(agent.request(agent.SNAPSHOT_REQUEST, hit_locals))
    assert told["ok"] and without_timing(told) == without_timing(asked)
    assert told["result"]["hit"]["module"] == "1" and told["result"]["hit"]["origin"] is True
    json.dumps(message)  # pydevd serialises the message as it is: plain JSON, no NaN floats


def test_nothing_is_sent_without_pydevd_or_when_switched_off(
    hit_locals: dict[str, Any], sent: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENSORPEEK_PUSH_SNAPSHOT", "0")
    assert pause.announce_stop(hit_locals) is False
    monkeypatch.delenv("TENSORPEEK_PUSH_SNAPSHOT")
    monkeypatch.delitem(sys.modules, "pydevd")
    assert pause.announce_stop(hit_locals) is False
    assert sent == []


def test_a_failing_announcement_is_said_once_and_never_raises(
    hit_locals: dict[str, Any], sent: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(frame_locals: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("agent exploded")

    monkeypatch.setattr(stop_announcer, "announcer", broken)
    monkeypatch.setattr(pause, "_announce_failed", [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert pause.announce_stop(hit_locals) is False
        assert pause.announce_stop(hit_locals) is False
    said = [str(w.message) for w in caught if "sent ahead" in str(w.message)]
    assert len(said) == 1 and "agent exploded" in said[0], said
    assert sent == []


def test_a_refusing_writer_is_not_an_error(
    hit_locals: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = types.ModuleType("pydevd")
    fake.send_json_message = lambda msg: False  # type: ignore[attr-defined]  # no writer yet
    monkeypatch.setitem(sys.modules, "pydevd", fake)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pause.announce_stop(hit_locals) is False
