"""The labelling screen's pure parts: what each key does to a label, identity, guidelines."""

from __future__ import annotations

from pathlib import Path

import pytest

from components import label_editor as ed
from components.identity import (
    auth_header,
    auth_mode,
    header_identity,
    name_problem,
    oidc_identity,
    single_user_identity,
)
from components.label_guidelines import default_guidelines, guidelines_for
from components.label_panel import active_keys, best_suggestion, shortcut_rows
from components.label_steps import history_rows, label_card_html, suggestion_badge_html
from trace_store.schema import Label, Suggestion

FM = ("first_mistake",)
RATE = ("step_rating",)


def test_first_mistake_walk_derives_the_verdict_from_the_ratings() -> None:
    v = ed.empty_values(4)
    v = ed.mark_correct(v, 0, FM)
    v = ed.mark_correct(v, 1, FM)
    assert v.step_ratings == (1, 1, None, None)
    assert v.first_mistake is None  # not finished: steps 2 and 3 unjudged
    v = ed.mark_mistake(v, 2, FM)
    assert v.first_mistake == 2
    assert v.record_fields()["step_ratings"] == [1, 1, -1, None]
    # An earlier mistake becomes the first one; correcting it moves the verdict back.
    v = ed.mark_mistake(v, 0, FM)
    assert v.first_mistake == 0
    v = ed.mark_correct(v, 0, FM)
    assert v.first_mistake == 2
    v = ed.mark_correct(v, 2, FM)
    assert v.first_mistake is None
    v = ed.mark_correct(v, 3, FM)
    assert v.first_mistake == -1  # every step judged fine: no mistake


def test_no_mistake_keeps_neutral_steps_and_overrides_mistakes() -> None:
    v = ed.empty_values(3)
    v = ed.mark_neutral(v, 0, FM)
    v = ed.mark_mistake(v, 1, FM)
    v = ed.mark_no_mistake(v)
    assert v.first_mistake == -1
    assert v.step_ratings == (0, 1, 1)


def test_step_rating_mode_leaves_first_mistake_alone_and_unrated_is_not_neutral() -> None:
    v = ed.empty_values(3)
    v = ed.mark_mistake(v, 1, RATE)
    v = ed.mark_neutral(v, 0, RATE)
    assert v.first_mistake is None
    assert v.step_ratings == (0, -1, None)
    assert ed.rating_counts(v) == {"+1": 0, "0": 1, "-1": 1, "unrated": 1}
    v = ed.clear_step(v, 0, RATE)
    assert v.step_ratings == (None, -1, None)
    assert ed.missing_for_submit(ed.empty_values(3), RATE) == ["a rating of at least one step"]
    assert ed.missing_for_submit(v, RATE) == []
    assert ed.unrated_steps(v, RATE) == [0, 2]


def test_submit_needs_a_verdict_in_first_mistake_mode() -> None:
    v = ed.mark_correct(ed.empty_values(2), 0, FM)
    assert ed.missing_for_submit(v, FM) == ['a first mistake or "no mistake"']
    v = ed.mark_mistake(v, 1, FM)
    assert ed.missing_for_submit(v, FM) == []
    assert ed.unrated_steps(v, ("first_mistake", "step_rating")) == []


def test_behaviour_correction_starts_from_the_analyzer_and_drops_when_equal() -> None:
    v = ed.empty_values(3)
    v = ed.toggle_behavior(v, 1, "verification", ["backtracking"])
    assert v.behavior_corrections == {1: ("backtracking", "verification")}
    v = ed.toggle_behavior(v, 1, "backtracking", ["backtracking"])
    assert v.behavior_corrections == {1: ("verification",)}
    assert ed.step_behaviors(v, 1, ["backtracking"]) == ["verification"]
    v = ed.toggle_behavior(v, 1, "verification", ["backtracking"])
    v = ed.toggle_behavior(v, 1, "backtracking", ["backtracking"])
    assert v.behavior_corrections == {}  # back to the analyzer's own tags: no correction
    assert v.record_fields()["behavior_corrections"] is None
    assert ed.toggle_behavior(v, 9, "verification", []) is v


def test_values_from_a_cli_label_without_ratings_keep_its_verdict() -> None:
    label = Label(trace_id="t", annotator="ann", first_mistake=2, note="hm")
    v = ed.values_from_label(label, 4, FM)
    assert v.step_ratings == (1, 1, -1, None)
    assert ed.mark_correct(v, 0, FM).first_mistake == 2
    assert ed.values_from_label(label, 4, RATE).step_ratings == (None,) * 4
    none = Label(trace_id="t", annotator="ann", first_mistake=-1)
    assert ed.values_from_label(none, 2, FM).step_ratings == (1, 1)
    beh = Label(trace_id="t", annotator="ann", behavior_corrections={0: ["verification"], 7: []})
    assert ed.values_from_label(beh, 3, ("behaviors",)).behavior_corrections == {
        0: ("verification",)
    }


def test_accept_suggestion_applies_each_kind() -> None:
    v = ed.empty_values(4)
    fm = Suggestion(trace_id="t", agent="finder:x", kind="first_mistake", value=2, score=0.8)
    got = ed.accept_suggestion(v, fm, FM)
    assert got is not None and got.step_ratings == (1, 1, -1, None) and got.first_mistake == 2
    none = Suggestion(trace_id="t", agent="checker:a", kind="first_mistake", value=-1)
    assert ed.accept_suggestion(v, none, FM).first_mistake == -1  # type: ignore[union-attr]
    finding = Suggestion(trace_id="t", agent="checker:a", kind="finding", step=3, value={})
    assert ed.accept_suggestion(v, finding, FM).step_ratings == (None, None, None, -1)  # type: ignore[union-attr]
    beh = Suggestion(trace_id="t", agent="m", kind="behaviors", step=0, value=["verification"])
    assert ed.accept_suggestion(v, beh, FM).behavior_corrections == {0: ("verification",)}  # type: ignore[union-attr]
    bad = Suggestion(trace_id="t", agent="m", kind="first_mistake", value=9)
    assert ed.accept_suggestion(v, bad, FM) is None
    score = Suggestion(trace_id="t", agent="prm", kind="step_score", step=1, value=0.37)
    assert ed.accept_suggestion(v, score, RATE) is None


def test_best_suggestion_prefers_the_selected_step_then_the_best_verdict() -> None:
    low = Suggestion(trace_id="t", agent="a", kind="first_mistake", value=1, score=0.2)
    high = Suggestion(trace_id="t", agent="b", kind="first_mistake", value=3, score=0.9)
    finding = Suggestion(trace_id="t", agent="c", kind="finding", step=0, value={}, score=0.5)
    assert best_suggestion([low, high, finding], 0) is finding
    assert best_suggestion([low, high, finding], 1) is low
    assert best_suggestion([low, high, finding], 2) is high
    assert best_suggestion([], 0) is None


def test_undo_stack_is_bounded_and_returns_newest_first() -> None:
    stack = ed.UndoStack()
    for i in range(ed.UNDO_LIMIT + 5):
        stack.push(ed.empty_values(i + 1), i)
    assert len(stack) == ed.UNDO_LIMIT
    values, step = stack.pop()  # type: ignore[misc]
    assert step == ed.UNDO_LIMIT + 4 and values.n_steps == ed.UNDO_LIMIT + 5


def test_keys_follow_the_modes() -> None:
    fm = {k.action: k.shortcut for k in active_keys(FM)}
    assert fm["correct"] == "g" and fm["mistake"] == "m" and fm["no_mistake"] == "n"
    assert "neutral" not in fm and "beh_verification" not in fm
    assert fm["submit"] == "Enter" and fm["undo"] == "u" and fm["next"] == "j"
    rate = {k.action: k for k in active_keys(RATE)}
    assert rate["neutral"].shortcut == "0" and "no_mistake" not in rate
    assert rate["correct"].caption == "+1 Good"
    beh = {k.action: k.shortcut for k in active_keys(("behaviors",))}
    assert beh["beh_backtracking"] == "1" and beh["beh_backward_chaining"] == "4"
    assert "correct" not in beh
    rows = dict(shortcut_rows(FM))
    assert rows["g"].startswith("step is correct") and "j / ↓" in rows


def test_suggestions_look_different_from_human_labels() -> None:
    sugg = Suggestion(
        trace_id="t", agent="finder:<b>x</b>", kind="first_mistake", value=0, score=0.7
    )
    badge = suggestion_badge_html(sugg)
    assert 'class="ts-sugg"' in badge and "finder:&lt;b&gt;x&lt;/b&gt; 0.70" in badge
    v = ed.mark_mistake(ed.empty_values(1), 0, FM)
    card = label_card_html(
        0, "<script>x</script>", [], v, [sugg], selected=True, show_behaviors=False
    )
    assert "ts-lab-bad" in card and "✗ first mistake" in card and "ts-sugg" in card
    assert "<script>" not in card and "&lt;script&gt;" in card


def test_history_rows_say_old_to_new() -> None:
    rows = history_rows(
        [
            {"at": "t1", "annotator": "ann", "old": None, "new": {"first_mistake": None}},
            {
                "at": "t2",
                "annotator": "ann",
                "old": {"first_mistake": None, "status": "draft", "step_ratings": [1, None]},
                "new": {"first_mistake": 1, "status": "submitted", "step_ratings": [1, -1]},
            },
        ]
    )
    assert rows[1]["who"] == "ann"
    assert rows[1]["change"] == (
        "status: draft → submitted; first_mistake: — → 1; step_ratings: [1,·] → [1,-1]"
    )


def test_identity_modes() -> None:
    assert auth_mode({}) == "single" and auth_mode({"THOUGHTSCOPE_AUTH": "Header"}) == "header"
    with pytest.raises(ValueError, match="THOUGHTSCOPE_AUTH='ldap': expected one of"):
        auth_mode({"THOUGHTSCOPE_AUTH": "ldap"})
    assert auth_header({}) == "X-Forwarded-User"
    assert auth_header({"THOUGHTSCOPE_AUTH_HEADER": "X-Remote-User"}) == "X-Remote-User"
    me = single_user_identity(" ann ")
    assert (me.name, me.role, me.authenticated) == ("ann", "admin", True)
    assert not single_user_identity("").logged_in
    assert not single_user_identity("dataset:bbm").logged_in
    assert name_problem("adjudicated") is not None and name_problem("x" * 65) is not None
    roles = {"rev": "reviewer"}
    who = header_identity({"x-forwarded-user": "rev"}, "X-Forwarded-User", roles.get)
    assert (who.name, who.role) == ("rev", "reviewer")
    assert not header_identity({}, "X-Forwarded-User", roles.get).logged_in
    assert header_identity({"X-Forwarded-User": "ann"}, "X-Forwarded-User", roles.get).role == (
        "annotator"
    )
    user = {"is_logged_in": True, "email": "a@b.org", "name": "A"}
    assert oidc_identity(user, roles.get).name == "a@b.org"
    assert not oidc_identity({"is_logged_in": False, "email": "a@b.org"}, roles.get).logged_in


def test_guidelines_project_text_wins_then_longest_prefix(tmp_path: Path) -> None:
    (tmp_path / "default.md").write_text("generic", encoding="utf-8")
    (tmp_path / "count.md").write_text("short", encoding="utf-8")
    (tmp_path / "countdown.md").write_text("long", encoding="utf-8")
    assert default_guidelines("countdown-demo", tmp_path) == ("long", "countdown.md")
    assert default_guidelines("other", tmp_path) == ("generic", "default.md")
    assert guidelines_for("countdown-demo", "# mine", tmp_path) == ("# mine", "project settings")
    text, source = guidelines_for("bbm-word_sorting", "")
    assert source == "guidelines/bbm.md" and "first logical mistake" in text


def test_resume_step_opens_at_the_verdict_or_the_first_unrated_step() -> None:
    v = ed.mark_correct(ed.empty_values(4), 0, FM)
    assert ed.resume_step(v) == 1
    assert ed.resume_step(ed.mark_mistake(v, 2, FM)) == 2
    assert ed.resume_step(ed.mark_no_mistake(v)) == 0
    rated = ed.mark_no_mistake(ed.empty_values(3))
    assert ed.resume_step(ed.values_from_label(None, 3, FM)) == 0
    assert ed.resume_step(ed.LabelValues(3, None, (1, 0, 1))) == 0
    assert rated.first_mistake == -1
