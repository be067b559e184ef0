"""What the hooks report and to whom: an ``Event`` (a module, a site, the tensors there) and
the ``Dispatcher`` protocol that receives events (``tensorpeek.engine.dispatch``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import torch

if TYPE_CHECKING:
    from tensorpeek.engine.breakpoint import Breakpoint

Table = dict[str, list["Breakpoint"]]  # site -> breakpoints watching it (at one module)


@dataclass
class Event:
    """One place a tensor can be checked: a module, a site, the tensors there, and for origin
    checks the tensors that flowed in (forward inputs, or incoming gradients)."""

    module: torch.nn.Module | None
    path: str
    site: str
    tensors: list[tuple[str, torch.Tensor]]
    inputs: list[torch.Tensor] = field(default_factory=list)
    param: str | None = None
    step: int = 0
    own_contribution: bool = False  # grad_input: this module's own backward, not accumulated
    # the forward hooks flatten a module's inputs only when a check needs them (a hit): most
    # events are clean, and flattening every call's arguments is a fixed cost per module
    inputs_of: Callable[[], list[torch.Tensor]] | None = None

    def input_tensors(self) -> list[torch.Tensor]:
        """The tensors that flowed in (flattened on first use when ``inputs_of`` is given)."""
        if self.inputs_of is not None:
            self.inputs, self.inputs_of = self.inputs_of(), None
        return self.inputs


class Generations(Protocol):
    generation: int  # bumped by every change of the breakpoints


class Dispatcher(Protocol):
    """What the hooks call (``tensorpeek.engine.dispatch.Dispatcher``). ``registry.generation``
    is read as an attribute at every module call (``generation`` is the same, as a property)."""

    @property
    def registry(self) -> Generations: ...

    @property
    def generation(self) -> int: ...

    def table_for(self, module: torch.nn.Module, path: str) -> Table: ...
    def on_event(self, event: Event, bps: list[Breakpoint] | None = None) -> None: ...
    def screen(
        self,
        bps: list[Breakpoint],
        path: str,
        site: str,
        tensors: list[tuple[str, torch.Tensor]],
        step: int,
    ) -> bool: ...
    def on_root_forward(self, root: torch.nn.Module) -> None: ...
    def on_root_output(self, root: torch.nn.Module, outputs: list[torch.Tensor]) -> None: ...
