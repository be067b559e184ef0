"""How a tensor is walked: its distinct elements (expanded dimensions dropped and counted
as weights), in blocks of bounded size, each read as one flat tensor of numbers.

Blocks are views where the storage allows it; strided blocks are gathered into a buffer the
caller allocates once per summary, so a summary's temporaries stay a few MB whatever the
tensor's size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from tensorpeek.summary.dtypes import DtypeInfo, ValueKind


def unique_view(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """A view over the distinct elements of ``x`` and how often each one appears in ``x``.

    Dimensions with stride 0 (``expand``) are dropped and their sizes multiplied into the
    weight; the rest are ordered by decreasing stride, so a transposed or permuted tensor
    becomes contiguous again and is read as one flat view without a copy.
    """
    if x.is_quantized or x.dim() == 0:
        return x, 1
    weight = 1
    kept: list[tuple[int, int]] = []
    for size, stride in zip(x.shape, x.stride(), strict=True):
        if size == 1:
            continue
        if stride == 0:
            weight *= size
        else:
            kept.append((stride, size))
    kept.sort(reverse=True)
    view = x.as_strided([s for _, s in kept], [st for st, _ in kept], x.storage_offset())
    return view, weight


def iter_blocks(y: torch.Tensor, block: int) -> Iterator[torch.Tensor]:
    """Yield ``y``'s elements as pieces of at most ``block`` elements, in storage order.

    Contiguous tensors give flat views (no copy); others give slices along the leading
    dimensions, which the caller flattens (a copy of at most ``block`` elements).
    """
    if y.dim() == 0:
        yield y.reshape(1)
        return
    if not y.is_quantized and y.is_contiguous():
        flat = y.view(-1)
        for start in range(0, flat.numel(), block):
            yield flat[start : start + block]
        return
    inner = math.prod(y.shape[1:])
    if inner <= block:
        rows = max(1, block // max(inner, 1))
        for start in range(0, y.shape[0], rows):
            yield y[start : start + rows]
    else:
        for i in range(y.shape[0]):
            yield from iter_blocks(y[i], block)


def flat_block(piece: torch.Tensor, buffer: torch.Tensor | None) -> tuple[torch.Tensor, bool]:
    """A block's elements as one flat tensor of its own dtype, and whether that is a copy: a
    view when contiguous, else gathered into ``buffer`` (when it fits and has the dtype) or a
    fresh tensor."""
    if piece.is_contiguous():
        return piece.view(-1), False
    n = piece.numel()
    if buffer is not None and buffer.numel() >= n and buffer.dtype == piece.dtype:
        return buffer[:n].view(piece.shape).copy_(piece).view(-1), True
    return piece.contiguous().view(-1), True  # always a copy (reshape might alias)


def block_values(
    piece: torch.Tensor, info: DtypeInfo, buffer: torch.Tensor | None
) -> tuple[torch.Tensor, bool]:
    """The numbers of one block as a flat float tensor, and whether it is a private copy
    (then it may be overwritten in place). Narrow floats are widened, and strided float
    blocks gathered, into ``buffer`` when one is given (else into a fresh tensor)."""
    kind = info.kind
    n = piece.numel()
    if kind is ValueKind.FLOAT:
        return flat_block(piece, buffer)
    if kind is ValueKind.NARROW_FLOAT:
        if buffer is not None and buffer.numel() >= n:
            return buffer[:n].view(piece.shape).copy_(piece).view(-1), True
        return piece.to(torch.float32).reshape(-1), True
    if kind is ValueKind.INTEGER:
        return piece.to(torch.float64).reshape(-1), True
    if kind is ValueKind.QUANTIZED:
        return piece.dequantize().reshape(-1), True
    if kind is ValueKind.COMPLEX:
        return piece.to(torch.complex128).abs().reshape(-1), True  # |z| in float64
    raise TypeError(f"values of dtype {info.short} cannot be read")
