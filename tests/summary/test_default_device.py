"""Issue 14: a summary never depends on the process's default device. Training scripts set
``torch.set_default_device("cuda")``; a summary of a CPU tensor must still make every
temporary (buffers, histogram counts, the sample's generator, dtype probes) on the tensor's
own device. "meta" stands in for "cuda" here: a temporary made there has no data, so any
value read back from one fails loudly."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator

import pytest
import torch
from summary_oracle import close, oracle

import tensorpeek
from tensorpeek.summary import stats
from tensorpeek.summary.dtypes import ValueKind, dtype_info


@pytest.fixture
def meta_default() -> Iterator[None]:
    before = torch.get_default_device()
    torch.set_default_device("meta")
    try:
        yield
    finally:
        # None, not "cpu": setting "cpu" leaves a device TorchFunctionMode active for the rest
        # of the session, which later tests' patched Tensor.backward never sees called
        torch.set_default_device(None if before.type == "cpu" else before)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(seed)


def _sparse_csr(t: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "CSR support is in beta"
        return t.to_sparse_csr()


# built before the default device changes (on the CPU), summarized after
TENSORS: dict[str, Callable[[], torch.Tensor]] = {
    "float32": lambda: torch.randn(2000, 30, generator=_gen(1)),
    "float64_nan": lambda: torch.tensor([1.0, math.nan, -2.0, math.inf, 0.5], dtype=torch.float64),
    "bfloat16": lambda: torch.randn(5000, generator=_gen(2)).bfloat16(),
    "float16": lambda: torch.randn(5000, generator=_gen(3)).half(),
    "float8": lambda: torch.randn(5000, generator=_gen(4)).to(torch.float8_e4m3fn),
    "int64": lambda: torch.randint(-1000, 1000, (4000,), generator=_gen(5)),
    "uint8": lambda: torch.randint(0, 256, (4000,), generator=_gen(6), dtype=torch.uint8),
    "bool": lambda: torch.rand(3000, generator=_gen(7)) > 0.5,
    "complex64": lambda: torch.randn(800, generator=_gen(8), dtype=torch.complex64),
    "sampled_histogram": lambda: torch.randn(5_000_000, generator=_gen(9)),
    "column_slice": lambda: torch.randn(300, 300, generator=_gen(10))[:, :7],
    "transposed": lambda: torch.randn(300, 200, generator=_gen(11)).t(),
    "expanded": lambda: torch.randn(300, 1, generator=_gen(12)).expand(300, 40),
    "cancelling": lambda: 1e4 + torch.randn(20_000, generator=_gen(13)) * 1e-3,
    "huge_f64": lambda: torch.randn(2000, generator=_gen(14), dtype=torch.float64) * 1e300,
    "sparse_coo": lambda: torch.randn(30, 30, generator=_gen(15)).relu().to_sparse(),
    "sparse_csr": lambda: _sparse_csr(torch.randn(30, 30, generator=_gen(16)).relu()),
}


@pytest.mark.parametrize("name", list(TENSORS))
@pytest.mark.parametrize("mode", ["full", "quick"])
def test_cpu_tensor_summary_under_meta_default_device(
    name: str, mode: str, meta_default: None
) -> None:
    torch.set_default_device("cpu")
    x = TENSORS[name]()
    want = oracle(x)
    torch.set_default_device("meta")
    s = tensorpeek.summarize(x, mode=mode)  # type: ignore[arg-type]
    assert s.note is None and s.device == "cpu"
    assert (s.nan, s.posinf, s.neginf, s.finite) == (
        want["nan"], want["posinf"], want["neginf"], want["finite"]
    )  # fmt: skip
    assert s.min == want["min"] and s.max == want["max"]
    if mode == "full":
        assert close(s.mean, want["mean"], scale=want["absmean"])
        assert close(s.std, want["std"]) and close(s.norm, want["norm"])
    assert s.hist is not None and sum(s.hist.counts) > 0
    symlog = tensorpeek.summarize(x, scale="symlog")
    assert symlog.hist is not None and symlog.hist.scale == "symlog"
    assert stats.compute(x, ["absmax", "std", "zeros"])["absmax"] == want["absmax"]


def test_dtype_probe_is_made_on_the_cpu(meta_default: None) -> None:
    """Classifying a dtype converts one element: on "meta" every conversion "succeeds", so
    a probe made there would call float4 readable (and cache that answer)."""
    float4 = getattr(torch, "float4_e2m1fn_x2", None)
    if float4 is None:
        pytest.skip("this torch has no float4")
    dtype_info.cache_clear()
    try:
        assert dtype_info(float4).kind is ValueKind.UNREADABLE
        assert dtype_info(torch.bits8).kind is ValueKind.UNREADABLE
    finally:
        dtype_info.cache_clear()


def test_summary_inside_a_hit_under_meta_default_device(meta_default: None) -> None:
    torch.set_default_device("cpu")

    class Blowup(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x / 0.0 * 0.0  # NaN everywhere (0/0) but where x is 0

    model = torch.nn.Sequential(torch.nn.Linear(8, 8), Blowup())
    x = torch.randn(4, 8, generator=_gen(21))
    torch.set_default_device("meta")
    tensorpeek.clear()
    try:
        with tensorpeek.breakpoints("*:output:nonfinite", action="record"):
            model(x)
        hit = tensorpeek.hits()[-1]
    finally:
        tensorpeek.clear()
    assert hit.module == "1" and hit.summary is not None
    assert hit.summary["device"] == "cpu" and hit.summary["note"] is None
    assert hit.summary["nan"] == 32 and hit.summary["finite"] == 0
