"""AppTest of the Label page: identity, keys per mode, autosave and restore, submit, conflicts.

Each test gets its own copy of one seeded store (Countdown traces with analyses and one model
suggestion), so labels written by one test never leak into another.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.browser_helpers import (
    COUNTDOWN_DATASET,
    SUGGESTION_AGENT,
    open_app_page,
    seed_test_store,
)
from trace_store import open_store
from trace_store.annotation import (
    Identity,
    Project,
    get_project,
    record_label,
    save_project,
    set_role,
)

TIMEOUT = 60
N_TRACES = 6
ADMIN = Identity("root", "admin")


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the path of a seeded SQLite store (copied per test)."""
    path = tmp_path_factory.mktemp("label") / "seed.db"
    seed_test_store(f"sqlite:///{path}", countdown=N_TRACES, hostile=False, long=False).close()
    return path


@pytest.fixture
def db_url(seeded_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Return the URL of this test's own copy of the seeded store (THOUGHTSCOPE_DB set)."""
    path = tmp_path / "label.db"
    shutil.copy(seeded_db, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("THOUGHTSCOPE_DB", url)
    monkeypatch.delenv("THOUGHTSCOPE_AUTH", raising=False)
    return url


@pytest.fixture
def store(db_url: str):
    opened = open_store(db_url)
    yield opened
    opened.close()


def open_label(query: dict[str, str] | None = None, user: dict | None = None) -> AppTest:
    """Return an AppTest on the Label page (``user`` seeds st.user for OIDC mode)."""
    if user is None:
        return open_app_page("label", query, timeout=TIMEOUT)
    script = (
        "import streamlit as st\n"
        "from pages.shared import all_pages\n"
        "st.navigation(all_pages(default='label')).run()\n"
    )
    at = AppTest.from_string(script, default_timeout=TIMEOUT)
    at.user = user
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def press(at: AppTest, action: str) -> AppTest:
    """Click the key button of ``action`` (what its keyboard shortcut triggers) and rerun."""
    at.button(key=f"label_key_{action}").click().run()
    assert not at.exception, at.exception
    return at


def page_html(at: AppTest) -> str:
    return "\n".join(h.value for h in at.html)


def opened_trace(at: AppTest) -> str:
    return at.session_state["label_trace"]


def human_labels(store) -> list:
    return [lab for lab in store.iter_labels(status=None) if lab.source == "human"]


def my_labels(store, name: str, trace_id: str):
    return store.labels_for(trace_id, annotator=name)


def test_single_user_mode_asks_a_name_once_and_writes_nothing_before(store) -> None:
    at = open_label()
    assert [t.label for t in at.text_input] == ["Your name"]
    assert not [b for b in at.button if str(b.key).startswith("label_key_")]
    at.text_input[0].input("dataset:bbm")
    at.button[0].click().run()
    assert "reserved" in at.error[0].value
    at.text_input[0].input("alice")
    at.button[0].click().run()
    assert not at.exception
    assert at.query_params["annotator"] == "alice"
    tid = opened_trace(at)
    assert at.query_params["trace"] == tid
    assert any("Labelling as alice" in t.value for t in at.sidebar.text)
    assert human_labels(store) == []  # opening writes no label (only a lease)


def test_first_mistake_keys_autosave_a_draft_and_a_reload_restores_it(store) -> None:
    at = open_label({"annotator": "alice"})
    tid = opened_trace(at)
    assert at.session_state["label_step"] == 0
    press(at, "correct")
    press(at, "correct")
    assert at.session_state["label_step"] == 2
    press(at, "mistake")
    [label] = my_labels(store, "alice", tid)
    assert (label.status, label.first_mistake, label.version) == ("draft", 2, 3)
    assert label.step_ratings[:3] == [1, 1, -1] and set(label.step_ratings[3:]) == {None}
    assert "first mistake at step 2" in page_html(at)
    history = store.label_history(label.id)
    assert [h["annotator"] for h in history] == ["alice"] * 3
    at.toggle(key="label_show_history").set_value(True).run()
    table = at.dataframe[0].value
    assert list(table["who"]) == ["alice"] * 3
    assert "first_mistake: — → 2" in table["change"].iloc[0]  # newest first
    press(at, "undo")
    [label] = my_labels(store, "alice", tid)
    assert (label.first_mistake, label.version, label.status) == (None, 4, "draft")
    assert at.session_state["label_step"] == 2  # back at the undone step
    press(at, "mistake")
    # A new session on the same URL (a reload) gets the draft back at the same step.
    again = open_label({"annotator": "alice", "trace": tid, "step": "2"})
    assert opened_trace(again) == tid
    assert again.session_state["label_step"] == 2
    html = page_html(again)
    assert "first mistake at step 2" in html and "draft (autosaved)" in html
    press(again, "next")
    press(again, "correct")
    [label] = my_labels(store, "alice", tid)
    assert (label.first_mistake, label.version) == (2, 6)
    assert label.step_ratings[:4] == [1, 1, -1, 1]


def test_submit_needs_a_verdict_then_opens_the_next_trace(store) -> None:
    at = open_label({"annotator": "alice"})
    first = opened_trace(at)
    press(at, "correct")
    press(at, "submit")
    assert "Cannot submit yet" in at.error[0].value
    assert opened_trace(at) == first
    press(at, "no_mistake")
    press(at, "submit")
    [label] = my_labels(store, "alice", first)
    assert (label.status, label.first_mistake) == ("submitted", -1)
    assert set(label.step_ratings) == {1}
    second = opened_trace(at)
    assert second != first
    assert at.query_params["trace"] == second
    progress_texts = [p.proto.text for p in at.get("progress")]
    assert any(t.startswith("Mine: 1 submitted, 0 draft(s) of 6") for t in progress_texts)
    # Editing a submitted label keeps it submitted while it stays complete.
    back = open_label({"annotator": "alice", "trace": first, "step": "0"})
    press(back, "mistake")
    [label] = my_labels(store, "alice", first)
    assert (label.status, label.first_mistake) == ("submitted", 0)
    press(back, "clear")
    [label] = my_labels(store, "alice", first)
    assert label.status == "draft" and label.first_mistake is None
    assert "draft again" in back.warning[0].value


def test_step_rating_mode_rates_steps_and_keeps_unrated_apart(store) -> None:
    save_project(store, ADMIN, Project(COUNTDOWN_DATASET, modes=("step_rating",)))
    at = open_label({"annotator": "bob"})
    tid = opened_trace(at)
    keys = {b.key for b in at.button}
    assert {"label_key_neutral", "label_key_correct", "label_key_mistake"} <= keys
    assert "label_key_no_mistake" not in keys
    press(at, "correct")
    press(at, "neutral")
    press(at, "mistake")
    [label] = my_labels(store, "bob", tid)
    assert label.step_ratings[:4] == [1, 0, -1, None]
    assert label.first_mistake is None
    assert at.session_state["label_step"] == 3  # rating moves on, even after -1
    press(at, "submit")
    assert my_labels(store, "bob", tid)[0].status == "submitted"


def test_behaviour_correction_is_stored_beside_the_analysis(store) -> None:
    save_project(store, ADMIN, Project(COUNTDOWN_DATASET, modes=("behaviors",)))
    at = open_label({"annotator": "carol"})
    tid = opened_trace(at)
    analysis = store.get_analysis(tid, "behaviors")
    before = {t.behavior for t in analysis.tags if t.step == 0}
    press(at, "beh_verification")
    [label] = my_labels(store, "carol", tid)
    expected = sorted(before ^ {"verification"})
    assert sorted(label.behavior_corrections[0]) == expected
    assert store.get_analysis(tid, "behaviors").tags == analysis.tags  # analysis untouched
    assert 'title="verification: ' in page_html(at)  # the added/removed chip is marked


def test_accepting_the_suggestion_takes_its_first_mistake(store) -> None:
    at = open_label({"annotator": "dave"})
    tid = opened_trace(at)
    [sugg] = store.suggestions_for(tid)
    assert sugg.agent == SUGGESTION_AGENT  # the seeded store's suggestion is on the first trace
    assert "ts-sugg" in page_html(at) and f"{SUGGESTION_AGENT} 0.70" in page_html(at)
    press(at, "accept")
    [label] = my_labels(store, "dave", tid)
    assert label.first_mistake == 1 and label.step_ratings[:2] == [1, -1]


def test_a_save_over_a_newer_version_is_a_conflict_not_a_merge(store) -> None:
    at = open_label({"annotator": "erin"})
    tid = opened_trace(at)
    press(at, "correct")  # version 1 in the store and in this tab
    # Another tab of the same annotator saves on top of version 1.
    other = record_label(
        store,
        Identity("erin"),
        tid,
        first_mistake=0,
        draft=True,
        expected_version=1,
        step_ratings=None,
    )
    assert other.version == 2
    press(at, "correct")
    assert any("changed somewhere else" in e.value for e in at.error)
    [label] = my_labels(store, "erin", tid)
    assert (label.version, label.first_mistake) == (2, 0)  # the other tab's save stands
    assert at.button(key="label_key_correct").disabled
    at.button(key="label_reload").click().run()
    assert not any("changed somewhere else" in e.value for e in at.error)
    assert "first mistake at step 0" in page_html(at)
    press(at, "no_mistake")
    assert my_labels(store, "erin", tid)[0].version == 3


def test_team_mode_without_a_user_shows_a_login_prompt_and_writes_nothing(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THOUGHTSCOPE_AUTH", "header")
    at = open_label({"annotator": "mallory"})  # the URL name counts only in single-user mode
    assert "no X-Forwarded-User header" in at.warning[0].value
    assert not [b for b in at.button if str(b.key).startswith("label_key_")]
    monkeypatch.setenv("THOUGHTSCOPE_AUTH", "oidc")
    at = open_label()
    assert "Team mode: log in to label" in at.warning[0].value
    assert "no [auth] section" in at.error[0].value
    assert human_labels(store) == []
    assert store.engine is not None and _lease_count(store) == 0


def test_oidc_user_gets_the_registered_role_and_blind_mode_hides_others(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THOUGHTSCOPE_AUTH", "oidc")
    save_project(store, ADMIN, Project(COUNTDOWN_DATASET, overlap=2, blind=True))
    user = {"is_logged_in": True, "email": "ann@example.org", "name": "Ann"}
    at = open_label(user=user)
    tid = opened_trace(at)
    assert any("Labelling as ann@example.org" in t.value for t in at.sidebar.text)
    assert any("role: annotator" in t.value for t in at.sidebar.text)
    record_label(store, Identity("zed"), tid, first_mistake=3, step_ratings=None)
    at.run()
    assert any("Hidden until you submit yours" in c.value for c in at.caption)
    assert not any("zed" in t.value for t in at.text)
    press(at, "no_mistake")
    press(at, "submit")
    at = open_label({"trace": tid}, user=user)
    assert any("zed (human, submitted): first mistake at step 3" in t.value for t in at.text)
    set_role(store, ADMIN, "ann@example.org", "reviewer")
    at = open_label(user=user)
    assert any("role: reviewer" in t.value for t in at.sidebar.text)


def test_admin_saves_project_settings_on_the_page(store) -> None:
    at = open_label({"annotator": "root"})
    at.multiselect[0].set_value(["first_mistake", "behaviors"])
    at.number_input[0].set_value(3)
    at.button(key="FormSubmitter:label_project_countdown-test-Save project settings").click().run()
    assert not at.exception
    project = get_project(store, COUNTDOWN_DATASET)
    assert project.modes == ("first_mistake", "behaviors") and project.overlap == 3
    keys = {b.key for b in at.button}
    assert {"label_key_correct", "label_key_beh_verification"} <= keys


def _lease_count(store) -> int:
    from trace_store.annotation_queue import leases_of

    return len(leases_of(store, COUNTDOWN_DATASET))


def test_skip_leaves_a_trace_for_later_and_keeps_its_draft(store) -> None:
    at = open_label({"annotator": "alice"})
    first = opened_trace(at)
    press(at, "mistake")  # a draft on the first trace
    at.button(key="label_skip").click().run()
    assert not at.exception, at.exception
    second = opened_trace(at)
    assert second != first
    [draft] = my_labels(store, "alice", first)
    assert draft.status == "draft"  # skipping keeps the draft
    for _ in range(N_TRACES - 1):
        at.button(key="label_skip").click().run()
    assert at.session_state["label_trace"] is None
    assert any("you skipped" in i.value for i in at.info)
    at.button(key="label_unskip").click().run()
    assert opened_trace(at) == first  # the draft comes back first
