"""What the hooks read of one tensor on the common path, before any ``Event`` exists: the
non-finite screen (``clean_norm``: one in-place read by the fused kernel, the norm kept for the
history), why a condition cannot read a tensor (``unreadable``: skipped and counted, never a
disabled breakpoint) and a hit's summary whatever the tensor is (``summary_or_note``)."""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import torch

from tensorpeek.engine.hit import summary_dict
from tensorpeek.summary import native

_DOT_DTYPES = (torch.float32, torch.float64)  # torch.dot's float32 sum would overflow narrower
# values' squares: bfloat16/float16 are screened by the kernel only (native.SUMSQ_DTYPES)
_PLAIN_TYPES = (torch.Tensor, torch.nn.Parameter)  # what either reads (not subclasses)


def clean_norm(x: Any) -> float | None:
    """The L2 norm of ``x`` when it is a plain, contiguous, non-empty float CPU tensor whose
    values are all finite; None for every other tensor (and for anything not a tensor), which
    the general path then checks. The same screen as ``conditions.nonfinite_screen`` (a sum
    of squares is finite whenever every element is; an overflow only sends the tensor to the
    exact test), without its context manager, read in place by the fused kernel
    (``native.sumsq``, which checks the tensor itself: float32, float64, bfloat16 and
    float16), else by ``torch.dot`` (float32 and float64; the product of a detached tensor
    builds no autograd graph)."""
    if type(x) not in _PLAIN_TYPES:
        return None
    global _last_clean
    inference = x.is_inference()  # no version counter: never taken from or put in the cache
    version = -1 if inference else x._version
    last_ref, last_version, last_norm = _last_clean
    if not inference and last_ref() is x and last_version == version:
        return last_norm  # a parent returning its last child's output (post-norm blocks)
    squared = native.sumsq(x)
    if squared is None:
        if not native.plain_contiguous(x, _DOT_DTYPES):
            return None
        flat = x.detach().view(-1)
        if flat.shape[0] == 0:
            return None
        squared = torch.dot(flat, flat).item()
    if not math.isfinite(squared):
        return None
    norm = math.sqrt(squared)
    if not inference:
        _last_clean = (weakref.ref(x), version, norm)
    return norm


def _dead() -> None:
    return None


# the last tensor found clean (weakly held), its version counter then, and its norm: a parent
# module whose output is its last child's output, and a parent's grad_output hook on the same
# autograd node as its child's, see the very same tensor right after the child: read it once
_last_clean: tuple[Callable[[], Any], int, float] = (_dead, -1, 0.0)


def unreadable(x: torch.Tensor) -> str | None:
    """Why no condition can read ``x`` here, or None: nested tensors (the fast path of
    ``nn.TransformerEncoder`` in eval) and tensors inside ``torch.func`` transforms (``vmap``,
    ``grad``, ``jacrev``: reading a value would be data-dependent control flow)."""
    if x.is_nested:
        return "nested tensors"
    if torch._C._functorch.is_functorch_wrapped_tensor(x):
        return "tensors inside torch.func transforms (vmap, grad, jacrev, hessian)"
    return None


def summary_or_note(x: torch.Tensor) -> dict[str, Any] | None:
    """The tensor's full summary, or its metadata and why it could not be summarised: a hit
    must be recorded whatever the tensor is (nested, jagged, wrapped)."""
    try:
        return summary_dict(x)
    except Exception as err:  # noqa: BLE001 - an odd tensor must not turn a hit into a crash
        warnings.warn(
            f"tensorpeek: a {type(x).__name__} in a hit could not be summarised "
            f"({type(err).__name__}: {err})",
            RuntimeWarning,
            stacklevel=2,
        )
        shape = list(getattr(x, "shape", ())) if x.layout == torch.strided else []
        return {
            "shape": shape,
            "dtype": str(x.dtype).removeprefix("torch."),
            "device": str(x.device),
            "note": f"not summarised: {type(err).__name__}: {err}",
        }
