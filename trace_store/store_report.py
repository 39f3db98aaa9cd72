"""Store methods that summarise: datasets, statistics and integrity checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from trace_store import search
from trace_store.annotation_access import (
    ADJUDICATED_ANNOTATOR,
    ROLES,
    Project,
    validate_project,
)
from trace_store.db import read_transaction
from trace_store.filters import DatasetInfo
from trace_store.orm import (
    BEHAVIOR_COLUMNS,
    analyses,
    label_leases,
    labels,
    projects,
    suggestions,
    trace_bodies,
    trace_groups,
    traces,
    users,
)
from trace_store.schema import DATASET_ANNOTATOR_PREFIX

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

NO_TASK = "(none)"
"""Key used in stats for traces without a task or model."""


def _shipped(table: sa.Table = labels) -> sa.ColumnElement[bool]:
    """Return the condition "this label came with a dataset" (see codec.is_dataset_label)."""
    return sa.or_(
        table.c.source == "dataset", table.c.annotator.startswith(DATASET_ANNOTATOR_PREFIX)
    )


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


class ReportMixin:
    """Dataset summaries, statistics, integrity checks (mixed into trace_store.store.Store)."""

    engine: Engine
    dialect: str

    def datasets(self) -> list[DatasetInfo]:
        """Return every dataset with its trace count, tasks, models and labelled-trace count."""
        groups = trace_groups
        with read_transaction(self.engine) as conn:
            rows = conn.execute(
                sa.select(groups.c.dataset, groups.c.task, groups.c.model, groups.c.n_traces)
            ).all()
            labelled = dict(
                conn.execute(
                    sa.select(traces.c.dataset, sa.func.count())
                    .where(sa.text("traces.n_labels > 0"))  # served by the partial index
                    .group_by(traces.c.dataset)
                ).all()
            )
        infos: dict[str, DatasetInfo] = {}
        for name, task, model, n in sorted(rows):
            info = infos.setdefault(name, DatasetInfo(name, 0, n_labelled=labelled.get(name, 0)))
            info.n_traces += n
            if task and task not in info.tasks:
                info.tasks.append(task)
            if model and model not in info.models:
                info.models.append(model)
        for info in infos.values():
            info.models.sort()
        return list(infos.values())

    def stats(self, dataset: str | None = None) -> dict[str, Any]:
        """Return counts for the store or one dataset.

        Keys: dataset, traces, steps, mean_steps, by_dataset, by_task, by_model, correct
        {true,false,unknown}, dataset_labels {with_mistake,no_mistake,none}, analysed,
        behaviors {name: {traces, steps}}, labels {dataset, submitted, draft, annotators,
        labelled_traces, disagreement_traces}, suggestions {agent: n}, analyses {analyzer: n}.
        """
        where = [] if dataset is None else [self._dataset_scan_condition(dataset)]
        behaviour_cols = [
            agg
            for col in BEHAVIOR_COLUMNS.values()
            for agg in (
                _count_if(traces.c[col] > 0),
                sa.func.coalesce(sa.func.sum(traces.c[col]), 0),
            )
        ]
        totals_query = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(traces.c.n_steps), 0),
            _count_if(traces.c.correct == True),  # noqa: E712 - SQL comparison, not Python
            _count_if(traces.c.correct == False),  # noqa: E712
            _count_if(traces.c.dataset_mistake >= 0),
            _count_if(traces.c.dataset_mistake == -1),
            _count_if(traces.c.n_backtracking.is_not(None)),
            _count_if(traces.c.n_labels > 0),
            _count_if(traces.c.label_disagreement == 1),
            *behaviour_cols,
        ).where(*where)
        trace_ids = sa.select(traces.c.id).where(*where)
        with read_transaction(self.engine) as conn:
            totals = [int(v) for v in conn.execute(totals_query).one()]
            groups = self._group_counts(conn, dataset)
            label_where = [] if dataset is None else [labels.c.trace_id.in_(trace_ids)]
            label_counts = conn.execute(
                sa.select(
                    _count_if(_shipped()),
                    _count_if(sa.and_(labels.c.status == "submitted", sa.not_(_shipped()))),
                    _count_if(sa.and_(labels.c.status == "draft", sa.not_(_shipped()))),
                    sa.func.count(sa.distinct(labels.c.annotator)).filter(sa.not_(_shipped())),
                ).where(*label_where)
            ).one()
            by_agent = self._per(
                conn, suggestions.c.agent, suggestions.c.trace_id, dataset, trace_ids
            )
            by_analyzer = self._per(
                conn, analyses.c.analyzer, analyses.c.trace_id, dataset, trace_ids
            )
        n, steps = totals[0], totals[1]
        behaviours = {
            name: {"traces": totals[9 + 2 * i], "steps": totals[10 + 2 * i]}
            for i, name in enumerate(BEHAVIOR_COLUMNS)
        }
        return {
            "dataset": dataset,
            "traces": n,
            "steps": steps,
            "mean_steps": round(steps / n, 2) if n else 0.0,
            **groups,
            "correct": {
                "true": totals[2],
                "false": totals[3],
                "unknown": n - totals[2] - totals[3],
            },
            "dataset_labels": {
                "with_mistake": totals[4],
                "no_mistake": totals[5],
                "none": n - totals[4] - totals[5],
            },
            "analysed": totals[6],
            "behaviors": behaviours,
            "labels": {
                "dataset": int(label_counts[0]),
                "submitted": int(label_counts[1]),
                "draft": int(label_counts[2]),
                "annotators": int(label_counts[3]),
                "labelled_traces": totals[7],
                "disagreement_traces": totals[8],
            },
            "suggestions": by_agent,
            "analyses": by_analyzer,
        }

    def _dataset_scan_condition(self, dataset: str) -> sa.ColumnElement[bool]:
        """Return "trace is in ``dataset``", phrased so SQLite scans when the dataset is big.

        Summing over a dataset that holds much of the store is ~3x faster as one sequential
        scan than as index lookups in random order; a small dataset is best found by index.
        """
        if self.dialect != "sqlite":
            return traces.c.dataset == dataset
        with read_transaction(self.engine) as conn:
            total = conn.scalar(sa.select(sa.func.sum(trace_groups.c.n_traces))) or 0
            size = conn.scalar(
                sa.select(sa.func.sum(trace_groups.c.n_traces)).where(
                    trace_groups.c.dataset == dataset
                )
            )
        if total and (size or 0) > total * 0.05:
            # A unary "+" keeps SQLite from using the index on dataset.
            return sa.literal_column("+traces.dataset") == dataset
        return traces.c.dataset == dataset

    @staticmethod
    def _group_counts(conn: Connection, dataset: str | None) -> dict[str, dict[str, int]]:
        """Return by_dataset, by_task and by_model trace counts from ``trace_groups``."""
        query = sa.select(trace_groups)
        if dataset is not None:
            query = query.where(trace_groups.c.dataset == dataset)
        out: dict[str, dict[str, int]] = {"by_dataset": {}, "by_task": {}, "by_model": {}}
        for row in conn.execute(query).mappings():
            for key, value in (
                ("by_dataset", row["dataset"]),
                ("by_task", row["task"] or NO_TASK),
                ("by_model", row["model"] or NO_TASK),
            ):
                out[key][value] = out[key].get(value, 0) + int(row["n_traces"])
        return {key: dict(sorted(counts.items())) for key, counts in out.items()}

    @staticmethod
    def _per(
        conn: Connection,
        key: sa.ColumnElement[str],
        trace_id: sa.ColumnElement[str],
        dataset: str | None,
        trace_ids: sa.Select,
    ) -> dict[str, int]:
        query = sa.select(key, sa.func.count()).group_by(key).order_by(key)
        if dataset is not None:
            query = query.where(trace_id.in_(trace_ids))
        return {k: int(n) for k, n in conn.execute(query)}

    def integrity_errors(self) -> list[str]:
        """Return problems found in the store (empty when healthy).

        SQLite: PRAGMA integrity_check and foreign_key_check (which also finds labels and
        label leases of missing traces; PostgreSQL refuses those rows), and the FTS index
        against the text. Both: traces without a body, step counts and label summaries that
        disagree with the stored steps and labels, traces missing from the search index, and
        the annotation tables: leases whose dataset is not their trace's, that expire before
        they were taken or are held under a reserved or blank name; users with an unknown role
        or a reserved or blank name; projects whose settings the labelling pages would refuse.
        Unregistered annotators are not a problem: a name without a role labels as annotator.
        """
        problems: list[str] = []
        with read_transaction(self.engine) as conn:
            if self.dialect == "sqlite":
                for (message,) in conn.exec_driver_sql("PRAGMA integrity_check"):
                    if message != "ok":
                        problems.append(f"sqlite integrity_check: {message}")
                for table, rowid, parent, _ in conn.exec_driver_sql("PRAGMA foreign_key_check"):
                    problems.append(f"{table} row {rowid} points to a missing {parent} row")
            problems.extend(search.check_index(conn, self.dialect))
            problems.extend(self._consistency_problems(conn))
            problems.extend(_lease_problems(conn))
            problems.extend(_user_problems(conn))
            problems.extend(_project_problems(conn))
        return problems

    def _consistency_problems(self, conn: Connection) -> list[str]:
        problems = []
        body = trace_bodies.alias("b")
        no_body = conn.scalar(
            sa.select(sa.func.count())
            .select_from(traces.outerjoin(body, body.c.rid == traces.c.rid))
            .where(body.c.rid.is_(None))
        )
        if no_body:
            problems.append(f"{no_body} trace(s) have no stored question/steps")
        steps_json = body.c.steps if self.dialect == "sqlite" else sa.cast(body.c.steps, sa.JSON)
        bad_steps = conn.scalar(
            sa.select(sa.func.count())
            .select_from(traces.join(body, body.c.rid == traces.c.rid))
            .where(sa.func.json_array_length(steps_json) != traces.c.n_steps)
        )
        if bad_steps:
            problems.append(f"{bad_steps} trace(s) have n_steps different from their stored steps")
        people = sa.and_(
            labels.c.trace_id == traces.c.id,
            labels.c.status == "submitted",
            sa.not_(_shipped()),
        )
        submitted = sa.select(sa.func.count()).where(people).scalar_subquery()
        bad_labels = conn.scalar(
            sa.select(sa.func.count()).select_from(traces).where(traces.c.n_labels != submitted)
        )
        if bad_labels:
            problems.append(f"{bad_labels} trace(s) have n_labels different from their labels")
        task, model = sa.func.coalesce(traces.c.task, ""), sa.func.coalesce(traces.c.model, "")
        actual = {
            (d, t, m): int(n)
            for d, t, m, n in conn.execute(
                sa.select(traces.c.dataset, task, model, sa.func.count()).group_by(
                    traces.c.dataset, task, model
                )
            )
        }
        stored = {
            (d, t, m): int(n)
            for d, t, m, n in conn.execute(
                sa.select(
                    trace_groups.c.dataset,
                    trace_groups.c.task,
                    trace_groups.c.model,
                    trace_groups.c.n_traces,
                )
            )
        }
        if actual != stored:
            wrong = sorted(
                k for k in actual.keys() | stored.keys() if actual.get(k) != stored.get(k)
            )
            problems.append(
                f"trace counts per dataset/task/model are stale for {len(wrong)} group(s), "
                f"e.g. {wrong[0]}"
            )
        return problems


def _count_and_first(conn: Connection, query: sa.Select) -> tuple[int, Any]:
    """Return how many rows ``query`` yields and its first row (None when there is none)."""
    n = conn.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    return int(n), (conn.execute(query.limit(1)).first() if n else None)


def _lease_problems(conn: Connection) -> list[str]:
    """Return problems of the label leases: wrong dataset, negative duration, reserved holder."""
    problems = []
    leased = label_leases.join(traces, traces.c.id == label_leases.c.trace_id)
    order = (label_leases.c.trace_id, label_leases.c.annotator)
    n, first = _count_and_first(
        conn,
        sa.select(label_leases.c.trace_id, label_leases.c.dataset, traces.c.dataset)
        .select_from(leased)
        .where(label_leases.c.dataset != traces.c.dataset)
        .order_by(*order),
    )
    if n:
        tid, leased_in, stored_in = first
        problems.append(
            f"{n} label lease(s) name a dataset other than their trace's, e.g. the lease on "
            f"trace {tid!r} says {leased_in!r} but the trace is in {stored_in!r}"
        )
    n, first = _count_and_first(
        conn,
        sa.select(label_leases.c.trace_id, label_leases.c.annotator)
        .where(label_leases.c.expires_at < label_leases.c.acquired_at)
        .order_by(*order),
    )
    if n:
        problems.append(
            f"{n} label lease(s) expire before they were acquired, e.g. {first[1]!r}'s lease "
            f"on trace {first[0]!r}"
        )
    holder = label_leases.c.annotator
    n, first = _count_and_first(
        conn,
        sa.select(label_leases.c.trace_id, holder)
        .where(
            sa.or_(
                holder == ADJUDICATED_ANNOTATOR,
                holder.startswith(DATASET_ANNOTATOR_PREFIX),
                sa.func.trim(holder) == "",
            )
        )
        .order_by(*order),
    )
    if n:
        problems.append(
            f"{n} label lease(s) are held under a reserved or blank name, e.g. {first[1]!r} "
            f"on trace {first[0]!r}; leases are for people labelling under their own name"
        )
    return problems


def _user_problems(conn: Connection) -> list[str]:
    """Return one problem per registered user whose role or name set_role would refuse."""
    problems = []
    for name, role in conn.execute(sa.select(users.c.name, users.c.role).order_by(users.c.name)):
        if role not in ROLES:
            problems.append(
                f"user {name!r} has the unknown role {role!r}; expected one of {', '.join(ROLES)}"
            )
        if name == ADJUDICATED_ANNOTATOR or name.startswith(DATASET_ANNOTATOR_PREFIX):
            problems.append(f"user name {name!r} is reserved for adjudicated and dataset labels")
        elif not name.strip() or name != name.strip():
            problems.append(f"user name {name!r} is blank or has surrounding spaces")
    return problems


def _project_problems(conn: Connection) -> list[str]:
    """Return one problem per labelling project whose stored settings are not valid."""
    problems = []
    query = sa.select(
        projects.c.dataset, projects.c.modes, projects.c.overlap, projects.c.lease_seconds
    ).order_by(projects.c.dataset)
    for dataset, modes_json, overlap, lease_seconds in conn.execute(query):
        try:
            modes = orjson.loads(modes_json)
        except orjson.JSONDecodeError:
            modes = None
        if not isinstance(modes, list) or not all(isinstance(m, str) for m in modes):
            problems.append(
                f"project {dataset!r}: field 'modes' holds {modes_json!r}; "
                "expected a JSON list of mode names"
            )
            continue
        project = Project(dataset, tuple(modes), overlap=overlap, lease_seconds=lease_seconds)
        try:
            validate_project(project)
        except ValueError as exc:
            problems.append(f"project {dataset!r}: {exc}")
    return problems
