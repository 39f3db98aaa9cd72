"""Store methods for what hangs off a trace: labels (with history), suggestions, analyses, runs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trace_store import codec
from trace_store.db import read_transaction, write_transaction
from trace_store.orm import (
    BEHAVIOR_COLUMNS,
    analyses,
    label_history,
    labels,
    runs,
    suggestions,
    traces,
)
from trace_store.schema import Analysis, Label, Run, Suggestion, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

BEHAVIOR_ANALYZER = "behaviors"
"""Saving an Analysis with this analyzer name updates the trace's behaviour counts."""

_BATCH = 2000
_ID_CHUNK = 500
_T = TypeVar("_T")


class LabelConflict(Exception):
    """A label save that would overwrite someone else's newer save, or duplicate a label."""


class RecordsMixin:
    """Labels, suggestions, analyses and runs (mixed into trace_store.store.Store)."""

    engine: Engine
    dialect: str

    # ------------------------------------------------------------------------------ labels

    def save_label(
        self, label: Label, *, expected_version: int | None = None, actor: str | None = None
    ) -> Label:
        """Return ``label`` as saved (id, version, times set); every save is kept in history.

        ``label.id`` None inserts: a trace has at most one label per annotator, so a second
        insert for the pair raises LabelConflict. With an id it updates: the stored version must
        equal ``expected_version`` (default: ``label.version``, the version the editor loaded),
        else LabelConflict; the version is bumped and ``updated_at`` set. History records
        ``actor`` as who saved (default: the label's annotator). Raises ValueError for an
        unknown trace.
        """
        try:
            with write_transaction(self.engine) as conn:
                return self.write_label(conn, label, expected_version, actor, utcnow())
        except sa.exc.IntegrityError as exc:
            raise LabelConflict(
                f"trace {label.trace_id!r} already has a label by {label.annotator!r}"
            ) from exc

    def lock_trace(self, conn: Connection, trace_id: str) -> sa.Row | None:
        """Return the trace's (rid, id, dataset, n_steps) row, locked for writing; None if absent.

        On PostgreSQL the row is locked (FOR UPDATE) so label saves and queue leases of one
        trace run one at a time and the label summary is computed from committed labels; SQLite
        write transactions (BEGIN IMMEDIATE) are serialised already.
        """
        query = _LOCK_TRACE_PG if self.dialect == "postgresql" else _LOCK_TRACE
        return conn.execute(query, {"trace_id": trace_id}).first()

    def write_label(
        self,
        conn: Connection,
        label: Label,
        expected_version: int | None,
        actor: str | None,
        now: Any,
        *,
        trace: sa.Row | None = None,
        stored: Label | None = None,
    ) -> Label:
        """Return ``label`` as saved inside the caller's write transaction (see save_label).

        A caller that already holds the trace's row from lock_trace passes it as ``trace``, and
        the stored label it read under that lock as ``stored``, to save the queries.
        """
        if trace is None:
            trace = self.lock_trace(conn, label.trace_id)
        if trace is None:
            raise ValueError(f"cannot label trace {label.trace_id!r}: no such trace in the store")
        if label.id is None:
            saved = self._insert_label(conn, label, now)
            old = None
        else:
            saved, old = self._update_label(conn, label, expected_version, now, stored)
        conn.execute(
            _INSERT_HISTORY,
            {
                "label_id": saved.id,
                "at": now,
                "annotator": actor or saved.annotator,
                "old": None if old is None else codec.label_json(old),
                "new": codec.label_json(saved),
            },
        )
        self._refresh_label_summary(conn, saved.trace_id, trace.dataset)
        return saved

    def _insert_label(self, conn: Connection, label: Label, now: Any) -> Label:
        clash = conn.scalar(
            _LABEL_ID_OF, {"trace_id": label.trace_id, "annotator": label.annotator}
        )
        if clash is not None:
            raise LabelConflict(
                f"trace {label.trace_id!r} already has a label by {label.annotator!r} "
                f"(label {clash}); load that label and update it"
            )
        saved = label.model_copy(update={"version": 1, "updated_at": now})
        new_id = conn.execute(_INSERT_LABEL, codec.label_row(saved)).scalar_one()
        return saved.model_copy(update={"id": int(new_id)})

    def _update_label(
        self,
        conn: Connection,
        label: Label,
        expected_version: int | None,
        now: Any,
        stored: Label | None = None,
    ) -> tuple[Label, Label]:
        if stored is None or stored.id != label.id:
            row = conn.execute(sa.select(labels).where(labels.c.id == label.id)).mappings().first()
            if row is None:
                raise LabelConflict(f"label {label.id} no longer exists (deleted with its trace?)")
            stored = codec.label_from_row(row)
        expected = label.version if expected_version is None else expected_version
        if stored.version != expected:
            raise LabelConflict(
                f"label {label.id} was saved by {stored.annotator!r} at "
                f"{stored.updated_at.isoformat()} (version {stored.version}); this edit started "
                f"from version {expected}: reload it before saving"
            )
        if label.trace_id != stored.trace_id:
            raise ValueError(
                f"label {label.id} belongs to trace {stored.trace_id!r}, not {label.trace_id!r}"
            )
        saved = label.model_copy(
            update={
                "version": stored.version + 1,
                "created_at": stored.created_at,
                "updated_at": now,
            }
        )
        values = {f"v_{k}": v for k, v in codec.label_row(saved).items() if k != "trace_id"}
        updated = conn.execute(
            _UPDATE_LABEL, {"label_id": label.id, "old_version": stored.version, **values}
        )
        if updated.rowcount != 1:
            raise LabelConflict(f"label {label.id} changed while saving; reload it")
        return saved, stored

    def _refresh_label_summary(self, conn: Connection, trace_id: str, dataset: str) -> None:
        # label_summary reads only the SummaryLabel fields: building Labels would cost more than
        # the rest of a save on a trace with many annotators.
        rows = conn.execute(_SUMMARY_LABELS, {"trace_id": trace_id}).mappings().all()
        summary = codec.label_summary(dataset, [codec.SummaryLabel.from_row(r) for r in rows])
        conn.execute(
            _UPDATE_SUMMARY, {"trace_id": trace_id, **{f"v_{k}": v for k, v in summary.items()}}
        )

    def get_label(self, label_id: int) -> Label | None:
        """Return the label with id ``label_id``, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(labels).where(labels.c.id == label_id)).mappings().first()
        return None if row is None else codec.label_from_row(row)

    def labels_for(
        self, trace_id: str, *, annotator: str | None = None, status: str | None = None
    ) -> list[Label]:
        """Return the labels of one trace (dataset labels included), oldest first."""
        query = sa.select(labels).where(labels.c.trace_id == trace_id)
        if annotator is not None:
            query = query.where(labels.c.annotator == annotator)
        if status is not None:
            query = query.where(labels.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(labels.c.id)).mappings().all()
        return [codec.label_from_row(r) for r in rows]

    def iter_labels(
        self,
        *,
        dataset: str | None = None,
        annotator: str | None = None,
        status: str | None = "submitted",
    ) -> Iterator[Label]:
        """Yield labels (by id) of traces in ``dataset``, by ``annotator``, with ``status``."""
        where: list[sa.ColumnElement[bool]] = []
        if dataset is not None:
            where.append(
                labels.c.trace_id.in_(sa.select(traces.c.id).where(traces.c.dataset == dataset))
            )
        if annotator is not None:
            where.append(labels.c.annotator == annotator)
        if status is not None:
            where.append(labels.c.status == status)
        last = 0
        while True:
            query = sa.select(labels).where(labels.c.id > last, *where).order_by(labels.c.id)
            with self.engine.connect() as conn:
                rows = conn.execute(query.limit(_BATCH)).mappings().all()
            for row in rows:
                yield codec.label_from_row(row)
            if len(rows) < _BATCH:
                return
            last = rows[-1]["id"]

    def label_history(self, label_id: int) -> list[dict]:
        """Return every save of a label, oldest first, as {at, annotator, old, new} dicts.

        ``annotator`` is who made that save (a reviewer adjudicating appears as themselves).
        """
        query = (
            sa.select(label_history)
            .where(label_history.c.label_id == label_id)
            .order_by(label_history.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            {
                "at": r["at"],
                "annotator": r["annotator"],
                "old": codec.loads(r["old"]),
                "new": orjson.loads(r["new"]),
            }
            for r in rows
        ]

    # --------------------------------------------------------------------------- suggestions

    def add_suggestions(
        self, suggestions_in: Iterable[Suggestion], *, replace_agent: bool = True
    ) -> int:
        """Return how many suggestions were stored (batched, one transaction per batch).

        With ``replace_agent`` the suggestions a (trace, agent) pair already had before this call
        are deleted first, so re-running a checker replaces its output. Raises ValueError naming
        an unknown trace id (that batch is not written).
        """
        cleared: set[tuple[str, str]] = set()
        stored = 0
        iterator = iter(suggestions_in)
        while batch := list(islice(iterator, _BATCH)):
            with write_transaction(self.engine) as conn:
                _require_traces(conn, {s.trace_id for s in batch}, "suggestion")
                if replace_agent:
                    pairs = {(s.trace_id, s.agent) for s in batch} - cleared
                    for chunk in chunked(sorted(pairs), 400):
                        conn.execute(
                            sa.delete(suggestions).where(
                                sa.tuple_(suggestions.c.trace_id, suggestions.c.agent).in_(chunk)
                            )
                        )
                    cleared |= pairs
                conn.execute(sa.insert(suggestions), [codec.suggestion_row(s) for s in batch])
            stored += len(batch)
        return stored

    def suggestions_for(self, trace_id: str, *, agent: str | None = None) -> list[Suggestion]:
        """Return the suggestions about one trace (optionally from one agent), oldest first."""
        query = sa.select(suggestions).where(suggestions.c.trace_id == trace_id)
        if agent is not None:
            query = query.where(suggestions.c.agent == agent)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(suggestions.c.id)).mappings().all()
        return [codec.suggestion_from_row(r) for r in rows]

    def suggestions_for_many(
        self, trace_ids: Iterable[str], *, agent: str | None = None, kind: str | None = None
    ) -> dict[str, list[Suggestion]]:
        """Return, for each id in ``trace_ids``, its suggestions (oldest first; [] when none).

        One query per _ID_CHUNK ids (a page of a trace list is one), optionally only those of
        one ``agent`` and/or one ``kind``; unknown ids map to empty lists.
        """
        ids = list(dict.fromkeys(trace_ids))
        found: dict[str, list[Suggestion]] = {tid: [] for tid in ids}
        with self.engine.connect() as conn:
            for chunk in chunked(ids, _ID_CHUNK):
                query = sa.select(suggestions).where(suggestions.c.trace_id.in_(chunk))
                if agent is not None:
                    query = query.where(suggestions.c.agent == agent)
                if kind is not None:
                    query = query.where(suggestions.c.kind == kind)
                for row in conn.execute(query.order_by(suggestions.c.id)).mappings():
                    found[row["trace_id"]].append(codec.suggestion_from_row(row))
        return found

    # ----------------------------------------------------------------------------- analyses

    def save_analyses(self, analyses_in: Iterable[Analysis]) -> int:
        """Return how many analyses were saved, replacing any earlier one per (trace, analyzer).

        Analyses named ``behaviors`` also set the trace's behaviour counts used by lists and
        filters. Batched, one transaction per batch; raises ValueError naming an unknown trace.
        """
        saved = 0
        iterator = iter(analyses_in)
        while batch := list(islice(iterator, _BATCH)):
            # The last analysis of a (trace, analyzer) pair within a batch wins.
            latest = {(a.trace_id, a.analyzer): a for a in batch}
            with write_transaction(self.engine) as conn:
                _require_traces(conn, {a.trace_id for a in batch}, "analysis")
                for chunk in chunked(sorted(latest), 400):
                    conn.execute(
                        sa.delete(analyses).where(
                            sa.tuple_(analyses.c.trace_id, analyses.c.analyzer).in_(chunk)
                        )
                    )
                conn.execute(sa.insert(analyses), [codec.analysis_row(a) for a in latest.values()])
                counts = [
                    {"tid": a.trace_id, **{col: int(a.counts.get(b, 0)) for b, col in _BCOLS}}
                    for a in latest.values()
                    if a.analyzer == BEHAVIOR_ANALYZER
                ]
                if counts:
                    conn.execute(
                        sa.update(traces)
                        .where(traces.c.id == sa.bindparam("tid"))
                        .values({col: sa.bindparam(col) for _, col in _BCOLS}),
                        counts,
                    )
            saved += len(latest)
        return saved

    def get_analysis(self, trace_id: str, analyzer: str) -> Analysis | None:
        """Return the stored analysis of ``trace_id`` by ``analyzer``, or None."""
        query = sa.select(analyses).where(
            analyses.c.trace_id == trace_id, analyses.c.analyzer == analyzer
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else codec.analysis_from_row(row)

    def analyses_for(self, trace_id: str) -> list[Analysis]:
        """Return every stored analysis of ``trace_id``, by analyzer name."""
        query = (
            sa.select(analyses).where(analyses.c.trace_id == trace_id).order_by(analyses.c.analyzer)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [codec.analysis_from_row(r) for r in rows]

    # --------------------------------------------------------------------------------- runs

    def save_run(self, run: Run) -> None:
        """Store ``run``, replacing the stored run with the same id."""
        with write_transaction(self.engine) as conn:
            conn.execute(sa.delete(runs).where(runs.c.id == run.id))
            conn.execute(sa.insert(runs).values(**codec.run_row(run)))

    def list_runs(self, kind: str | None = None) -> list[Run]:
        """Return stored runs (of one ``kind`` if given), newest first."""
        query = sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id)
        if kind is not None:
            query = query.where(runs.c.kind == kind)
        with read_transaction(self.engine) as conn:
            rows = conn.execute(query).mappings().all()
        return [codec.run_from_row(r) for r in rows]


_BCOLS = tuple(BEHAVIOR_COLUMNS.items())

# The label write path runs these prepared statements: building a statement and its cache key
# on every save costs more Python time than the database work of the save itself.
_TRACE_LOCK_COLUMNS = (traces.c.rid, traces.c.id, traces.c.dataset, traces.c.n_steps)
_LOCK_TRACE = sa.select(*_TRACE_LOCK_COLUMNS).where(traces.c.id == sa.bindparam("trace_id"))
_LOCK_TRACE_PG = _LOCK_TRACE.with_for_update()
_LABEL_ID_OF = sa.select(labels.c.id).where(
    labels.c.trace_id == sa.bindparam("trace_id"), labels.c.annotator == sa.bindparam("annotator")
)
_INSERT_LABEL = sa.insert(labels).returning(labels.c.id)
_UPDATE_LABEL = (
    sa.update(labels)
    .where(labels.c.id == sa.bindparam("label_id"), labels.c.version == sa.bindparam("old_version"))
    .values({c: sa.bindparam(f"v_{c}") for c in codec.LABEL_WRITE_COLUMNS if c != "trace_id"})
)
_INSERT_HISTORY = sa.insert(label_history)
_SUMMARY_LABELS = sa.select(*(labels.c[name] for name in codec.SUMMARY_LABEL_COLUMNS)).where(
    labels.c.trace_id == sa.bindparam("trace_id")
)
_UPDATE_SUMMARY = (
    sa.update(traces)
    .where(traces.c.id == sa.bindparam("trace_id"))
    .values(
        {c: sa.bindparam(f"v_{c}") for c in ("n_labels", "label_disagreement", "dataset_mistake")}
    )
)


def chunked(values: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """Yield consecutive slices of ``values`` of at most ``size`` items (for IN lists)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _require_traces(conn: Connection, trace_ids: set[str], what: str) -> None:
    """Raise ValueError naming a trace id in ``trace_ids`` that the store does not hold."""
    known: set[str] = set()
    ordered = sorted(trace_ids)
    for chunk in chunked(ordered, _ID_CHUNK):
        known.update(conn.scalars(sa.select(traces.c.id).where(traces.c.id.in_(chunk))))
    missing = [t for t in ordered if t not in known]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ValueError(f"cannot store {what} for trace {missing[0]!r}{more}: no such trace")
