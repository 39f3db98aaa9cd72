"""import_paths: read files with read_records, segment raw text, and add the traces to a store.

Default mode imports the good records and reports the bad ones; strict mode reads and checks
everything first (records, duplicate ids, ids already stored with other content) and imports
nothing when anything is wrong. Memory stays bounded: traces go to the store in batches; what
is kept per trace for the whole import is its id and a digest prefix (to catch duplicate ids).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from trace_store.formats.fields import STEP_LIST, THINK_SPAN_KEY, line_steps
from trace_store.formats.generic import parse_mapping
from trace_store.formats.reading import read_records
from trace_store.formats.sources import error
from trace_store.schema import ImportedTrace, RecordError, Step
from trace_store.store import ANALYZE_AFTER, Store, gc_paused

Segmenter = Callable[[str], list[Step]]
Progress = Callable[[int], None]
BATCH_SIZE = 2000
_LOOKUP_CHUNK = 500


@dataclass
class ImportReport:
    """What an import did: records read, traces added/unchanged, records failed or conflicting.

    ``errors`` keeps the first ``max_errors_kept`` problems (bad records and id conflicts, in the
    order met); ``failed`` and ``conflicts`` count all of them. ``formats`` says how each
    source was read. In strict mode with any problem, ``added`` is 0 and ``aborted`` is True.
    """

    read: int = 0
    added: int = 0
    unchanged: int = 0
    failed: int = 0
    conflicts: int = 0
    errors: list[RecordError] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)
    aborted: bool = False
    max_errors_kept: int = 50

    @property
    def ok(self) -> bool:
        """Return whether every record was read and stored (or already stored) without conflict."""
        return self.failed == 0 and self.conflicts == 0 and not self.aborted

    def note(self, problem: RecordError, *, conflict: bool = False) -> None:
        """Count ``problem`` (a bad record, or an id conflict) and keep it if there is room."""
        if conflict:
            self.conflicts += 1
        else:
            self.failed += 1
        if len(self.errors) < self.max_errors_kept:
            self.errors.append(problem)


def _split_location(location: str) -> tuple[str, int | None]:
    file, _, line = location.rpartition(":")
    if file and line.isdigit():
        return file, int(line)
    return location, None


def segment_trace(item: ImportedTrace, segmenter: Segmenter | None) -> RecordError | None:
    """Fill ``item``'s steps from its raw text when it has none; return a problem or None.

    Only the reasoning part (metadata ``think_span``) is segmented; step spans point into
    ``raw_text``. Without a segmenter each non-empty line is a step. Labels shipped with the
    record are checked against the new number of steps.
    """
    trace = item.trace
    if trace.steps or not trace.raw_text:
        return None
    text = trace.raw_text
    span = trace.metadata.get(THINK_SPAN_KEY)
    start, end = (span[0], span[1]) if isinstance(span, list) and len(span) == 2 else (0, len(text))
    file, line = _split_location(item.location)
    if segmenter is None:
        trace.steps = STEP_LIST.validate_python(line_steps(text, start, end))
    else:
        try:
            found = segmenter(text[start:end])
        except Exception as exc:  # noqa: BLE001 - a segmenter bug must not end the import
            return error(
                file, line, f"segmentation failed ({type(exc).__name__}: {exc})", "raw_text"
            )
        trace.steps = STEP_LIST.validate_python(
            [
                {
                    "index": i,
                    "text": s.text,
                    "start": None if s.start is None else s.start + start,
                    "end": None if s.end is None else s.end + start,
                }
                for i, s in enumerate(found)
            ]
        )
    n_steps = len(trace.steps)
    for label in item.labels:
        if label.first_mistake is not None and label.first_mistake >= n_steps:
            return error(
                file,
                line,
                f"is {label.first_mistake}; expected -1 or a step index below {n_steps} "
                "(the number of steps found when segmenting the text)",
                "first_mistake",
            )
        if label.step_ratings is not None and len(label.step_ratings) != n_steps:
            return error(
                file,
                line,
                f"has {len(label.step_ratings)} ratings; segmenting the text found {n_steps} steps",
                "step_ratings",
            )
    return None


class _Reader:
    """Reads every path, segments, and drops duplicate ids (same content: counted unchanged)."""

    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        dataset: str,
        fmt: str | None,
        mapping: Mapping[str, str],
        segmenter: Segmenter | None,
        report: ImportReport,
        no_nul: bool = False,
    ) -> None:
        self.paths, self.dataset, self.fmt, self.mapping = paths, dataset, fmt, mapping
        self.segmenter, self.report = segmenter, report
        self.no_nul = no_nul
        self.seen: dict[str, tuple[str, str]] = {}

    def _on_source(self, source: str, schema: str) -> None:
        self.report.formats[source] = schema

    def __iter__(self) -> Iterator[ImportedTrace | RecordError | None]:
        """Yield good traces, problems, and None for a duplicate of a trace already yielded."""
        for path in self.paths:
            records = read_records(
                path,
                self.fmt,
                dataset=self.dataset,
                mapping=self.mapping,
                on_source=self._on_source,
            )
            for item in records:
                if isinstance(item, RecordError):
                    yield item
                    continue
                problem = segment_trace(item, self.segmenter)
                if problem is None and self.no_nul:
                    problem = nul_problem(item)
                if problem is not None:
                    yield problem
                    continue
                yield self._dedupe(item)

    def _dedupe(self, item: ImportedTrace) -> ImportedTrace | RecordError | None:
        trace = item.trace
        digest = trace.content_hash()[:16]
        earlier = self.seen.get(trace.id)
        if earlier is None:
            self.seen[trace.id] = (digest, item.location)
            return item
        if earlier[0] == digest:
            return None
        file, line = _split_location(item.location)
        return error(
            file,
            line,
            f"id {trace.id!r} was already read at {earlier[1]} with different content; "
            "this record is not imported",
            "id",
        )


def nul_problem(item: ImportedTrace) -> RecordError | None:
    """Return a problem when a text field holds a NUL character (PostgreSQL text cannot)."""
    trace = item.trace
    fields = {
        "id": trace.id,
        "task": trace.task,
        "model": trace.model,
        "question": trace.question,
        "answer": trace.answer,
        "target": trace.target,
        "raw_text": trace.raw_text,
    }
    fields.update({f"steps[{s.index}]": s.text for s in trace.steps})
    for name, value in fields.items():
        if value is not None and "\x00" in value:
            file, line = _split_location(item.location)
            return error(
                file,
                line,
                f"holds a NUL character (\\u0000) at offset {value.index(chr(0))}; "
                "PostgreSQL stores cannot keep it (remove it, or import into SQLite)",
                name,
            )
    return None


def _store_conflicts(store: Store, items: list[ImportedTrace]) -> list[RecordError]:
    """Return a problem per item whose id is stored with different content (nothing written)."""
    problems: list[RecordError] = []
    for start in range(0, len(items), _LOOKUP_CHUNK):
        chunk = items[start : start + _LOOKUP_CHUNK]
        stored = {t.id: t for t in store.get_traces([i.trace.id for i in chunk])}
        for item in chunk:
            old = stored.get(item.trace.id)
            if old is not None and old.content_hash() != item.trace.content_hash():
                file, line = _split_location(item.location)
                msg = f"id {item.trace.id!r} is already stored (dataset {old.dataset!r}) with "
                problems.append(error(file, line, msg + "different content", "id"))
    return problems


def _write_batch(store: Store, batch: list[ImportedTrace], report: ImportReport) -> None:
    result = store.add_traces(batch, batch_size=len(batch))
    report.added += result.added
    report.unchanged += result.unchanged
    if not result.conflicts:
        return
    where = {item.trace.id: item.location for item in batch}
    for trace_id, message in result.conflicts:
        location = where.get(trace_id, "")
        file, line = _split_location(location)
        message = message.removeprefix(f"{location}: ") if location else message
        report.note(error(file, line, f"id {trace_id!r}: {message}", "id"), conflict=True)


def _batches(
    items: Iterable[ImportedTrace | RecordError | None],
    report: ImportReport,
    progress: Progress | None,
) -> Iterator[list[ImportedTrace]]:
    """Yield the good traces in batches, counting the rest; collect young garbage in between.

    The caller must drop its reference to a batch before asking for the next one, so that the
    collection here runs after the batch is freed and scans only what is left over.
    """
    iterator = iter(items)
    while chunk := list(islice(iterator, BATCH_SIZE)):
        batch: list[ImportedTrace] = []
        for item in chunk:
            if item is None:
                report.unchanged += 1
            elif isinstance(item, RecordError):
                report.note(item)
            else:
                batch.append(item)
        report.read += len(chunk)
        n_read = len(chunk)
        del chunk
        if batch:
            yield batch
        del batch
        gc.collect(0)
        if progress is not None:
            progress(n_read)


def import_paths(
    store: Store,
    paths: Sequence[str | Path],
    *,
    dataset: str,
    fmt: str | None = None,
    mapping: Mapping[str, str] | str | None = None,
    strict: bool = False,
    segmenter: Segmenter | None = None,
    progress: Progress | None = None,
    max_errors_kept: int = 50,
) -> ImportReport:
    """Return the report of importing ``paths`` (files or folders) into ``store`` as ``dataset``.

    ``fmt`` overrides format detection, ``mapping`` maps generic columns, ``segmenter`` splits
    raw text into steps (default: one step per non-empty line). ``progress(n)`` is called with
    the number of records handled since its last call. Raises UnknownFormat/ValueError for a bad
    format name, mapping or dataset name before reading anything.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    if isinstance(mapping, str) or mapping is None:
        mapping = parse_mapping(mapping)
    # Validate fmt and dataset now, so a bad option fails before any work.
    read_records(paths[0] if paths else ".", fmt, dataset=dataset, mapping=mapping)
    report = ImportReport(max_errors_kept=max_errors_kept)

    def reader() -> _Reader:
        return _Reader(
            paths,
            dataset=dataset,
            fmt=fmt,
            mapping=mapping,
            segmenter=segmenter,
            report=report,
            no_nul=getattr(store, "dialect", "") == "postgresql",
        )

    with gc_paused():
        if strict:
            check = ImportReport(max_errors_kept=max_errors_kept)
            for batch in _batches(reader(), check, progress=None):
                for problem in _store_conflicts(store, batch):
                    check.note(problem, conflict=True)
                del batch
            if not check.ok:
                check.aborted = True
                check.unchanged = 0
                check.formats = report.formats
                return check
        for batch in _batches(reader(), report, progress):
            _write_batch(store, batch, report)
            del batch
    # Each batch is one small add_traces call, below its own statistics threshold.
    if report.added >= ANALYZE_AFTER:
        store.refresh_statistics()
    return report
