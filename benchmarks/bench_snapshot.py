"""What one debugger stop costs with tensors in the frame, through the real debugpy adapter.

A debuggee pauses in a frame holding ``--tensors`` float32 tensors of ``--numel`` elements
(issue 4's budget: 20 × 1M, snapshot ≤ 150 ms including the DAP round trip), and at a second
stop ``--large`` tensors of ``--large-numel`` elements (budget: the stop ≤ 1 s). Each round
measures, interleaved so that machine noise hits all alike:

  roundtrip       a trivial ``evaluate`` (``0``, context clipboard): the DAP floor
  snapshot cold   the extension's snapshot evaluate after clearing the summary cache
  snapshot warm   the same again (the Variables view or a hover already summarised them)
  variables cold  ``scopes`` + ``variables`` of the frame (what VS Code asks at every stop;
                  every tensor's hover line is computed) after clearing the cache
  stop total      variables cold + snapshot warm: what a stop costs with the panel open
  in-process      the agent's snapshot of the same kind of tensors in this process, no
                  debugger (separates the summary engine's time from the transport's)

The summary cache is cleared by an ``evaluate`` that is not timed. Reported: medians over
rounds, and each median's ratio to the roundtrip. Run::

    .venv/bin/python benchmarks/bench_snapshot.py [--rounds 7] [--tensors 20] [--numel 1000000]
        [--large 50] [--large-numel 4000000] [--threads 0]

On a shared 2-core machine, torch's two intra-op threads make every reduction's time swing by
10× with the other processes' load; ``--threads 1`` gives steadier numbers there.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import torch  # noqa: E402

from support.dap_client import DapSession, marked_line  # noqa: E402
from tensorpeek.agent import request  # noqa: E402
from tensorpeek.debugger.presentation import clear_cache, hover_text  # noqa: E402
from tensorpeek.summary.tensor_summary import summarize  # noqa: E402

CLEAR = "__import__('tensorpeek.debugger.presentation').debugger.presentation.clear_cache()"


def debuggee_source(n: int, numel: int, n_large: int, large_numel: int) -> str:
    return textwrap.dedent(
        f"""
        import torch

        def stop(tensors):
            {", ".join(f"t{i}" for i in range(n))}, = tensors
            del tensors
            print("first stop")  # @bp small

        def big_stop(tensors):
            {", ".join(f"b{i}" for i in range(n_large))}, = tensors
            del tensors
            print("second stop")  # @bp large

        g = torch.Generator().manual_seed(0)
        stop([torch.randn({numel}, generator=g) for _ in range({n})])
        big_stop([torch.randn({large_numel}, generator=g) for _ in range({n_large})])
        """
    )


# the whole work is measured: no tensor may be left out for the default time budget
SNAPSHOT = {"version": 1, "method": "snapshot", "params": {"time_budget_ms": 600_000}}


def agent_expression() -> str:
    req = json.dumps(SNAPSHOT)
    return f"__import__('tensorpeek.agent').agent.request({json.dumps(req)}, locals())"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def local_frame(n: int, numel: int, seed_skip: int = 0) -> dict[str, torch.Tensor]:
    """The same kind of tensors in this process (the in-process baseline)."""
    g = torch.Generator().manual_seed(seed_skip)
    return {f"t{i}": torch.randn(numel, generator=g) for i in range(n)}


def in_process_snapshot(frame: dict[str, torch.Tensor]) -> None:
    clear_cache()
    reply = json.loads(request(json.dumps(SNAPSHOT), frame))
    assert reply["ok"] and len(reply["result"]["tensors"]) == len(frame)


def measure(
    dap: DapSession, frame_id: int, rounds: int, local: dict[str, torch.Tensor]
) -> dict[str, list[float]]:
    expect = len(local)
    snap_expr = agent_expression()
    results: dict[str, list[float]] = {
        k: []
        for k in (
            "roundtrip",
            "snapshot cold",
            "snapshot warm",
            "variables cold",
            "stop total",
            "in-process snapshot cold (no debugger)",
        )
    }
    inside: list[float] = []
    deferred: list[int] = []  # tensors the Variables listing left unsummarised (its budget)

    def snapshot() -> None:
        reply = json.loads(
            dap.evaluate(snap_expr, frame_id, context="clipboard", raw_string=True)["result"]
        )
        assert reply["ok"] and len(reply["result"]["tensors"]) == expect, reply
        inside.append(reply["result"]["elapsed_ms"])

    def variables() -> None:
        scope = next(s for s in dap.scopes(frame_id) if s["name"] == "Locals")
        listed = dap.variables(scope["variablesReference"])
        assert sum(v["value"].startswith("tensor[") for v in listed) == expect, listed
        deferred.append(sum("stats skipped" in v["value"] for v in listed))

    for _ in range(rounds):
        results["roundtrip"].append(timed(lambda: dap.evaluate("0", frame_id, "clipboard")))
        dap.evaluate(CLEAR, frame_id, "clipboard")
        results["snapshot cold"].append(timed(snapshot))
        results["snapshot warm"].append(timed(snapshot))
        dap.evaluate(CLEAR, frame_id, "clipboard")
        var_ms = timed(variables)
        results["variables cold"].append(var_ms)
        results["stop total"].append(var_ms + timed(snapshot))
        results["in-process snapshot cold (no debugger)"].append(
            timed(lambda: in_process_snapshot(local))
        )
    results["agent-internal snapshot (elapsed_ms)"] = inside
    results["variables: tensors deferred (count, not ms)"] = [float(d) for d in deferred]
    return results


def per_tensor(rounds: int) -> None:
    """One tensor's hover line in this process (no debugger): ``quick_options()`` beside
    ``summarize(mode="quick")`` with its exact histogram, interleaved."""
    sizes = [1_000, 65_536, 1_000_000, 1_048_577, 4_000_000, 16_000_000]
    g = torch.Generator().manual_seed(1)
    tensors = {n: torch.randn(n, generator=g) for n in sizes}
    ours: dict[int, list[float]] = {n: [] for n in sizes}
    plain: dict[int, list[float]] = {n: [] for n in sizes}
    for _ in range(rounds):
        for n, x in tensors.items():
            clear_cache()
            ours[n].append(timed(lambda x=x: hover_text(x, "hover")))
            plain[n].append(timed(lambda x=x: summarize(x, mode="quick")))
    print("\none tensor's hover line, in-process (budget: ≤ 5 ms up to 1M elements)")
    print(f"  {'elements':>12s} {'hover ms':>9s} {'quick, exact hist ms':>21s} {'ratio':>6s}")
    for n in sizes:
        a, b = statistics.median(ours[n]), statistics.median(plain[n])
        print(f"  {n:12,d} {a:9.2f} {b:21.2f} {a / b:6.2f}")


def report(title: str, results: dict[str, list[float]]) -> None:
    base = statistics.median(results["roundtrip"])
    print(f"\n{title}")
    print(f"  {'measure':40s} {'median ms':>10s} {'min ms':>9s} {'× roundtrip':>12s}")
    for name, values in results.items():
        med = statistics.median(values)
        print(f"  {name:40s} {med:10.1f} {min(values):9.1f} {med / base:12.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tensors", type=int, default=20)
    parser.add_argument("--numel", type=int, default=1_000_000)
    parser.add_argument("--large", type=int, default=50)
    parser.add_argument("--large-numel", type=int, default=4_000_000)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads here and in the debuggee (0: default)"
    )
    args = parser.parse_args()
    env = {}
    if args.threads:
        torch.set_num_threads(args.threads)
        env = {"OMP_NUM_THREADS": str(args.threads)}

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench_debuggee.py"
        script.write_text(debuggee_source(args.tensors, args.numel, args.large, args.large_numel))
        lines = [marked_line(script, "small"), marked_line(script, "large")]
        with DapSession() as dap:
            thread_id, frame_id = dap.run_to_breakpoint(script, lines, timeout=120, env=env)
            small = measure(dap, frame_id, args.rounds, local_frame(args.tensors, args.numel))
            dap.continue_(thread_id)
            stopped = dap.wait_for_event("stopped", timeout=120)
            frame_id = dap.stack_trace(stopped["threadId"])[0]["id"]
            local = local_frame(args.large, args.large_numel)
            large = measure(dap, frame_id, max(3, args.rounds // 2), local)
    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {args.rounds} rounds, interleaved"
    )
    report(f"{args.tensors} tensors × {args.numel:,} float32 (budget: snapshot ≤ 150 ms)", small)
    report(f"{args.large} tensors × {args.large_numel:,} float32 (budget: stop ≤ 1000 ms)", large)
    per_tensor(args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
