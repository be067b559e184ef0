"""Mixed precision: ``torch.amp.GradScaler``'s routine overflow steps are not errors.

How GradScaler works: the loss is multiplied by a large scale before ``backward()``; when the
scaled gradients overflow (inf/NaN), ``scaler.step`` skips ``optimizer.step()`` and
``scaler.update`` halves the scale. A few such steps are normal, above all at the start.

The rule tensorpeek applies:
- a backward that starts from a tensor ``scaler.scale(...)`` returned is a *scaled backward*;
  the non-finite checks of its gradient sites (grad_input, grad_output, param_grad) are held
  instead of firing;
- at ``scaler.update()`` the scale is read before and after (one host read each, where the
  scaler reads its own ``found_inf`` anyway). When it fell, the step was skipped: the held
  checks are dropped and one ``amp_overflow`` hit records the step and the scale before and
  after (an info finding). When it did not fall, the held checks fire as usual;
- the scale collapsing is an error: below 1, or ``COLLAPSE_SKIPS`` skipped steps in a row;
- non-finite values anywhere else (the forward under autocast, an unscaled backward, the
  parameters after a step) are checked as always.

PyTorch offers no hook on GradScaler, so while breakpoints are armed ``GradScaler.scale`` and
``GradScaler.update`` are wrapped on the class (observing only: the original is called with
the same arguments and its result returned); ``uninstall`` puts the originals back.
"""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tensorpeek.common import amp_scale

COLLAPSE_SKIPS = 10  # skipped steps in a row that make the collapse an error
SCALE_FLOOR = 1.0  # a scale below this has collapsed


@dataclass
class Held:
    """A check held during a scaled backward: fired or dropped at ``scaler.update()``."""

    fire: Callable[[], None]


@dataclass
class AmpState:
    """What the wrappers saw: the scaler of the backward in progress and the held checks."""

    pending: weakref.ref[Any] | None = None  # the scaler whose scale() output awaits backward()
    scaled_by: weakref.ref[Any] | None = None  # the scaler of the backward in progress
    held: list[Held] = field(default_factory=list)
    consecutive_skips: int = 0
    installed: dict[str, Any] = field(default_factory=dict)


STATE = AmpState()


def install(on_overflow: Callable[[dict[str, Any]], None]) -> None:
    """Wrap ``GradScaler.scale`` and ``GradScaler.update`` (once)."""
    if STATE.installed:
        return
    try:
        from torch.amp.grad_scaler import GradScaler
    except ImportError:  # a torch without torch.amp: nothing to watch
        return
    original_scale = GradScaler.scale
    original_update = GradScaler.update

    @functools.wraps(original_scale)
    def scale(self: Any, outputs: Any) -> Any:
        result = original_scale(self, outputs)
        if getattr(self, "_enabled", True):
            STATE.pending = weakref.ref(self)
            scale = getattr(self, "_scale", None)
            if scale is not None:  # for the loss curve (common/amp_scale.py)
                amp_scale.scaled(result, scale)
        return result

    @functools.wraps(original_update)
    def update(self: Any, new_scale: Any = None) -> None:
        before = _scale_of(self)
        original_update(self, new_scale)
        after = _scale_of(self)
        _after_update(self, before, after, on_overflow)

    GradScaler.scale = scale  # type: ignore[method-assign]
    GradScaler.update = update  # type: ignore[method-assign]
    STATE.installed = {"cls": GradScaler, "scale": original_scale, "update": original_update}
    STATE.installed.update(scale_wrapper=scale, update_wrapper=update)


def uninstall() -> None:
    """Put the originals back (only where nobody wrapped them again since)."""
    done = STATE.installed
    if not done:
        return
    cls = done["cls"]
    if cls.__dict__.get("scale") is done["scale_wrapper"]:
        cls.scale = done["scale"]
    if cls.__dict__.get("update") is done["update_wrapper"]:
        cls.update = done["update"]
    STATE.installed = {}
    amp_scale.clear()
    STATE.pending = STATE.scaled_by = None
    STATE.held.clear()
    STATE.consecutive_skips = 0


def backward_starts() -> None:
    """``backward()`` starts: it is a scaled backward when ``scaler.scale`` ran since the last
    one (the usual ``scaler.scale(loss).backward()``)."""
    STATE.scaled_by, STATE.pending = STATE.pending, None


def in_scaled_backward() -> bool:
    return STATE.scaled_by is not None and STATE.scaled_by() is not None


def hold(fire: Callable[[], None]) -> None:
    STATE.held.append(Held(fire))


def _scale_of(scaler: Any) -> float | None:
    try:
        value = scaler.get_scale()
    except Exception:  # noqa: BLE001 - a scaler in an odd state: no verdict, no crash
        return None
    return float(value) if value is not None else None


def _after_update(
    scaler: Any,
    before: float | None,
    after: float | None,
    on_overflow: Callable[[dict[str, Any]], None],
) -> None:
    held, STATE.held = STATE.held, []
    ours = STATE.scaled_by is not None and STATE.scaled_by() is scaler
    STATE.scaled_by = None
    skipped = before is not None and after is not None and after < before
    if not skipped:
        STATE.consecutive_skips = 0
        for h in held:
            h.fire()
        return
    STATE.consecutive_skips += 1
    collapsed = (after is not None and after < SCALE_FLOOR) or (
        STATE.consecutive_skips >= COLLAPSE_SKIPS
    )
    on_overflow(
        {
            "scale_before": before,
            "scale_after": after,
            "consecutive_skips": STATE.consecutive_skips,
            "collapsed": collapsed,
            "held_checks": len(held),
            "scaled_backward_seen": ours,
            "finite_scale": after is not None and math.isfinite(after),
        }
    )
