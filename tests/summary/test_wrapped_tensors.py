"""Tensors that are not plain memory: fake tensors (FakeTensorMode, torch.compile tracing),
Python wrapper subclasses, vmap's batched tensors and grad's wrapped ones. Their "data
pointer" can point nowhere, so the fused kernel must never be handed one (it would crash
the user's process); summaries say what they can, or why they cannot."""

from __future__ import annotations

import math

import torch
from summary_oracle import oracle
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.testing._internal.two_tensor import TwoTensor

import tensorpeek
from tensorpeek.summary import native


def test_fake_tensor_gives_metadata_and_says_why() -> None:
    with FakeTensorMode():
        fake = torch.randn(1000)
    assert not native.can_read(fake)
    s = tensorpeek.summarize(fake)
    assert s.numel == 1000 and s.nan is None
    assert s.note == "fake tensor (FakeTensorMode or torch.compile tracing): metadata only"


def test_python_wrapper_subclass_gives_metadata_and_says_why() -> None:
    # its ops run Python (DTensor's would communicate with other ranks; TwoTensor's mix
    # its two tensors), so a summary runs none of them
    two = TwoTensor(torch.randn(300), torch.randn(300))
    assert not native.can_read(two)
    assert not native.can_read(two.detach().as_subclass(torch.Tensor))
    s = tensorpeek.summarize(two)
    assert s.numel == 300 and s.nan is None
    assert s.note == "TwoTensor dispatches its ops in Python: metadata only"


class _Tagged(torch.Tensor):
    """A plain subclass (no __torch_dispatch__): its values are ordinary memory."""


def test_plain_subclass_is_summarized_exactly() -> None:
    x = torch.randn(1000, generator=torch.Generator().manual_seed(2)).as_subclass(_Tagged)
    s = tensorpeek.summarize(x)
    want = oracle(x.as_subclass(torch.Tensor))
    assert s.min == want["min"] and s.max == want["max"] and s.note is None
    assert math.isclose(s.std, want["std"], rel_tol=1e-6)


def test_batched_tensor_inside_vmap_gives_metadata_and_says_why() -> None:
    notes = []

    def per_row(row: torch.Tensor) -> torch.Tensor:
        assert not native.can_read(row)
        notes.append(tensorpeek.summarize(row).note)
        return row.sum()

    torch.vmap(per_row)(torch.randn(3, 4))
    assert notes == ["batched tensor inside vmap: metadata only"]


def test_tensor_inside_grad_transform_is_summarized_exactly() -> None:
    x = torch.randn(50, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    seen = []

    def loss(t: torch.Tensor) -> torch.Tensor:
        seen.append(tensorpeek.summarize(t))
        return (t * t).sum()

    grad = torch.func.grad(loss)(x)
    assert torch.equal(grad, 2 * x)  # the summary changed nothing
    want = oracle(x)
    (s,) = seen
    assert s.min == want["min"] and s.max == want["max"]
    assert math.isclose(s.std, want["std"], rel_tol=1e-9)
