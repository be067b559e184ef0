"""``detail``: render payloads for one tensor, on demand (the panel's click).

- ``histogram``: a full summary with more bins (``tensorpeek.summary``), plus ``name``.
- ``heatmap`` (2-D, or N-D viewed as rows × last dimension): block min/max/mean over at most
  ``size`` × ``size`` blocks, so a single outlier stays visible in ``min``/``max`` however
  large the matrix is.
- ``channels`` (image-like ``C×H×W`` / ``N×C×H×W``, ``C`` ∈ {1, 3, 4}): one block-mean tile
  per channel of the chosen image.

Payload shapes are exactly those ``tensorpeek.render.render`` takes. The reductions run on
the tensor's own device over bands of rows (a bounded float64 temporary per band); only the
reduced grids (at most ``size``² numbers each) reach the host.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from tensorpeek.agent.protocol import Channel, ChannelsPayload, HeatmapPayload
from tensorpeek.summary.readable import readable_tensor, unreadable_reason

MAX_SIZE = 256  # cells per side, the renderer's contract
BAND_ELEMENTS = 1 << 22  # elements reduced at a time (bounds the float64 temporary)
IMAGE_CHANNELS = (1, 3, 4)

Grid = list[list[float | None]]


def is_image_like(shape: tuple[int, ...]) -> bool:
    return (len(shape) == 3 and shape[0] in IMAGE_CHANNELS) or (
        len(shape) == 4 and shape[1] in IMAGE_CHANNELS
    )


def values_for_maps(x: Any) -> tuple[torch.Tensor | None, str | None]:
    """A strided tensor of the values to draw, or ``None`` and the reason there is none."""
    shape = tuple(x.shape)
    if any(d == 0 for d in shape):
        return None, "empty: nothing to draw"
    if isinstance(x, torch.Tensor) and x.layout != torch.strided:
        return None, f"{str(x.layout).removeprefix('torch.')} tensor: no heatmap of stored values"
    if not isinstance(x, torch.Tensor) and any(s < 0 for s in getattr(x, "strides", ())):
        import numpy as np

        x = np.ascontiguousarray(x)  # reversed views: keep the element order, host array anyway
    values, info = readable_tensor(x)
    if values is None:
        if not isinstance(x, torch.Tensor):
            return None, f"{info.short} values cannot be read"
        reason = unreadable_reason(x, info)  # meta, fake, inside vmap, a wrapper subclass
        if reason.startswith("values of dtype"):
            return None, reason
        return None, f"{info.short} values cannot be read ({reason})"
    return values, None


def _work_dtype(device: torch.device) -> torch.dtype:
    """float64 for the block sums, except where the backend has none (Apple MPS)."""
    return torch.float32 if device.type == "mps" else torch.float64


def _as_real(block: torch.Tensor) -> torch.Tensor:
    """Band values in the working dtype (complex → magnitude, quantized → dequantized)."""
    if block.is_quantized:
        block = block.dequantize()
    if block.is_complex():
        block = block.abs()
    return block.to(_work_dtype(block.device))


def block_grids(t2: torch.Tensor, size: int) -> tuple[list[int], Grid, Grid, Grid]:
    """``(block, mean, min, max)`` of a 2-D tensor reduced to at most ``size`` × ``size``
    cells; ``None`` where a block holds no finite value."""
    rows, cols = t2.shape
    br, bc = math.ceil(rows / size), math.ceil(cols / size)
    nr, nc = math.ceil(rows / br), math.ceil(cols / bc)
    dev = t2.device
    work = _work_dtype(dev)
    total = torch.zeros(nr, nc, dtype=work, device=dev)
    count = torch.zeros(nr, nc, dtype=work, device=dev)
    low = torch.full((nr, nc), math.inf, dtype=work, device=dev)
    high = torch.full((nr, nc), -math.inf, dtype=work, device=dev)
    band_rows = max(1, BAND_ELEMENTS // max(cols, 1) // br) * br
    with torch.no_grad():
        for r0 in range(0, rows, band_rows):
            band = _as_real(t2[r0 : r0 + band_rows])
            h = band.shape[0]
            hb = math.ceil(h / br)
            padded = torch.full((hb * br, nc * bc), math.nan, dtype=work, device=dev)
            padded[:h, :cols] = band
            cells = padded.view(hb, br, nc, bc)
            finite = torch.isfinite(cells)
            g0 = r0 // br
            total[g0 : g0 + hb] = torch.where(finite, cells, 0.0).sum(dim=(1, 3))
            count[g0 : g0 + hb] = finite.sum(dim=(1, 3), dtype=work)
            low[g0 : g0 + hb] = torch.where(finite, cells, math.inf).amin(dim=(1, 3))
            high[g0 : g0 + hb] = torch.where(finite, cells, -math.inf).amax(dim=(1, 3))
    empty = count == 0
    mean = torch.where(empty, math.nan, total / count.clamp(min=1))
    low = torch.where(empty, math.nan, low)
    high = torch.where(empty, math.nan, high)
    return [br, bc], _grid(mean), _grid(low), _grid(high)


def _grid(t: torch.Tensor) -> Grid:
    """Rows of JSON numbers with 6 significant digits; NaN (no finite value) → None."""
    return [[None if math.isnan(v) else float(f"{v:.6g}") for v in row] for row in t.cpu().tolist()]


def heatmap(name: str, values: torch.Tensor, size: int) -> HeatmapPayload:
    """The heatmap payload of ``values`` viewed as rows × last dimension."""
    t2 = values.reshape(1, 1) if values.ndim == 0 else values
    if t2.ndim == 1:
        t2 = t2.reshape(1, -1)
    elif t2.ndim > 2:
        t2 = t2.reshape(-1, t2.shape[-1])  # a view when contiguous
    block, mean, low, high = block_grids(t2, size)
    return {
        "name": name,
        "shape": [int(t2.shape[0]), int(t2.shape[1])],
        "block": block,
        "mean": mean,
        "min": low,
        "max": high,
    }


def channels(name: str, values: torch.Tensor, size: int, batch_index: int) -> ChannelsPayload:
    """Per-channel block-mean tiles of one image (``batch_index`` picks it from a batch)."""
    image = values
    if values.ndim == 4:
        n = int(values.shape[0])
        if not 0 <= batch_index < n:
            raise ValueError(f"batch_index {batch_index} is out of range for a batch of {n}")
        image = values[batch_index]
    tiles: list[Channel] = []
    for c in range(int(image.shape[0])):
        _, mean, low, high = block_grids(image[c], size)
        lows = [v for row in low for v in row if v is not None]
        highs = [v for row in high for v in row if v is not None]
        tiles.append(
            {
                "index": c,
                "data": mean,
                "min": min(lows) if lows else None,
                "max": max(highs) if highs else None,
            }
        )
    return {
        "name": name,
        "shape": [int(d) for d in values.shape],
        "batch_index": batch_index if values.ndim == 4 else 0,
        "channels": tiles,
    }


def maps(x: Any, name: str, size: int, batch_index: int) -> tuple[dict[str, Any], list[str]]:
    """``{"heatmap": ...}`` or ``{"channels": ...}`` (whichever fits the shape) and notes."""
    if not 1 <= size <= MAX_SIZE:
        raise ValueError(f"heatmap_size must be between 1 and {MAX_SIZE}, got {size}")
    shape = tuple(int(d) for d in x.shape)
    if len(shape) < 2:
        return {}, []
    values, reason = values_for_maps(x)
    if values is None:
        return {}, [reason or "no values"]
    notes = ["complex values: maps show the magnitude |x|"] if values.is_complex() else []
    if is_image_like(shape):
        return {"channels": channels(name, values, size, batch_index)}, notes
    if len(shape) > 2:
        notes.append(f"{len(shape)}-D: heatmap of the {math.prod(shape[:-1])} × {shape[-1]} view")
    return {"heatmap": heatmap(name, values, size)}, notes
