"""Which tensor a whole-tensor request names, and finding it in this rank's process
(``engine.rank_summary`` is the exchange that uses it).

Every rank must find the same tensor, so it is named as every rank can resolve it: a
parameter's path under the root module the engine knows (FSDP2 keeps the model's own paths)
and whether it is that parameter's ``.grad``. FSDP2 swaps a parameter for its unsharded
tensor inside a forward or backward; the sharded ``DTensor`` is then found in FSDP2's state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from tensorpeek.summary.sharded import is_sharded


class WholeSummaryError(ValueError):
    """The whole tensor's summary cannot be given; the message says why (and which rank)."""


@dataclass(frozen=True)
class TensorRef:
    """A tensor as every rank can find it: a parameter (or its ``.grad``) by its path under
    the root module (``param``, e.g. ``"0.weight"``); ``root_class`` tells roots apart."""

    param: str
    grad: bool
    root_class: str

    @property
    def text(self) -> str:
        return self.param + (".grad" if self.grad else "")

    def to_dict(self) -> dict[str, Any]:
        return {"param": self.param, "grad": self.grad, "root_class": self.root_class}


def known_roots() -> list[torch.nn.Module]:
    """The root modules the engine has seen running forward (latest last), loss modules
    excepted: its hooks' root maps, and the step counter's first root (which outlives the
    hooks: a ``once`` breakpoint removes them as it fires, before the pause). Both are read
    from private state: neither has a public accessor yet."""
    from tensorpeek.common.steps import STEPS
    from tensorpeek.engine.hooks import HOOKS

    roots = []
    first_ref = getattr(STEPS, "_first_root", None)
    first = first_ref() if first_ref is not None else None
    if isinstance(first, torch.nn.Module):
        roots.append(first)
    for m in list(getattr(HOOKS, "_root_maps", {}).values()):
        root = m.root()
        if root is not None and not m.auxiliary and all(root is not r for r in roots):
            roots.append(root)
    return roots


def _fsdp_sharded(root: torch.nn.Module) -> dict[tuple[int, str], Any]:
    """(id(owning module), name) -> FSDP2's sharded DTensor parameter, for the parameters
    FSDP2 has swapped for their unsharded tensors at this moment (inside a forward or
    backward). FSDP2's internals: an empty map where they are not what this expects."""
    found: dict[tuple[int, str], Any] = {}
    for m in root.modules():
        get_state = getattr(m, "_get_fsdp_state", None)
        if get_state is None:
            continue
        try:
            group = get_state()._fsdp_param_group
            for fp in group.fsdp_params if group is not None else ():
                info = fp._module_info
                found[(id(info.module), info.param_name)] = fp.sharded_param
        except (AttributeError, RuntimeError, TypeError):
            continue
    return found


def _parameters(root: torch.nn.Module) -> Iterator[tuple[str, torch.nn.Module, str, Any]]:
    """``(path, owner, name, parameter)`` under ``root``, the sharded DTensor where FSDP2
    holds one (the module's attribute otherwise)."""
    sharded = _fsdp_sharded(root)
    for path, owner in root.named_modules():
        for name, p in owner.named_parameters(recurse=False):
            fqn = f"{path}.{name}" if path else name
            yield fqn, owner, name, sharded.get((id(owner), name), p)


def _root_for(root_class: str | None) -> list[torch.nn.Module]:
    roots = known_roots()
    if root_class is not None:
        roots = [r for r in roots if type(r).__name__ == root_class]
    return roots[::-1]  # the latest first


def resolve_local(ref: TensorRef) -> Any:
    """This rank's DTensor for ``ref``; ``WholeSummaryError`` with the reason otherwise."""
    roots = _root_for(ref.root_class)
    if not roots:
        raise WholeSummaryError(
            f"no model of class {ref.root_class} has run forward while tensorpeek was armed here"
        )
    for root in roots:
        for fqn, _owner, _name, p in _parameters(root):
            if fqn == ref.param:
                return _checked(ref, p.grad if ref.grad else p)
    names = [fqn for fqn, *_ in _parameters(roots[0])]
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    raise WholeSummaryError(
        f"no parameter {ref.param!r} under its model ({ref.root_class}: {shown or 'none'})"
    )


def _checked(ref: TensorRef, x: Any) -> Any:
    if x is None:
        raise WholeSummaryError(f"{ref.param!r} has no gradient (.grad is None)")
    if not is_sharded(x):
        raise WholeSummaryError(
            f"{ref.text!r} is not sharded here (a {type(x).__name__}, not a DTensor): "
            "its local summary is the whole tensor"
        )
    from torch.distributed.tensor.placement_types import Partial

    if any(isinstance(p, Partial) for p in x.placements):
        raise WholeSummaryError(
            f"{ref.text!r} has a Partial placement (pending sums, not values): reduce it "
            "(e.g. redistribute to Replicate) before summarizing the whole tensor"
        )
    return x


def reference(target: Any) -> TensorRef:
    """The ``TensorRef`` of what the user named: a parameter path (``"0.weight"``,
    ``"0.weight.grad"``) or a parameter / gradient tensor of a model the engine knows."""
    roots = _root_for(None)
    if not roots:
        raise WholeSummaryError(
            "tensorpeek knows no model in this rank yet (none has run forward while armed)"
        )
    if isinstance(target, str):
        for root in roots:
            names = {fqn for fqn, *_ in _parameters(root)}
            if target in names:
                return TensorRef(target, False, type(root).__name__)
            if target.endswith(".grad") and target[: -len(".grad")] in names:
                return TensorRef(target[: -len(".grad")], True, type(root).__name__)
        shown = ", ".join(sorted(fqn for fqn, *_ in _parameters(roots[0]))[:8])
        raise WholeSummaryError(
            f"no parameter {target!r} under the model tensorpeek knows "
            f"({type(roots[0]).__name__}: {shown}, ...); name a parameter path, optionally "
            "with '.grad'"
        )
    if isinstance(target, torch.Tensor):
        for root in roots:
            for fqn, owner, name, p in _parameters(root):
                current = owner._parameters.get(name)
                if target is p or target is current:
                    return TensorRef(fqn, False, type(root).__name__)
                if target is p.grad or (current is not None and target is current.grad):
                    return TensorRef(fqn, True, type(root).__name__)
        raise WholeSummaryError(
            "this tensor is not a parameter or a parameter's gradient of a model tensorpeek "
            "knows; name it by its parameter path (e.g. '0.weight' or '0.weight.grad')"
        )
    raise WholeSummaryError(f"expected a parameter path or a tensor, got a {type(target).__name__}")
