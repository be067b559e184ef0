"""The ``tensorpeek`` command (also ``python -m tensorpeek``): argument parsing and wiring only.

    tensorpeek run [--break SPEC]... [--on-hit report|continue|raise|pdb] [--report R.json]
                   [--html R.html] SCRIPT [ARGS...]
    tensorpeek doctor SCRIPT [ARGS...] [--max-steps N] [--keep-going] [--report R.json]
                      [--html R.html]
    tensorpeek run|doctor --nproc-per-node N [TORCHRUN OPTIONS] ... SCRIPT [ARGS...]
    tensorpeek demo [--out DIR]
    tensorpeek inspect CHECKPOINT

tensorpeek's options may come before or after SCRIPT; everything after ``--`` goes to the
script untouched (use it when the script has an option of the same name). With
``--nproc-per-node N`` the job is launched through ``torch.distributed.run``: torchrun's other
options, given before SCRIPT, pass through to it (``tensorpeek.cli.launch``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tensorpeek import __version__
from tensorpeek.common.terminal_text import terminal_safe
from tensorpeek.engine.autoarm import ENV_VAR

EXIT_USAGE = 2

# options that may follow SCRIPT: name -> whether it takes a value
_TRAILING = {
    "run": {"--break": True, "--on-hit": True, "--report": True, "--html": True},
    "doctor": {"--max-steps": True, "--keep-going": False, "--report": True, "--html": True},
}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


class _VersionAction(argparse.Action):
    """``--version``: the version, whether summaries use the fused C kernel and whether the
    breakpoint screen runs in C (importing torch to find out only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help=str(kwargs.get("help", "")))

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        from tensorpeek.summary import native

        print(f"tensorpeek {__version__}\n{native.status()}\n{native.screen_status()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from tensorpeek.cli.run import ON_HIT
    from tensorpeek.engine.conditions import PRESETS
    from tensorpeek.engine.spec import SITES

    parser = argparse.ArgumentParser(
        prog="tensorpeek",
        description="Tensor breakpoints, training diagnostics and checkpoint summaries "
        "for PyTorch.",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print the version and the kernel's state"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a script with tensor breakpoints armed",
        description="Run SCRIPT exactly as `python SCRIPT ARGS` would, with tensor breakpoints.",
        epilog=f"SPEC is TARGET:SITE:CONDITION, e.g. '*:output:nonfinite' or "
        f"'fc*:grad_output:norm > 1e3'. Sites: {', '.join(SITES)}. "
        f"Presets: {', '.join(PRESETS)}.",
    )
    run.add_argument(
        "--break",
        dest="breaks",
        action="append",
        metavar="SPEC",
        default=[],
        help="a tensor breakpoint (repeatable; default *:output:nonfinite)",
    )
    run.add_argument(
        "--on-hit",
        choices=ON_HIT,
        default="report",
        help="after printing a hit: end the run (report, default), keep going "
        "(continue), raise in the script (raise) or open pdb (pdb)",
    )
    _add_launch(run)
    _add_outputs(run)
    _add_script(run)
    run.set_defaults(subparser=run)

    doctor = sub.add_parser(
        "doctor",
        help="find where and when training goes wrong",
        description="Run SCRIPT with diagnostic breakpoints in record mode and report findings: "
        "non-finite origins, exploding/vanishing gradients, dead activations, saturation.",
    )
    doctor.add_argument(
        "--max-steps",
        type=_positive_int,
        metavar="N",
        help="end the script cleanly after N optimizer steps",
    )
    doctor.add_argument(
        "--keep-going", action="store_true", help="do not end the run after the first error"
    )
    _add_launch(doctor)
    _add_outputs(doctor)
    _add_script(doctor)
    doctor.set_defaults(subparser=doctor)

    demo = sub.add_parser("demo", help="run doctor on a bundled training script with a planted bug")
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("tensorpeek-demo"),
        help="where the demo writes its reports (./tensorpeek-demo)",
    )

    inspect = sub.add_parser("inspect", help="summarize every tensor of a checkpoint")
    inspect.add_argument("checkpoint", type=Path, help=".pt/.pth state dict or .safetensors file")
    return parser


def _add_launch(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--nproc-per-node",
        "--nproc_per_node",
        dest="nproc_per_node",
        type=_positive_int,
        metavar="N",
        help="launch N ranks through torch.distributed.run (torchrun's other options, before "
        "SCRIPT, pass through) and write one merged report",
    )


def _add_outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--report", type=Path, metavar="R.json", help="write the JSON report here")
    p.add_argument("--html", type=Path, metavar="R.html", help="write the HTML report here")


def _add_script(p: argparse.ArgumentParser) -> None:
    p.add_argument("script", help="the Python script to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")


def _pull_trailing(
    parser: argparse.ArgumentParser, ns: argparse.Namespace, known: dict[str, bool]
) -> None:
    """Move tensorpeek options found after SCRIPT (and before ``--``) from ``ns.args`` to ``ns``."""
    rest, ours = list(ns.args), []
    script_args: list[str] = []
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            script_args.extend(rest)
            break
        name, eq, value = arg.partition("=")
        if name in known:
            ours.append(name)
            if known[name]:
                if eq:
                    ours.append(value)
                elif rest:
                    ours.append(rest.pop(0))
                else:
                    parser.error(f"{name} expects a value")
        else:
            script_args.append(arg)
    ns.args = script_args
    if ours:
        extra = parser.parse_args([*ours, ns.script])
        for key, value in vars(extra).items():
            if key == "breaks":
                ns.breaks = [*ns.breaks, *value]
            elif key not in ("script", "args", "subparser") and value != parser.get_default(key):
                setattr(ns, key, value)


def _drop_env_breakpoints() -> None:
    """The command line decides the breakpoints: ``TENSORPEEK_BREAKPOINTS`` (read when torch is
    imported, which has not happened yet here) would otherwise replace them mid-run."""
    if os.environ.pop(ENV_VAR, None):
        print(f"tensorpeek: ignoring {ENV_VAR} (use --break)", file=sys.stderr)


def _split_launch(argv: list[str]) -> tuple[list[str], list[str]]:
    """With ``run|doctor --nproc-per-node N``: torchrun's options (before SCRIPT) taken out of
    ``argv``, which keeps tensorpeek's own."""
    if not argv or argv[0] not in _TRAILING:
        return argv, []
    from tensorpeek.cli.launch import LaunchUsageError, split_torchrun_options, wants_launch

    if not wants_launch(argv[1:]):
        return argv, []
    ours = {**_TRAILING[argv[0]], "-h": False, "--help": False}
    try:
        mine, torchrun = split_torchrun_options(argv[1:], ours)
    except LaunchUsageError as e:
        print(f"tensorpeek {argv[0]}: {terminal_safe(e)}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    return [argv[0], *mine], torchrun


def main(argv: Sequence[str] | None = None) -> int:
    _drop_env_breakpoints()
    argv, torchrun_options = _split_launch(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.command in _TRAILING:
        _pull_trailing(ns.subparser, ns, _TRAILING[ns.command])
    if ns.command == "inspect":
        from tensorpeek.cli.inspect_checkpoint import inspect_main

        return inspect_main(ns.checkpoint)
    if ns.command == "demo":
        from tensorpeek.cli.demo import demo_main

        return demo_main(ns.out)
    from tensorpeek.cli.script import ScriptNotFound, resolve_script
    from tensorpeek.engine.spec import SpecError

    try:
        script = resolve_script(ns.script)
        if ns.nproc_per_node is not None:
            from tensorpeek.cli.launch import launch_main

            if ns.command == "run":
                from tensorpeek.cli.run import run_specs

                run_specs(ns.breaks or ["*:output:nonfinite"], ns.on_hit)
            return launch_main(ns.command, ns, torchrun_options)
        from tensorpeek.cli.launch import install_termination_stop

        install_termination_stop()  # in a launched rank only
        if ns.command == "run":
            from tensorpeek.cli.run import RunOptions, run_main, run_specs

            breaks = ns.breaks or ["*:output:nonfinite"]
            run_specs(breaks, ns.on_hit)  # reject a bad spec before the script starts
            return run_main(
                RunOptions(script, ns.args, breaks, ns.on_hit, ns.report, ns.html, ns.script)
            )
        from tensorpeek.cli.doctor import DoctorOptions, doctor_main

        return doctor_main(
            DoctorOptions(
                script, ns.args, ns.max_steps, ns.keep_going, ns.report, ns.html, argv0=ns.script
            )
        )
    except ScriptNotFound as e:
        print(f"tensorpeek {ns.command}: {terminal_safe(e)}", file=sys.stderr)
        return EXIT_USAGE
    except SpecError as e:
        print(f"tensorpeek {ns.command}: bad --break spec: {terminal_safe(e)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
