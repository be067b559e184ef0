"""How tensors look in the debugger: the one-line hover text and the cheap children.

``pydevd_plugins/extensions/pydevd_plugin_tensorpeek.py`` (debugpy's extension point) only
forwards to this module, so everything here is testable without a debugger. It runs inside
the paused program for every tensor the Variables view, a hover or a watch shows, so it is
bounded and never raises:

- torch is never imported here; a value can only be a tensor if torch is already loaded.
  NumPy arrays get tensorpeek summaries only where torch is loaded (the summary engine is
  torch); elsewhere pydevd's own NumPy display stays.
- summaries use ``quick_options()`` (exact statistics up to 2^20 elements, sampled
  moments above, a sampled histogram above 2^16) and are cached per tensor while its
  storage, shape and version counter are unchanged, so the Variables view, a hover and the
  panel's snapshot at the same stop pay once.
- children are small: metadata, the summary's numbers, the histogram, ``grad`` (itself shown
  as a summary) and a preview of at most ``PREVIEW_ITEMS`` values taken from a view — never
  the storage or a full dump.
"""

from __future__ import annotations

import itertools
import math
import os
import reprlib
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tensorpeek.summary.tensor_summary import TensorSummary

PREVIEW_ITEMS = 64  # values shown under "preview"
PREVIEW_EDGE = 8  # at most this many along each of the last two dimensions
NUMERIC_KINDS = frozenset("biufc")  # numpy dtype kinds tensorpeek summarizes
MAX_ERROR_TEXT = 160  # characters of an error message shown in place of a summary
MAX_CONTAINER_ITEMS = 6  # items of a dict/list/tuple of tensors shown in its one line
MAX_CONTAINER_TEXT = 600  # characters of that line
HIST_EXACT_LIMIT = 1 << 16  # hover/snapshot histograms are sampled above this many elements
CACHE_SIZE = 512  # summaries kept (only of tensors that are still alive)
CACHE_SECONDS = 120.0  # a cached summary older than this is recomputed
DISPLAY_CONTEXTS = frozenset({"hover", "watch", "repl", "variables"})
WHOLE_TENSOR_HINT = (  # a DTensor's child: computing it here would ask every rank, so on request
    "evaluate tensorpeek.whole_summary(<this tensor>) in the Debug Console: every rank's "
    "shard, combined through the job's store"
)

_lock = threading.Lock()
_cache: dict[int, tuple[weakref.ref[Any], tuple[Any, ...], float, TensorSummary]] = {}


def is_tensor_type(type_object: type) -> bool:
    """True for ``torch.Tensor`` subclasses (``nn.Parameter`` included), without importing torch."""
    torch = sys.modules.get("torch")
    tensor = getattr(torch, "Tensor", None) if torch is not None else None
    return isinstance(tensor, type) and _issubclass(type_object, tensor)


def is_ndarray_type(type_object: type) -> bool:
    numpy = sys.modules.get("numpy")
    ndarray = getattr(numpy, "ndarray", None) if numpy is not None else None
    return isinstance(ndarray, type) and _issubclass(type_object, ndarray)


def is_module_type(type_object: type) -> bool:
    """True for ``torch.nn.Module`` subclasses, without importing torch."""
    torch = sys.modules.get("torch")
    module = getattr(getattr(torch, "nn", None), "Module", None) if torch is not None else None
    return isinstance(module, type) and _issubclass(type_object, module)


MAX_MODULE_PARAMS = 100_000  # parameter tensors counted at most for a module's line


def module_text(m: Any, context: str | None = None) -> str | None:
    """One line for an ``nn.Module`` in hover, Variables and inline values instead of torch's
    repr of the whole tree (hundreds of lines for a real model): ``Net: 3 submodules, 1.23k
    params (1.23k trainable), float32 on cpu, training``. Reads metadata only (no tensor values);
    None (pydevd's own repr) for ``clipboard`` or when the module cannot be read."""
    if context is not None and context not in DISPLAY_CONTEXTS:
        return None
    try:
        total = trainable = 0
        kinds: dict[str, int] = {}
        for i, p in enumerate(m.parameters()):
            if i >= MAX_MODULE_PARAMS:
                break
            n = p.numel()
            total += n
            trainable += n if p.requires_grad else 0
            kind = f"{str(p.dtype).removeprefix('torch.')} on {p.device}"
            kinds[kind] = kinds.get(kind, 0) + n
        children = sum(1 for _ in m.children())
        parts = [f"{children} submodule{'s' if children != 1 else ''}"]
        parts.append(f"{_count(total)} params" + (
            f" ({_count(trainable)} trainable)" if trainable != total else ""
        ))  # fmt: skip
        if kinds:
            common = max(kinds, key=lambda k: kinds[k])
            parts.append(common + (" (mixed)" if len(kinds) > 1 else ""))
        parts.append("training" if m.training else "eval")
        return f"{type(m).__name__}: " + ", ".join(parts)
    except Exception:  # noqa: BLE001 - a debugger display must never raise: pydevd's repr
        return None


def _count(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def is_presentable(value: Any) -> bool:
    """Whether tensorpeek presents this value now: tensors, and numeric arrays where torch is
    loaded (object or string arrays keep pydevd's display)."""
    t = type(value)
    if is_tensor_type(t):
        return True
    return (
        is_ndarray_type(t)
        and "torch" in sys.modules
        and getattr(getattr(value, "dtype", None), "kind", None) in NUMERIC_KINDS
    )


def _issubclass(a: type, b: type) -> bool:
    try:
        return issubclass(a, b)
    except TypeError:
        return False


def _cache_key(x: Any) -> tuple[Any, ...] | None:
    """What must be unchanged for a cached summary to stay right; None: do not cache.
    NumPy arrays are never cached (in-place writes leave no trace on them)."""
    torch = sys.modules.get("torch")
    if torch is None or type(x) not in (torch.Tensor, torch.nn.Parameter):
        return None  # subclasses (fake, functional, distributed...) may not own their storage
    try:
        if x.is_meta or x.layout != torch.strided or x.is_quantized:
            return None
        return (x._version, x.data_ptr(), tuple(x.shape), x.stride(), x.dtype, x.device)
    except (RuntimeError, NotImplementedError, AttributeError):  # functional/fake wrappers
        return None


def quick_options(bins: int = 32) -> dict[str, Any]:
    """The ``summarize`` options of hovers and snapshots: quick mode, and a histogram exact up
    to ``HIST_EXACT_LIMIT`` elements and drawn from a sample of that size above (flagged
    ``hist.sampled``). Counts, range and moments stay exact up to 2^20 elements. Binning every
    element costs more than all the other statistics together (3.5 vs 12 ms at 1M elements,
    one thread), and a sparkline does not need it; ``detail`` gives the exact histogram."""
    return {
        "mode": "quick",
        "bins": bins,
        "exact_hist_limit": HIST_EXACT_LIMIT,
        "sample_size": HIST_EXACT_LIMIT,
    }


def cached_summary(x: Any, bins: int = 32) -> TensorSummary | None:
    """The cached quick summary of ``x`` if it is still valid, else None (computes nothing)."""
    key = _cache_key(x)
    if key is None:
        return None
    with _lock:
        entry = _cache.get(id(x))
    if entry is None:
        return None
    ref, old_key, stamp, summary = entry
    if ref() is x and old_key == (*key, bins) and time.monotonic() - stamp < CACHE_SECONDS:
        return summary
    return None


def quick_summary(x: Any, bins: int = 32) -> TensorSummary:
    """``summarize(x, **quick_options(bins))``, cached while the tensor is unchanged."""
    from tensorpeek.summary.tensor_summary import summarize

    key = _cache_key(x)
    if key is None:
        return summarize(x, **quick_options(bins))
    key = (*key, bins)
    now = time.monotonic()
    hit = cached_summary(x, bins)
    if hit is not None:
        return hit
    summary = summarize(x, **quick_options(bins))
    ident = id(x)

    def forget(_: Any, ident: int = ident) -> None:
        with _lock:
            current = _cache.get(ident)
            if current is not None and current[0]() is None:
                del _cache[ident]

    try:
        ref = weakref.ref(x, forget)
    except TypeError:
        return summary
    with _lock:
        if len(_cache) >= CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[ident] = (ref, key, now, summary)
    return summary


def clear_cache() -> None:
    with _lock:
        _cache.clear()


class TimeBudget:
    """Summarising time allowed per burst of requests (one stop's Variables listing).

    A burst starts when a request comes more than ``gap`` seconds after the previous one.
    Once ``budget`` seconds are spent in a burst, further tensors are not summarised in it.
    """

    def __init__(self, budget: float, gap: float) -> None:
        self.budget, self.gap = budget, gap
        self.spent = 0.0
        self.last = -math.inf

    def allows(self) -> bool:
        now = time.monotonic()
        if now - self.last > self.gap:
            self.spent = 0.0
        self.last = now
        return self.spent < self.budget

    def charge(self, seconds: float) -> None:
        self.spent += seconds
        self.last = time.monotonic()


def _budget_from_env(default: float = 0.6) -> float:
    """``TENSORPEEK_VARIABLES_BUDGET_S`` (seconds, >= 0) if set and valid, else ``default``."""
    text = os.environ.get("TENSORPEEK_VARIABLES_BUDGET_S", "")
    try:
        value = float(text)
    except ValueError:
        return default
    return value if math.isfinite(value) and value >= 0 else default


# the Variables view lists every local at each stop (pydevd passes no context then); hovers,
# watches and the console ask for one value at a time and are never deferred
VARIABLES_BUDGET = TimeBudget(budget=_budget_from_env(), gap=1.0)


def hover_text(x: Any, context: str | None = None) -> str | None:
    """The one-line summary shown instead of the values, or None to leave pydevd's default
    (the ``clipboard`` context copies the real values; arrays without torch). In the Variables
    listing (``context=None``), tensors past ``VARIABLES_BUDGET`` show metadata only."""
    if context is not None and context not in DISPLAY_CONTEXTS:
        return None
    if not is_presentable(x):
        return None
    try:
        if context is None and cached_summary(x) is None:
            import tensorpeek.summary.tensor_summary  # noqa: F401 - the first import is not summarising time

            with _lock:
                if not VARIABLES_BUDGET.allows():
                    return deferred_text(x)
            start = time.perf_counter()
            text = str(quick_summary(x))
            with _lock:
                VARIABLES_BUDGET.charge(time.perf_counter() - start)
            return text
        return str(quick_summary(x))
    except Exception as err:  # noqa: BLE001 - a debugger display must never raise
        reason = f"{type(err).__name__}: {err}"[:MAX_ERROR_TEXT]
        return f"{_describe(x)} (tensorpeek could not summarize it: {reason})"


_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = 40
_SHORT_REPR.maxlist = _SHORT_REPR.maxdict = _SHORT_REPR.maxtuple = 4


def container_text(value: Any, context: str | None = None) -> str | None:
    """The one line of a dict, list or tuple that holds tensors: each tensor as its summary
    (``{'x': tensor[32, 8] f32 …, 'y': tensor[32] i64 …}``), at most ``MAX_CONTAINER_ITEMS``
    items. None for containers without tensors (pydevd's own repr stays) and for ``clipboard``.
    Only the container's first items are looked at, so a huge list costs nothing."""
    if context is not None and context not in DISPLAY_CONTEXTS:
        return None
    if type(value) is dict:
        items: list[tuple[str | None, Any]] = [
            (reprlib.repr(k), v)
            for k, v in itertools.islice(list(value.items()), MAX_CONTAINER_ITEMS)
        ]
        brackets = "{}"
    elif type(value) in (list, tuple):
        items = [(None, v) for v in itertools.islice(value, MAX_CONTAINER_ITEMS)]
        brackets = "[]" if type(value) is list else "()"
    else:
        return None
    if not any(is_presentable(v) for _, v in items):
        return None
    parts = []
    for key, item in items:
        text = (hover_text(item, context) or _describe(item)) if is_presentable(item) else None
        if text is None:
            try:
                text = _SHORT_REPR.repr(item)
            except Exception as err:  # noqa: BLE001 - a debugger display must never raise
                text = f"<{type(item).__name__}: repr failed: {type(err).__name__}>"
        parts.append(text if key is None else f"{key}: {text}")
    if len(value) > len(items):
        parts.append(f"… {len(value) - len(items)} more")
    if type(value) is tuple and len(value) == 1:
        parts[0] += ","
    text = brackets[0] + ", ".join(parts) + brackets[1]
    return text if len(text) <= MAX_CONTAINER_TEXT else text[: MAX_CONTAINER_TEXT - 1] + "…"


def deferred_text(x: Any) -> str:
    """The line for a tensor this stop had no time left to summarise (metadata only)."""
    shape = shape_of(x)
    n = f" n={math.prod(shape)}" if isinstance(shape, tuple) else ""
    return f"{_describe(x)}{n} · stats skipped to keep this stop fast: hover or expand"


_METADATA_ERRORS = (RuntimeError, TypeError, AttributeError, NotImplementedError, ValueError)


def shape_of(x: Any) -> tuple[int, ...] | str:
    """The shape as ints, or a short text where there is none (nested tensors: ragged)."""
    if getattr(x, "is_nested", False):
        try:
            return f"nested: {x.size(0)} tensors"
        except _METADATA_ERRORS:
            return "nested"
    try:
        return tuple(int(d) for d in x.shape)
    except _METADATA_ERRORS as err:
        return f"unknown shape ({type(err).__name__})"


def _describe(x: Any) -> str:
    """``tensor[4096, 4096] f32`` from metadata only (works for meta and odd tensors)."""
    shape = shape_of(x)
    dims = ", ".join(str(d) for d in shape) if isinstance(shape, tuple) else shape
    dtype = getattr(x, "dtype", "?")
    if is_tensor_type(type(x)):
        from tensorpeek.summary.dtypes import dtype_info

        kind = "param" if isinstance(x, sys.modules["torch"].nn.Parameter) else "tensor"
        return f"{kind}[{dims}] {dtype_info(dtype).short}"
    return f"array[{dims}] {dtype}"


def tensor_children(x: Any) -> list[tuple[str, Any, str | None]]:
    """``(name, value, evaluate-name suffix)`` for the Variables view, in display order.
    The suffix (``.shape``) lets VS Code's "Add to Watch" build a real expression."""
    rows: list[tuple[str, Any, str | None]] = [
        ("shape", shape_of(x), ".shape"),
        ("dtype", x.dtype, ".dtype"),
    ]
    if is_tensor_type(type(x)):
        rows += [("device", x.device, ".device"), ("requires_grad", x.requires_grad, None)]
    try:
        s = quick_summary(x)
    except Exception as err:  # noqa: BLE001 - shown to the user instead of the stats
        rows.append(("stats", f"unavailable: {type(err).__name__}: {err}", None))
    else:
        rows.append(("stats", stats_of(s), None))
        if s.hist is not None and s.hist.counts:
            rows.append(("histogram", histogram_of(s), None))
        if s.note:
            rows.append(("note", s.note, None))
    if is_tensor_type(type(x)):
        from tensorpeek.summary.sharded import is_sharded

        if is_sharded(x):  # the stats above are the local shard's (the note says so)
            rows.append(("whole tensor (on request)", WHOLE_TENSOR_HINT, None))
    grad = grad_of(x)
    if grad is not None:
        rows.append(("grad", grad, ".grad"))
    rows.append(("preview", preview(x), None))
    return rows


def grad_of(x: Any) -> Any:
    """``x.grad`` where autograd fills it (leaves, ``retain_grad``), else None — reading it
    elsewhere only produces PyTorch's warning."""
    if not is_tensor_type(type(x)):
        return None
    try:
        if x.is_leaf or x.retains_grad:
            return x.grad
    except (RuntimeError, AttributeError):
        return None
    return None


def stats_of(s: TensorSummary) -> dict[str, Any]:
    """The numbers of a summary, for the ``stats`` child (estimated ones are marked ``≈``)."""
    keys = ("min", "max", "mean", "std", "norm", "absmean", "nan", "posinf", "neginf", "zeros")
    out: dict[str, Any] = {}
    for k in keys:
        v = getattr(s, k)
        out[f"{k} ≈" if k in s.estimated else k] = v
    out["numel"] = s.numel
    if s.nnz is not None:
        out["nnz"] = s.nnz
    return out


def histogram_of(s: TensorSummary) -> dict[str, Any]:
    from tensorpeek.summary.text import sparkline

    assert s.hist is not None
    return {
        "sparkline": sparkline(s.hist.counts),
        "edges": list(s.hist.edges),
        "counts": list(s.hist.counts),
        "sampled": s.hist.sampled,
    }


def preview(x: Any) -> Any:
    """At most ``PREVIEW_ITEMS`` leading values as nested lists, read through a small view
    (only those values leave the device), or a sentence saying why there are none."""
    try:
        if is_tensor_type(type(x)):
            return _tensor_preview(x)
        return _array_preview(x)
    except Exception as err:  # noqa: BLE001 - shown to the user as the preview
        return f"no preview: {type(err).__name__}: {err}"


def _leading_index(shape: tuple[int, ...]) -> tuple[slice | int, ...]:
    """Index picking the first element of every leading dimension and a corner of the last
    two, so the result has at most PREVIEW_EDGE**2 <= PREVIEW_ITEMS values."""
    if len(shape) <= 1:
        return (slice(0, PREVIEW_ITEMS),) if shape else ()
    lead: tuple[slice | int, ...] = tuple(0 for _ in shape[:-2])
    return (*lead, slice(0, PREVIEW_EDGE), slice(0, PREVIEW_EDGE))


def _tensor_preview(x: Any) -> Any:
    import torch

    if x.is_meta:
        return "meta tensor: no values"
    with torch.no_grad():
        t = x.detach()
        if type(t) is not torch.Tensor:
            t = t.as_subclass(torch.Tensor)
        if t.layout != torch.strided:
            vals = t._values() if t.layout == torch.sparse_coo else t.values()
            return {"stored values": vals.reshape(-1)[:PREVIEW_ITEMS].cpu().tolist()}
        small = t[_leading_index(tuple(t.shape))]
        if small.is_quantized:
            small = small.dequantize()
        if small.dtype.is_floating_point and small.element_size() == 1:  # float8: no tolist()
            small = small.float()
        return small.cpu().tolist()


def _array_preview(x: Any) -> Any:
    return x[_leading_index(tuple(x.shape))].tolist()
