"""Store: labels (versions, conflicts, history), suggestions, analyses and runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.store_samples import imported, make_trace, numbered
from trace_store import LabelConflict, TraceFilter
from trace_store.schema import Analysis, BehaviorTag, Label, Run, Suggestion


@pytest.fixture
def two(store):
    """A store holding traces t0000 and t0001 of dataset 'demo' (with dataset labels)."""
    store.add_traces(numbered(2))
    return store


def test_label_round_trip_and_defaults(two):
    label = Label(
        trace_id="t0000",
        annotator="alice",
        first_mistake=1,
        step_ratings=[1, -1],
        behavior_corrections={1: ["verification", "backtracking"]},
        note="second step is wrong",
        status="draft",
    )
    saved = two.save_label(label)
    assert saved.id is not None and saved.version == 1
    loaded = two.get_label(saved.id)
    assert loaded == saved
    assert loaded.behavior_corrections == {1: ["verification", "backtracking"]}
    assert loaded.updated_at.tzinfo is not None and loaded.updated_at.utcoffset() == timedelta(0)
    assert two.get_label(999_999) is None


def test_second_label_by_the_same_annotator_conflicts(two):
    two.save_label(Label(trace_id="t0000", annotator="alice", first_mistake=0))
    with pytest.raises(LabelConflict, match="already has a label by 'alice'"):
        two.save_label(Label(trace_id="t0000", annotator="alice", first_mistake=1))
    two.save_label(Label(trace_id="t0001", annotator="alice", first_mistake=1))


def test_label_update_versions_and_stale_edits(two):
    first = two.save_label(Label(trace_id="t0000", annotator="alice", first_mistake=0))
    second = two.save_label(first.model_copy(update={"first_mistake": 1}))
    assert (second.version, second.first_mistake, second.id) == (2, 1, first.id)
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    # Someone still holding version 1 cannot overwrite version 2 ...
    with pytest.raises(LabelConflict, match="version 2"):
        two.save_label(first.model_copy(update={"first_mistake": -1}))
    # ... nor by naming the stale version explicitly.
    with pytest.raises(LabelConflict):
        two.save_label(second.model_copy(update={"note": "x"}), expected_version=1)
    third = two.save_label(second.model_copy(update={"status": "draft"}), expected_version=2)
    assert third.version == 3
    assert two.get_label(first.id).first_mistake == 1


def test_label_history_keeps_every_save(two):
    saved = two.save_label(Label(trace_id="t0001", annotator="bob", first_mistake=0))
    saved = two.save_label(saved.model_copy(update={"first_mistake": -1, "note": "fine"}))
    history = two.label_history(saved.id)
    assert [h["annotator"] for h in history] == ["bob", "bob"]
    assert history[0]["old"] is None and history[0]["new"]["first_mistake"] == 0
    assert history[1]["old"]["first_mistake"] == 0
    assert history[1]["new"]["first_mistake"] == -1 and history[1]["new"]["version"] == 2
    assert history[0]["at"] <= history[1]["at"]
    assert all(h["at"].tzinfo is not None for h in history)


def test_label_errors(two):
    with pytest.raises(ValueError, match="no such trace"):
        two.save_label(Label(trace_id="ghost", annotator="alice"))
    with pytest.raises(LabelConflict, match="no longer exists"):
        two.save_label(Label(id=424242, trace_id="t0000", annotator="alice"))
    saved = two.save_label(Label(trace_id="t0000", annotator="alice"))
    with pytest.raises(ValueError, match="belongs to trace"):
        two.save_label(saved.model_copy(update={"trace_id": "t0001"}))


def test_labels_for_and_iter_labels(store):
    store.add_traces(numbered(2, dataset="a", prefix="a"))
    store.add_traces(numbered(1, dataset="b", prefix="b"))
    store.save_label(Label(trace_id="a0000", annotator="alice", first_mistake=0))
    store.save_label(Label(trace_id="a0001", annotator="alice", status="draft"))
    store.save_label(Label(trace_id="b0000", annotator="bob", first_mistake=-1))

    on_a0 = store.labels_for("a0000")
    assert [lb.annotator for lb in on_a0] == ["dataset:a", "alice"]
    assert on_a0[0].source == "dataset" and on_a0[0].first_mistake == -1
    assert [lb.annotator for lb in store.labels_for("a0000", annotator="alice")] == ["alice"]
    assert store.labels_for("a0001", status="submitted")[0].annotator == "dataset:a"

    submitted = list(store.iter_labels())
    assert len(submitted) == 5  # 3 dataset labels + 2 submitted human labels
    assert [lb.trace_id for lb in store.iter_labels(dataset="a", annotator="alice")] == ["a0000"]
    assert [lb.trace_id for lb in store.iter_labels(status="draft")] == ["a0001"]
    assert len(list(store.iter_labels(status=None))) == 6
    assert [lb.annotator for lb in store.iter_labels(dataset="b")] == ["dataset:b", "bob"]


def test_label_summary_on_the_trace_row_follows_saves(two):
    flt = TraceFilter(label_state="disagreement")
    alice = two.save_label(Label(trace_id="t0000", annotator="alice", first_mistake=0))
    two.save_label(Label(trace_id="t0000", annotator="bob", first_mistake=1))
    row = two.list_traces(TraceFilter(ids=["t0000"]))[0]
    assert (row.n_labels, row.label_disagreement, row.dataset_mistake) == (2, True, -1)
    assert two.count_traces(flt) == 1
    two.save_label(alice.model_copy(update={"first_mistake": 1}))
    assert two.count_traces(flt) == 0
    two.save_label(Label(trace_id="t0001", annotator="carol", status="draft"))
    assert two.count_traces(TraceFilter(label_state="labelled")) == 1


def test_suggestions_round_trip_and_replace_per_agent(two):
    made = datetime(2025, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    checker = [
        Suggestion(trace_id="t0000", agent="checker:arith", kind="first_mistake", value=1,
                   score=0.9, created_at=made),
        Suggestion(trace_id="t0000", agent="checker:arith", kind="finding", step=1,
                   value={"expected": "5", "found": "6"}),
    ]  # fmt: skip
    finder = Suggestion(trace_id="t0000", agent="finder@1", kind="step_score", value=[0.1, 0.8])
    assert two.add_suggestions([*checker, finder]) == 3
    stored = two.suggestions_for("t0000")
    assert [s.agent for s in stored] == ["checker:arith", "checker:arith", "finder@1"]
    assert stored[0].created_at == made and stored[0].created_at.tzinfo == UTC
    assert stored[1].value == {"expected": "5", "found": "6"}
    assert stored[0].id is not None and stored[0].score == 0.9

    rerun = Suggestion(trace_id="t0000", agent="checker:arith", kind="first_mistake", value=-1)
    assert two.add_suggestions([rerun]) == 1
    assert [s.value for s in two.suggestions_for("t0000", agent="checker:arith")] == [-1]
    assert len(two.suggestions_for("t0000", agent="finder@1")) == 1
    two.add_suggestions([rerun], replace_agent=False)
    assert len(two.suggestions_for("t0000", agent="checker:arith")) == 2


def test_replace_agent_keeps_everything_added_in_one_call(two):
    many = [
        Suggestion(trace_id="t0001", agent="a", kind="first_mistake", value=i) for i in range(2500)
    ]
    assert two.add_suggestions(many) == 2500  # spans two internal batches
    assert len(two.suggestions_for("t0001")) == 2500


def test_suggestions_for_many_reads_a_page_at_once(two):
    early = datetime(2025, 1, 1, tzinfo=UTC)
    two.add_suggestions(
        [
            Suggestion(trace_id="t0001", agent="finder@1", kind="first_mistake", value=1,
                       created_at=early),
            Suggestion(trace_id="t0000", agent="checker:arith", kind="finding", step=0,
                       value={"expected": "5"}),
            Suggestion(trace_id="t0001", agent="checker:arith", kind="first_mistake", value=0),
        ]
    )  # fmt: skip
    ids = ["t0001", "ghost", "t0000", "t0001"]
    many = two.suggestions_for_many(ids)
    assert list(many) == ["t0001", "ghost", "t0000"]  # asked order, duplicates once
    assert many["ghost"] == []
    for tid in ("t0000", "t0001"):
        assert many[tid] == two.suggestions_for(tid)
    assert [(s.agent, s.value) for s in many["t0001"]] == [("finder@1", 1), ("checker:arith", 0)]
    assert many["t0001"][0].created_at == early
    mistakes = two.suggestions_for_many(ids, kind="first_mistake")
    assert (len(mistakes["t0000"]), len(mistakes["t0001"])) == (0, 2)
    arith = two.suggestions_for_many(["t0001"], agent="checker:arith", kind="first_mistake")
    assert [s.value for s in arith["t0001"]] == [0]
    assert two.suggestions_for_many([]) == {}


def test_suggestions_for_many_spans_several_id_chunks(store):
    store.add_traces(numbered(701))
    ids = [f"t{i:04d}" for i in range(701)]
    store.add_suggestions(
        Suggestion(trace_id=tid, agent="a", kind="first_mistake", value=i % 3)
        for i, tid in enumerate(ids)
        if i % 2 == 0
    )
    many = store.suggestions_for_many(reversed(ids))
    assert len(many) == 701 and list(many)[0] == "t0700"
    assert [len(many[tid]) for tid in ids] == [1 - i % 2 for i in range(701)]
    assert [many[tid][0].value for tid in ids[::2]] == [i % 3 for i in range(0, 701, 2)]


def test_suggestion_for_unknown_trace_is_refused(two):
    bad = Suggestion(trace_id="ghost", agent="a", kind="first_mistake", value=0)
    with pytest.raises(ValueError, match="'ghost'"):
        two.add_suggestions([bad])
    assert two.suggestions_for("ghost") == []


def test_analyses_round_trip_replace_and_update_counts(two):
    tag = BehaviorTag(step=1, behavior="verification", start=0, end=6, evidence="Verify",
                      confidence=0.8, tagger="rules@1")  # fmt: skip
    first = Analysis(
        trace_id="t0000",
        analyzer="behaviors",
        version="rules@1",
        tags=[tag],
        counts={"verification": 1},
        extra={"segment_mode": "line"},
    )
    other = Analysis(trace_id="t0000", analyzer="graph", version="1", extra={"nodes": 3})
    assert two.save_analyses([first, other]) == 2
    assert two.get_analysis("t0000", "behaviors") == first
    assert [a.analyzer for a in two.analyses_for("t0000")] == ["behaviors", "graph"]
    row = two.list_traces(TraceFilter(ids=["t0000"]))[0]
    assert row.behavior_counts == {
        "backtracking": 0,
        "verification": 1,
        "subgoal_setting": 0,
        "backward_chaining": 0,
    }

    newer = first.model_copy(update={"version": "rules@2", "counts": {"backtracking": 4}})
    two.save_analyses([newer])
    assert two.get_analysis("t0000", "behaviors").version == "rules@2"
    assert two.list_traces(TraceFilter(ids=["t0000"]))[0].behavior_counts["backtracking"] == 4
    assert two.count_traces(TraceFilter(behavior="verification")) == 0
    assert two.get_analysis("t0001", "behaviors") is None
    with pytest.raises(ValueError, match="no such trace"):
        two.save_analyses([first.model_copy(update={"trace_id": "ghost"})])


def test_runs_upsert_and_list(store):
    early = Run(id="r1", kind="import", dataset="bbm", params={"files": ["a.jsonl"]},
                started_at=datetime(2025, 1, 1, tzinfo=UTC))  # fmt: skip
    late = Run(id="r2", kind="generate", model="tiny", started_at=datetime(2025, 2, 1, tzinfo=UTC))
    store.save_run(early)
    store.save_run(late)
    assert [r.id for r in store.list_runs()] == ["r2", "r1"]
    done = early.model_copy(
        update={"status": "done", "stats": {"added": 10}, "finished_at": datetime.now(UTC)}
    )
    store.save_run(done)
    runs = store.list_runs(kind="import")
    assert runs == [done]
    assert store.list_runs(kind="train") == []


def test_shipped_human_labels_count_as_labels(store):
    trace = make_trace("h1")
    item = imported(trace, first_mistake=2)
    item.labels.append(Label(trace_id="h1", annotator="expert", first_mistake=1))
    store.add_traces([item])
    row = store.list_traces()[0]
    assert (row.n_labels, row.dataset_mistake) == (1, 2)
    assert store.integrity_errors() == []
