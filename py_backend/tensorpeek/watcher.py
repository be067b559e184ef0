"""``tensorpeek.watch(model)``: per-module histograms and summaries over training, like
``wandb.watch``, written to TensorBoard event files and to a JSONL file.

    handle = tensorpeek.watch(model, log="all", log_freq=100, log_dir="runs/exp1")
    ... train ...
    handle.remove()   # or: with tensorpeek.watch(model): ...

Every ``log_freq`` steps (the one step counter, ``tensorpeek.common.steps``: optimizer steps
completed, or forward calls of the root with autograd on when there is no optimizer) it
records, for every parameter and/or module:
- ``parameters``: each parameter's values at the start of that step;
- ``gradients``: each parameter's accumulated gradient of that step;
- ``activations``: each module's output in that step's forward.
Each record is a full ``summarize()`` (exact NaN/±Inf counts, finite range, moments,
histogram). TensorBoard gets a histogram of the finite values plus scalars ``norm``,
``absmax``, ``nan`` and ``inf`` per tensor, so a NaN is counted and plotted, never dropped
(TensorBoard's own ``add_histogram`` rejects non-finite values) and never crashes the writer.

Cost: between logged steps only a pre-forward and a post-forward hook on ``model`` and the
global optimizer hook run (a counter and a comparison). The per-module and per-parameter hooks
exist only during a logged step and are removed right after it.

The training curves (``tensorpeek.training``: the loss, learning rates, gradient norms, update
ratios, ``tensorpeek.log`` metrics) go to the same event files as scalars under ``training/``,
so TensorBoard shows them beside the histograms; with ``wandb=True`` also to the active W&B run
(``wandb.run``), as ``tensorpeek/<name>`` against the step metric ``tensorpeek/step``. Points
arrive in batches (``training.series``), never with a host sync per step.
"""

from __future__ import annotations

import atexit
import json
import sys
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from tensorpeek.common.flatten import flatten_tensors
from tensorpeek.common.steps import STEPS
from tensorpeek.summary.tensor_summary import TensorSummary, summarize
from tensorpeek.training.capture import CAPTURE
from tensorpeek.training.series import STORE, Point

LOGS = ("gradients", "parameters", "activations", "all")
JSONL_NAME = "tensorpeek-watch.jsonl"


def _tensorboard_writer(log_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # the optional extra is absent: JSONL only
        return None
    return SummaryWriter(log_dir=str(log_dir))


class CurveWriter:
    """Sends every new point of the training curves to a TensorBoard writer (tags
    ``training/<name>``) and/or a W&B run; ``remove()`` stops (after writing what is pending)."""

    def __init__(self, writer: Any = None, wandb_run: Any = None) -> None:
        self.writer = writer
        self.wandb_run = wandb_run
        self.points = 0
        if wandb_run is not None:
            wandb_run.define_metric("tensorpeek/step")
            wandb_run.define_metric("tensorpeek/*", step_metric="tensorpeek/step")
        CAPTURE.install()
        STORE.sinks.append(self._write)

    def _write(self, points: list[Point]) -> None:
        by_step: dict[int, dict[str, float]] = {}
        for name, step, value in points:
            if self.writer is not None:
                self.writer.add_scalar(f"training/{name}", value, step)
            by_step.setdefault(step, {})[f"tensorpeek/{name}"] = value
        if self.wandb_run is not None:
            for step in sorted(by_step):
                self.wandb_run.log({"tensorpeek/step": step, **by_step[step]})
        self.points += len(points)

    def remove(self) -> None:
        STORE.flush()
        if self._write in STORE.sinks:
            STORE.sinks.remove(self._write)
        if self.writer is not None:
            self.writer.flush()


def active_wandb_run() -> Any:
    """The active W&B run; a clear error when wandb is missing or no run was started."""
    try:
        import wandb
    except ImportError:
        raise ImportError("wandb=True needs the wandb package: pip install wandb") from None
    if wandb.run is None:
        raise RuntimeError("wandb=True needs an active W&B run: call wandb.init() first")
    return wandb.run


class Watch:
    """The handle ``watch()`` returns; ``remove()`` takes away every hook and closes files."""

    def __init__(
        self,
        model: torch.nn.Module,
        log: str,
        log_freq: int,
        log_dir: Path,
        writer: Any,
        bins: int,
        owns_writer: bool = True,
        curves: bool = True,
        wandb_run: Any = None,
    ) -> None:
        self.kinds = {"gradients", "parameters", "activations"} if log == "all" else {log}
        self.log_freq = log_freq
        self.log_dir = log_dir
        self.bins = bins
        self.writer = writer
        self._owns_writer = owns_writer  # close it on remove(); a caller's writer stays open
        self.jsonl_path = log_dir / JSONL_NAME
        log_dir.mkdir(parents=True, exist_ok=True)
        self._jsonl = self.jsonl_path.open("a", encoding="utf-8")
        self._model = weakref.ref(model)
        self._logged: dict[str, int] = {}  # kind -> last step it was logged at
        self._step = 0  # the step being logged
        self._pass_handles: list[Any] = []  # hooks of the logged step only
        self._grad_handles: list[Any] = []
        self._pending_grads: dict[str, tuple[int, TensorSummary]] = {}
        self.records = 0
        want = curves and (writer is not None or wandb_run is not None)
        self.curves = CurveWriter(writer, wandb_run) if want else None
        STEPS.acquire()
        self._handles = [
            model.register_forward_pre_hook(self._before_forward),
            model.register_forward_hook(self._after_forward, always_call=True),
        ]
        self._closed = False
        atexit.register(self.remove)

    @property
    def active(self) -> bool:
        return not self._closed

    def current_step(self) -> int:
        """The one step counter's step (``tensorpeek.common.steps``)."""
        return STEPS.current()

    def _before_forward(self, model: torch.nn.Module, args: Any) -> None:
        self._flush_gradients()
        STEPS.root_forward_started(model, torch.is_grad_enabled(), global_hooks=False)
        step = self.current_step()
        if step % self.log_freq:
            return
        # each kind once per logged step; gradients from the first forward that builds a graph
        todo = {k for k in self.kinds if self._logged.get(k) != step}
        if not torch.is_grad_enabled():
            todo.discard("gradients")
        if not todo:
            return
        for kind in todo:
            self._logged[kind] = step
        self._step = step
        if "parameters" in todo:
            for name, p in model.named_parameters():
                self._emit(step, "parameters", name, summarize(p, bins=self.bins))
        if "gradients" in todo:
            self._arm_gradients(model, step)
        if "activations" in todo:
            for path, module in model.named_modules():
                if module is not model:
                    self._pass_handles.append(
                        module.register_forward_hook(self._activation_hook(path, step))
                    )

    def _after_forward(self, model: torch.nn.Module, args: Any, output: Any) -> None:
        STEPS.root_forward_ended(model)
        if not self._pass_handles:
            return
        if sys.exc_info()[0] is None:  # a forward that raised has no output to log
            self._activation_hook("", self._step)(model, args, output)
        for h in self._pass_handles:
            h.remove()
        self._pass_handles = []
        self._jsonl.flush()

    def _activation_hook(self, path: str, step: int) -> Any:
        def hook(module: torch.nn.Module, args: Any, output: Any) -> None:
            for label, t in flatten_tensors(output):
                name = f"{path}:{label}" if label else path
                self._emit(step, "activations", name or "<root>", summarize(t, bins=self.bins))

        return hook

    def _arm_gradients(self, model: torch.nn.Module, step: int) -> None:
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue

            def hook(param: torch.Tensor, name: str = name) -> None:
                if param.grad is not None:  # accumulation: the last backward of the step wins
                    self._pending_grads[name] = (step, summarize(param.grad, bins=self.bins))

            self._grad_handles.append(p.register_post_accumulate_grad_hook(hook))

    def _flush_gradients(self) -> None:
        for h in self._grad_handles:
            h.remove()
        self._grad_handles = []
        pending, self._pending_grads = self._pending_grads, {}
        for name, (step, summary) in pending.items():
            self._emit(step, "gradients", name, summary)
        if pending:
            self._jsonl.flush()

    def _emit(self, step: int, kind: str, name: str, s: TensorSummary) -> None:
        record = {
            "step": step,
            "kind": kind,
            "name": name,
            "time": time.time(),
            "summary": s.to_dict(),
        }
        self._jsonl.write(json.dumps(record, allow_nan=False) + "\n")
        self.records += 1
        if self.writer is not None:
            self._write_tensorboard(f"{kind}/{name}", step, s)

    def _write_tensorboard(self, tag: str, step: int, s: TensorSummary) -> None:
        w = self.writer
        finite = s.finite or 0
        if s.hist is not None and s.hist.counts and finite and s.mean is not None:
            std = s.std or 0.0
            w.add_histogram_raw(
                tag,
                min=float(s.min),  # type: ignore[arg-type]
                max=float(s.max),  # type: ignore[arg-type]
                num=finite,
                sum=s.mean * finite,
                sum_squares=(std * std + s.mean * s.mean) * finite,
                bucket_limits=[float(e) for e in s.hist.edges[1:]],
                bucket_counts=[float(c) for c in s.hist.counts],
                global_step=step,
            )
        w.add_scalar(f"{tag}/nan", s.nan or 0, step)
        w.add_scalar(f"{tag}/inf", (s.posinf or 0) + (s.neginf or 0), step)
        for key in ("norm", "absmax"):
            value = getattr(s, key)
            if value is not None:
                w.add_scalar(f"{tag}/{key}", float(value), step)

    def flush(self) -> None:
        self._jsonl.flush()
        if self.writer is not None:
            self.writer.flush()

    def remove(self) -> None:
        """Remove every hook ``watch`` added, write pending records and close the files."""
        if self._closed:
            return
        self._closed = True
        self._flush_gradients()
        for h in [*self._handles, *self._pass_handles]:
            h.remove()
        self._handles, self._pass_handles = [], []
        STEPS.release()
        if self.curves is not None:
            self.curves.remove()
        self._jsonl.close()
        if self.writer is not None and self._owns_writer:
            self.writer.close()
        elif self.writer is not None:
            self.writer.flush()
        atexit.unregister(self.remove)

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "active" if self.active else "removed"
        return f"<tensorpeek.Watch {sorted(self.kinds)} every {self.log_freq} steps, {state}>"


def watch(
    model: torch.nn.Module,
    log: str = "gradients",
    log_freq: int = 100,
    *,
    log_dir: str | Path | None = None,
    writer: Any = None,
    tensorboard: bool | None = None,
    bins: int = 32,
    curves: bool = True,
    wandb: bool = False,
) -> Watch:
    """Record per-module histograms and summaries every ``log_freq`` steps (module docstring).

    ``log``: ``gradients`` (default), ``parameters``, ``activations`` or ``all``.
    ``log_dir``: where the event files and ``tensorpeek-watch.jsonl`` go (default
    ``runs/tensorpeek-<time>``, or the given ``writer``'s directory). ``writer``: an existing
    ``SummaryWriter`` to write into (left open by ``remove()``). ``tensorboard``: ``False`` writes
    only the JSONL file; ``None`` writes event files when tensorboard is installed.
    ``curves``: also write the training curves (loss, lr, gradient norms, update ratios,
    ``tensorpeek.log`` metrics) as scalars. ``wandb``: also send them to the active W&B run.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"watch() needs a torch.nn.Module, got {type(model).__name__}")
    if log not in LOGS:
        raise ValueError(f"log must be one of {', '.join(LOGS)}, got {log!r}")
    if not isinstance(log_freq, int) or isinstance(log_freq, bool) or log_freq < 1:
        raise ValueError(f"log_freq must be a positive integer, got {log_freq!r}")
    if log_dir is None:
        own = getattr(writer, "log_dir", None)
        log_dir = own if own else Path("runs") / time.strftime("tensorpeek-%Y%m%d-%H%M%S")
    log_dir = Path(log_dir)
    wandb_run = active_wandb_run() if wandb else None
    owns = writer is None
    if writer is None and tensorboard is not False:
        writer = _tensorboard_writer(log_dir)
        if writer is None and tensorboard:
            raise ImportError(
                "tensorboard=True needs the tensorboard package: pip install tensorboard"
            )
    return Watch(
        model, log, log_freq, log_dir, writer, bins, owns, curves=curves, wandb_run=wandb_run
    )
