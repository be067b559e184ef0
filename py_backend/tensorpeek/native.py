"""The fused reduction kernel (``csrc/reduce.c``), loaded with ctypes when it was built.

One call reads each value of a flat CPU block once and returns the whole row of partials
that :mod:`tensorpeek.reductions` otherwise assembles from about eight torch reductions
(see ``reductions.FIELDS`` for the layout, which the kernel's ``tp_abi`` version pins);
another counts values per histogram bin with ``histogram.Binning``'s arithmetic.
ctypes releases the GIL for the call; the kernel splits large blocks over
``torch.get_num_threads()`` threads of its own, joined before it returns, and never changes
that setting.

Absent (no C compiler at install, ``TENSORPEEK_NO_NATIVE=1`` at install or at run time, an
ABI mismatch), :func:`handles` is False and the torch path runs: the same numbers,
slower. :func:`status` says which, for ``tensorpeek --version``.
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
from pathlib import Path

import torch

from tensorpeek.dtypes import DtypeInfo

__all__ = ["available", "bin_counts", "handles", "reduce_row", "status"]

ABI = 3  # tp_abi() of a kernel whose output layout matches reductions.FIELDS
_FIELDS = 14
_KINDS = {torch.float32: 0, torch.float64: 1, torch.bfloat16: 2, torch.float16: 3}
# Below this many values one thread does the block (starting one costs tens of µs).
THREAD_GRAIN = 1 << 18

_lib: ctypes.CDLL | None = None
_why: str = "not loaded yet"
_loaded = False
_lock = threading.Lock()


def _load() -> ctypes.CDLL | None:
    if _loaded:
        return _lib
    with _lock:  # summaries may start on several threads at once (backward hooks)
        return _load_once()


def _load_once() -> ctypes.CDLL | None:
    global _lib, _why, _loaded
    if not _loaded:
        _lib, _why = _open()
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
        lib.tp_has_f16.restype = ctypes.c_int
        lib.tp_reduce.restype = ctypes.c_int
        lib.tp_bin.restype = ctypes.c_int
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
    if not lib.tp_has_f16():
        del _KINDS[torch.float16]
    return lib, f"loaded from {path}"


def available() -> bool:
    return _load() is not None


def status() -> str:
    """One line: whether the kernel is in use, and why not."""
    _load()
    return f"fused reduction kernel {_why}"


def handles(x: torch.Tensor) -> bool:
    """True when :func:`reduce_row` can take blocks of ``x``'s dtype and device."""
    return x.device.type == "cpu" and x.dtype in _KINDS and _load() is not None


def reduce_row(flat: torch.Tensor, info: DtypeInfo, center: float = 0.0) -> list[float]:
    """The partials row of a flat, contiguous CPU block whose tensor passed :func:`handles`,
    its sums taken of ``x - center`` (see ``stats._second_pass``)."""
    lib = _load()
    kind = _KINDS.get(flat.dtype)
    if lib is None or kind is None or flat.device.type != "cpu" or not flat.is_contiguous():
        raise ValueError(f"the fused kernel cannot read this block ({flat.dtype}, {flat.device})")
    n = flat.numel()
    threads = max(1, min(torch.get_num_threads(), n // THREAD_GRAIN))
    top = info.max_finite if info.max_finite is not None else math.inf
    tiny = info.smallest_normal if info.smallest_normal is not None else 0.0
    if flat.dtype in (torch.float32, torch.float64):
        top, tiny = math.inf, 0.0  # the narrow-float counts do not apply
    out = (ctypes.c_double * _FIELDS)()
    # flat stays referenced (and its storage alive) until the call returns
    if lib.tp_reduce(kind, flat.data_ptr(), n, center, top, tiny, threads, out) != 0:
        raise ValueError(f"the fused kernel refused a block of {flat.dtype}")
    return list(out)


def bin_counts(flat: torch.Tensor, a: float, scale: float, nbins: int) -> torch.Tensor:
    """int64 counts per bin of the finite values of a flat, contiguous CPU block whose
    tensor passed :func:`handles`: bin ``clamp((x - a) * scale, 0, nbins - 1)``, truncated,
    in float64 (what ``histogram.Binning.count`` computes for the linear scale)."""
    lib = _load()
    kind = _KINDS.get(flat.dtype)
    if lib is None or kind is None or flat.device.type != "cpu" or not flat.is_contiguous():
        raise ValueError(f"the fused kernel cannot read this block ({flat.dtype}, {flat.device})")
    n = flat.numel()
    threads = max(1, min(torch.get_num_threads(), n // THREAD_GRAIN))
    counts = (ctypes.c_int64 * nbins)()
    if lib.tp_bin(kind, flat.data_ptr(), n, a, scale, nbins, threads, counts) != 0:
        raise ValueError(f"the fused kernel refused to bin {n} values into {nbins} bins")
    return torch.tensor(list(counts), dtype=torch.int64)
