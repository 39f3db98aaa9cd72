"""The trace store: traces in and out, listing, filtering and full-text search.

Labels, suggestions, analyses and runs live in ``store_records.py``; dataset summaries, stats
and integrity checks in ``store_report.py``; both are mixed into :class:`Store`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import islice

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

from trace_store import bulk, codec, planner, search
from trace_store.bulk import AddResult
from trace_store.db import (
    create_store_engine,
    default_db_url,
    read_transaction,
    upgrade_to_head,
    write_transaction,
)
from trace_store.filters import (
    TraceFilter,
    TraceRow,
    order_clauses,
    trace_row,
    where_clauses,
)
from trace_store.orm import trace_bodies, trace_groups, traces
from trace_store.schema import ImportedTrace, Trace, utcnow
from trace_store.store_records import LabelConflict, RecordsMixin, chunked
from trace_store.store_report import ReportMixin

__all__ = ["AddResult", "LabelConflict", "Store", "open_store"]

# Past this many new traces in one add_traces call, refresh the SQLite planner's statistics.
ANALYZE_AFTER = 5_000
_ID_CHUNK = 500

TRACE_COLUMNS = (
    traces.c.rid,
    traces.c.id,
    traces.c.dataset,
    traces.c.task,
    traces.c.model,
    traces.c.correct,
    traces.c.format_version,
    trace_bodies.c.question,
    trace_bodies.c.steps,
    trace_bodies.c.spans,
    trace_bodies.c.raw_text,
    trace_bodies.c.answer,
    trace_bodies.c.target,
    trace_bodies.c["metadata"],
)
_TRACE_JOIN = traces.join(trace_bodies, trace_bodies.c.rid == traces.c.rid)


class Store(RecordsMixin, ReportMixin):
    """A trace store on SQLite or PostgreSQL (make one with :func:`open_store`)."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self.dialect: str = engine.dialect.name

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release every database connection (the store must not be used afterwards)."""
        self.engine.dispose()

    # ----------------------------------------------------------------------------- writing

    def add_traces(self, items: Iterable[ImportedTrace], *, batch_size: int = 2000) -> AddResult:
        """Return what was added after storing ``items`` batch by batch, one transaction each.

        Idempotent: a trace whose id is stored with the same content hash counts as unchanged
        (its shipped labels are not re-read); the same id with other content is a conflict and is
        not written. A trace is written whole (row, steps, search index, labels) or not at all;
        if an exception escapes, the batch being written is rolled back and earlier batches stay.
        Items are consumed lazily, so memory stays bounded by one batch.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        result = AddResult()
        iterator = iter(items)
        with gc_paused():
            try:
                while batch := list(islice(iterator, batch_size)):
                    self._add_batch(batch, result)
            except BaseException:
                if result.added:
                    # Index what earlier batches committed; never hide the original error.
                    with suppress(Exception):
                        self._after_import(result.added)
                raise
            if result.added:
                self._after_import(result.added)
        return result

    def _after_import(self, added: int) -> None:
        """Index what was added for search and refresh planner statistics (SQLite)."""
        if self.dialect != "sqlite":
            return
        search.catch_up(self.engine)
        if added >= ANALYZE_AFTER:
            self.refresh_statistics()

    def refresh_statistics(self) -> None:
        """Refresh SQLite's planner statistics so it knows the new table sizes.

        Sampled (PRAGMA analysis_limit), so cheap; a no-op on PostgreSQL (autovacuum does it).
        Importers that add in many small calls call it once at the end.
        """
        if self.dialect != "sqlite":
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()

    def refresh_search_index(self) -> int:
        """Return how many traces were added to the full-text index to bring it up to date.

        Only an interrupted import on SQLite leaves work here; searches call it themselves.
        """
        return search.catch_up(self.engine)

    def _searchable(self, flt: TraceFilter | None) -> None:
        """Bring the SQLite search index up to date before a text query needs it."""
        if self.dialect != "sqlite" or flt is None or not (flt.text and flt.text.strip()):
            return
        with self.engine.connect() as conn:
            current = search.index_is_current(conn, self.dialect)
        if not current:
            search.catch_up(self.engine)

    def _add_batch(self, batch: list[ImportedTrace], result: AddResult) -> None:
        pending = bulk.prepare_batch(batch, result)
        if not pending:
            return
        with write_transaction(self.engine) as conn:
            bulk.drop_stored(conn, pending, result)
            if pending:
                bulk.write_batch(conn, list(pending.values()), utcnow())
        result.added += len(pending)

    def delete_dataset(self, name: str) -> int:
        """Return how many traces of dataset ``name`` were deleted, with all that hangs off them."""
        rid_select = sa.select(traces.c.rid).where(traces.c.dataset == name)
        with write_transaction(self.engine) as conn:
            search.unindex_where(conn, self.dialect, rid_select)
            deleted = conn.execute(sa.delete(traces).where(traces.c.dataset == name)).rowcount
            conn.execute(sa.delete(trace_groups).where(trace_groups.c.dataset == name))
        return int(deleted or 0)

    # ----------------------------------------------------------------------------- reading

    def get_trace(self, trace_id: str) -> Trace | None:
        """Return the trace with id ``trace_id``, or None when there is none."""
        found = self.get_traces([trace_id])
        return found[0] if found else None

    def get_traces(self, ids: list[str]) -> list[Trace]:
        """Return the stored traces among ``ids``, in the order given (unknown ids skipped)."""
        by_id: dict[str, Trace] = {}
        with self.engine.connect() as conn:
            for chunk in chunked(list(dict.fromkeys(ids)), _ID_CHUNK):
                query = sa.select(*TRACE_COLUMNS).select_from(_TRACE_JOIN)
                for row in conn.execute(query.where(traces.c.id.in_(chunk))).mappings():
                    by_id[row["id"]] = codec.trace_from_row(row)
        return [by_id[i] for i in ids if i in by_id]

    def trace_ids_with_metadata(
        self,
        key_paths: Sequence[Sequence[str]],
        value: str,
        flt: TraceFilter | None = None,
    ) -> list[str]:
        """Return the ids of traces matching ``flt`` whose metadata holds string ``value``.

        ``key_paths`` are paths of keys into the metadata (``[("generation", "run_id")]``); a
        trace matches when any of them leads to a JSON string equal to ``value``. The test runs
        in the database (SQLite JSON1, PostgreSQL jsonb), so only the ids of the matches are
        read, in the order they were added. Raises ValueError for an empty path or a key
        holding a double quote.
        """
        if not key_paths:
            raise ValueError("key_paths: expected at least one path of metadata keys")
        matches = [_metadata_is(path, value, self.dialect) for path in key_paths]
        where = where_clauses(flt, self.dialect)  # rejects a bad filter
        self._searchable(flt)
        query = (
            sa.select(traces.c.id)
            .select_from(_TRACE_JOIN)
            .where(*where, sa.or_(*matches))
            .order_by(traces.c.rid)
        )
        with read_transaction(self.engine) as conn:
            return list(conn.scalars(query))

    def list_traces(
        self,
        flt: TraceFilter | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        order_by: str = "id",
        descending: bool = False,
    ) -> list[TraceRow]:
        """Return one page of rows matching ``flt``, sorted by ``order_by`` (see ORDER_COLUMNS)."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        order_clauses(order_by, descending, self.dialect)  # reject a bad order_by up front
        where_clauses(flt, self.dialect)  # ... and a bad filter
        self._searchable(flt)
        with read_transaction(self.engine) as conn:
            rows = planner.list_rows(
                conn, flt, limit=limit, offset=offset, order_by=order_by, descending=descending
            )
        return [trace_row(row) for row in rows]

    def count_traces(self, flt: TraceFilter | None = None, *, cap: int | None = None) -> int:
        """Return how many traces match ``flt``; with ``cap``, at most ``cap`` (stops there).

        A capped count answers "cap or more" quickly on huge stores: lists show "10,000+".
        """
        where_clauses(flt, self.dialect)  # reject a bad filter before touching the index
        self._searchable(flt)
        with read_transaction(self.engine) as conn:
            return planner.count_rows(conn, flt, cap)

    def iter_traces(
        self, flt: TraceFilter | None = None, *, batch_size: int = 1000
    ) -> Iterator[Trace]:
        """Yield every trace matching ``flt`` in the order they were added.

        Reads ``batch_size`` traces per short query (keyset pagination), holding no cursor or
        transaction open between batches, so the caller may write to the store while iterating.
        """
        where_clauses(flt, self.dialect)  # reject a bad filter before the first batch
        self._searchable(flt)
        last = 0
        while True:
            with self.engine.connect() as conn:
                rows = planner.keyset_page(conn, flt, TRACE_COLUMNS, last, batch_size)
            if not rows:
                return
            last = rows[-1]["rid"]
            for row in rows:
                yield codec.trace_from_row(row)
            if len(rows) < batch_size:
                return


def _metadata_is(path: Sequence[str], value: str, dialect: str) -> sa.ColumnElement[bool]:
    """Return the SQL test "the metadata holds the JSON string ``value`` at ``path``"."""
    keys = [str(k) for k in path]
    if not keys or any('"' in k for k in keys):
        raise ValueError(f"metadata key path {list(path)!r}: expected keys without '\"'")
    metadata = trace_bodies.c["metadata"]
    if dialect == "sqlite":
        json_path = "$" + "".join(f'."{k}"' for k in keys)
        # json_type keeps a number (or an object's JSON text) from equalling the string.
        return sa.and_(
            sa.func.json_type(metadata, json_path) == "text",
            sa.func.json_extract(metadata, json_path) == value,
        )
    found = sa.func.jsonb_extract_path(sa.cast(metadata, postgresql.JSONB), *keys)
    return found == sa.func.to_jsonb(sa.cast(sa.literal(value), sa.Text))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Yield with Python's cycle collector paused, restoring it afterwards.

    A bulk import allocates millions of short-lived objects (freed by reference counting
    anyway); without the pause it spends about a third of its time in collections that find
    nothing. Memory stays bounded by the batch size. Long callers (``import_paths``) run
    ``gc.collect(0)`` between batches so cyclic garbage is still freed.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def open_store(url: str | None = None) -> Store:
    """Return a Store for ``url`` (default: default_db_url()), migrated to the newest schema."""
    url = url or default_db_url()
    engine = create_store_engine(url)
    try:
        upgrade_to_head(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(url, engine)
