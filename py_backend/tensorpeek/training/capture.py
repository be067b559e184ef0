"""Capture the loss, learning rates, gradient norms and update ratios of a training run with no
change to the user's code, into ``series.STORE``.

It rides on the one step counter (``common.steps``): ``install()`` subscribes once, and the
listeners only run while somebody counts steps (a breakpoint armed, ``tensorpeek run`` /
``doctor``, ``watch``, a framework callback), because only then are the counter's hooks in.
While counting it takes:

- the loss: the tensor ``backward()`` starts from, when it is one floating value. It is kept as
  ``loss.detach()`` (a view: no copy, no graph) and read in batches (``series.FLUSH_EVERY``
  values, or when the agent or a report reads the series), so a step never waits for the device
  to hand over one number. The float is ``tensor.tolist()`` of the stacked values, which is what
  ``loss.item()`` gives, bit for bit. A loss the program changes in place after ``backward()``
  is read with its new value: we keep the tensor, not a copy;
- each param group's learning rate, as ``optimizer.step()`` starts (``"lr"``, ``"lr/1"``, ...;
  a second optimizer ``"opt1/lr"``, ...);
- the total L2 norm of the gradients the optimizer is about to use (one ``_foreach_norm`` per
  device and dtype, on the device, kept as a 0-d tensor). ``torch.nn.utils.clip_grad_norm_`` is
  wrapped while counting, only to observe: its return value (the norm before clipping) becomes
  ``grad_norm`` and the norm the optimizer sees becomes ``grad_norm_clipped``. The wrapper
  returns the original's result untouched, and is removed when counting stops (only if nobody
  wrapped it again since);
- every ``interval`` steps, each module's update ratio ||w_after - w_before|| / ||w_before|| over
  its own parameters: a copy of the parameters on their device before the step, the norms after
  it, the copy dropped. At most ``MAX_COPY_BYTES`` are copied per such step; a bigger model's
  parameters are taken in turns (the next ones at the next such step), so memory stays bounded.

Guest rules: no host sync per step, everything under ``torch.no_grad()`` on the tensors' own
devices, no RNG, nothing raised into the user's code (an internal failure is said once and that
quantity is not captured any more in this run).
"""

from __future__ import annotations

import functools
import threading
import warnings
import weakref
from typing import Any

from tensorpeek.common import amp_scale
from tensorpeek.common.steps import STEPS, ListenerHandle
from tensorpeek.training.series import STORE

# the tensor types that are their own local part (set at the first call: importing this
# module loads no torch)
_PLAIN: tuple[type, ...] = ()
DEFAULT_INTERVAL = 10  # steps between two update-ratio measurements
MAX_COPY_BYTES = 256 * 2**20  # parameters copied for one update-ratio step, at most


class Capture:
    """The listeners on the step counter (see the module docstring)."""

    def __init__(self) -> None:
        self.interval = DEFAULT_INTERVAL
        self._handles: list[ListenerHandle] = []
        self._lock = threading.Lock()
        self._optimizers: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._before: dict[int, tuple[list[Any], list[Any], list[str]]] = {}
        self._clipped: dict[int, Any] = {}  # step -> clip_grad_norm_'s result, until "pre"
        self._turn = 0  # where the next update-ratio copy starts (models over MAX_COPY_BYTES)
        self._roots: list[weakref.ref[Any]] = []
        self._names: weakref.WeakKeyDictionary[Any, dict[int, str]] = weakref.WeakKeyDictionary()
        self._clip_wrappers: list[tuple[Any, str, Any, Any]] = []
        self._failed: set[str] = set()
        self.counting = False

    # -- wiring --------------------------------------------------------------------------

    def install(self) -> None:
        """Subscribe to the step counter (idempotent). Starts capturing now if it counts."""
        with self._lock:
            if self._handles:
                return
            self._handles = [
                STEPS.listen("acquired", self._acquired),
                STEPS.listen("released", self._released),
                STEPS.listen("backward", self._backward),
                STEPS.listen("pre", self._pre),
                STEPS.listen("post", self._post),
                STEPS.listen("root", self._root),
            ]
        if STEPS.counting:
            self._acquired(None, 0)

    def uninstall(self) -> None:
        """Unsubscribe and undo the ``clip_grad_norm_`` wrapper (tests; the end of a process)."""
        with self._lock:
            for handle in self._handles:
                handle.remove()
            self._handles = []
        self._released(None, 0)

    def watch_root(self, model: Any) -> None:
        """Name update ratios by ``model``'s module paths and trace its graph (the framework
        callbacks know the model; otherwise the root forward listener finds it)."""
        from tensorpeek.training.graph import TRACER

        self._remember_root(model)
        self._guarded("graph", TRACER.attach, model)

    def _acquired(self, _: Any, __: int) -> None:
        """The counter starts from zero: a new run. The curves start over with it."""
        STORE.clear()
        STORE.converter = to_floats
        self._optimizers.clear()  # the new run's first optimizer is "" (its series are "lr", ...)
        self._failed.clear()
        self._clipped.clear()
        self._before.clear()
        self.counting = True
        self._guarded("clip", self._wrap_clip)

    def _released(self, _: Any, __: int) -> None:
        from tensorpeek.training.graph import TRACER

        self.counting = False
        STORE.flush()  # never raises (series.py)
        self._unwrap_clip()
        self._before.clear()
        self._clipped.clear()
        TRACER.detach_all()

    # -- listeners -----------------------------------------------------------------------

    def _backward(self, tensors: Any, step: int) -> None:
        self._guarded("loss", self._take_loss, tensors, step)

    def _pre(self, optimizer: Any, step: int) -> None:
        self._guarded("lr", self._take_lrs, optimizer, step)
        self._guarded("grad_norm", self._take_grad_norm, optimizer, step)
        if self.interval > 0 and step % self.interval == 0:
            self._guarded("update_ratio", self._keep_params, optimizer, step)

    def _post(self, optimizer: Any, step: int) -> None:
        if id(optimizer) in self._before:
            self._guarded("update_ratio", self._take_update_ratios, optimizer, step)

    def _root(self, root: Any, step: int) -> None:
        from tensorpeek.training.graph import TRACER

        self._remember_root(root)
        self._guarded("graph", TRACER.attach, root)

    def _guarded(self, what: str, fn: Any, *args: Any) -> None:
        if what in self._failed:
            return
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001 - the training must go on; said once
            self._failed.add(what)
            warnings.warn(
                f"tensorpeek: capturing {what} failed ({type(err).__name__}: {err}); "
                f"it is not captured any more in this run",
                RuntimeWarning,
                stacklevel=2,
            )

    # -- the quantities ------------------------------------------------------------------

    def _take_loss(self, tensors: Any, step: int) -> None:
        import torch

        loss = tensors
        if isinstance(tensors, (tuple, list)) and len(tensors) == 1:
            loss = tensors[0]
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.is_floating_point():
            return
        value = local(loss.detach())
        scale = amp_scale.scale_of(loss)
        if scale is not None:  # scaler.scale(loss).backward(): the user's loss is value / scale
            value = value / local(scale).to(value.device)  # now: update() changes scale in place
        STORE.add_lazy("loss", step, value.reshape(()))

    def _optimizer_prefix(self, optimizer: Any) -> str:
        index = self._optimizers.get(optimizer)
        if index is None:
            index = self._optimizers[optimizer] = len(self._optimizers)
        return "" if index == 0 else f"opt{index}/"

    def _take_lrs(self, optimizer: Any, step: int) -> None:
        import torch

        prefix = self._optimizer_prefix(optimizer)
        for g, group in enumerate(getattr(optimizer, "param_groups", ())):
            lr = group.get("lr")
            name = f"{prefix}lr" if g == 0 else f"{prefix}lr/{g}"
            if isinstance(lr, torch.Tensor) and lr.numel() == 1:
                STORE.add_lazy(name, step, local(lr.detach()).reshape(()))
            elif isinstance(lr, (int, float)) and not isinstance(lr, bool):
                STORE.add(name, step, float(lr))

    def _take_grad_norm(self, optimizer: Any, step: int) -> None:
        prefix = self._optimizer_prefix(optimizer)
        plain = _plain_types()
        grads = []
        for group in optimizer.param_groups:
            for p in group["params"]:
                grad = getattr(p, "grad", None)
                if grad is not None:  # (``local()`` inline for plain tensors: once per param)
                    grads.append(grad if type(grad) in plain else local(grad))
        if not grads:
            return
        norm = total_norm(grads)
        clipped = self._clipped.pop(step, None)
        self._clipped.clear()  # a clip without an optimizer step must not pile up
        if clipped is not None:
            STORE.add_lazy(f"{prefix}grad_norm", step, clipped)
            STORE.add_lazy(f"{prefix}grad_norm_clipped", step, norm)
        else:
            STORE.add_lazy(f"{prefix}grad_norm", step, norm)

    def _keep_params(self, optimizer: Any, step: int) -> None:
        import torch

        owned = [p for group in optimizer.param_groups for p in group["params"]]
        owned = [p for p in owned if isinstance(p, torch.Tensor) and p.is_floating_point()]
        if not owned:
            return
        names = self._module_names(owned)
        params = [local(p) for p in owned]
        total = sum(p.numel() * p.element_size() for p in params)
        if total > MAX_COPY_BYTES:  # in turns: from where the last copy stopped
            start = self._turn % len(params)
            order = list(range(start, len(params))) + list(range(start))
            chosen: list[int] = []
            size = 0
            for i in order:
                nbytes = params[i].numel() * params[i].element_size()
                if chosen and size + nbytes > MAX_COPY_BYTES:
                    break
                chosen.append(i)
                size += nbytes
            self._turn = start + len(chosen)
            params, names = [params[i] for i in chosen], [names[i] for i in chosen]
        with torch.no_grad():
            copies = [p.detach().clone() for p in params]
        self._before[id(optimizer)] = (params, copies, names)

    def _take_update_ratios(self, optimizer: Any, step: int) -> None:
        import torch

        params, copies, names = self._before.pop(id(optimizer))
        prefix = self._optimizer_prefix(optimizer)
        if not params:
            return
        with torch.no_grad():
            # ||w_after - w_before|| and ||w_before|| of every parameter in float32 (one
            # _foreach_norm per device and dtype), then each module's ratio over its own
            # parameters: a handful of operations per device, not a few per parameter
            sizes = norms_of(copies)
            torch._foreach_sub_(copies, [p.detach() for p in params])  # in place: no new memory
            deltas = norms_of(copies)  # (copies are ours, dropped after this)
            module_of: dict[str, int] = {}
            index = [module_of.setdefault(name, len(module_of)) for name in names]
            by_device: dict[Any, list[int]] = {}
            for i, n in enumerate(deltas):
                by_device.setdefault(n.device, []).append(i)
            modules = list(module_of)
            for device, members in by_device.items():
                where = torch.tensor([index[i] for i in members], device=device)
                d = torch.stack([deltas[i] for i in members])
                w = torch.stack([sizes[i] for i in members])
                num = torch.zeros(len(modules), device=device).index_add_(0, where, d * d)
                den = torch.zeros(len(modules), device=device).index_add_(0, where, w * w)
                ratios = (num / den).sqrt().unbind()
                present = sorted({index[i] for i in members})
                for m in present:
                    STORE.add_lazy(f"{prefix}update_ratio/{modules[m]}", step, ratios[m])

    # -- names ---------------------------------------------------------------------------

    def _remember_root(self, root: Any) -> None:
        if not any(r() is root for r in self._roots):
            self._roots = [r for r in self._roots if r() is not None][-3:]
            self._roots.append(weakref.ref(root))

    def _module_names(self, params: list[Any]) -> list[str]:
        """The path of the module that holds each parameter (the latest root that holds it)."""
        known: dict[int, str] = {}
        for ref in reversed(self._roots):
            root = ref()
            if root is None:
                continue
            table = self._names.get(root)
            if table is None:
                table = {}
                for path, module in root.named_modules():
                    for p in module.parameters(recurse=False):
                        table.setdefault(id(p), path)
                self._names[root] = table
            for pid, path in table.items():
                known.setdefault(pid, path)
        return [known.get(id(p), f"param{i}") for i, p in enumerate(params)]

    # -- clip_grad_norm_ -----------------------------------------------------------------

    def _wrap_clip(self) -> None:
        import torch.nn.utils
        import torch.nn.utils.clip_grad

        capture = self
        for owner in (torch.nn.utils, torch.nn.utils.clip_grad):
            original = getattr(owner, "clip_grad_norm_", None)
            if original is None or getattr(original, "__tensorpeek_wrapper__", False):
                continue

            def make(original: Any) -> Any:
                @functools.wraps(original)
                def clip_grad_norm_(*args: Any, **kwargs: Any) -> Any:
                    result = original(*args, **kwargs)
                    capture._guarded("grad_norm", capture._observe_clip, result)
                    return result

                clip_grad_norm_.__tensorpeek_wrapper__ = True  # type: ignore[attr-defined]
                return clip_grad_norm_

            wrapper = make(original)
            setattr(owner, "clip_grad_norm_", wrapper)  # noqa: B010 - either of two modules
            self._clip_wrappers.append((owner, "clip_grad_norm_", original, wrapper))

    def _observe_clip(self, result: Any) -> None:
        import torch

        if isinstance(result, torch.Tensor) and result.numel() == 1:
            self._clipped[STEPS.current()] = local(result.detach()).reshape(())

    def _unwrap_clip(self) -> None:
        for owner, name, original, wrapper in self._clip_wrappers:
            if getattr(owner, name, None) is wrapper:
                setattr(owner, name, original)
        self._clip_wrappers = []


def _plain_types() -> tuple[type, ...]:
    global _PLAIN
    if not _PLAIN:
        import torch

        _PLAIN = (torch.Tensor, torch.nn.Parameter)
    return _PLAIN


def local(t: Any) -> Any:
    """A sharded tensor's (``DTensor``) local part, read without any collective; other
    tensors as they are. Under FSDP2 the gradient norm and update ratios are therefore this
    rank's shards' (a total would need an all-reduce, which a guest must not start)."""
    if type(t) in _plain_types():
        return t
    to_local = getattr(t, "to_local", None)
    return to_local() if callable(to_local) else t


def norms_of(tensors: list[Any]) -> list[Any]:
    """The L2 norm of each tensor, a 0-d float32 tensor on its device, in its order (one
    ``_foreach_norm`` per device and dtype, accumulating in float32)."""
    import torch

    groups: dict[tuple[Any, Any], list[int]] = {}
    for i, t in enumerate(tensors):
        groups.setdefault((t.device, t.dtype), []).append(i)
    out: list[Any] = [None] * len(tensors)
    with torch.no_grad():
        for indices in groups.values():
            norms = torch._foreach_norm([tensors[i] for i in indices], 2.0, dtype=torch.float32)
            for i, n in zip(indices, norms, strict=True):
                out[i] = n
    return out


def total_norm(tensors: list[Any]) -> Any:
    """The L2 norm of all ``tensors`` together as a 0-d float32 tensor on the first one's device
    (one ``_foreach_norm`` per device and dtype, as ``clip_grad_norm_`` computes it; the
    per-tensor norms stacked per group, not converted one by one). CPU tensors the fused
    kernel reads (``native.sumsq``) are read by it instead, at about half the cost, in
    float64 (the float32 result is within a rounding of torch's)."""
    import math

    import torch

    from tensorpeek.summary.native import sumsq

    squares = 0.0
    for t in tensors:  # CPU tensors the fused kernel reads: read in place, no torch dispatch
        sq = sumsq(t)
        if sq is None:
            break
        squares += sq
    else:
        # on the CPU whatever the default device (set_default_device("cuda") or "meta")
        return torch.tensor(math.sqrt(squares), dtype=torch.float32, device="cpu")
    groups: dict[tuple[Any, Any], list[Any]] = {}
    for t in tensors:
        groups.setdefault((t.device, t.dtype), []).append(t)
    device = tensors[0].device
    with torch.no_grad():
        parts = [
            torch.stack(torch._foreach_norm(group, 2.0)).to(device=device, dtype=torch.float32)
            for group in groups.values()
        ]
        return torch.linalg.vector_norm(parts[0] if len(parts) == 1 else torch.cat(parts), 2.0)


def stacked_norm(norms: list[Any]) -> Any:
    import torch

    return torch.linalg.vector_norm(torch.stack([n.float() for n in norms]), 2.0)


def to_floats(values: list[Any]) -> list[float]:
    """Pending values as floats: 0-d tensors stacked per device and dtype (one transfer each),
    then ``tolist()`` (the same float as ``item()``); plain numbers as they are."""
    import torch

    out: list[float] = [0.0] * len(values)
    groups: dict[tuple[Any, Any], list[int]] = {}
    for i, v in enumerate(values):
        if isinstance(v, torch.Tensor):
            groups.setdefault((v.device, v.dtype), []).append(i)
        else:
            out[i] = float(v)
    with torch.no_grad():
        for indices in groups.values():
            stacked = torch.stack([values[i] for i in indices]).tolist()
            for i, f in zip(indices, stacked, strict=True):
                out[i] = float(f)
    return out


CAPTURE = Capture()


def install() -> None:
    """Start capturing whenever steps are counted (idempotent, cheap, loads no torch)."""
    CAPTURE.install()
