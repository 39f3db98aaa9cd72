"""AppTest of the Adjudicate page on labels that disagree only on step ratings or only on
behaviour corrections: listed, shown side by side with the differing steps marked, resolved."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from components.adjudicate_merge import (
    NO_VERDICT,
    choice_of,
    default_behaviors,
    default_first_mistake,
    default_rating,
    first_mistake_choices,
    has_decision,
    merged_corrections,
    merged_ratings,
    mistake_of,
    rating_votes,
)
from tests.agreement_samples import STEPS, who
from tests.store_samples import imported, make_trace
from trace_store import open_store
from trace_store.annotation import (
    ADJUDICATED_ANNOTATOR,
    Identity,
    Project,
    adjudicate,
    record_label,
    save_project,
    set_role,
)
from trace_store.codec import label_disagreement
from trace_store.schema import Label

TIMEOUT = 60
ADMIN = Identity("root", "admin")
DATASET = "rate-demo"
AGREED = [1, 1, 1]


@pytest.fixture
def store(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """Yield a store where r1's people differ on step 1's rating, r2's agree and r3's differ on
    step 0's behaviours (THOUGHTSCOPE_DB points at it; reviewer rita logs in through OIDC)."""
    url = f"sqlite:///{tmp_path / 'rate.db'}"
    monkeypatch.setenv("THOUGHTSCOPE_DB", url)
    monkeypatch.setenv("THOUGHTSCOPE_AUTH", "oidc")
    opened = open_store(url)
    opened.add_traces(
        [
            imported(make_trace(t, dataset=DATASET, steps=STEPS[:3]), labelled=False)
            for t in ("r1", "r2", "r3")
        ]
    )
    save_project(opened, ADMIN, Project(DATASET, ("step_rating", "behaviors"), overlap=2))
    set_role(opened, ADMIN, "rita@example.com", "reviewer")
    alice, bob = who("alice"), who("bob")
    record_label(opened, alice, "r1", step_ratings=[1, 1, -1])
    record_label(opened, bob, "r1", step_ratings=[1, -1, -1])
    record_label(opened, alice, "r2", step_ratings=[1, None, 0])
    record_label(opened, bob, "r2", step_ratings=[1, 0, 0])
    record_label(
        opened, alice, "r3", step_ratings=AGREED,
        behavior_corrections={0: ["verification"], 2: ["backtracking"]},
    )  # fmt: skip
    record_label(
        opened, bob, "r3", step_ratings=AGREED,
        behavior_corrections={0: ["subgoal_setting", "verification"]},
    )  # fmt: skip
    yield opened
    opened.close()


def reviewer_page(query: dict[str, str]) -> AppTest:
    script = (
        "import streamlit as st\n"
        "from pages.shared import all_pages\n"
        "st.navigation(all_pages(default='adjudicate')).run()\n"
    )
    at = AppTest.from_string(script, default_timeout=TIMEOUT)
    at.user = {"is_logged_in": True, "email": "rita@example.com"}
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def html_containing(at: AppTest, marker: str) -> str:
    return next(b for h in at.get("html") if marker in (b := str(h.proto.body)))


def split_rows(body: str) -> list[str]:
    """Return the data-step of the highlighted rows of a grid's HTML."""
    return [
        part.split('data-step="')[1].split('"')[0]
        for part in body.split("<tr")[1:]
        if part.startswith(' class="ts-adj-split"')
    ]


def test_ratings_only_disagreement_is_listed_and_resolved(store) -> None:
    at = reviewer_page({"dataset": DATASET})
    trace = at.selectbox(key="adjudicate_trace")
    assert trace.options == ["r1 — open", "r3 — open"]  # r2: unrated vs 0 is no disagreement
    assert trace.value == "r1"
    assert any("2** trace(s) with disagreeing labels" in m.value for m in at.markdown)
    assert any("They disagree on the rating of step 1." in c.value for c in at.caption)
    grid = html_containing(at, '<table class="ts-adj-grid"')
    assert split_rows(grid) == ["1"]  # only the step they rated differently is marked
    cards = html_containing(at, '<div class="ts-adj-cards">')
    assert cards.count("3/3 steps rated") == 2

    source = at.selectbox(key="adjudicate_ratings_r1")
    assert source.options[:3] == [
        "merged: agreed + your choices below", "none (first mistake only)", "alice",
    ]  # fmt: skip
    assert source.value.startswith("merged")
    step1 = at.selectbox(key="adjudicate_rating_r1_1")
    assert step1.value == -1  # a tie keeps the step a mistake until the reviewer decides
    assert step1.options == ["+1 — alice", "0", "−1 — bob", "unrated"]
    assert [s.key for s in at.selectbox if s.key.startswith("adjudicate_rating_r1_")] == [
        "adjudicate_rating_r1_1"
    ]
    step1.set_value(1)
    at.selectbox(key="adjudicate_choice_r1").set_value(2)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert any(
        "Saved the final label of r1: step 2, 3 step(s) rated" in s.value for s in at.success
    )
    (final,) = store.labels_for("r1", annotator=ADJUDICATED_ANNOTATOR)
    assert (final.first_mistake, final.step_ratings, final.source) == (2, [1, 1, -1], "adjudicated")
    assert final.behavior_corrections is None
    # the people's labels are untouched; the page moved on to the next open disagreement
    assert {lb.annotator: lb.step_ratings for lb in store.labels_for("r1")} == {
        "alice": [1, 1, -1], "bob": [1, -1, -1], "adjudicated": [1, 1, -1],
    }  # fmt: skip
    trace = at.selectbox(key="adjudicate_trace")
    assert trace.value == "r3"
    assert "r1 — adjudicated: step 2" in trace.options


def test_behaviour_correction_disagreement_is_shown_and_merged(store) -> None:
    at = reviewer_page({"dataset": DATASET, "trace": "r3"})
    assert any("They disagree on the behaviours of step 0." in c.value for c in at.caption)
    table = html_containing(at, "ts-adj-corrections")
    assert split_rows(table) == ["0"]
    assert "<b>0</b> ≠" in table and "<b>2</b> ≠" not in table
    assert "subgoal setting" in table and "backtracking" in table
    # ratings agree: nothing to decide per step, and no step-rating widget is drawn
    assert not [s for s in at.selectbox if s.key.startswith("adjudicate_rating_r3_")]
    behaviours = at.multiselect(key="adjudicate_behaviors_r3_0")
    assert behaviours.value == ["verification", "subgoal_setting"]  # at least half proposed each
    behaviours.set_value(["verification"])
    at.button[0].click().run()
    assert not at.exception, at.exception
    (final,) = store.labels_for("r3", annotator=ADJUDICATED_ANNOTATOR)
    assert final.behavior_corrections == {0: ["verification"], 2: ["backtracking"]}
    assert final.step_ratings == AGREED  # merged: what both gave
    assert final.first_mistake is None  # nobody gave one: the form's default is no verdict


def test_copying_one_persons_corrections(store) -> None:
    at = reviewer_page({"dataset": DATASET, "trace": "r3"})
    at.selectbox(key="adjudicate_corrections_r3").set_value("bob")
    at.selectbox(key="adjudicate_ratings_r3").set_value("none (first mistake only)")
    at.button[0].click().run()
    (final,) = store.labels_for("r3", annotator=ADJUDICATED_ANNOTATOR)
    assert final.behavior_corrections == {0: ["subgoal_setting", "verification"]}
    assert final.step_ratings is None


def test_ratings_only_disagreement_defaults_to_no_first_mistake_verdict(store) -> None:
    at = reviewer_page({"dataset": DATASET, "trace": "r1"})
    choice = at.selectbox(key="adjudicate_choice_r1")
    assert choice.value == NO_VERDICT
    assert choice.options[:3] == ["no verdict on the first mistake", "no mistake", "step 0"]
    at.button[0].click().run()  # the defaults: no verdict, merged ratings
    assert not at.exception, at.exception
    assert any(
        "Saved the final label of r1: no verdict on the first mistake, 3 step(s) rated" in s.value
        for s in at.success
    )
    (final,) = store.labels_for("r1", annotator=ADJUDICATED_ANNOTATOR)
    assert (final.first_mistake, final.step_ratings) == (None, [1, -1, -1])
    assert (
        "r1 — adjudicated: no verdict on the first mistake"
        in at.selectbox(key="adjudicate_trace").options
    )
    # reopened, the form shows the saved decision: still no verdict, not one read off ratings
    again = reviewer_page({"dataset": DATASET, "trace": "r1"})
    assert again.selectbox(key="adjudicate_choice_r1").value == NO_VERDICT


def test_no_mistake_is_still_a_verdict_of_its_own(store) -> None:
    at = reviewer_page({"dataset": DATASET, "trace": "r1"})
    at.selectbox(key="adjudicate_choice_r1").set_value(-1)
    at.button[0].click().run()
    assert any("Saved the final label of r1: no mistake" in s.value for s in at.success)
    (final,) = store.labels_for("r1", annotator=ADJUDICATED_ANNOTATOR)
    assert final.first_mistake == -1


def test_a_form_that_decides_nothing_is_not_saved(store) -> None:
    at = reviewer_page({"dataset": DATASET, "trace": "r3"})
    assert at.selectbox(key="adjudicate_choice_r3").value == NO_VERDICT
    at.selectbox(key="adjudicate_ratings_r3").set_value("none (first mistake only)")
    at.selectbox(key="adjudicate_corrections_r3").set_value("none")
    at.button[0].click().run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any("Not saved: the final label would decide nothing" in e for e in errors), errors
    assert store.labels_for("r3", annotator=ADJUDICATED_ANNOTATOR) == []
    assert at.selectbox(key="adjudicate_trace").value == "r3"  # stays on the trace


# ------------------------------------------------------------------- merge rules, no browser


def test_first_mistake_choice_rules() -> None:
    a = Label(trace_id="x", annotator="a", first_mistake=2, step_ratings=[1, 1, -1])
    b = Label(trace_id="x", annotator="b", first_mistake=2, step_ratings=[1, -1, -1])
    c = Label(trace_id="x", annotator="c", first_mistake=0)
    agreed = [a, b]
    assert default_first_mistake(agreed, label_disagreement(agreed), None) == 2  # kept as agreed
    ratings_only = [a.model_copy(update={"first_mistake": None}), c.model_copy(
        update={"first_mistake": None, "step_ratings": [1, 1, 1]})]  # fmt: skip
    assert default_first_mistake(ratings_only, label_disagreement(ratings_only), None) is None
    split = [a, b, c]
    assert default_first_mistake(split, label_disagreement(split), None) == 2  # the majority
    final = Label(trace_id="x", annotator="adjudicated", source="adjudicated",
                  step_ratings=[1, -1, -1])  # fmt: skip
    assert default_first_mistake(split, label_disagreement(split), final) is None
    assert first_mistake_choices(2) == [NO_VERDICT, -1, 0, 1]
    assert [mistake_of(choice_of(m)) for m in (None, -1, 0, 3)] == [None, -1, 0, 3]
    assert mistake_of(None) is None
    assert not has_decision(None, [None, None], None)
    assert has_decision(None, [None, 0], None) and has_decision(None, None, {0: []})
    assert has_decision(-1, None, None)


def people_labels() -> list[Label]:
    return [
        Label(trace_id="x", annotator="a", step_ratings=[1, 0, None, -1],
              behavior_corrections={1: ["verification"], 3: []}),
        Label(trace_id="x", annotator="b", step_ratings=[1, 1, None, 1],
              behavior_corrections={1: ["backtracking", "verification"]}),
        Label(trace_id="x", annotator="c", step_ratings=[None, 1, None, -1]),
        Label(trace_id="x", annotator="adjudicated", source="adjudicated",
              step_ratings=[-1, -1, -1, -1]),
        Label(trace_id="x", annotator="d", step_ratings=[-1, -1, -1, -1], status="draft"),
    ]  # fmt: skip


def test_merge_rules() -> None:
    labels = people_labels()
    assert rating_votes(labels, 1) == {0: ["a"], 1: ["b", "c"]}
    assert default_rating({0: ["a"], 1: ["b", "c"]}) == 1 and default_rating({}) is None
    assert default_rating({1: ["a"], 0: ["b"]}) == 0
    assert merged_ratings(labels, 4, {}) == [1, 1, None, -1]
    assert merged_ratings(labels, 4, {1: 0, 2: 1}) == [1, 0, 1, -1]
    assert merged_ratings(labels[2:3], 4, {0: None}) == [None, 1, None, -1]
    assert merged_ratings([], 4, {}) is None
    assert default_behaviors(labels, 1) == ["backtracking", "verification"]
    assert merged_corrections(labels, {}) == {1: ["backtracking", "verification"], 3: []}
    assert merged_corrections(labels, {1: ["verification"]}) == {1: ["verification"], 3: []}
    assert merged_corrections(labels[2:], {}) is None


def test_adjudicate_validates_corrections(store) -> None:
    rita = who("rita", "reviewer")
    with pytest.raises(ValueError, match="behavior_corrections: step 5 is not a step index 0..2"):
        adjudicate(
            store, rita, "r3", first_mistake=None, behavior_corrections={5: ["verification"]}
        )
    with pytest.raises(ValueError, match="behavior_corrections"):
        adjudicate(store, rita, "r3", first_mistake=None, behavior_corrections={0: ["dancing"]})
    with pytest.raises(ValueError, match="needs a decision"):
        adjudicate(store, rita, "r3", first_mistake=None, step_ratings=[None, None, None])
    saved = adjudicate(store, rita, "r3", first_mistake=None, behavior_corrections={0: []})
    assert (saved.first_mistake, saved.behavior_corrections) == (None, {0: []})
