"""AppTest of the Agreement and Adjudicate pages: figures shown, reviewers adjudicate through
the form (with conflict detection), annotators are told the page is for reviewers only."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.agreement_samples import DATASET, record_hand_labels, who
from tests.store_samples import imported, make_trace
from trace_store import TraceFilter, open_store
from trace_store.annotation import ADJUDICATED_ANNOTATOR, Identity, adjudicate, set_role

TIMEOUT = 60
ADMIN = Identity("root", "admin")


@pytest.fixture
def store(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """Yield a store holding the hand-computed labels (THOUGHTSCOPE_DB points at it)."""
    url = f"sqlite:///{tmp_path / 'pages.db'}"
    monkeypatch.setenv("THOUGHTSCOPE_DB", url)
    monkeypatch.delenv("THOUGHTSCOPE_AUTH", raising=False)
    opened = open_store(url)
    record_hand_labels(opened)
    opened.add_traces([imported(make_trace("u1", dataset="unlabelled"), first_mistake=0)])
    yield opened
    opened.close()


def open_page(name: str, query: dict[str, str], user: dict | None = None) -> AppTest:
    """Return an AppTest of the router on page ``name`` (``user`` seeds st.user for OIDC)."""
    script = (
        "import streamlit as st\n"
        "from pages.shared import all_pages\n"
        f"st.navigation(all_pages(default={name!r})).run()\n"
    )
    at = AppTest.from_string(script, default_timeout=TIMEOUT)
    if user is not None:
        at.user = user
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def html_containing(at: AppTest, marker: str) -> str:
    """Return the body of the first st.html element containing ``marker``."""
    return next(b for h in at.get("html") if marker in (b := str(h.proto.body)))


# ------------------------------------------------------------------------------ agreement


def test_agreement_page_shows_the_report(store) -> None:
    at = open_page("agreement", {"dataset": DATASET})
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Traces with human labels"] == "4"
    assert metrics["Exact first-mistake match"] == "0.333"
    assert metrics["Krippendorff's α (nominal)"] == "0.222"
    assert metrics["Krippendorff's α (ordinal)"] == "0.222"
    assert metrics["Disagreeing traces"] == "3"
    pairs = at.dataframe[0].value
    assert list(pairs["annotator A"]) == ["alice", "alice", "bob"]
    assert pairs["Cohen's kappa"].iloc[0] == pytest.approx(0.4167)
    reference = at.dataframe[1].value
    assert reference.loc[reference["annotator"] == "alice", "exact match"].item() == 0.75
    disagreements = at.dataframe[2].value
    assert list(disagreements["trace"]) == ["t2", "t3", "t4"]
    picker = at.selectbox(key="agreement_pick")
    assert picker.options[0].startswith("t2 — alice: no mistake, bob: step 0")
    assert at.query_params["dataset"] == DATASET
    # the pair chosen for the heatmap can be changed
    at.selectbox(key="agreement_confusion_pair").set_value("alice vs bob").run()
    assert not at.exception


def test_agreement_page_counts_a_new_adjudication(store) -> None:
    at = open_page("agreement", {"dataset": DATASET})
    adjudicate(store, who("rita", "reviewer"), "t2", first_mistake=0)
    at.run()
    assert at.metric[4].help.startswith("2 not adjudicated yet")
    assert list(at.dataframe[2].value["adjudicated"]) == ["—", "—", "step 0"]


def test_agreement_page_counts_rating_disagreements_with_a_breakdown(store) -> None:
    """t1's people agree on the first mistake; two more rate step 2 differently: the page counts
    t1 as the Adjudicate queue does and says what each trace disagrees on."""
    from trace_store.annotation import record_label

    record_label(store, who("erin"), "t1", first_mistake=1, step_ratings=[1, -1, 0])
    record_label(store, who("finn"), "t1", first_mistake=1, step_ratings=[1, -1, 1])
    at = open_page("agreement", {"dataset": DATASET})
    metric = next(m for m in at.metric if m.label == "Disagreeing traces")
    assert metric.value == "4"
    breakdown = "On the first mistake: 3 · on step ratings: 1 · on behaviour corrections: 0"
    assert metric.help.startswith("4 not adjudicated yet. " + breakdown)
    assert any(c.startswith(breakdown) for c in texts(at, "caption"))
    table = at.dataframe[2].value
    assert list(table["trace"]) == ["t1", "t2", "t3", "t4"]
    assert list(table["disagree on"]) == [
        "ratings: step 2", "first mistake", "first mistake", "first mistake",
    ]  # fmt: skip
    picker = at.selectbox(key="agreement_pick")
    assert picker.options[0] == "t1 — ratings: step 2"
    assert picker.options[1] == "t2 — alice: no mistake, bob: step 0"
    queue = store.list_traces(TraceFilter(datasets=[DATASET], label_state="disagreement"))
    assert sorted(r.id for r in queue) == ["t1", "t2", "t3", "t4"]


def test_agreement_page_without_human_labels(store) -> None:
    at = open_page("agreement", {"dataset": "unlabelled"})
    assert any("No submitted human labels in 'unlabelled' yet" in t for t in texts(at, "info"))
    assert not at.metric


# ----------------------------------------------------------------------------- adjudicate


def test_annotator_sees_reviewers_only(store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THOUGHTSCOPE_AUTH", "oidc")
    set_role(store, ADMIN, "ann@example.com", "annotator")
    at = open_page(
        "adjudicate", {"dataset": DATASET}, {"is_logged_in": True, "email": "ann@example.com"}
    )
    warnings = texts(at, "warning")
    assert any("Reviewers only" in w and "'ann@example.com' (annotator)" in w for w in warnings)
    assert not any(s.label == "First mistake" for s in at.selectbox)
    assert not at.text_area


def test_unregistered_oidc_user_is_an_annotator(store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THOUGHTSCOPE_AUTH", "oidc")
    at = open_page("adjudicate", {}, {"is_logged_in": True, "email": "new@example.com"})
    assert any("Reviewers only" in w for w in texts(at, "warning"))


def test_logged_out_sees_no_form(store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THOUGHTSCOPE_AUTH", "oidc")
    at = open_page("adjudicate", {}, {"is_logged_in": False})
    assert any("Log in to adjudicate" in t for t in texts(at, "info"))
    assert not any(s.label == "First mistake" for s in at.selectbox)


def reviewer_page(store, monkeypatch, query: dict[str, str]) -> AppTest:
    monkeypatch.setenv("THOUGHTSCOPE_AUTH", "oidc")
    set_role(store, ADMIN, "rita@example.com", "reviewer")
    return open_page("adjudicate", query, {"is_logged_in": True, "email": "rita@example.com"})


def test_reviewer_adjudicates_through_the_form(store, monkeypatch: pytest.MonkeyPatch) -> None:
    at = reviewer_page(store, monkeypatch, {"dataset": DATASET})
    trace = at.selectbox(key="adjudicate_trace")
    assert trace.value == "t2"  # the first open disagreement
    assert [o.split(" — ")[1] for o in trace.options] == ["open", "open", "open"]
    body = html_containing(at, '<table class="ts-adj-grid"')
    # alice said no mistake (all ✓), bob step 0; the dataset also step 0
    assert body.count("✗ first mistake") == 2
    choice = at.selectbox(key="adjudicate_choice_t2")
    # majority tie (no mistake vs step 0) goes to the earliest step, as exports do
    assert choice.value == 0
    assert choice.options[:3] == [
        "no verdict on the first mistake",
        "no mistake — alice",
        "step 0 — bob, dataset:agree-demo",
    ]
    choice.set_value(-1)
    at.text_area(key="adjudicate_note_t2").set_value("step 0 is fine")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert any("Saved the final label of t2: no mistake" in s for s in texts(at, "success"))
    (final,) = store.labels_for("t2", annotator=ADJUDICATED_ANNOTATOR)
    assert (final.first_mistake, final.source, final.note) == (-1, "adjudicated", "step 0 is fine")
    assert store.label_history(final.id)[0]["annotator"] == "rita@example.com"
    # the page moved on to the next open disagreement, and lists t2 as adjudicated
    assert at.selectbox(key="adjudicate_trace").value == "t3"
    assert "t2 — adjudicated: no mistake" in at.selectbox(key="adjudicate_trace").options
    assert at.query_params["trace"] == "t3"


def test_conflicting_adjudication_is_not_overwritten(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = reviewer_page(store, monkeypatch, {"dataset": DATASET, "trace": "t4"})
    assert at.selectbox(key="adjudicate_trace").value == "t4"
    # another reviewer decides while this form is open
    adjudicate(store, who("sam", "reviewer"), "t4", first_mistake=2, note="sam")
    at.selectbox(key="adjudicate_choice_t4").set_value(0)
    at.button[0].click().run()
    errors = texts(at, "error")
    assert any("Not saved" in e and "reload" in e for e in errors), errors
    (final,) = store.labels_for("t4", annotator=ADJUDICATED_ANNOTATOR)
    assert (final.first_mistake, final.note) == (2, "sam")
    # the page now shows sam's decision beside the labels, and keeps this reviewer's choice;
    # saving again replaces sam's decision knowingly
    cards = html_containing(at, '<div class="ts-adj-cards">')
    assert "ts-adj-final" in cards and "first mistake at step 2" in cards
    assert at.selectbox(key="adjudicate_choice_t4").value == 0
    at.button[0].click().run()
    (final,) = store.labels_for("t4", annotator=ADJUDICATED_ANNOTATOR)
    assert final.first_mistake == 0 and final.version == 2


def test_copying_step_ratings_into_the_final_label(store, monkeypatch) -> None:
    from trace_store.annotation import record_label

    record_label(store, who("erin"), "t1", step_ratings=[1, -1, 0], first_mistake=1)
    at = reviewer_page(store, monkeypatch, {"dataset": DATASET, "trace": "t1"})
    # everyone named step 1: the agreed first mistake is preselected, kept in the final label
    assert at.selectbox(key="adjudicate_choice_t1").value == 1
    ratings = at.selectbox(key="adjudicate_ratings_t1")
    assert ratings.options == ["none (first mistake only)", "erin"]
    ratings.set_value("erin")
    at.button[0].click().run()
    (final,) = store.labels_for("t1", annotator=ADJUDICATED_ANNOTATOR)
    assert (final.first_mistake, final.step_ratings) == (1, [1, -1, 0])


def test_single_user_mode_is_admin_and_may_adjudicate(store) -> None:
    at = open_page("adjudicate", {"dataset": DATASET, "annotator": "solo"})
    assert not texts(at, "warning")
    assert at.selectbox(key="adjudicate_choice_t2").value == 0


def test_changing_dataset_opens_its_own_queue(store, monkeypatch) -> None:
    at = reviewer_page(store, monkeypatch, {"dataset": DATASET, "trace": "t3"})
    assert at.selectbox(key="adjudicate_trace").value == "t3"
    at.selectbox(key="adjudicate_dataset").set_value("unlabelled").run()
    assert not at.exception
    assert any("No disagreements to adjudicate in unlabelled" in s for s in texts(at, "success"))
    assert "trace" not in at.query_params
