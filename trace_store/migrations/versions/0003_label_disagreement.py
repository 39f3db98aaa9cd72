"""Recompute traces.label_disagreement: step ratings and behaviour corrections count too.

Before this revision the flag was set only when people named different first mistakes; rows
written then keep a stale 0 where labels disagree only on step ratings or behaviour
corrections. The upgrade recomputes the flag with codec.label_disagreement (the one definition
the save path uses) for the traces that have two or more submitted human labels: a trace with
fewer cannot disagree, so the rest of a big store is never read.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

from itertools import groupby

import sqlalchemy as sa
from alembic import op

from trace_store.codec import SUMMARY_LABEL_COLUMNS, SummaryLabel, label_disagreement

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPDATE_BATCH = 1_000

# The tables as this revision knows them (not the ORM, which follows later revisions).
_labels = sa.table(
    "labels",
    sa.column("trace_id", sa.String()),
    *(sa.column(name) for name in SUMMARY_LABEL_COLUMNS),
)
_traces = sa.table(
    "traces", sa.column("id", sa.String()), sa.column("label_disagreement", sa.SmallInteger())
)


def _human_submitted() -> list[sa.ColumnElement[bool]]:
    return [_labels.c.status == "submitted", _labels.c.source == "human"]


def upgrade() -> None:
    """Set label_disagreement from all three kinds of judgement on traces with 2+ labels."""
    conn = op.get_bind()
    candidates = (
        sa.select(_labels.c.trace_id)
        .where(*_human_submitted())
        .group_by(_labels.c.trace_id)
        .having(sa.func.count() >= 2)
    )
    rows = conn.execute(
        sa.select(
            _labels.c.trace_id,
            _traces.c.label_disagreement,
            *(_labels.c[name] for name in SUMMARY_LABEL_COLUMNS),
        )
        .join(_traces, _traces.c.id == _labels.c.trace_id)
        .where(*_human_submitted(), _labels.c.trace_id.in_(candidates))
        .order_by(_labels.c.trace_id)
    ).mappings()
    update = (
        sa.update(_traces)
        .where(_traces.c.id == sa.bindparam("tid"))
        .values(label_disagreement=sa.bindparam("flag"))
    )
    changed: list[dict[str, object]] = []
    for trace_id, group in groupby(rows, key=lambda r: r["trace_id"]):
        found = list(group)
        flag = int(bool(label_disagreement(SummaryLabel.from_row(r) for r in found)))
        if flag != found[0]["label_disagreement"]:
            changed.append({"tid": trace_id, "flag": flag})
    # Written after the read is done: one connection runs one statement at a time.
    for start in range(0, len(changed), UPDATE_BATCH):
        conn.execute(update, changed[start : start + UPDATE_BATCH])


def downgrade() -> None:
    """Leave the flags as they are: code of revision 0002 reads them and rewrites a trace's flag
    (by its own rule) the next time a label of that trace is saved."""
