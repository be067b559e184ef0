"""``PYTHONBREAKPOINT`` target standing in for a user at pdb in ``whole_at_pause.py``: at the
pause it asks ``tensorpeek.whole_summary`` for every parameter and gradient (by path and, for
``0.weight``, by the tensor itself) and for a name that does not exist, and keeps what came
back in the script's ``asked``; then it continues."""

from __future__ import annotations

import json
import sys
import time

import tensorpeek
from tensorpeek import agent


def ask_agent(params: dict, frame_locals: dict) -> dict:
    """The agent's reply, as the extension's one ``evaluate`` gets it."""
    request = {"version": 1, "method": "whole_summary", "params": params}
    return json.loads(agent.request(json.dumps(request), frame_locals))


def ask() -> None:
    main = sys.modules["__main__"]
    asked = main.asked
    asked["paused_in"] = main.loop_step
    names = [*main.NAMES, *(f"{n}.grad" for n in main.NAMES)]
    for name in names:
        started = time.monotonic()
        summary = tensorpeek.whole_summary(name, bins=16)
        asked[name] = {"summary": summary.to_dict(), "seconds": time.monotonic() - started}
    weight = main.model[0].weight
    asked["by_tensor"] = tensorpeek.whole_summary(weight, bins=16).to_dict()
    asked["by_tensor_grad"] = tensorpeek.whole_summary(weight.grad, bins=16).to_dict()
    try:
        tensorpeek.whole_summary("0.nope")
    except ValueError as err:
        asked["unknown"] = str(err)
    asked["agent_param"] = ask_agent({"param": "0.weight", "grad": True, "bins": 16}, {})
    asked["agent_expression"] = ask_agent({"expression": "w", "bins": 16}, {"w": weight})
    asked["agent_both"] = ask_agent({"expression": "w", "param": "0.weight"}, {"w": weight})
    from tensorpeek.engine.rank_whole import request_whole

    asked["ranks"] = request_whole("0.weight").ranks
    asked["peer_refuses"] = peer_refuses(weight)


def peer_refuses(weight: object) -> str:
    """The requester's real exchange, naming a root class rank 0 does not have (every rank
    of this job holds the same model, so only such a request makes a peer refuse)."""
    from tensorpeek.engine.rank_summary import exchange
    from tensorpeek.engine.rank_tensors import TensorRef
    from tensorpeek.engine.rank_watch import RUNTIME

    ref = TensorRef("0.weight", False, "Other")
    channel = RUNTIME.connected()
    try:
        exchange(
            "whole_summary('0.weight')", ref, weight, channel, [0, 1], 1, [0], 16, 5.0, "paused"
        )
    except ValueError as err:
        return str(err)
    return "no error"
