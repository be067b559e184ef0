# The C extension built from csrc/screen.c (hatch_build.py); see tensorpeek.summary.native.
from collections.abc import Callable
from typing import Any

import torch

def setup(
    tensor: type[torch.Tensor],
    parameter: type[torch.nn.Parameter],
    dtypes: tuple[torch.dtype, ...],
    strided: torch.layout,
    is_functorch_wrapped: Callable[[torch.Tensor], bool],
    num_threads: Callable[[], int],
) -> None: ...
def sumsq(x: Any) -> float | None: ...
def abi() -> int: ...
