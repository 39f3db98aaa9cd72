"""The store's tables (SQLAlchemy declarative models used as Core tables).

Layout, chosen for a store of millions of traces:

- ``traces`` is narrow: one row per trace with only what lists and filters need (ids, dataset,
  task, model, step count, correctness, behaviour counts, label summary, a question preview).
  Scanning or indexing it never touches the long texts.
- ``trace_bodies`` holds the long part (question, step texts as one JSON array, raw text,
  metadata) keyed by the trace's integer ``rid``, so a trace is two rows, not one row per step.
- The full-text index is dialect-specific and lives outside this metadata (see
  ``trace_store.search``): an FTS5 table over a view on SQLite, a tsvector table on PostgreSQL.

The migrations in ``trace_store/migrations`` create exactly these tables; keep both in step.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only treats "INTEGER PRIMARY KEY" as the rowid alias (fast, used by FTS5 as rowid);
# PostgreSQL gets a 64-bit key.
RowId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return ``value`` converted to UTC (naive values are taken to be UTC already)."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored time as an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base holding the store's metadata."""

    metadata = MetaData(naming_convention=NAMING)


class TraceRecord(Base):
    """One trace's list row: what listing, filtering and sorting read."""

    __tablename__ = "traces"

    rid: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String, nullable=False, unique=True)
    dataset: Mapped[str] = mapped_column(String, nullable=False)
    task: Mapped[str | None] = mapped_column(String)
    model: Mapped[str | None] = mapped_column(String)
    n_steps: Mapped[int] = mapped_column(Integer, nullable=False)
    correct: Mapped[bool | None] = mapped_column(Boolean)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    preview: Mapped[str] = mapped_column(String, nullable=False, default="")
    # First mistake of the dataset's own label (-1 none); NULL when the dataset shipped no label.
    dataset_mistake: Mapped[int | None] = mapped_column(Integer)
    # Submitted labels given by people (source human or adjudicated).
    n_labels: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # 1 when submitted human labels disagree on the first mistake.
    label_disagreement: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=0)
    # Steps showing each behaviour, from the "behaviors" analysis; NULL until analysed.
    n_backtracking: Mapped[int | None] = mapped_column(Integer)
    n_verification: Mapped[int | None] = mapped_column(Integer)
    n_subgoal_setting: Mapped[int | None] = mapped_column(Integer)
    n_backward_chaining: Mapped[int | None] = mapped_column(Integer)
    format_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_traces_dataset_id", "dataset", "id"),
        # The labelling queue walks a dataset's traces in import order, skipping complete ones.
        Index("ix_traces_dataset_rid_n_labels", "dataset", "rid", "n_labels"),
        Index("ix_traces_task_id", "task", "id"),
        Index("ix_traces_model_id", "model", "id"),
        Index(
            "ix_traces_labelled",
            "id",
            sqlite_where=text("n_labels > 0"),
            postgresql_where=text("n_labels > 0"),
        ),
        Index(
            "ix_traces_disagreement",
            "id",
            sqlite_where=text("label_disagreement = 1"),
            postgresql_where=text("label_disagreement = 1"),
        ),
        *(
            Index(f"ix_traces_{col}", col)
            for col in (
                "n_steps",
                "n_backtracking",
                "n_verification",
                "n_subgoal_setting",
                "n_backward_chaining",
            )
        ),
    )


class TraceGroup(Base):
    """How many traces each (dataset, task, model) holds; '' stands for no task / no model.

    Kept up to date by imports and deletes so dataset summaries never scan the traces.
    """

    __tablename__ = "trace_groups"

    dataset: Mapped[str] = mapped_column(String, primary_key=True)
    task: Mapped[str] = mapped_column(String, primary_key=True)
    model: Mapped[str] = mapped_column(String, primary_key=True)
    n_traces: Mapped[int] = mapped_column(Integer, nullable=False)


class TraceBody(Base):
    """One trace's long content: question, steps (JSON array of texts), raw text, metadata."""

    __tablename__ = "trace_bodies"

    rid: Mapped[int] = mapped_column(
        RowId, ForeignKey("traces.rid", ondelete="CASCADE"), primary_key=True
    )
    question: Mapped[str] = mapped_column(Text, nullable=False)
    steps: Mapped[str] = mapped_column(Text, nullable=False)  # JSON array of step texts
    spans: Mapped[str | None] = mapped_column(Text)  # JSON [[start, end], ...]; NULL if none
    raw_text: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    target: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[str] = mapped_column("metadata", Text, nullable=False, default="{}")


class LabelRecord(Base):
    """A label (a person's response, or a dataset's shipped label)."""

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    trace_id: Mapped[str] = mapped_column(
        String, ForeignKey("traces.id", ondelete="CASCADE"), nullable=False
    )
    annotator: Mapped[str] = mapped_column(String, nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    first_mistake: Mapped[int | None] = mapped_column(Integer)
    step_ratings: Mapped[str | None] = mapped_column(Text)  # JSON
    behavior_corrections: Mapped[str | None] = mapped_column(Text)  # JSON
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    format_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __table_args__ = (
        UniqueConstraint("trace_id", "annotator"),
        Index("ix_labels_annotator", "annotator"),
    )


class LabelHistoryRecord(Base):
    """One save of a label: who, when, the label before (NULL on insert) and after, as JSON."""

    __tablename__ = "label_history"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    label_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("labels.id", ondelete="CASCADE"), nullable=False, index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    annotator: Mapped[str] = mapped_column(String, nullable=False)
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str] = mapped_column(Text, nullable=False)


class SuggestionRecord(Base):
    """A model's or program's suggestion about a trace."""

    __tablename__ = "suggestions"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    trace_id: Mapped[str] = mapped_column(
        String, ForeignKey("traces.id", ondelete="CASCADE"), nullable=False
    )
    agent: Mapped[str] = mapped_column(String, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    step: Mapped[int | None] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    format_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __table_args__ = (
        Index("ix_suggestions_trace_id_agent", "trace_id", "agent"),
        Index("ix_suggestions_agent", "agent"),
    )


class AnalysisRecord(Base):
    """An analyzer's result for one trace; one per (trace, analyzer)."""

    __tablename__ = "analyses"

    trace_id: Mapped[str] = mapped_column(
        String, ForeignKey("traces.id", ondelete="CASCADE"), primary_key=True
    )
    analyzer: Mapped[str] = mapped_column(String, primary_key=True)
    version: Mapped[str] = mapped_column(String, nullable=False)
    tags: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of BehaviorTag
    counts: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    extra: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    format_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class RunRecord(Base):
    """A generation, correction, import, analysis or training run."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    dataset: Mapped[str | None] = mapped_column(String)
    model: Mapped[str | None] = mapped_column(String)
    params: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    stats: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    format_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class UserRecord(Base):
    """A person registered for team labelling, with their role (annotator, reviewer, admin)."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(String, nullable=False)


class ProjectRecord(Base):
    """Labelling settings of one dataset (modes, overlap, blind mode, lease time, guidelines)."""

    __tablename__ = "projects"

    dataset: Mapped[str] = mapped_column(String, primary_key=True)
    modes: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of mode names
    overlap: Mapped[int] = mapped_column(Integer, nullable=False)
    blind: Mapped[bool] = mapped_column(Boolean, nullable=False)
    lease_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    guidelines: Mapped[str] = mapped_column(Text, nullable=False, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(String, nullable=False)


class LabelLeaseRecord(Base):
    """An annotator's claim on a trace from the labelling queue, until ``expires_at``."""

    __tablename__ = "label_leases"

    trace_id: Mapped[str] = mapped_column(
        String, ForeignKey("traces.id", ondelete="CASCADE"), primary_key=True
    )
    annotator: Mapped[str] = mapped_column(String, primary_key=True)
    dataset: Mapped[str] = mapped_column(String, nullable=False)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_label_leases_dataset_annotator", "dataset", "annotator"),)


traces = TraceRecord.__table__
trace_groups = TraceGroup.__table__
trace_bodies = TraceBody.__table__
labels = LabelRecord.__table__
label_history = LabelHistoryRecord.__table__
suggestions = SuggestionRecord.__table__
analyses = AnalysisRecord.__table__
runs = RunRecord.__table__
users = UserRecord.__table__
projects = ProjectRecord.__table__
label_leases = LabelLeaseRecord.__table__

BEHAVIOR_COLUMNS: dict[str, str] = {
    "backtracking": "n_backtracking",
    "verification": "n_verification",
    "subgoal_setting": "n_subgoal_setting",
    "backward_chaining": "n_backward_chaining",
}
"""Column of ``traces`` holding each behaviour's step count (keys are schema.BEHAVIORS)."""
