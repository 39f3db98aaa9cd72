"""The annotation service: every write of a person's label goes through here (UI and CLI alike).

The rules live in one place: who may write (an identity that is logged in, editing only their
own label; reviewers and admins adjudicate), what a label may hold (checked against the trace),
conflict detection (the version the editor loaded must still be the stored one, else
LabelConflict) and the history of every save with who made it. Roles and projects are in
``annotation_access``; the queue (leases, progress) in ``annotation_queue``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from trace_store import codec
from trace_store.annotation_access import (
    ADJUDICATED_ANNOTATOR,
    MODES,
    ROLE_RANK,
    ROLES,
    Identity,
    NotAllowed,
    Project,
    Role,
    describe,
    get_project,
    list_projects,
    list_users,
    project_in,
    remove_user,
    require_role,
    require_writer,
    role_of,
    save_project,
    set_role,
)
from trace_store.annotation_queue import Progress, drop_lease, next_trace, progress, release_lease
from trace_store.db import write_transaction
from trace_store.orm import labels
from trace_store.schema import NO_MISTAKE, Label, utcnow
from trace_store.store_records import LabelConflict

if TYPE_CHECKING:
    from trace_store.store import Store

__all__ = [
    "ADJUDICATED_ANNOTATOR",
    "MODES",
    "ROLES",
    "ROLE_RANK",
    "Identity",
    "LabelConflict",
    "NotAllowed",
    "Progress",
    "Project",
    "Role",
    "adjudicate",
    "get_project",
    "list_projects",
    "list_users",
    "my_label",
    "next_trace",
    "progress",
    "record_label",
    "release_lease",
    "remove_user",
    "role_of",
    "save_project",
    "set_role",
    "update_label_by_id",
    "visible_labels",
]


class _Keep:
    """Marks a field update_label_by_id leaves as stored."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


def _label_fields(
    first_mistake: Any, step_ratings: Any, behavior_corrections: Any, note: Any
) -> dict[str, Any]:
    """Return the label fields a save writes (a value may be KEEP: leave the stored one)."""
    return {
        "first_mistake": first_mistake,
        "step_ratings": step_ratings,
        "behavior_corrections": behavior_corrections,
        "note": note,
    }


def record_label(
    store: Store,
    who: Identity,
    trace_id: str,
    *,
    first_mistake: int | None = None,
    step_ratings: list[int | None] | None = None,
    behavior_corrections: dict[int, list[str]] | None = None,
    note: str = "",
    draft: bool = False,
    expected_version: int | None = None,
) -> Label:
    """Return ``who``'s label on ``trace_id`` as saved (inserted, or updated with version check).

    ``expected_version`` is the version of the label the editor loaded (None: it loaded none);
    a stored version that differs, or a label that exists when the editor loaded none, raises
    LabelConflict. Raises NotAllowed for an identity that is not logged in and ValueError naming
    the field for values that do not fit the trace. ``draft=False`` submits and releases
    ``who``'s lease on the trace; ``draft=True`` saves (or turns the label back into) a draft.
    """
    require_writer(who, f"save a label on trace {trace_id!r}")
    fields = _label_fields(first_mistake, step_ratings, behavior_corrections, note)

    def find(conn: Connection) -> Label | None:
        return _one_label(conn, _LABEL_OF, trace_id=trace_id, annotator=who.name)

    return _save(store, who, trace_id, find, fields, draft, expected_version, "human")


def update_label_by_id(
    store: Store,
    who: Identity,
    label_id: int,
    *,
    expected_version: int,
    first_mistake: int | None = KEEP,
    step_ratings: list[int | None] | None = KEEP,
    behavior_corrections: dict[int, list[str]] | None = KEEP,
    note: str = KEEP,
    draft: bool | None = None,
) -> Label:
    """Return label ``label_id`` as saved after changing the given fields (others kept).

    Only the label's own annotator may: anyone else gets NotAllowed (reviewers record their
    decision with adjudicate(), never by editing someone's label). ``draft`` None keeps the
    status. Same version check, validation and history as record_label.
    """
    require_writer(who, f"edit label {label_id}")
    fields = _label_fields(first_mistake, step_ratings, behavior_corrections, note)

    def find(conn: Connection) -> Label | None:
        found = _one_label(conn, _LABEL_BY_ID, label_id=label_id)
        if found is None:
            raise LabelConflict(f"label {label_id} does not exist (deleted with its trace?)")
        if found.annotator != who.name:
            raise NotAllowed(
                f"{describe(who)} cannot edit label {label_id}: it belongs to "
                f"{found.annotator!r}, and people may only edit their own labels"
            )
        return found

    return _save(store, who, None, find, fields, draft, expected_version, "human", label_id)


def adjudicate(
    store: Store,
    who: Identity,
    trace_id: str,
    *,
    first_mistake: int | None,
    step_ratings: list[int | None] | None = None,
    behavior_corrections: dict[int, list[str]] | None = None,
    note: str = "",
    expected_version: int | None = None,
) -> Label:
    """Return the trace's adjudicated label as saved; only reviewers and admins may.

    The adjudicated label has annotator ``adjudicated`` and source ``adjudicated``; one per
    trace. It holds the reviewer's decision on whatever the annotators disagreed about: the
    first mistake, per-step ratings (one per step, None = unrated) and/or behaviour corrections
    (step index -> behaviours); each is checked against the trace as a person's label is, and
    at least one must be given. Its history names the reviewer who saved each version.
    ``expected_version`` is the version of the adjudicated label the reviewer loaded (None:
    there was none).
    """
    require_role(who, "reviewer", f"adjudicate trace {trace_id!r}")
    fields = _label_fields(first_mistake, step_ratings, behavior_corrections, note)

    def find(conn: Connection) -> Label | None:
        return _one_label(conn, _LABEL_OF, trace_id=trace_id, annotator=ADJUDICATED_ANNOTATOR)

    return _save(store, who, trace_id, find, fields, False, expected_version, "adjudicated")


def my_label(store: Store, who: Identity, trace_id: str) -> Label | None:
    """Return ``who``'s label on ``trace_id`` (draft or submitted), or None."""
    if not who.logged_in:
        return None
    found = store.labels_for(trace_id, annotator=who.name)
    return found[0] if found else None


def visible_labels(store: Store, who: Identity, trace_id: str) -> list[Label]:
    """Return the other labels of ``trace_id`` that ``who`` may see, oldest first.

    Reviewers and admins see every other label (drafts included). Annotators see others'
    submitted labels, the dataset's own and the adjudicated one; in a blind project only after
    they submitted their own label on the trace.
    """
    everything = store.labels_for(trace_id)
    others = [lb for lb in everything if not (who.logged_in and lb.annotator == who.name)]
    if who.can("reviewer"):
        return others
    if not others:
        return []
    trace = store.get_traces([trace_id])
    if trace and get_project(store, trace[0].dataset).blind:
        mine = [lb for lb in everything if who.logged_in and lb.annotator == who.name]
        if not mine or mine[0].status != "submitted":
            return []
    return [lb for lb in others if lb.status == "submitted"]


# ---------------------------------------------------------------------------- the write path


# Built once: a save runs them every time (see store_records for why that matters).
_LABEL_OF = sa.select(labels).where(
    labels.c.trace_id == sa.bindparam("trace_id"), labels.c.annotator == sa.bindparam("annotator")
)
_LABEL_BY_ID = sa.select(labels).where(labels.c.id == sa.bindparam("label_id"))
_TRACE_OF_LABEL = sa.select(labels.c.trace_id).where(labels.c.id == sa.bindparam("label_id"))


def _one_label(conn: Connection, query: sa.Select, **params: Any) -> Label | None:
    row = conn.execute(query, params).mappings().first()
    return None if row is None else codec.label_from_row(row)


def _save(
    store: Store,
    who: Identity,
    trace_id: str | None,
    find: Callable[[Connection], Label | None],
    fields: dict[str, Any],
    draft: bool | None,
    expected_version: int | None,
    source: str,
    label_id: int | None = None,
) -> Label:
    """Return the label ``find`` gives (or a new one) saved with ``fields``, in one transaction.

    ``trace_id`` None: the trace is the one label ``label_id`` belongs to. ``draft`` None keeps
    the stored status.
    """
    now = utcnow()
    annotator = ADJUDICATED_ANNOTATOR if source == "adjudicated" else who.name
    try:
        with write_transaction(store.engine) as conn:
            if trace_id is None:
                trace_id = conn.scalar(_TRACE_OF_LABEL, {"label_id": label_id})
                if trace_id is None:
                    raise LabelConflict(f"label {label_id} does not exist (trace deleted?)")
            trace = store.lock_trace(conn, trace_id)
            if trace is None:
                raise ValueError(f"cannot label trace {trace_id!r}: no such trace in the store")
            existing = find(conn)
            if draft is None:
                draft = existing is not None and existing.status == "draft"
            label = _build(existing, fields, trace_id, annotator, source, draft, now)
            _check_fits(label, trace.n_steps, trace_id)
            if label.status == "submitted":
                _check_complete(label, project_in(conn, trace.dataset), trace.n_steps, trace_id)
            if existing is None:
                if expected_version is not None:
                    raise LabelConflict(
                        f"the label by {annotator!r} on trace {trace_id!r} (version "
                        f"{expected_version}) no longer exists; reload the trace"
                    )
            elif expected_version is None:
                raise LabelConflict(
                    f"trace {trace_id!r} already has a {existing.status} label by {annotator!r} "
                    f"(version {existing.version}, saved {existing.updated_at:%Y-%m-%d %H:%M:%S} "
                    "UTC), perhaps from another tab or window; reload it before saving"
                )
            saved = store.write_label(
                conn, label, expected_version, who.name, now, trace=trace, stored=existing
            )
            if not draft and source == "human":
                drop_lease(conn, trace_id, who.name)
    except sa.exc.IntegrityError as exc:
        # Two first saves of one (trace, annotator) at once on PostgreSQL: one wins.
        raise LabelConflict(
            f"trace {trace_id!r} got a label by {annotator!r} while this one was being saved; "
            "reload it before saving"
        ) from exc
    return saved


def _build(
    existing: Label | None,
    fields: dict[str, Any],
    trace_id: str,
    annotator: str,
    source: str,
    draft: bool,
    now: Any,
) -> Label:
    """Return the label to save: ``existing`` (or a new one) with ``fields`` set."""
    values = {k: v for k, v in fields.items() if v is not KEEP}
    values["status"] = "draft" if draft else "submitted"
    data: dict[str, Any]
    if existing is None:
        data = {
            "trace_id": trace_id,
            "annotator": annotator,
            "source": source,
            "created_at": now,
            "updated_at": now,
            "note": "",
        }
    else:
        data = existing.model_dump()
    data.update(values)
    data["note"] = data.get("note") or ""
    try:
        return Label.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "label"
        raise ValueError(
            f"label on trace {trace_id!r}: field {where}: {error['msg']} "
            f"(got {error.get('input')!r})"
        ) from None


def _check_fits(label: Label, n_steps: int, trace_id: str) -> None:
    """Raise ValueError naming the field when ``label`` does not fit a trace of ``n_steps``."""
    where = f"label on trace {trace_id!r} ({n_steps} steps)"
    mistake = label.first_mistake
    if mistake is not None and mistake != NO_MISTAKE and not 0 <= mistake < n_steps:
        raise ValueError(
            f"{where}: field first_mistake: expected -1 (no mistake) or a step index "
            f"0..{n_steps - 1}, got {mistake}"
        )
    if label.step_ratings is not None and len(label.step_ratings) != n_steps:
        raise ValueError(
            f"{where}: field step_ratings: expected {n_steps} ratings (one per step, None for "
            f"unrated), got {len(label.step_ratings)}"
        )
    for step in label.behavior_corrections or {}:
        if not 0 <= step < n_steps:
            raise ValueError(
                f"{where}: field behavior_corrections: step {step} is not a step index "
                f"0..{n_steps - 1}"
            )


def _check_complete(label: Label, project: Project, n_steps: int, trace_id: str) -> None:
    """Raise ValueError when a submitted ``label`` lacks what the project's modes ask for."""
    where = f"label on trace {trace_id!r} ({n_steps} steps)"
    if label.source == "adjudicated":
        rated = any(r is not None for r in label.step_ratings or [])
        if label.first_mistake is None and not rated and label.behavior_corrections is None:
            raise ValueError(
                f"{where}: field first_mistake: an adjudicated label needs a decision: a first "
                "mistake (-1 for no mistake), step ratings or behaviour corrections"
            )
        return
    if "first_mistake" in project.modes and label.first_mistake is None:
        raise ValueError(
            f"{where}: field first_mistake: dataset {project.dataset!r} labels the first "
            "mistake; choose a step, or -1 for no mistake, before submitting"
        )
    if "step_rating" in project.modes and not any(r is not None for r in label.step_ratings or []):
        raise ValueError(
            f"{where}: field step_ratings: dataset {project.dataset!r} rates steps; "
            "rate at least one step before submitting"
        )
