"""The fused reduction kernel (``csrc/reduce.c``), loaded with ctypes when it was built.

One call reads each value of a flat CPU block once and returns the whole row of partials
that :mod:`tensorpeek.summary.reductions` otherwise assembles from about eight torch reductions
(see ``reductions.FIELDS`` for the layout, which the kernel's ``tp_abi`` version pins);
another counts values per histogram bin with ``histogram.Binning``'s arithmetic; a third
computes the row of a 2-D strided view (column and stepped slices) read in place; a
fourth, :func:`sumsq`, is the breakpoint hooks' non-finite screen (the sum of squares of a
contiguous block, a few times faster than ``torch.dot`` on the tensors a layer produces).
ctypes releases the GIL for the call; the kernel splits large blocks over
``torch.get_num_threads()`` threads of its own, joined before it returns, and never changes
that setting.

:func:`sumsq` runs at every module output, gradient and parameter of every step, so its
fixed cost per call is what an armed breakpoint costs on a small, fast model. Where the
extension module ``_screen`` (``csrc/screen.c``, the same kernel with the checks in C) was
built, ``sumsq`` is its function: about 1 us a call where the ctypes path
(:func:`_sumsq_ctypes`, the same checks and numbers) takes about 3 us, most of it ctypes'
argument conversion. :func:`screen_status` says which.

Absent (no C compiler at install, ``TENSORPEEK_NO_NATIVE=1`` at install or at run time, an
ABI mismatch), :func:`can_read` is False and the torch path runs: the same numbers,
slower. :func:`status` says which, for ``tensorpeek --version``.
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tensorpeek.summary.dtypes import DtypeInfo

__all__ = [
    "available", "bin_counts", "can_read", "plain_contiguous", "reduce_row",
    "reduce_strided", "screen_status", "status", "sumsq",
]  # fmt: skip

ABI = 6  # tp_abi() of a kernel whose row layout matches reductions.FIELDS (5: tp_reduce_strided,
# 6: tp_sumsq)
_FIELDS = 14
_KINDS = {torch.float32: 0, torch.float64: 1, torch.bfloat16: 2, torch.float16: 3}
# Below this many values one thread does the block (starting one costs tens of µs).
THREAD_GRAIN = 1 << 18
_TWO_GRAINS = 2 * THREAD_GRAIN  # sumsq: below this, one thread

_lib: ctypes.CDLL | None = None
_why: str = "not loaded yet"
_loaded = False
_tp_sumsq: Any = None  # _lib.tp_sumsq once loaded: the screen calls it at every module output
_lock = threading.Lock()


def _load() -> ctypes.CDLL | None:
    if _loaded:
        return _lib
    with _lock:  # summaries may start on several threads at once (backward hooks)
        return _load_once()


def _load_once() -> ctypes.CDLL | None:
    global _lib, _why, _loaded, _tp_sumsq
    if not _loaded:
        _lib, _why = _open()
        _tp_sumsq = _lib.tp_sumsq if _lib is not None else None
        _loaded = True  # last: other threads read _lib without the lock once this is set
    return _lib


def _open() -> tuple[ctypes.CDLL | None, str]:
    """The library and its state line, or None and why it is not used."""
    if os.environ.get("TENSORPEEK_NO_NATIVE") == "1":
        return None, "disabled by TENSORPEEK_NO_NATIVE=1"
    path = Path(__file__).with_name("_reduce.so")
    if not path.is_file():
        return None, f"not built ({path.name} missing: no C compiler at install time?)"
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        return None, f"cannot be loaded: {exc}"
    try:
        lib.tp_abi.restype = ctypes.c_int
        if lib.tp_abi() != ABI:
            return None, f"stale build (ABI {lib.tp_abi()}, expected {ABI}): reinstall tensorpeek"
        lib.tp_reduce.restype = ctypes.c_int
        lib.tp_bin.restype = ctypes.c_int
        lib.tp_reduce_strided.restype = ctypes.c_int
        lib.tp_sumsq.restype = ctypes.c_double
    except AttributeError as exc:  # a symbol is missing
        return None, f"is not tensorpeek's kernel ({exc}): reinstall tensorpeek"
    lib.tp_reduce.argtypes = [
        ctypes.c_int, ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_double,
        ctypes.c_double, ctypes.c_int, ctypes.POINTER(ctypes.c_double),
    ]  # fmt: skip
    lib.tp_bin.argtypes = [
        ctypes.c_int, ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_double,
        ctypes.c_int64, ctypes.c_int, ctypes.POINTER(ctypes.c_int64),
    ]  # fmt: skip
    lib.tp_reduce_strided.argtypes = [
        ctypes.c_int, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
        ctypes.c_int64, ctypes.c_double, ctypes.c_double, ctypes.c_double, ctypes.c_int,
        ctypes.c_void_p, ctypes.POINTER(ctypes.c_double),
    ]  # fmt: skip
    lib.tp_sumsq.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
    return lib, f"loaded from {path}"


def available() -> bool:
    return _load() is not None


def status() -> str:
    """One line: whether the kernel is in use, and why not."""
    _load()
    return f"fused reduction kernel {_why}"


def can_read(x: torch.Tensor) -> bool:
    """True when :func:`reduce_row` can take blocks of ``x``: a plain CPU tensor of a dtype
    the kernel reads, backed by real memory (not a fake, functorch-wrapped or Python
    subclass tensor, whose "data pointer" may point nowhere: the kernel would crash the
    process reading it)."""
    return x.dtype in _KINDS and _plain(x) and _load() is not None


# dispatch keys of tensors whose storage is not (only) their values: wrapper subclasses,
# fake tensors, functorch transforms, functionalization, sparse/quantized/mkldnn layouts
_WRAPPER_KEYS = (
    "Python", "PythonTLSSnapshot", "FuncTorchBatched", "BatchedNestedTensor",
    "FuncTorchGradWrapper", "Functionalize", "Meta", "SparseCPU", "SparseCsrCPU",
    "QuantizedCPU", "MkldnnCPU", "Conjugate", "Negative", "NestedTensorCPU",
)  # fmt: skip


_plain_keysets: dict[int, bool] = {}  # raw key set -> plain? (a handful ever occur)


def _plain_keys(keys: torch._C.DispatchKeySet) -> bool:
    raw = keys.raw_repr()
    known = _plain_keysets.get(raw)
    if known is None:  # (key names this torch does not have are skipped)
        found = (getattr(torch._C.DispatchKey, name, None) for name in _WRAPPER_KEYS)
        wrapped = any(keys.has(key) for key in found if key is not None)
        known = _plain_keysets[raw] = keys.has(torch._C.DispatchKey.CPU) and not wrapped
    return known


def _plain(t: torch.Tensor) -> bool:
    if type(t) is not torch.Tensor or t.device.type != "cpu" or t.layout != torch.strided:
        return False
    if not _plain_keys(torch._C._dispatch_keys(t)):
        return False
    try:
        storage = t.untyped_storage()
        return storage.device.type == "cpu" and (storage.data_ptr() != 0 or t.numel() == 0)
    except (RuntimeError, NotImplementedError):
        return False


def _address(flat: torch.Tensor) -> int:
    """Where a contiguous block's first value is, checked to lie within its storage."""
    if not (_plain(flat) and flat.is_contiguous() and flat.dtype in _KINDS):
        raise ValueError(f"the fused kernel cannot read this block ({flat.dtype}, {flat.device})")
    storage = flat.untyped_storage()
    start = int(flat.storage_offset()) * flat.element_size()
    if start + flat.numel() * flat.element_size() > storage.nbytes():
        raise ValueError("the block reaches past its storage")
    return storage.data_ptr() + start


def reduce_row(flat: torch.Tensor, info: DtypeInfo, center: float = 0.0) -> list[float]:
    """The partials row of a flat, contiguous CPU block whose tensor passed :func:`can_read`,
    its sums taken of ``x - center`` (see ``stats._second_pass``)."""
    lib = _load()
    if lib is None:
        raise ValueError(f"the {status()}")
    address, kind, n = _address(flat), _KINDS[flat.dtype], flat.numel()
    threads = max(1, min(torch.get_num_threads(), n // THREAD_GRAIN))
    top, tiny = _narrow_bounds(flat.dtype, info)
    out = (ctypes.c_double * _FIELDS)()
    # flat stays referenced (and its storage alive) until the call returns
    if lib.tp_reduce(kind, address, n, center, top, tiny, threads, out) != 0:
        raise ValueError(f"the fused kernel refused a block of {flat.dtype}")
    return list(out)


# exactly these types: subclasses (DTensor, tensor wrappers) may run other code in a reduction
_PLAIN_TYPES = (torch.Tensor, torch.nn.Parameter)
_is_functorch_wrapped = torch._C._functorch.is_functorch_wrapped_tensor


def _sumsq_ctypes(x: Any) -> float | None:
    """The sum of the squares of ``x``'s values, read in place (finite iff every value is,
    barring an overflow beyond about 1e18 in magnitude), or None when the kernel cannot read
    ``x``: not :func:`plain_contiguous` of a dtype in ``SUMSQ_DTYPES``, no real storage behind
    it (a zero tensor, a storage resized to nothing), values reaching past its storage, or the
    kernel not loaded. One function with the checks inline: the breakpoint hooks' screen
    (``engine.screen.clean_norm``) and the gradient norm call it for every module output,
    gradient and parameter of every step, where each Python call counts. ``_screen.sumsq``
    makes the same checks in C and gives the same answers (tests/native run both)."""
    if (
        type(x) not in _PLAIN_TYPES
        or x.dtype not in _KINDS
        or not x.is_cpu
        or x.layout is not torch.strided
        or x.is_nested
        or not x.is_contiguous()
        or _is_functorch_wrapped(x)
    ):
        return None
    if not _loaded:
        _load()
    read = _tp_sumsq  # tp_sumsq (its restype c_double: a Python float), looked up once
    if read is None:
        return None
    nbytes = x.nbytes  # (properties where there are: fewer calls)
    try:
        storage = x.untyped_storage()
        base = storage.data_ptr()
        start = x.data_ptr()  # base + storage_offset * itemsize
    except RuntimeError:  # "invalid python storage": nothing to read in place
        return None
    if base == 0 or nbytes == 0 or start < base or start + nbytes > base + storage.nbytes():
        return None
    n = nbytes // x.itemsize
    threads = 1 if n < _TWO_GRAINS else min(torch.get_num_threads(), n // THREAD_GRAIN)
    # x (and its storage) stays referenced until the call returns
    return read(_KINDS[x.dtype], start, n, threads)


SUMSQ_DTYPES = tuple(_KINDS)  # what sumsq reads
SCREEN_ABI = 1  # _screen.abi() of a module whose setup() and sumsq() match this file


def _open_screen() -> tuple[Callable[[Any], float | None] | None, str]:
    """``_screen.sumsq`` set up with the torch objects it compares against, and its state
    line; or None and why the ctypes path is used instead."""
    if os.environ.get("TENSORPEEK_NO_NATIVE") == "1":
        return None, "disabled by TENSORPEEK_NO_NATIVE=1"
    try:
        from tensorpeek.summary import _screen
    except ImportError as exc:
        return None, f"not built ({exc}: no Python headers at install time?)"
    try:
        abi = _screen.abi()
    except AttributeError as exc:
        return None, f"is not tensorpeek's screen ({exc}): reinstall tensorpeek"
    if abi != SCREEN_ABI:
        return None, f"stale build (ABI {abi}, expected {SCREEN_ABI}): reinstall tensorpeek"
    try:  # (importing tensorpeek must not fail on it: the ctypes path is there)
        _screen.setup(
            torch.Tensor, torch.nn.Parameter, SUMSQ_DTYPES, torch.strided,
            _is_functorch_wrapped, torch.get_num_threads,
        )  # fmt: skip
    except (TypeError, ValueError) as exc:
        return None, f"refused its setup ({exc}): reinstall tensorpeek"
    return _screen.sumsq, f"in C, loaded from {_screen.__file__}"


_c_sumsq, _screen_why = _open_screen()
# The screen the hooks call: the C extension's, else the ctypes path (same checks, same
# numbers). Bound once at import: the hooks look it up as a module attribute.
sumsq: Callable[[Any], float | None] = _c_sumsq if _c_sumsq is not None else _sumsq_ctypes


def screen_status() -> str:
    """One line: whether the breakpoint screen runs in C or through ctypes, and why."""
    if sumsq is _sumsq_ctypes:
        return f"breakpoint screen through ctypes (the C module {_screen_why})"
    return f"breakpoint screen {_screen_why}"


def plain_contiguous(x: Any, dtypes: tuple[torch.dtype, ...]) -> bool:
    """Whether ``x`` is exactly a ``torch.Tensor`` or ``Parameter`` of one of ``dtypes``, on
    the CPU, strided, contiguous, not nested and not inside a ``torch.func`` transform: what
    :func:`sumsq` (and the hooks' ``torch.dot`` fallback) may read as one flat block."""
    return not (
        type(x) not in _PLAIN_TYPES
        or x.dtype not in dtypes
        or not x.is_cpu
        or x.layout is not torch.strided
        or x.is_nested
        or not x.is_contiguous()
        or _is_functorch_wrapped(x)
    )


def bin_counts(flat: torch.Tensor, a: float, scale: float, nbins: int) -> torch.Tensor:
    """int64 counts per bin of the finite values of a flat, contiguous CPU block whose
    tensor passed :func:`can_read`: bin ``clamp((x - a) * scale, 0, nbins - 1)``, truncated,
    in float64 (what ``histogram.Binning.count`` computes for the linear scale)."""
    lib = _load()
    if lib is None:
        raise ValueError(f"the {status()}")
    address, kind, n = _address(flat), _KINDS[flat.dtype], flat.numel()
    threads = max(1, min(torch.get_num_threads(), n // THREAD_GRAIN))
    counts = (ctypes.c_int64 * nbins)()
    if lib.tp_bin(kind, address, n, a, scale, nbins, threads, counts) != 0:
        raise ValueError(f"the fused kernel refused to bin {n} values into {nbins} bins")
    return torch.tensor(list(counts), dtype=torch.int64, device=flat.device)


def reduce_strided(
    piece: torch.Tensor, info: DtypeInfo, center: float = 0.0, into: torch.Tensor | None = None
) -> list[float] | None:
    """:func:`reduce_row` of a strided block (a view of a tensor that passed
    :func:`can_read`) read in place, without a copy of it; with ``into`` (a contiguous
    buffer of its dtype and at least its size) its values are also left there, row-major,
    for the caller to sample. ``None`` when ``piece`` is not a 2-D view once mergeable
    dimensions are merged (nothing was read: the caller gathers it with torch)."""
    lib = _load()
    if lib is None:
        raise ValueError(f"the {status()}")
    rows = _as_rows(piece)
    if rows is None:
        return None
    n, (nrows, ncols, row_stride, col_stride) = piece.numel(), rows
    if not (_plain(piece) and piece.dtype in _KINDS) or n == 0:
        raise ValueError(f"the fused kernel cannot read this block ({piece.dtype})")
    dst = None
    if into is not None:
        if not (into.dtype == piece.dtype and into.numel() >= n):
            raise ValueError("the buffer does not fit the block")
        dst = _address(into[:n])
    storage, size, offset = piece.untyped_storage(), piece.element_size(), piece.storage_offset()
    last = offset + (nrows - 1) * row_stride + (ncols - 1) * col_stride
    if offset < 0 or (last + 1) * size > storage.nbytes():
        raise ValueError("the block reaches past its storage")
    top, tiny = _narrow_bounds(piece.dtype, info)
    threads = max(1, min(torch.get_num_threads(), n // THREAD_GRAIN))
    out = (ctypes.c_double * _FIELDS)()
    src = storage.data_ptr() + offset * size
    kind = _KINDS[piece.dtype]
    # piece (and into) stay referenced, their storage alive, until the call returns
    if lib.tp_reduce_strided(kind, src, nrows, ncols, row_stride, col_stride, center, top,
                             tiny, threads, dst, out) != 0:  # fmt: skip
        raise ValueError(f"the fused kernel refused a strided block of {piece.dtype}")
    return list(out)


def _narrow_bounds(dtype: torch.dtype, info: DtypeInfo) -> tuple[float, float]:
    """The saturation and subnormal bounds the kernel counts against (none for f32/f64)."""
    if dtype in (torch.float32, torch.float64):
        return math.inf, 0.0
    top = info.max_finite if info.max_finite is not None else math.inf
    tiny = info.smallest_normal if info.smallest_normal is not None else 0.0
    return top, tiny


def _as_rows(piece: torch.Tensor) -> tuple[int, int, int, int] | None:
    """``(rows, cols, row_stride, col_stride)`` of ``piece`` seen as a 2-D view (strides in
    elements, dimensions of size 1 dropped, neighbours merged where their strides allow),
    or ``None`` when it needs more than two dimensions."""
    dims: list[list[int]] = []  # [size, stride], outermost first
    for size, stride in zip(piece.shape, piece.stride(), strict=True):
        if size == 1:
            continue
        if stride < 0:
            return None
        if dims and dims[-1][1] == size * stride:  # the previous dimension continues this one
            dims[-1] = [dims[-1][0] * size, stride]
        else:
            dims.append([size, stride])
    if len(dims) > 2:
        return None
    while len(dims) < 2:
        dims.insert(0, [1, 0])
    (rows, row_stride), (cols, col_stride) = dims
    return rows, cols, row_stride, col_stride
