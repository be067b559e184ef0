"""The name the ``tensorpeek_autoarm.pth`` line imports at interpreter start-up
(``__import__("tensorpeek.autoarm").autoarm.install()``), kept so that the line, a public
contract, never changes. The work is ``tensorpeek.engine.autoarm``."""

from __future__ import annotations

from tensorpeek.engine.autoarm import ENV_VAR, install

__all__ = ["ENV_VAR", "install"]
