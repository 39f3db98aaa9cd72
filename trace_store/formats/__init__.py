"""Importers and exporters: many trace formats in, many training formats out.

``read_records(path, fmt=None, dataset=..., mapping=None)`` reads any supported file or folder
into ImportedTrace / RecordError items (pure, no store); ``import_paths(store, paths, ...)``
segments raw text and adds the traces to a store; ``export_traces(store, flt, fmt, out, ...)``
writes them out again. Format names: see ``FORMATS`` (import) and ``EXPORT_FORMATS`` (export).

The names below are imported on first use: importing one reader module (say
``trace_store.formats.thought_anchors``, which analyzers use) must not drag in the store and
SQLAlchemy through this package's ``__init__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trace_store.lazy import lazy_getattr

if TYPE_CHECKING:
    from trace_store.formats.detect import FORMATS, UnknownFormat, check_format, detect_schema
    from trace_store.formats.exporting import EXPORT_FORMATS, ExportReport, export_traces
    from trace_store.formats.generic import MAPPABLE, parse_mapping
    from trace_store.formats.importing import ImportReport, import_paths, segment_trace
    from trace_store.formats.reading import read_records
    from trace_store.formats.sources import MAX_LINE_BYTES

_EXPORTS = {
    "FORMATS": "trace_store.formats.detect",
    "UnknownFormat": "trace_store.formats.detect",
    "check_format": "trace_store.formats.detect",
    "detect_schema": "trace_store.formats.detect",
    "EXPORT_FORMATS": "trace_store.formats.exporting",
    "ExportReport": "trace_store.formats.exporting",
    "export_traces": "trace_store.formats.exporting",
    "MAPPABLE": "trace_store.formats.generic",
    "parse_mapping": "trace_store.formats.generic",
    "ImportReport": "trace_store.formats.importing",
    "import_paths": "trace_store.formats.importing",
    "segment_trace": "trace_store.formats.importing",
    "read_records": "trace_store.formats.reading",
    "MAX_LINE_BYTES": "trace_store.formats.sources",
}

__all__ = [
    "EXPORT_FORMATS",
    "FORMATS",
    "MAPPABLE",
    "MAX_LINE_BYTES",
    "ExportReport",
    "ImportReport",
    "UnknownFormat",
    "check_format",
    "detect_schema",
    "export_traces",
    "import_paths",
    "parse_mapping",
    "read_records",
    "segment_trace",
]


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
