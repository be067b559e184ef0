"""The one step counter: every hit, finding, history entry, report and ``watch()`` record is
stamped with ``STEPS.current()``.

The step of an event is, in this order of preference:
1. the number of ``optimizer.step()`` calls completed before it (counted per optimizer, the
   largest count: a GAN's two optimizers stepping once each is one training step);
2. in a run with no optimizer step yet, the number of ``backward()`` calls completed before
   the current iteration began (an iteration begins at the first root forward after a
   backward), so a model called several times per iteration (a decoder per time step, a
   GAN's generator twice) is still one step per ``backward()`` (manual SGD, gradient-only
   loops);
3. with neither, the index of the latest forward call of the *first* root module (a forward
   with autograd on, when there was one, so that a validation pass does not count).
Loss modules (``nn.CrossEntropyLoss()`` called as a module) and other roots never advance it:
the caller reports only real roots, and only the first root's forwards count. Before the first
optimizer step we cannot know an optimizer exists; the fallbacks are chosen so that the
numbers agree: the forward index equals the number of completed iterations during the
forward and stays on that value during the backward of the same iteration.

What feeds it, installed while anyone uses the counter (``acquire`` / ``release``: the
breakpoint engine, ``tensorpeek run`` / ``doctor``, ``watch``):
- one pair of PyTorch's global optimizer hooks, which hand each step to listeners in three
  phases: ``"pre"`` (before ``optimizer.step()`` runs: deferred checks are read, gradient norms
  taken), ``"post"`` (after it ran, before it is counted: ``param`` checks are stamped with its
  step) and ``"counted"`` (after it is counted: progress lines, ``--max-steps``);
- ``torch.autograd.backward`` (which ``Tensor.backward`` calls) wrapped while counting, so that
  ``backward()`` calls are counted and the ``"backward"`` listeners see the tensors backward
  starts from (the loss) before it runs. PyTorch has no global hook for this. The wrapper only
  observes: it calls the original with the same arguments, and it is removed with the last user
  (only if nobody wrapped it again since).
The counter starts from zero each time its first user acquires it.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any

PHASES = ("pre", "post", "counted", "backward", "root", "acquired", "released")
Listener = Callable[[Any, int], None]  # (optimizer, backward's tensors or the root, step) -> None


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
        self._original_backward: Any = None
        self._backward_wrapper: Any = None
        self._listeners: dict[str, list[Listener]] = {phase: [] for phase in PHASES}
        self.reset()

    def reset(self) -> None:
        """Start from zero (done when the first user acquires the counter)."""
        self._per_optimizer: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._optimizer_steps = 0
        self.root_forwards_started = 0
        self._grad_forwards_started = 0
        self.backward_calls = 0
        self._iteration_backwards = 0  # backward_calls when the current iteration began
        self._backward_depth = 0
        self._first_root: weakref.ref[Any] | None = None
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
            self._wrap_backward()
        for fn in list(self._listeners["acquired"]):
            fn(None, 0)

    def release(self) -> None:
        """Stop counting for one user; the last one removes the optimizer hooks."""
        with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users:
                return
            for fn in list(self._listeners["released"]):
                fn(None, self.current())
            for h in self._handles:
                h.remove()
            self._handles = []
            self._unwrap_backward()

    def _wrap_backward(self) -> None:
        import torch.autograd

        original = torch.autograd.backward
        counter = self

        @functools.wraps(original)
        def backward(tensors: Any, *args: Any, **kwargs: Any) -> Any:
            outermost = counter._backward_depth == 0
            counter._backward_depth += 1
            try:
                if outermost:
                    counter._backward_starts(tensors)
                return original(tensors, *args, **kwargs)
            finally:
                counter._backward_depth -= 1
                if outermost:
                    counter.backward_calls += 1

        self._original_backward = original
        self._backward_wrapper = backward
        torch.autograd.backward = backward

    def _unwrap_backward(self) -> None:
        import torch.autograd

        if self._backward_wrapper is not None and torch.autograd.backward is self._backward_wrapper:
            torch.autograd.backward = self._original_backward
        self._backward_wrapper = None

    def _backward_starts(self, tensors: Any) -> None:
        step = self.current()
        for fn in list(self._listeners["backward"]):
            fn(tensors, step)

    @property
    def counting(self) -> bool:
        return self._users > 0

    def listen(self, phase: str, fn: Listener) -> ListenerHandle:
        """Call ``fn(optimizer, step)`` at each optimizer step, in ``phase`` (see the module
        docstring); ``step`` is the count before the step in ``pre``/``post``, after it in
        ``counted``. In the ``backward`` phase ``fn(tensors, step)`` runs as ``backward()``
        starts, with the tensors it starts from; in ``root``, ``fn(root, step)`` runs as a
        counted forward of the first root module begins (``root_forward_started``);
        ``acquired`` runs as the first user starts counting (``fn(None, 0)``, after the hooks are
        in), ``released`` as the last one stops (``fn(None, step)``, before they go)."""
        listeners = self._listeners[phase]
        listeners.append(fn)
        return ListenerHandle(listeners, fn)

    def _before_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        step = self._optimizer_steps  # inside an optimizer step, the optimizer rule holds
        for fn in list(self._listeners["pre"]):
            fn(optimizer, step)

    def _after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        step = self._optimizer_steps
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
        first = self._first_root() if self._first_root is not None else None
        if first is None:
            self._first_root = weakref.ref(root)
        elif first is not root:
            return  # a second model (a GAN's discriminator, a teacher): not a new step
        self._in_forward.add(id(root))
        self._iteration_backwards = self.backward_calls
        self.root_forwards_started += 1
        self._grad_forwards_started += bool(grad_enabled)
        if self._listeners["root"]:
            step = self.current()
            for fn in list(self._listeners["root"]):
                fn(root, step)

    def root_forward_ended(self, root: Any) -> None:
        self._in_forward.discard(id(root))

    @property
    def seen_optimizer(self) -> bool:
        return self._optimizer_steps > 0

    def current(self) -> int:
        if self._optimizer_steps:
            return self._optimizer_steps
        if self.backward_calls:
            return self._iteration_backwards
        return max((self._grad_forwards_started or self.root_forwards_started) - 1, 0)


STEPS = StepCounter()
