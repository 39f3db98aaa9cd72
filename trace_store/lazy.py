"""Lazy package exports: names re-exported by a package ``__init__`` whose modules load on use.

``trace_store`` and ``trace_store.formats`` both re-export names from heavier modules (the store,
SQLAlchemy, the importers) without importing them up front, so layers that need only the schema
or one reader stay light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` importing each name of ``exports`` from its module.

    ``exports`` maps a name to the module defining it; the value found is stored in
    ``namespace`` (the package's globals) so later lookups skip this function.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
