"""Namespace package shared with debugpy's own ``pydevd_plugins`` (pydevd's extension point)."""

import pkgutil

__path__ = pkgutil.extend_path(__path__, __name__)
