"""The sizes and dtypes the kernel's and the screen's tests sweep (tests/native), and their
seeded values."""

from __future__ import annotations

import torch

# lanes are 16 values, chunks 4096, one thread per 2^18 values
SIZES = [1, 2, 15, 16, 17, 31, 4095, 4096, 4097, 4096 * 3 + 5, (1 << 18) + 3, (1 << 19) + 17]
DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]


def values(n: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """``n`` seeded normal values (scale 3) of ``dtype``, rounded from float64."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, generator=g, dtype=torch.float64) * 3).to(dtype)
