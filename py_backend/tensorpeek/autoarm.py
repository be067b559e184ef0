"""The name the ``tensorpeek_autoarm.pth`` line imports at interpreter start-up
(``__import__("tensorpeek.autoarm").autoarm.install()``), kept so that the line, a public
contract, never changes. The work is ``tensorpeek.engine.autoarm``; this shim also starts the
training capture (loss, learning rates, gradient norms, the graph), which rides on the step
counter that the armed breakpoints hold, so that a run armed only by the environment variable
(the VS Code launch path, plain ``torchrun``) has its curves too. Neither loads torch."""

from __future__ import annotations

from tensorpeek.engine.autoarm import ENV_VAR
from tensorpeek.engine.autoarm import install as _arm_when_torch_loads

__all__ = ["ENV_VAR", "install"]


def install() -> None:
    """Called from the .pth line when the variable is set."""
    from tensorpeek.training.capture import install as capture

    capture()  # subscribes to the step counter: nothing runs until something counts steps
    _arm_when_torch_loads()
