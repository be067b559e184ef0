"""The captured curves: one bounded series of ``[step, value]`` points per scalar name.

Torch-free, so that the agent reads it in a process where torch may not even be imported.
Values that are still 0-d tensors (the loss, a tensor learning rate, gradient norms: reading
them would make the device wait) are kept as they are in ``pending`` and turned into floats in
batches by the ``converter`` that ``capture`` sets: at most every ``FLUSH_EVERY`` values, and
whenever somebody reads the series.

Memory is bounded however long training runs: each series keeps its last ``RECENT`` points
exactly and, before them, a downsampled history of at most ``COARSE`` points (every k-th point
that left the recent ring, k doubling each time the history fills up).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

RECENT = 2048  # points kept exactly per series
COARSE = 1024  # downsampled points kept before those
FLUSH_EVERY = 64  # pending tensor values converted together
MAX_SERIES = 512  # names kept; further names are dropped (counted in ``dropped_names``)

Converter = Callable[[list[Any]], list[float]]
Point = tuple[str, int, float]  # (series name, step, value)
Sink = Callable[[list[Point]], None]  # gets the new points, in batches (TensorBoard, W&B)


class Series:
    """One scalar over steps: a ring of recent points plus a downsampled history."""

    def __init__(self) -> None:
        self.recent: deque[list[Any]] = deque()
        self.coarse: list[list[Any]] = []
        self._stride = 1
        self._evicted = 0
        self._last_count = 0  # values averaged into the last point (repeats of one step)

    def add(self, step: int, value: float) -> None:
        """Append ``value`` at ``step``; a repeat of the last step (gradient accumulation: one
        loss per micro-batch) replaces it by the mean of that step's values."""
        if self.recent and self.recent[-1][0] == step:
            n = self._last_count
            last = self.recent[-1]
            last[1] = value if n == 0 else (last[1] * n + value) / (n + 1)
            self._last_count = n + 1
            return
        self.recent.append([step, value])
        self._last_count = 1
        if len(self.recent) > RECENT:
            old = self.recent.popleft()
            if self._evicted % self._stride == 0:
                self.coarse.append(old)
                if len(self.coarse) > COARSE:
                    self.coarse = self.coarse[::2]
                    self._stride *= 2
            self._evicted += 1

    def points(self) -> list[list[Any]]:
        return [list(p) for p in self.coarse] + [list(p) for p in self.recent]

    def last(self) -> list[Any] | None:
        return list(self.recent[-1]) if self.recent else None


class TrainingStore:
    """Every series by name, the latest step seen, and the traced module graph."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.series: dict[str, Series] = {}
        self.pending: list[tuple[str, int, Any]] = []
        self.converter: Converter | None = None
        self.graph: dict[str, Any] | None = None  # {"nodes": [...], "edges": [...]} (graph.py)
        self.last_step: int | None = None
        self.dropped_names = 0
        self.log_calls = 0  # tensorpeek.log calls without a step while nothing counted
        self.sinks: list[Sink] = []  # called with every new point once it is a float

    def add(self, name: str, step: int, value: float) -> None:
        with self.lock:
            series = self._series(name)
            if series is not None:
                series.add(int(step), float(value))
                self._saw(step)
        self._tell([(name, int(step), float(value))])

    def add_lazy(self, name: str, step: int, value: Any) -> None:
        """Keep ``value`` (a 0-d tensor) as it is; it becomes a float at the next flush."""
        with self.lock:
            self.pending.append((name, int(step), value))
            self._saw(step)
            full = len(self.pending) >= FLUSH_EVERY
        if full:
            self.flush()

    def flush(self) -> None:
        """Convert the pending values (one batch per device and dtype, by ``converter``)."""
        with self.lock:
            pending, self.pending = self.pending, []
            if not pending:
                return
            convert = self.converter
            try:
                if convert is None:
                    values = [float(v) for _, _, v in pending]
                else:
                    values = convert([v for _, _, v in pending])
            except Exception as err:  # noqa: BLE001 - reading our own copies must never raise
                _say_once(f"reading {len(pending)} captured values failed ({err}); dropped")
                return
            for (name, step, _), value in zip(pending, values, strict=True):
                series = self._series(name)
                if series is not None:
                    series.add(step, value)
        self._tell(
            [(name, step, value) for (name, step, _), value in zip(pending, values, strict=True)]
        )

    def _tell(self, points: list[Point]) -> None:
        for sink in list(self.sinks):
            try:
                sink(points)
            except Exception as err:  # noqa: BLE001 - a broken writer must not stop training
                self.sinks.remove(sink)
                import warnings

                warnings.warn(
                    f"tensorpeek: writing the curves failed ({type(err).__name__}: {err}); "
                    "that writer gets no more points",
                    RuntimeWarning,
                    stacklevel=2,
                )

    def snapshot(self) -> dict[str, list[list[Any]]]:
        """Every series' points (flushed first), names sorted with loss, lr, grad_norm first."""
        self.flush()
        with self.lock:
            return {name: self.series[name].points() for name in sorted(self.series, key=_order)}

    def clear(self) -> None:
        with self.lock:
            self.series.clear()
            self.pending = []
            self.graph = None
            self.last_step = None
            self.dropped_names = 0
            self.log_calls = 0

    def _saw(self, step: int) -> None:
        if self.last_step is None or step > self.last_step:
            self.last_step = int(step)

    def _series(self, name: str) -> Series | None:
        series = self.series.get(name)
        if series is None:
            if len(self.series) >= MAX_SERIES:
                self.dropped_names += 1
                return None
            series = self.series[name] = Series()
        return series


_FIRST = ("loss", "lr", "grad_norm", "grad_norm_clipped")


def _order(name: str) -> tuple[int, str]:
    head = name.split("/")[0]
    return (_FIRST.index(head) if head in _FIRST else len(_FIRST), name)


def is_number(value: Any) -> bool:
    """A real number a series can hold (bools are not metrics)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


_said: set[str] = set()


def _say_once(message: str) -> None:
    import warnings

    head = message.split("(")[0]
    if head not in _said:
        _said.add(head)
        warnings.warn(f"tensorpeek: {message}", RuntimeWarning, stacklevel=3)


STORE = TrainingStore()
