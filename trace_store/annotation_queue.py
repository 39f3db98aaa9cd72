"""The labelling queue: which trace an annotator labels next (leases that expire) and progress.

A trace still needs labels while it has no adjudicated label (a reviewer's decision settles it)
and its submitted human labels plus the unexpired leases of other annotators are fewer than the
project's overlap. Handing out a slot is atomic on both backends:
on SQLite the whole choice runs in one BEGIN IMMEDIATE transaction; on PostgreSQL the chosen
trace's row is locked (FOR UPDATE, the same lock every label save of that trace takes) and the
count is checked again under the lock before the lease is written. Candidates are locked in
ascending rid order, so two queues never wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trace_store.annotation_access import (
    ADJUDICATED_ANNOTATOR,
    Identity,
    Project,
    project_in,
    require_writer,
)
from trace_store.db import read_transaction, write_transaction
from trace_store.orm import label_leases, labels, traces
from trace_store.schema import utcnow

if TYPE_CHECKING:
    from trace_store.store import Store

_CANDIDATES = 50
_DROP_LEASE = sa.delete(label_leases).where(
    label_leases.c.trace_id == sa.bindparam("trace_id"),
    label_leases.c.annotator == sa.bindparam("annotator"),
)


@dataclass
class Progress:
    """Labelling progress of one dataset, for one annotator and for the team."""

    total: int
    """Traces in the dataset."""
    mine_submitted: int
    """Traces the annotator submitted a label for."""
    mine_drafts: int
    """Traces where the annotator has a draft."""
    complete: int
    """Traces with at least ``overlap`` submitted human labels, or an adjudicated label."""
    in_progress: int
    """Traces not complete that have a submitted human label, a draft or an unexpired lease."""


def next_trace(
    store: Store,
    who: Identity,
    dataset: str,
    *,
    now: datetime | None = None,
    skip: Collection[str] = (),
) -> str | None:
    """Return the id of the trace ``who`` should label next in ``dataset``, or None when done.

    First ``who``'s own unfinished work: a trace they hold an unexpired lease on, else one with
    their draft (its lease renewed). Otherwise a lease is taken on the first trace (import
    order) that still needs labels (not adjudicated; submitted human labels plus others' live
    leases below the overlap) and that ``who`` has not submitted. Traces in ``skip`` (the ones
    this person skipped in this session) are passed over. Raises NotAllowed for an identity
    that is not logged in.
    """
    require_writer(who, f"take a trace from the {dataset!r} queue")
    now = now or utcnow()
    with write_transaction(store.engine) as conn:
        project = project_in(conn, dataset)
        expires = now + timedelta(seconds=project.lease_seconds)
        own = _own_unfinished(conn, who.name, dataset, now, skip)
        if own is not None:
            store.lock_trace(conn, own)
            _put_lease(conn, own, who.name, dataset, now, expires)
            return own
        after = -1
        while True:
            candidates = _open_traces(conn, who.name, project, now, after)
            for rid, trace_id in candidates:
                after = rid
                if trace_id in skip:
                    continue
                if store.dialect == "postgresql":
                    # Another queue may have filled this slot after the query's snapshot: lock
                    # the row, then count again (a new statement sees what committed meanwhile).
                    store.lock_trace(conn, trace_id)
                    if not _has_room(conn, trace_id, who.name, project, now):
                        continue
                _put_lease(conn, trace_id, who.name, dataset, now, expires)
                return trace_id
            if len(candidates) < _CANDIDATES:
                return None


def release_lease(store: Store, who: Identity, trace_id: str) -> None:
    """Give up ``who``'s lease on ``trace_id`` (no-op when they hold none)."""
    require_writer(who, f"release a lease on trace {trace_id!r}")
    with write_transaction(store.engine) as conn:
        drop_lease(conn, trace_id, who.name)


def drop_lease(conn: Connection, trace_id: str, annotator: str) -> None:
    """Delete ``annotator``'s lease on ``trace_id`` inside the caller's transaction."""
    conn.execute(_DROP_LEASE, {"trace_id": trace_id, "annotator": annotator})


def leases_of(store: Store, dataset: str, *, now: datetime | None = None) -> list[dict]:
    """Return the unexpired leases in ``dataset`` as {trace_id, annotator, expires_at} dicts."""
    now = now or utcnow()
    query = (
        sa.select(label_leases.c.trace_id, label_leases.c.annotator, label_leases.c.expires_at)
        .where(label_leases.c.dataset == dataset, label_leases.c.expires_at > now)
        .order_by(label_leases.c.trace_id, label_leases.c.annotator)
    )
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def progress(store: Store, who: Identity, dataset: str, *, now: datetime | None = None) -> Progress:
    """Return the labelling progress of ``dataset`` for ``who`` and for the team."""
    now = now or utcnow()
    in_dataset = labels.c.trace_id.in_(sa.select(traces.c.id).where(traces.c.dataset == dataset))
    human = sa.and_(in_dataset, labels.c.source == "human")
    with read_transaction(store.engine) as conn:
        overlap = project_in(conn, dataset).overlap
        total = conn.scalar(
            sa.select(sa.func.count()).select_from(traces).where(traces.c.dataset == dataset)
        )
        mine = dict(
            conn.execute(
                sa.select(labels.c.status, sa.func.count())
                .where(human, labels.c.annotator == who.name)
                .group_by(labels.c.status)
            ).all()
        )
        done = sa.union(
            sa.select(labels.c.trace_id.label("tid"))
            .where(human, labels.c.status == "submitted")
            .group_by(labels.c.trace_id)
            .having(sa.func.count() >= overlap),
            sa.select(labels.c.trace_id.label("tid")).where(
                in_dataset,
                labels.c.annotator == ADJUDICATED_ANNOTATOR,
                labels.c.status == "submitted",
            ),
        ).subquery()
        complete = conn.scalar(sa.select(sa.func.count()).select_from(done))
        touched = sa.union(
            sa.select(labels.c.trace_id.label("tid")).where(human),
            sa.select(label_leases.c.trace_id.label("tid")).where(
                label_leases.c.dataset == dataset, label_leases.c.expires_at > now
            ),
        ).subquery()
        in_progress = conn.scalar(
            sa.select(sa.func.count())
            .select_from(touched)
            .where(touched.c.tid.not_in(sa.select(done.c.tid)))
        )
    return Progress(
        total=int(total or 0),
        mine_submitted=int(mine.get("submitted", 0)),
        mine_drafts=int(mine.get("draft", 0)),
        complete=int(complete or 0),
        in_progress=int(in_progress or 0),
    )


# ------------------------------------------------------------------------------- internals


def _own_unfinished(
    conn: Connection, name: str, dataset: str, now: datetime, skip: Collection[str]
) -> str | None:
    """Return the trace ``name`` holds a lease on or has a draft of in ``dataset``, or None.

    Both lists are one person's and short: they are read whole and the first trace picked
    here, because with ORDER BY rid LIMIT 1 the planner prefers walking every trace of the
    dataset in rid order, probing for this person's rows at each.
    """
    mine_submitted = sa.exists().where(
        labels.c.trace_id == label_leases.c.trace_id,
        labels.c.annotator == name,
        labels.c.status == "submitted",
    )
    leased = conn.execute(
        sa.select(traces.c.rid, label_leases.c.trace_id)
        .select_from(label_leases.join(traces, traces.c.id == label_leases.c.trace_id))
        .where(
            label_leases.c.dataset == dataset,
            label_leases.c.annotator == name,
            label_leases.c.expires_at > now,
            sa.not_(mine_submitted),
        )
    ).all()
    leased = [row for row in leased if row[1] not in skip]
    if leased:
        return min(leased)[1]
    drafts = conn.execute(
        sa.select(traces.c.rid, labels.c.trace_id)
        .select_from(labels.join(traces, traces.c.id == labels.c.trace_id))
        .where(
            labels.c.annotator == name,
            labels.c.status == "draft",
            traces.c.dataset == dataset,
        )
    ).all()
    drafts = [row for row in drafts if row[1] not in skip]
    return min(drafts)[1] if drafts else None


def _taken(trace_id: sa.ColumnElement[str], name: str, now: datetime) -> sa.ColumnElement[int]:
    """Return the SQL count of a trace's submitted human labels plus others' live leases."""
    submitted = (
        sa.select(sa.func.count())
        .where(
            labels.c.trace_id == trace_id,
            labels.c.source == "human",
            labels.c.status == "submitted",
        )
        .scalar_subquery()
    )
    leased = (
        sa.select(sa.func.count())
        .where(
            label_leases.c.trace_id == trace_id,
            label_leases.c.annotator != name,
            label_leases.c.expires_at > now,
        )
        .scalar_subquery()
    )
    return submitted + leased


def _not_mine(trace_id: sa.ColumnElement[str], name: str) -> sa.ColumnElement[bool]:
    """Return the SQL test that ``name`` has not submitted the trace and nobody adjudicated it."""
    return sa.not_(
        sa.exists().where(
            labels.c.trace_id == trace_id,
            labels.c.annotator.in_([name, ADJUDICATED_ANNOTATOR]),
            labels.c.status == "submitted",
        )
    )


def _open_traces(
    conn: Connection, name: str, project: Project, now: datetime, after: int
) -> list[tuple[int, str]]:
    """Return up to _CANDIDATES (rid, id) of traces past rid ``after`` that still need labels."""
    query = (
        sa.select(traces.c.rid, traces.c.id)
        .where(
            traces.c.dataset == project.dataset,
            traces.c.rid > after,
            # n_labels counts submitted human and adjudicated labels, so an open trace (not
            # adjudicated, fewer human labels than overlap) has n_labels < overlap; the queue's
            # index answers this without reading the table, so complete traces cost little.
            traces.c.n_labels < project.overlap,
            _not_mine(traces.c.id, name),
            _taken(traces.c.id, name, now) < project.overlap,
        )
        .order_by(traces.c.rid)
        .limit(_CANDIDATES)
    )
    return [(int(rid), tid) for rid, tid in conn.execute(query)]


def _has_room(conn: Connection, trace_id: str, name: str, project: Project, now: datetime) -> bool:
    """Return whether ``trace_id`` still has a free slot for ``name`` (read afresh)."""
    free = conn.scalar(
        sa.select(
            sa.and_(
                _not_mine(sa.literal(trace_id), name),
                _taken(sa.literal(trace_id), name, now) < project.overlap,
            )
        )
    )
    return bool(free)


def _put_lease(
    conn: Connection, trace_id: str, name: str, dataset: str, now: datetime, expires: datetime
) -> None:
    """Create or renew ``name``'s lease on ``trace_id`` until ``expires``."""
    where = sa.and_(label_leases.c.trace_id == trace_id, label_leases.c.annotator == name)
    renewed = conn.execute(
        sa.update(label_leases).where(where).values(expires_at=expires, dataset=dataset)
    )
    if renewed.rowcount == 0:
        conn.execute(
            sa.insert(label_leases).values(
                trace_id=trace_id,
                annotator=name,
                dataset=dataset,
                acquired_at=now,
                expires_at=expires,
            )
        )
