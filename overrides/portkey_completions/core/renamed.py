"""Old public names kept for one release after a rename: each use gets the new object and a DeprecationWarning."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any


def module_getattr(module: str, renamed: Mapping[str, tuple[str, Any]]) -> Callable[[str], Any]:
    """A module's `__getattr__` (PEP 562) for its renamed names: old name -> (new name, the object)."""

    def __getattr__(name: str) -> Any:
        if name not in renamed:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new, found = renamed[name]
        warnings.warn(f"{name} is deprecated: use {new} (CHANGELOG.md)", DeprecationWarning, stacklevel=2)
        return found

    return __getattr__
