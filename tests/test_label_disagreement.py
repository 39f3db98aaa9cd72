"""When a trace's labels disagree: first mistakes, step ratings and behaviour corrections.

codec.label_disagreement is the one definition; the store's trace rows carry it as
label_disagreement (the Traces page's "disagreement" filter, the Adjudicate page's queue), and
migration 0003 recomputes it on stores written before ratings and corrections counted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from tests.store_samples import numbered
from trace_store import TraceFilter, open_store
from trace_store.codec import LabelDisagreement, SummaryLabel, label_disagreement, label_summary
from trace_store.db import alembic_config, current_revision, head_revision, upgrade_to_head
from trace_store.schema import Label

DISAGREEMENT = TraceFilter(label_state="disagreement")


def human(name: str, **fields) -> Label:
    return Label(trace_id="t", annotator=name, **fields)


def shipped(first_mistake: int) -> Label:
    return Label(
        trace_id="t", annotator="dataset:demo", source="dataset", first_mistake=first_mistake
    )


# ------------------------------------------------------------------------------------ codec


def test_different_first_mistakes_disagree():
    found = label_disagreement([human("a", first_mistake=1), human("b", first_mistake=-1)])
    assert found == LabelDisagreement(first_mistake=True)
    assert found
    assert not label_disagreement([human("a", first_mistake=2), human("b", first_mistake=2)])


def test_an_unjudged_first_mistake_is_not_a_disagreement():
    assert not label_disagreement([human("a", first_mistake=1), human("b", first_mistake=None)])


def test_different_ratings_of_a_step_disagree_on_that_step():
    a = human("a", step_ratings=[1, 1, -1, 0])
    b = human("b", step_ratings=[1, -1, 0, 0])
    found = label_disagreement([a, b])
    assert found == LabelDisagreement(rating_steps=(1, 2))
    assert found and not found.first_mistake


def test_unrated_against_rated_is_not_a_disagreement():
    a = human("a", step_ratings=[1, None, -1])
    b = human("b", step_ratings=[None, 0, -1])
    assert label_disagreement([a, b]) == LabelDisagreement()
    assert not label_disagreement([a, human("c", step_ratings=None)])


def test_different_behaviour_sets_on_a_step_disagree():
    a = human("a", behavior_corrections={0: ["backtracking"], 2: ["verification", "backtracking"]})
    b = human("b", behavior_corrections={0: ["verification"], 2: ["backtracking", "verification"]})
    assert label_disagreement([a, b]) == LabelDisagreement(correction_steps=(0,))
    # corrected to "no behaviour" against a behaviour is a disagreement; uncorrected is not
    c = human("c", behavior_corrections={1: []})
    d = human("d", behavior_corrections={1: ["subgoal_setting"], 3: ["backward_chaining"]})
    assert label_disagreement([c, d]).correction_steps == (1,)
    assert not label_disagreement([c, human("e", behavior_corrections={3: ["verification"]})])


def test_drafts_dataset_labels_and_the_adjudicated_label_never_disagree():
    a = human("a", first_mistake=1, step_ratings=[1, -1])
    draft = human("b", first_mistake=0, step_ratings=[-1, None], status="draft")
    final = Label(
        trace_id="t", annotator="adjudicated", source="adjudicated", first_mistake=0,
        step_ratings=[-1, -1],
    )  # fmt: skip
    assert not label_disagreement([a, draft, final, shipped(0)])
    # a human-sourced label under a dataset: name is still the dataset's
    odd = Label(trace_id="t", annotator="dataset:other", first_mistake=0)
    assert not label_disagreement([a, odd])


def test_the_summary_flags_every_kind_and_reads_rows_too():
    labels = [shipped(0), human("a", step_ratings=[1, 1]), human("b", step_ratings=[1, 0])]
    assert label_summary("demo", labels) == {
        "n_labels": 2, "label_disagreement": 1, "dataset_mistake": 0,
    }  # fmt: skip
    rows = [
        {"annotator": "a", "source": "human", "status": "submitted", "first_mistake": None,
         "step_ratings": None, "behavior_corrections": '{"1":["verification"]}'},
        {"annotator": "b", "source": "human", "status": "submitted", "first_mistake": None,
         "step_ratings": "[1,null]", "behavior_corrections": '{"1":["backtracking"]}'},
    ]  # fmt: skip
    decoded = [SummaryLabel.from_row(r) for r in rows]
    assert decoded[0].behavior_corrections == {1: ["verification"]}
    assert label_summary("demo", decoded)["label_disagreement"] == 1
    assert label_disagreement(decoded).correction_steps == (1,)


# ------------------------------------------------------------------------------------ store


def test_ratings_only_disagreement_shows_under_the_disagreement_filter(store):
    store.add_traces(numbered(3))
    store.save_label(Label(trace_id="t0000", annotator="alice", step_ratings=[1, 1]))
    store.save_label(Label(trace_id="t0000", annotator="bob", step_ratings=[1, None]))
    assert store.count_traces(DISAGREEMENT) == 0  # unrated is not a different rating
    bob = store.save_label(Label(trace_id="t0001", annotator="bob", step_ratings=[1, -1]))
    store.save_label(Label(trace_id="t0001", annotator="alice", step_ratings=[1, 0]))
    store.save_label(
        Label(trace_id="t0002", annotator="alice", behavior_corrections={0: ["verification"]})
    )
    store.save_label(
        Label(trace_id="t0002", annotator="bob", behavior_corrections={0: ["backtracking"]})
    )
    rows = store.list_traces(DISAGREEMENT)
    assert [r.id for r in rows] == ["t0001", "t0002"]
    assert all(r.n_labels == 2 and r.label_disagreement for r in rows)
    # bob changes his mind: step 1 gets alice's rating, the flag goes
    store.save_label(bob.model_copy(update={"step_ratings": [1, 0]}))
    assert [r.id for r in store.list_traces(DISAGREEMENT)] == ["t0002"]


# -------------------------------------------------------------------------------- migration


def test_upgrade_recomputes_stale_flags(store):
    store.add_traces(numbered(4))
    pairs = {
        "t0000": ({"step_ratings": [1, 1]}, {"step_ratings": [1, -1]}),
        "t0001": (
            {"behavior_corrections": {1: []}},
            {"behavior_corrections": {1: ["verification"]}},
        ),
        "t0002": ({"step_ratings": [1, 1]}, {"step_ratings": [1, 1]}),
        "t0003": ({"first_mistake": 0}, {"first_mistake": 1}),
    }
    for tid, (a, b) in pairs.items():
        store.save_label(Label(trace_id=tid, annotator="alice", **a))
        store.save_label(Label(trace_id=tid, annotator="bob", **b))
    flags = sa.text("SELECT id, label_disagreement FROM traces ORDER BY id")
    with store.engine.begin() as conn:
        # What a store written by revision 0002 holds: ratings and corrections never counted.
        conn.execute(sa.text("UPDATE traces SET label_disagreement = 0 WHERE id <> 't0003'"))
        command.downgrade(alembic_config(conn), "0002")
    assert current_revision(store.engine) == "0002"
    assert store.count_traces(DISAGREEMENT) == 1

    assert upgrade_to_head(store.engine) == head_revision()
    with store.engine.connect() as conn:
        assert conn.execute(flags).all() == [
            ("t0000", 1), ("t0001", 1), ("t0002", 0), ("t0003", 1),
        ]  # fmt: skip
    assert [r.id for r in store.list_traces(DISAGREEMENT)] == ["t0000", "t0001", "t0003"]
    assert store.integrity_errors() == []


def test_upgrade_from_empty_to_head_and_on_a_store_without_labels(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    with open_store(url) as store:
        store.add_traces(numbered(2))
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0002")
        assert upgrade_to_head(store.engine) == head_revision()
        assert store.count_traces(DISAGREEMENT) == 0 and store.count_traces() == 2


@pytest.mark.parametrize("mistakes", [(0, 0), (None, 1)])
def test_no_disagreement_without_two_verdicts(store_sqlite, mistakes):
    store_sqlite.add_traces(numbered(1))
    for name, mistake in zip(("alice", "bob"), mistakes, strict=True):
        store_sqlite.save_label(Label(trace_id="t0000", annotator=name, first_mistake=mistake))
    assert store_sqlite.count_traces(DISAGREEMENT) == 0
