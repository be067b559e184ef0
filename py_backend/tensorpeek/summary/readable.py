"""Which values a summary can read: the plain tensor behind a Parameter, numpy array, sparse,
nested or subclass tensor, or the reason there are none to read (meta, fake, inside vmap, a
wrapper subclass, mkldnn, a dtype without readable values). Reading never copies the
values, with one exception: an uncoalesced sparse COO tensor is coalesced first (on its
own device), since its stored duplicates are not its values."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch

from tensorpeek.summary.dtypes import DtypeInfo, ValueKind, dtype_info

_COMPRESSED = (torch.sparse_csr, torch.sparse_csc, torch.sparse_bsr, torch.sparse_bsc)
MKLDNN: torch.layout = torch._mkldnn  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Readable:
    """What a summary reads of a tensor: ``values`` (a plain tensor, or ``None`` when there
    are none to read), its dtype facts, and a ``note`` saying how the values were read when
    they are not simply the tensor's elements (or why there are none)."""

    values: torch.Tensor | None
    info: DtypeInfo
    note: str | None = None


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
    values of a sparse or nested tensor, or ``None`` when there are none to read (meta,
    float4). :func:`read_values` also says how they were read."""
    r = read_values(x)
    return r.values, r.info


def read_values(x: Any) -> Readable:
    """The values a summary reduces, and the note that goes with them (see :class:`Readable`).

    Sparse tensors give their stored values (an uncoalesced COO tensor is coalesced first:
    its duplicates add up to one value each, so +Inf and -Inf stored at one index are a
    NaN). Nested tensors give their ``values()`` buffer when that holds exactly their
    elements (contiguous ones), else nothing. mkldnn tensors keep their values in oneDNN's
    opaque format: reading them would need a full dense copy, so nothing is read.
    """
    tensor, _ = as_tensor(x)
    info = dtype_info(tensor.dtype)
    if tensor.is_meta or info.kind is ValueKind.UNREADABLE or tensor.layout == MKLDNN:
        return Readable(None, info, unreadable_reason(tensor, info))
    if tensor.is_nested:
        return _nested_values(tensor, info)
    why = _without_values(tensor)
    if why is not None:
        return Readable(None, info, why)
    tensor = tensor.detach()
    if type(tensor) is not torch.Tensor:
        tensor = tensor.as_subclass(torch.Tensor)
    layout = tensor.layout
    if layout == torch.sparse_coo:
        if tensor.is_coalesced():
            return Readable(tensor._values(), info)
        nnz = tensor._nnz()
        coalesced = tensor.coalesce()  # (on the tensor's own device)
        note = (
            f"uncoalesced: statistics over the {coalesced._nnz()} coalesced values "
            f"({nnz} stored, duplicates summed)"
        )
        return Readable(coalesced._values(), info, note)
    if layout in _COMPRESSED:
        return Readable(tensor.values(), info)
    return Readable(tensor, info)


def nested_layout(t: torch.Tensor) -> str:
    """``"jagged"`` or ``"nested_strided"`` (a strided nested tensor's layout is
    ``torch.strided``, which would not tell it from a plain tensor)."""
    return "jagged" if t.layout == torch.jagged else "nested_strided"


def nested_shape(t: torch.Tensor) -> tuple[int, ...]:
    """The shape of a nested tensor with -1 for each ragged dimension (as in ``view``)."""
    if t.layout == torch.jagged:
        return tuple(d if isinstance(d, int) else -1 for d in t.shape)
    sizes = t._nested_tensor_size()  # (components, dims): one row of sizes per component
    if sizes.numel() == 0:
        return (t.size(0),)
    lo, hi = torch.aminmax(sizes, dim=0)
    return (
        sizes.shape[0],
        *(int(a) if a == b else -1 for a, b in zip(lo.tolist(), hi.tolist(), strict=True)),
    )


def _nested_values(t: torch.Tensor, info: DtypeInfo) -> Readable:
    """The buffer of a nested tensor, when it holds exactly the tensor's elements."""
    layout = nested_layout(t)
    if _without_values(t.values() if t.layout == torch.jagged else t) is not None:
        return Readable(
            None, info, f"{layout} nested tensor without readable values: metadata only"
        )
    jagged = t.layout == torch.jagged
    contiguous = getattr(t, "_lengths", None) is None if jagged else t.is_contiguous()
    if not contiguous:
        return Readable(
            None, info,
            f"non-contiguous {layout} nested tensor (its buffer holds values outside it): "
            "metadata only",
        )  # fmt: skip
    values = t.detach().values()
    if type(values) is not torch.Tensor:
        values = values.as_subclass(torch.Tensor)
    parts = t.size(0)
    return Readable(
        values, info, f"{layout} nested tensor of {parts} components: statistics over its buffer"
    )


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
    """The note of a summary whose values cannot be read (see :func:`read_values`)."""
    if t.is_meta:
        return "meta tensor: metadata only"
    if t.layout == MKLDNN:
        return (
            "mkldnn tensor (oneDNN's opaque layout; reading it needs a dense copy): metadata only"
        )
    if info.kind is ValueKind.UNREADABLE:
        return f"values of dtype {info.short} cannot be read (torch cannot convert them)"
    if t.is_nested:
        note = read_values(t).note
        if note is not None:
            return note
    return _without_values(t) or f"values of dtype {info.short} cannot be read"
