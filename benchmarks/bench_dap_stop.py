"""How long the panel's snapshot takes to come back at a tensor-breakpoint stop when the
requests come as VS Code and the extension send them, with tensorpeek's pydevd tuning
(``engine/quick_replies.py``: TCP_NODELAY on pydevd's socket, its 20 ms wait loop for the
pause) and without it (``TENSORPEEK_QUICK_REPLIES=0``), through the real debugpy adapter.

A debuggee trains a small model armed by ``TENSORPEEK_BREAKPOINTS=*:output:nonfinite``; one
module's output is +Inf at every step, so every step stops there. At each stop the client
sends what arrives at a stop in VS Code: the editor's ``stackTrace`` and the extension's own
(levels 1); once one is answered, ``scopes`` and ``variables`` of the frame (the Variables
view) and the extension's snapshot ``evaluate``, at once. Timed: from the ``stopped`` event to
the snapshot's answer (``stop -> snapshot``), and a lone trivial ``evaluate`` later in the same
stop (the round trip's floor). Sessions alternate between the two settings; medians over
every stop, and their ratio. Run::

    .venv/bin/python benchmarks/bench_dap_stop.py [--sessions 3] [--stops 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.dap_client import DapSession  # noqa: E402

SNAPSHOT = "__import__('tensorpeek.agent').agent.request({}, locals())".format(
    json.dumps(json.dumps({"version": 1, "method": "snapshot", "params": {}}))
)


def debuggee(stops: int) -> str:
    return textwrap.dedent(
        f"""
        import torch
        from torch import nn

        class Blowup(nn.Module):
            def forward(self, x):  # (B, 8) -> (B, 8): +Inf at every step
                return x * float("inf")

        model = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), Blowup(), nn.Linear(8, 1))
        for step in range({stops}):
            model(torch.randn(4, 8)).sum().backward()
        print("done")
        """
    )


def one_session(
    script: Path, stops: int, tuned: bool, cache: str
) -> tuple[list[float], list[float]]:
    env = {"TENSORPEEK_BREAKPOINTS": "*:output:nonfinite", "TENSORPEEK_CACHE_DIR": cache}
    if not tuned:
        env["TENSORPEEK_QUICK_REPLIES"] = "0"
    to_snapshot: list[float] = []
    floor: list[float] = []
    with DapSession() as dap:
        dap.initialize()
        dap.launch(script, env=env, timeout=60)
        dap.configuration_done(60)
        for _ in range(stops):
            stopped = dap.wait_for_event("stopped", 60)
            start = time.perf_counter()
            thread = int(stopped["threadId"])
            editor = dap.send_request("stackTrace", {"threadId": thread, "levels": 20})
            ours = dap.send_request(
                "stackTrace", {"threadId": thread, "startFrame": 0, "levels": 1}
            )
            frame = int(dap.wait_response(editor, 60)["stackFrames"][0]["id"])
            scopes = dap.send_request("scopes", {"frameId": frame})
            args = {"expression": SNAPSHOT, "frameId": frame, "context": "clipboard"}
            snapshot = dap.send_request("evaluate", {**args, "format": {"rawString": True}})
            local = next(
                s for s in dap.wait_response(scopes, 60)["scopes"] if s["name"] == "Locals"
            )
            variables = dap.send_request(
                "variables", {"variablesReference": local["variablesReference"]}
            )
            reply = json.loads(dap.wait_response(snapshot, 60)["result"])
            to_snapshot.append(time.perf_counter() - start)
            assert reply["ok"] and reply["result"]["hit"], reply
            dap.wait_response(ours, 60)
            dap.wait_response(variables, 60)
            time.sleep(0.3)  # the stop's requests are all answered: a lone round trip
            t = time.perf_counter()
            dap.evaluate("0", frame, context="clipboard", timeout=60)
            floor.append(time.perf_counter() - t)
            dap.request("continue", {"threadId": thread}, 60)
        dap.wait_for_event("exited", 60)
    return to_snapshot, floor


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=3, help="sessions per setting")
    parser.add_argument("--stops", type=int, default=6, help="tensor-breakpoint stops per session")
    args = parser.parse_args()
    results: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "train_blowup.py"
        script.write_text(debuggee(args.stops))
        for _ in range(args.sessions):
            for tuned in (False, True):
                snap, floor = one_session(script, args.stops, tuned, str(Path(tmp) / "cache"))
                results[tuned][0].extend(snap)
                results[tuned][1].extend(floor)

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1e3:7.1f} ms"

    print(f"{args.sessions} sessions x {args.stops} stops per setting")
    print(f"{'setting':<26} {'stop -> snapshot':>17} {'lone evaluate':>15}")
    for tuned, label in ((False, "pydevd as is"), (True, "quick replies (default)")):
        snap, floor = results[tuned]
        print(f"{label:<26} {ms(snap):>17} {ms(floor):>15}")
    ratio = statistics.median(results[True][0]) / statistics.median(results[False][0])
    print(f"stop -> snapshot, quick / as is: {ratio:.2f}x")


if __name__ == "__main__":
    main()
