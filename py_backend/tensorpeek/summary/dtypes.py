"""What the statistics engine needs to know about a dtype: its short name, how its values are
read (natively, widened to float32/float64, as a magnitude, dequantized) and, for the narrow
float formats, where saturation and subnormals begin.

Kept apart from the reductions so that a new dtype is one table entry, not a new branch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum

import torch


class ValueKind(Enum):
    """How the engine turns a block of stored elements into numbers it can reduce."""

    FLOAT = "float"  # float32/float64: reduced as stored
    NARROW_FLOAT = "narrow_float"  # float16, bfloat16, float8: widened to float32 per block
    INTEGER = "integer"  # ints and bool: widened to float64 for sums, exact extremes kept
    COMPLEX = "complex"  # stats of |z|, plus ranges of the real and imaginary parts
    QUANTIZED = "quantized"  # dequantized per block
    # formats torch has no conversion kernels for (float4, the sub-byte int1..int7 and
    # uint1..uint7 placeholders, the raw bits1x8..bits16): metadata only
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class DtypeInfo:
    """Static facts about one dtype."""

    short: str  # as shown in the one-line summary: "f32", "bf16", "i64", ...
    kind: ValueKind
    max_finite: float | None = None  # narrow floats: |x| at or beyond this counts as saturated
    smallest_normal: float | None = None  # narrow floats: 0 < |x| below this is subnormal


_SHORT: dict[str, str] = {
    "float64": "f64", "float32": "f32", "float16": "f16", "bfloat16": "bf16",
    "float8_e4m3fn": "f8e4m3", "float8_e4m3fnuz": "f8e4m3uz", "float8_e5m2": "f8e5m2",
    "float8_e5m2fnuz": "f8e5m2uz", "float8_e8m0fnu": "f8e8m0", "float4_e2m1fn_x2": "f4x2",
    "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
    "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64", "bool": "bool",
    "complex32": "c32", "complex64": "c64", "complex128": "c128",
    **{f"int{b}": f"i{b}" for b in range(1, 8)}, **{f"uint{b}": f"u{b}" for b in range(1, 8)},
    "qint8": "qi8", "quint8": "qu8", "qint32": "qi32", "quint4x2": "qu4x2", "quint2x4": "qu2x4",
}  # fmt: skip


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"`` (the name used in summary dicts)."""
    return str(dtype).removeprefix("torch.")


@functools.lru_cache(maxsize=64)
def dtype_info(dtype: torch.dtype) -> DtypeInfo:
    """Classify ``dtype``; every torch dtype gets an answer (unknown ones are unreadable)."""
    name = dtype_name(dtype)
    short = _SHORT.get(name, name)
    if dtype in (torch.float32, torch.float64):
        return DtypeInfo(short, ValueKind.FLOAT)
    if dtype.is_complex:
        return DtypeInfo(short, ValueKind.COMPLEX)
    if name.startswith(("qint", "quint")):
        if name in ("qint8", "quint8", "qint32"):
            return DtypeInfo(short, ValueKind.QUANTIZED)
        return DtypeInfo(short, ValueKind.UNREADABLE)
    if dtype.is_floating_point:
        try:
            info = torch.finfo(dtype)
        except TypeError:
            return DtypeInfo(short, ValueKind.UNREADABLE)
        if not _converts(dtype, torch.float32):
            return DtypeInfo(short, ValueKind.UNREADABLE)
        return DtypeInfo(
            short, ValueKind.NARROW_FLOAT, float(info.max), float(info.smallest_normal)
        )
    if not _converts(dtype, torch.float64):  # int1..int7, uint1..uint7, bits8, ...
        return DtypeInfo(short, ValueKind.UNREADABLE)
    return DtypeInfo(short, ValueKind.INTEGER)  # bool, int8..int64, uint8..uint64


def _converts(dtype: torch.dtype, to: torch.dtype) -> bool:
    """Whether torch can convert values of ``dtype`` on the CPU (a one-element probe, made
    on the CPU whatever the default device: on "meta" every conversion would succeed, and
    the answer is cached)."""
    try:
        torch.empty(1, dtype=dtype, device="cpu").to(to)
    except (TypeError, RuntimeError, NotImplementedError):
        return False
    return True
