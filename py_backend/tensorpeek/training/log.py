"""``tensorpeek.log(step=None, **scalars)``: metrics beside the captured curves (the
``wandb.log`` habit), shown in the panel's Training view and written to the report.

Each keyword is one series (``accuracy=0.91``); a value may be a Python number or a tensor of
one element (kept as it is and read with the other pending values, so logging does not wait for
the device). ``step`` defaults to tensorpeek's step while it counts, otherwise to the number of
earlier ``log`` calls without a step (since the curves were last cleared). Bad input (a
non-number, a negative or non-integer step, an empty name) raises ``ValueError`` /
``TypeError`` before anything is recorded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tensorpeek.common.steps import STEPS
from tensorpeek.training.series import STORE, is_number

_lock = threading.Lock()
Sink = Callable[[int, dict[str, Any]], None]
SINKS: list[Sink] = []  # also called with every logged metric (TensorBoard, W&B): see watcher


def log(step: int | None = None, **scalars: Any) -> None:
    """Record metrics at ``step``; see the module docstring."""
    if step is not None and (type(step) is not int or step < 0):
        raise ValueError(f"tensorpeek.log: step must be a non-negative int, got {step!r}")
    checked: dict[str, Any] = {}
    for name, value in scalars.items():
        checked[name] = _checked(name, value)
    with _lock:
        if step is None:
            step = STEPS.current() if STEPS.counting else STORE.log_calls
            STORE.log_calls += 1
    for name, value in checked.items():
        if is_number(value):
            STORE.add(name, step, float(value))
        else:
            STORE.add_lazy(name, step, value)
    for sink in list(SINKS):
        sink(step, checked)


def _checked(name: str, value: Any) -> Any:
    if not name or not name.strip():
        raise ValueError("tensorpeek.log: a metric needs a name")
    if is_number(value):
        return value
    if type(value).__module__.startswith("torch") and hasattr(value, "numel"):
        if value.numel() != 1 or value.is_complex():
            raise ValueError(
                f"tensorpeek.log: {name} must be a number or a one-element real tensor, got a "
                f"tensor of shape {tuple(value.shape)}"
            )
        return value.detach().reshape(())
    if hasattr(value, "item") and hasattr(value, "dtype"):  # numpy scalars
        item = value.item()
        if is_number(item):
            return item
    raise TypeError(
        f"tensorpeek.log: {name} must be a number or a one-element tensor, "
        f"got {type(value).__name__}"
    )
