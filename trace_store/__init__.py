"""Persistence for Thoughtscope: the schema contract, the store, importers and exporters.

``from trace_store import open_store, TraceFilter`` works, but the store (and SQLAlchemy) is only
imported on first use, so layers that need nothing but ``trace_store.schema`` stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trace_store.lazy import lazy_getattr

if TYPE_CHECKING:
    from trace_store.bulk import AddResult
    from trace_store.db import default_db_url
    from trace_store.filters import DatasetInfo, TraceFilter, TraceRow
    from trace_store.store import Store, open_store
    from trace_store.store_records import LabelConflict

_EXPORTS = {
    "open_store": "trace_store.store",
    "Store": "trace_store.store",
    "AddResult": "trace_store.bulk",
    "LabelConflict": "trace_store.store_records",
    "default_db_url": "trace_store.db",
    "TraceFilter": "trace_store.filters",
    "TraceRow": "trace_store.filters",
    "DatasetInfo": "trace_store.filters",
}

__all__ = [
    "AddResult",
    "DatasetInfo",
    "LabelConflict",
    "Store",
    "TraceFilter",
    "TraceRow",
    "default_db_url",
    "open_store",
]


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
