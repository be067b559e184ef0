"""The step counter every hit, finding and history entry is stamped with.

DESIGN.md: the step is the number of ``optimizer.step()`` calls completed before the event; in
a run with no optimizer steps, the number of completed forward calls of the root module. We
count optimizer steps per optimizer (a GAN's two optimizers stepping once each is one
training step) and use the largest count. Before the first optimizer step we cannot know an
optimizer exists, so the fallback is "index of the latest root forward": it equals the
number of completed root forwards during the forward and stays on the same value during
the backward of that iteration, matching what the optimizer count will say.
"""

from __future__ import annotations

import weakref
from typing import Any


class StepCounter:
    """Counts optimizer steps (fed by the global optimizer post-step hook) and root forwards."""

    def __init__(self) -> None:
        self._per_optimizer: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._optimizer_steps = 0
        self.root_forwards_started = 0

    def reset(self) -> None:
        self._per_optimizer = weakref.WeakKeyDictionary()
        self._optimizer_steps = 0
        self.root_forwards_started = 0

    def optimizer_stepped(self, optimizer: Any) -> None:
        n = self._per_optimizer.get(optimizer, 0) + 1
        self._per_optimizer[optimizer] = n
        self._optimizer_steps = max(self._optimizer_steps, n)

    def root_forward_started(self) -> None:
        self.root_forwards_started += 1

    @property
    def seen_optimizer(self) -> bool:
        return self._optimizer_steps > 0

    def current(self) -> int:
        if self._optimizer_steps:
            return self._optimizer_steps
        return max(self.root_forwards_started - 1, 0)


STEPS = StepCounter()


def current_step() -> int:
    """The step number an event happening now is stamped with."""
    return STEPS.current()
