"""debugpy (pydevd) extension: tensors show as tensorpeek summaries in the debugger.

pydevd imports every ``pydevd_plugins.extensions.pydevd_plugin_*`` module it finds on
``sys.path`` when it first displays a variable, and asks the classes below whether they handle
a type. The hover, Watch, Debug Console and Variables view then show
``tensor[32, 256] f32 x∈[-0.81, 0.93] μ=0.002 σ=0.26 ▁▂▅█▅▂▁`` instead of the values, and
expanding a tensor shows shape, dtype, device, stats, histogram, grad and a small preview.

This module is only glue: the logic (lazy, bounded, never raising) is
``tensorpeek.debugger.presentation``. It imports neither torch nor numpy.
"""

from __future__ import annotations

from typing import Any

from _pydevd_bundle.pydevd_extension_api import StrPresentationProvider, TypeResolveProvider

__all__ = [
    "ContainerStrProvider",
    "ModuleStrProvider",
    "TensorResolveProvider",
    "TensorStrProvider",
]


def _presentation() -> Any:
    from tensorpeek.debugger import presentation

    return presentation


def _handled_type(type_object: type) -> bool:
    p = _presentation()
    return bool(p.is_tensor_type(type_object) or p.is_ndarray_type(type_object))


class TensorStrProvider(StrPresentationProvider):
    """The one-line summary for hover, watch, repl and Variables (not for ``clipboard``,
    which copies the real values)."""

    def can_provide(self, type_object: type, type_name: str) -> bool:
        return _handled_type(type_object)

    def get_str_in_context(self, val: Any, context: str) -> str | None:
        return _presentation().hover_text(val, context)

    def get_str(self, val: Any) -> str | None:
        return _presentation().hover_text(val)


class ContainerStrProvider(StrPresentationProvider):
    """Dicts, lists and tuples that hold tensors: their summaries in the container's line
    instead of torch's full repr of every value (others keep pydevd's repr: ``None``)."""

    def can_provide(self, type_object: type, type_name: str) -> bool:
        return type_object in (dict, list, tuple)

    def get_str_in_context(self, val: Any, context: str) -> str | None:
        return _presentation().container_text(val, context)  # type: ignore[no-any-return]

    def get_str(self, val: Any) -> str | None:
        return _presentation().container_text(val)  # type: ignore[no-any-return]


class ModuleStrProvider(StrPresentationProvider):
    """``nn.Module``: one line (class, submodules, parameter count, dtype and device, mode)
    instead of torch's repr of the whole module tree; expanding it keeps pydevd's children."""

    def can_provide(self, type_object: type, type_name: str) -> bool:
        return bool(_presentation().is_module_type(type_object))

    def get_str_in_context(self, val: Any, context: str) -> str | None:
        return _presentation().module_text(val, context)  # type: ignore[no-any-return]

    def get_str(self, val: Any) -> str | None:
        return _presentation().module_text(val)  # type: ignore[no-any-return]


class TensorResolveProvider(TypeResolveProvider):
    """Children of an expanded tensor; NumPy arrays in a process without torch keep pydevd's
    own NumPy children."""

    def can_provide(self, type_object: type, type_name: str) -> bool:
        return _handled_type(type_object)

    def _fallback(self) -> Any:
        from pydevd_plugins.extensions.types.pydevd_plugin_numpy_types import (
            NDArrayTypeResolveProvider,
        )

        return NDArrayTypeResolveProvider()

    def get_contents_debug_adapter_protocol(
        self, obj: Any, fmt: Any = None
    ) -> list[tuple[str, Any, str | None]]:
        p = _presentation()
        if not p.is_presentable(obj):
            return sorted(
                ((k, v, None) for k, v in self._fallback().get_dictionary(obj).items()),
                key=lambda row: row[0],
            )
        return p.tensor_children(obj)

    def get_dictionary(self, obj: Any) -> dict[str, Any]:
        return {name: value for name, value, _ in self.get_contents_debug_adapter_protocol(obj)}

    def resolve(self, obj: Any, attribute: str) -> Any:
        if not _presentation().is_presentable(obj):
            return self._fallback().resolve(obj, attribute)
        return self.get_dictionary(obj).get(attribute)
