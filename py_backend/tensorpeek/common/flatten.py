"""The tensors inside a module's inputs or outputs: tensors, tuples/lists, dicts, dataclasses."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def flatten_tensors(
    value: Any, prefix: str = "", depth: int = 0
) -> Iterator[tuple[str, torch.Tensor]]:
    """Tensors inside a module's output: tensors, tuples/lists, dicts, dataclasses; None skipped."""
    import torch

    if isinstance(value, torch.Tensor):
        yield prefix, value
    elif depth > 4 or value is None:
        return
    elif isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            yield from flatten_tensors(v, f"{prefix}.{i}" if prefix else str(i), depth + 1)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from flatten_tensors(v, f"{prefix}.{k}" if prefix else str(k), depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            v = getattr(value, f.name, None)
            yield from flatten_tensors(v, f"{prefix}.{f.name}" if prefix else f.name, depth + 1)
