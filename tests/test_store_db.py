"""Store database: URLs, SQLite settings, migrations, summaries and integrity checks."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tests.store_samples import imported, make_trace, numbered
from trace_store import TraceFilter, default_db_url, open_store
from trace_store.annotation import Identity, Project, next_trace, save_project, set_role
from trace_store.db import (
    REPO_ROOT,
    StoreURLError,
    create_store_engine,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from trace_store.orm import Base, label_leases, projects, users
from trace_store.schema import Analysis, Label, Suggestion
from trace_store.search import is_search_table

TABLES = {
    "traces",
    "trace_bodies",
    "labels",
    "label_history",
    "suggestions",
    "analyses",
    "runs",
    "alembic_version",
}


def test_default_url_is_env_or_repo_data_file(monkeypatch):
    monkeypatch.setenv("THOUGHTSCOPE_DB", "sqlite:////tmp/elsewhere.db")
    assert default_db_url() == "sqlite:////tmp/elsewhere.db"
    monkeypatch.delenv("THOUGHTSCOPE_DB")
    assert default_db_url() == f"sqlite:///{REPO_ROOT / 'data' / 'thoughtscope.db'}"


def test_open_store_uses_the_env_url_and_creates_the_folder(tmp_path, monkeypatch):
    path = tmp_path / "deep" / "er" / "store.db"
    monkeypatch.setenv("THOUGHTSCOPE_DB", f"sqlite:///{path}")
    with open_store() as store:
        assert store.dialect == "sqlite"
        assert store.count_traces() == 0
    assert path.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://u@h/db", "unsupported store URL"), ("not a url", "cannot parse store URL")],
)
def test_bad_urls_are_user_errors(url, message):
    with pytest.raises(StoreURLError, match=message):
        open_store(url)


def test_postgres_urls_use_psycopg3():
    engine = create_store_engine("postgresql://someone@127.0.0.1:1/x")
    try:
        assert engine.url.drivername == "postgresql+psycopg"
    finally:
        engine.dispose()


def test_sqlite_connection_settings(store_sqlite):
    with store_sqlite.engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        }
    assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}


def test_memory_store_works_across_calls():
    with open_store("sqlite:///:memory:") as store:
        store.add_traces(numbered(3))
        assert store.count_traces() == 3


def test_migrations_build_the_schema_the_models_describe(store):
    with store.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert tables >= TABLES
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        # Autogenerate finds nothing to do: migrations and trace_store/orm.py agree.
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _: kind != "table" or not is_search_table(name),
            },
        )
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_is_a_no_op_on_an_up_to_date_store(store):
    store.add_traces(numbered(2))
    before = current_revision(store.engine)
    assert upgrade_to_head(store.engine) == before == head_revision()
    assert store.count_traces() == 2


def test_upgrade_from_empty_database(tmp_path):
    engine = create_store_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert current_revision(engine) is None
        assert upgrade_to_head(engine) == head_revision()
        assert current_revision(engine) == head_revision()
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_datasets_summary(store):
    store.add_traces(numbered(3, dataset="a", prefix="a", task="t1", model="m1"))
    store.add_traces(numbered(2, dataset="a", prefix="x", task="t2", model="m1"))
    store.add_traces([imported(make_trace("b1", dataset="b", task=None, model=None))])
    store.save_label(Label(trace_id="a0001", annotator="ann"))
    infos = {info.name: info for info in store.datasets()}
    assert list(infos) == ["a", "b"]
    a = infos["a"]
    assert (a.n_traces, a.tasks, a.models, a.n_labelled) == (5, ["t1", "t2"], ["m1"], 1)
    assert (infos["b"].n_traces, infos["b"].tasks, infos["b"].models) == (1, [], [])


def test_stats_figures(store):
    store.add_traces(
        [
            imported(make_trace("s1", dataset="d", correct=True), first_mistake=-1),
            imported(make_trace("s2", dataset="d", correct=False), first_mistake=1),
            imported(make_trace("s3", dataset="d", correct=None, steps=["x"]), labelled=False),
            imported(make_trace("o1", dataset="other", task="other-task")),
        ]
    )
    store.save_analyses(
        [Analysis(trace_id="s1", analyzer="behaviors", version="1", counts={"verification": 2})]
    )
    store.save_label(Label(trace_id="s1", annotator="ann", first_mistake=0))
    store.save_label(Label(trace_id="s1", annotator="bob", first_mistake=1))
    store.save_label(Label(trace_id="s2", annotator="ann", status="draft"))
    store.add_suggestions([Suggestion(trace_id="s2", agent="chk", kind="first_mistake", value=1)])

    stats = store.stats("d")
    assert (stats["traces"], stats["steps"], stats["mean_steps"]) == (3, 7, 2.33)
    assert stats["by_dataset"] == {"d": 3}
    assert stats["by_task"] == {"sums": 3}
    assert stats["correct"] == {"true": 1, "false": 1, "unknown": 1}
    assert stats["dataset_labels"] == {"with_mistake": 1, "no_mistake": 1, "none": 1}
    assert stats["analysed"] == 1
    assert stats["behaviors"]["verification"] == {"traces": 1, "steps": 2}
    assert stats["behaviors"]["backtracking"] == {"traces": 0, "steps": 0}
    assert stats["labels"] == {
        "dataset": 2,
        "submitted": 2,
        "draft": 1,
        "annotators": 2,
        "labelled_traces": 1,
        "disagreement_traces": 1,
    }
    assert stats["suggestions"] == {"chk": 1}
    assert stats["analyses"] == {"behaviors": 1}

    whole = store.stats()
    assert whole["traces"] == 4
    assert whole["by_dataset"] == {"d": 3, "other": 1}
    assert whole["labels"]["dataset"] == 3
    assert store.stats("nothing")["traces"] == 0


def test_integrity_errors_on_a_healthy_store(store):
    store.add_traces(numbered(5))
    assert store.integrity_errors() == []


def test_integrity_errors_find_damage(store):
    store.add_traces(numbered(3))
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE traces SET n_steps = 7, n_labels = 2 WHERE id = 't0001'"))
    problems = store.integrity_errors()
    assert any("n_steps different" in p for p in problems)
    assert any("n_labels different" in p for p in problems)


def test_integrity_errors_find_a_broken_search_index(store):
    store.add_traces(numbered(3))
    with store.engine.begin() as conn:
        if store.dialect == "sqlite":
            conn.exec_driver_sql("DELETE FROM trace_fts_docsize WHERE id = 2")
        else:
            conn.exec_driver_sql("DELETE FROM trace_search WHERE rid = 2")
    assert any("missing from the full-text index" in p for p in store.integrity_errors())


def test_interrupted_sqlite_indexing_catches_up_on_search(store_sqlite):
    store_sqlite.add_traces(numbered(3))
    with store_sqlite.engine.begin() as conn:
        # What a crash between a committed batch and its indexing leaves behind.
        conn.exec_driver_sql("INSERT INTO trace_fts(trace_fts) VALUES ('delete-all')")
    assert any("not yet in the full-text index" in p for p in store_sqlite.integrity_errors())
    assert store_sqlite.count_traces(TraceFilter(text="two")) == 3
    assert store_sqlite.integrity_errors() == []
    assert store_sqlite.refresh_search_index() == 0


def test_integrity_errors_check_the_annotation_tables(store):
    store.add_traces(numbered(3))
    store.add_traces(numbered(1, dataset="other", prefix="o"))
    admin = Identity("root", "admin")
    set_role(store, admin, "ann", "reviewer")
    save_project(store, admin, Project("demo", ("first_mistake", "behaviors"), overlap=2))
    assert next_trace(store, Identity("ann"), "demo") == "t0000"
    assert next_trace(store, Identity("bob"), "demo") == "t0000"  # overlap 2: shared
    assert store.integrity_errors() == []  # what the labelling code writes is healthy

    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(label_leases).where(label_leases.c.annotator == "ann").values(dataset="other")
        )
        conn.execute(
            sa.insert(label_leases),
            [
                {"trace_id": "t0001", "annotator": "adjudicated", "dataset": "demo",
                 "acquired_at": now, "expires_at": now + timedelta(minutes=5)},
                {"trace_id": "t0002", "annotator": "carol", "dataset": "demo",
                 "acquired_at": now, "expires_at": now - timedelta(minutes=5)},
            ],
        )  # fmt: skip
        stamp = {"updated_at": now, "updated_by": "root"}
        conn.execute(
            sa.insert(users),
            [
                {"name": "boss", "role": "overlord", **stamp},
                {"name": "dataset:demo", "role": "admin", **stamp},
                {"name": " pad", "role": "annotator", **stamp},
            ],
        )
        base = {"blind": True, "guidelines": "", **stamp}
        conn.execute(
            sa.insert(projects),
            [
                {"dataset": "p-modes", "modes": '["first_mistake", "dance"]', "overlap": 1,
                 "lease_seconds": 60, **base},
                {"dataset": "p-json", "modes": "first_mistake", "overlap": 1,
                 "lease_seconds": 60, **base},
                {"dataset": "p-overlap", "modes": '["step_rating"]', "overlap": 0,
                 "lease_seconds": 60, **base},
                {"dataset": "p-lease", "modes": '["step_rating"]', "overlap": 1,
                 "lease_seconds": 0, **base},
            ],
        )  # fmt: skip
    problems = store.integrity_errors()
    assert problems == [
        "1 label lease(s) name a dataset other than their trace's, e.g. the lease on trace "
        "'t0000' says 'other' but the trace is in 'demo'",
        "1 label lease(s) expire before they were acquired, e.g. 'carol''s lease on trace 't0002'",
        "1 label lease(s) are held under a reserved or blank name, e.g. 'adjudicated' on trace "
        "'t0001'; leases are for people labelling under their own name",
        "user name ' pad' is blank or has surrounding spaces",
        "user 'boss' has the unknown role 'overlord'; expected one of annotator, reviewer, admin",
        "user name 'dataset:demo' is reserved for adjudicated and dataset labels",
        "project 'p-json': field 'modes' holds 'first_mistake'; expected a JSON list of mode names",
        "project 'p-lease': project lease_seconds: expected a whole number >= 1, got 0",
        "project 'p-modes': project modes: expected one or more of first_mistake, step_rating, "
        "behaviors, got ['first_mistake', 'dance']",
        "project 'p-overlap': project overlap: expected a whole number >= 1, got 0",
    ]


def test_integrity_errors_find_a_lease_of_a_missing_trace_on_sqlite(store_sqlite):
    store_sqlite.add_traces(numbered(1))
    # Only a writer with foreign keys off (sqlite3's default) can leave this behind; the
    # store's connections turn them on, and PostgreSQL refuses the row outright.
    raw = sqlite3.connect(store_sqlite.engine.url.database)
    with raw:
        raw.execute(
            "INSERT INTO label_leases (trace_id, annotator, dataset, acquired_at, expires_at) "
            "VALUES ('ghost', 'ann', 'demo', '2025-06-01 00:00:00', '2025-06-01 01:00:00')"
        )
    raw.close()
    assert store_sqlite.integrity_errors() == ["label_leases row 1 points to a missing traces row"]
