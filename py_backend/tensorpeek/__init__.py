"""tensorpeek: tensor summaries and tensor breakpoints for debugging PyTorch training.

The public API is small and imported lazily, so that ``import tensorpeek`` inside a
training process costs nothing until a feature is used::

    import tensorpeek
    print(tensorpeek.summarize(x))            # one dense line per tensor
    tensorpeek.break_on(model, "output", "nonfinite")
    tensorpeek.watch(model, log="gradients")
    tensorpeek.log(accuracy=acc)              # a metric beside the captured loss curve
    tensorpeek.whole_summary("0.weight")      # at a pause in a torchrun job: every shard
"""

from __future__ import annotations

from typing import Any

from tensorpeek.common import stop_announcer as _stop_announcer  # a slot: imports nothing

__version__ = "0.1.0"

_ENGINE = ("break_on", "breakpoints", "clear", "hits", "Breakpoint", "Hit", "TensorBreakpointError")
__all__ = ["__version__", "summarize", "TensorSummary", *_ENGINE, "watch", "log", "whole_summary"]


def __getattr__(name: str) -> Any:
    # each public name is imported on first use (PEP 562), so `import tensorpeek` loads no torch
    if name in ("summarize", "TensorSummary"):
        from tensorpeek.summary import tensor_summary as module
    elif name in _ENGINE:
        from tensorpeek.engine import api as module  # type: ignore[no-redef]
        from tensorpeek.training.capture import install

        install()  # while breakpoints are armed, the loss, lr and norms are captured too
    elif name == "log":
        from tensorpeek.training import log as module  # type: ignore[no-redef]
        from tensorpeek.training.capture import install

        install()
    elif name == "watch":
        from tensorpeek import watcher as module  # type: ignore[no-redef]
    elif name == "whole_summary":  # a sharded tensor's, asked of every rank at a pause
        from tensorpeek.engine import rank_whole as module  # type: ignore[no-redef]
    else:
        raise AttributeError(f"module 'tensorpeek' has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def _announce_stop(frame_locals: dict[str, Any]) -> dict[str, Any]:
    """What the engine tells the debugger's client just before a tensor-breakpoint stop: the
    agent's snapshot of the pause frame (``agent.stop_announcement``). Plugged in here, at the
    package's root, because the engine is below the agent and may not import it."""
    from tensorpeek.agent import stop_announcement

    return stop_announcement(frame_locals)


_stop_announcer.announcer = _announce_stop


def __dir__() -> list[str]:
    return sorted(__all__)
