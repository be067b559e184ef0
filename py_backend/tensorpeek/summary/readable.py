"""Which values a summary can read: the plain tensor behind a Parameter, numpy array, sparse or
subclass tensor, or the reason there are none to read (meta, fake, inside vmap, a wrapper
subclass, a dtype without readable values). Reading never copies the values."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from tensorpeek.summary.dtypes import DtypeInfo, ValueKind, dtype_info


def as_tensor(x: Any) -> tuple[torch.Tensor, str]:
    """The tensor to read and what the user passed; numpy arrays are wrapped without a copy."""
    if isinstance(x, torch.nn.Parameter):
        return x, "parameter"
    if isinstance(x, torch.Tensor):
        return x, "tensor"
    try:
        import numpy as np
    except ImportError:  # numpy is a dependency, but a tensor never needs it
        np = None  # type: ignore[assignment]
    if np is not None and isinstance(x, np.ndarray):
        # negative strides (a[::-1]) are not viewable by torch: flipping those axes gives a
        # positive-stride view of the same elements, and every statistic is order-free
        flips = tuple(i for i, s in enumerate(x.strides) if s < 0)
        arr = np.flip(x, axis=flips) if flips else x
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # read-only arrays: we only read
                return torch.from_numpy(arr), "ndarray"
        except TypeError as err:
            raise TypeError(f"cannot summarize a numpy array of dtype {x.dtype}: {err}") from None
    raise TypeError(
        f"summarize expects a torch.Tensor or numpy.ndarray, got {type(x).__module__}."
        f"{type(x).__qualname__}"
    )


def readable_tensor(x: Any) -> tuple[torch.Tensor | None, DtypeInfo]:
    """The values to reduce: a plain detached alias of ``x`` (never a copy of it), the stored
    values of a sparse tensor, or ``None`` when there are none to read (meta, float4)."""
    tensor, _ = as_tensor(x)
    info = dtype_info(tensor.dtype)
    if tensor.is_meta or info.kind is ValueKind.UNREADABLE or _without_values(tensor):
        return None, info
    tensor = tensor.detach()
    if type(tensor) is not torch.Tensor:
        tensor = tensor.as_subclass(torch.Tensor)
    layout = tensor.layout
    if layout == torch.sparse_coo:
        tensor = tensor._values()
    elif layout in (torch.sparse_csr, torch.sparse_csc, torch.sparse_bsr, torch.sparse_bsc):
        tensor = tensor.values()
    return tensor, info


def _without_values(t: torch.Tensor) -> str | None:
    """Why a tensor that has a readable dtype still has no values to read here, or None."""
    keys = torch._C._dispatch_keys(t)
    if keys.has(torch._C.DispatchKey.FuncTorchBatched):
        return "batched tensor inside vmap: metadata only"
    if not keys.has(torch._C.DispatchKey.Python):
        return None
    try:
        if t.untyped_storage().device.type == "meta":
            return "fake tensor (FakeTensorMode or torch.compile tracing): metadata only"
    except (RuntimeError, NotImplementedError):  # wrapper subclasses without one storage
        pass
    # a wrapper subclass (__torch_dispatch__: DTensor, TwoTensor, ...): its ops run Python
    # code that may communicate (DTensor) or mix its inner tensors, so nothing is run on it
    return f"{type(t).__name__} dispatches its ops in Python: metadata only"


def unreadable_reason(t: torch.Tensor, info: DtypeInfo) -> str:
    """The note of a summary whose values cannot be read (see :func:`readable_tensor`)."""
    if t.is_meta:
        return "meta tensor: metadata only"
    return _without_values(t) or f"values of dtype {info.short} cannot be read"
