"""The one step counter: every hit, finding, history entry, report and ``watch()`` record is
stamped with ``STEPS.current()``.

DESIGN.md: the step is the number of ``optimizer.step()`` calls completed before the event; in
a run with no optimizer steps, the index of the latest forward call of a root module (a
forward with autograd on, when there was one, so that a validation pass does not count as a
training step). Optimizer steps are counted per optimizer and the largest count is used (a
GAN's two optimizers stepping once each is one training step). Before the first optimizer
step we cannot know an optimizer exists, so the fallback is "index of the latest root
forward": it equals the number of completed root forwards during the forward and stays on the
same value during the backward of that iteration, matching what the optimizer count will say.

One pair of PyTorch's global optimizer hooks feeds the counter, installed while anyone uses it
(``acquire`` / ``release``: the breakpoint engine, ``tensorpeek run`` / ``doctor``, ``watch``);
they hand each step to the listeners in three phases:
- ``"pre"``: before ``optimizer.step()`` runs (deferred checks are read, gradient norms taken);
- ``"post"``: after it ran, before it is counted (``param`` checks are stamped with its step);
- ``"counted"``: after it is counted (progress lines, ``--max-steps``).
The counter starts from zero each time its first user acquires it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

PHASES = ("pre", "post", "counted")
Listener = Callable[[Any, int], None]  # (optimizer, step) -> None


class ListenerHandle:
    """Returned by ``StepCounter.listen``; ``remove()`` unsubscribes (idempotent)."""

    def __init__(self, listeners: list[Listener], fn: Listener) -> None:
        self._listeners = listeners
        self._fn = fn

    def remove(self) -> None:
        if self._fn in self._listeners:
            self._listeners.remove(self._fn)


class StepCounter:
    """Optimizer steps (fed by the global optimizer hooks) and root forwards (fed by whoever
    sees a root module start: the engine's global module hooks, ``watch``'s model hooks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._handles: list[Any] = []
        self._listeners: dict[str, list[Listener]] = {phase: [] for phase in PHASES}
        self.reset()

    def reset(self) -> None:
        """Start from zero (done when the first user acquires the counter)."""
        self._per_optimizer: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._optimizer_steps = 0
        self.root_forwards_started = 0
        self._grad_forwards_started = 0
        self._in_forward: set[int] = set()  # roots whose forward is running (counted once)
        self.global_hooks = False  # the engine's global module hooks report root forwards

    def acquire(self) -> None:
        """Start counting (the first user installs the optimizer hooks and resets the count)."""
        with self._lock:
            self._users += 1
            if self._users > 1:
                return
            from torch.optim.optimizer import (
                register_optimizer_step_post_hook,
                register_optimizer_step_pre_hook,
            )

            self.reset()
            self._handles = [
                register_optimizer_step_pre_hook(self._before_step),
                register_optimizer_step_post_hook(self._after_step),
            ]

    def release(self) -> None:
        """Stop counting for one user; the last one removes the optimizer hooks."""
        with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users:
                return
            for h in self._handles:
                h.remove()
            self._handles = []

    @property
    def counting(self) -> bool:
        return self._users > 0

    def listen(self, phase: str, fn: Listener) -> ListenerHandle:
        """Call ``fn(optimizer, step)`` at each optimizer step, in ``phase`` (see the module
        docstring); ``step`` is the count before the step in ``pre``/``post``, after it in
        ``counted``."""
        listeners = self._listeners[phase]
        listeners.append(fn)
        return ListenerHandle(listeners, fn)

    def _before_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        step = self.current()
        for fn in list(self._listeners["pre"]):
            fn(optimizer, step)

    def _after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        step = self.current()
        for fn in list(self._listeners["post"]):
            fn(optimizer, step)
        self.optimizer_stepped(optimizer)
        step = self.current()
        for fn in list(self._listeners["counted"]):
            fn(optimizer, step)

    def optimizer_stepped(self, optimizer: Any) -> None:
        n = self._per_optimizer.get(optimizer, 0) + 1
        self._per_optimizer[optimizer] = n
        self._optimizer_steps = max(self._optimizer_steps, n)

    def root_forward_started(self, root: Any, grad_enabled: bool, *, global_hooks: bool) -> None:
        """A root module's forward begins. Reported by the engine's global module hooks
        (``global_hooks``: they see every root) and by ``watch``'s hook on its model, which
        counts only while no global hooks are installed (its model may be a submodule of the
        real root). A root already running (a nested call) counts once."""
        if global_hooks:
            self.global_hooks = True
        elif self.global_hooks:
            return
        if id(root) in self._in_forward:
            return
        self._in_forward.add(id(root))
        self.root_forwards_started += 1
        self._grad_forwards_started += bool(grad_enabled)

    def root_forward_ended(self, root: Any) -> None:
        self._in_forward.discard(id(root))

    @property
    def seen_optimizer(self) -> bool:
        return self._optimizer_steps > 0

    def current(self) -> int:
        if self._optimizer_steps:
            return self._optimizer_steps
        return max((self._grad_forwards_started or self.root_forwards_started) - 1, 0)


STEPS = StepCounter()
