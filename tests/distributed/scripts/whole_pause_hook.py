"""``PYTHONBREAKPOINT`` target standing in for a user at pdb in ``whole_at_pause.py``: at the
pause it asks ``tensorpeek.whole_summary`` for every parameter and gradient (by path and, for
``0.weight``, by the tensor itself) and for a name that does not exist, and keeps what came
back in the script's ``asked``; then it continues."""

from __future__ import annotations

import sys
import time

import tensorpeek


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
    from tensorpeek.engine.rank_whole import request_whole

    asked["ranks"] = request_whole("0.weight").ranks
