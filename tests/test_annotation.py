"""The annotation service on SQLite and PostgreSQL: saving, conflicts, validation, visibility."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.store_samples import imported, make_trace
from trace_store.annotation import (
    ADJUDICATED_ANNOTATOR,
    Identity,
    LabelConflict,
    NotAllowed,
    Project,
    adjudicate,
    get_project,
    list_users,
    my_label,
    record_label,
    remove_user,
    role_of,
    save_project,
    set_role,
    update_label_by_id,
    visible_labels,
)

ADMIN = Identity("boss", "admin")
ANN = Identity("ann")
BOB = Identity("bob")
REVIEWER = Identity("rita", "reviewer")
STEPS = ("Add 2 and 3.", "2 + 3 = 6.", "So the answer is 6.", "Done.")


@pytest.fixture
def labelled(store):
    """Return a store holding traces a1, a2 (4 steps, dataset 'demo', shipped label: step 1)."""
    store.add_traces([imported(make_trace(f"a{i}", steps=STEPS), first_mistake=1) for i in (1, 2)])
    return store


def test_first_save_inserts_then_updates_with_the_loaded_version(labelled):
    draft = record_label(labelled, ANN, "a1", first_mistake=2, draft=True, note="unsure")
    assert (draft.annotator, draft.source, draft.status, draft.version) == (
        "ann", "human", "draft", 1,
    )  # fmt: skip
    assert my_label(labelled, ANN, "a1") == draft
    done = record_label(labelled, ANN, "a1", first_mistake=1, expected_version=1)
    assert (done.id, done.status, done.version, done.first_mistake) == (draft.id, "submitted", 2, 1)
    assert done.note == ""  # the editor sends the whole label: an emptied note is saved empty
    assert done.created_at == draft.created_at and done.updated_at >= draft.updated_at
    assert [lb.annotator for lb in labelled.labels_for("a1")] == ["dataset:demo", "ann"]
    assert labelled.list_traces()[0].n_labels == 1
    assert labelled.integrity_errors() == []


def test_two_tabs_of_one_annotator_the_later_save_is_a_conflict(labelled):
    first = record_label(labelled, ANN, "a1", first_mistake=0, draft=True)
    # Both tabs loaded version 1; tab A saves, then tab B saves from the same version.
    tab_a = record_label(labelled, ANN, "a1", first_mistake=2, draft=True, expected_version=1)
    with pytest.raises(LabelConflict, match="version 2.*from version 1"):
        record_label(labelled, ANN, "a1", first_mistake=3, expected_version=first.version)
    stored = my_label(labelled, ANN, "a1")
    assert stored == tab_a and stored.first_mistake == 2 and stored.status == "draft"
    assert len(labelled.label_history(first.id)) == 2


def test_a_tab_that_loaded_no_label_cannot_overwrite_one_saved_meanwhile(labelled):
    record_label(labelled, ANN, "a1", first_mistake=0, draft=True)
    with pytest.raises(LabelConflict, match="already has a draft label by 'ann'.*reload"):
        record_label(labelled, ANN, "a1", first_mistake=3)
    with pytest.raises(LabelConflict, match="no longer exists"):
        record_label(labelled, BOB, "a1", first_mistake=3, expected_version=4)
    assert my_label(labelled, ANN, "a1").first_mistake == 0
    assert my_label(labelled, BOB, "a1") is None


def test_history_records_each_save_with_who_made_it(labelled):
    first = record_label(labelled, ANN, "a1", first_mistake=0, draft=True)
    record_label(labelled, ANN, "a1", first_mistake=2, expected_version=1)
    record_label(labelled, ANN, "a1", step_ratings=[1, 1, -1, None], first_mistake=2,
                 expected_version=2)  # fmt: skip
    history = labelled.label_history(first.id)
    assert [h["annotator"] for h in history] == ["ann", "ann", "ann"]
    assert history[0]["old"] is None
    assert [h["new"]["version"] for h in history] == [1, 2, 3]
    assert [h["new"]["status"] for h in history] == ["draft", "submitted", "submitted"]
    assert history[1]["old"] == history[0]["new"] and history[2]["old"] == history[1]["new"]
    assert history[2]["new"]["step_ratings"] == [1, 1, -1, None]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"first_mistake": 4}, r"field first_mistake: expected -1 \(no mistake\).*0\.\.3, got 4"),
        ({"first_mistake": -2}, "field first_mistake"),
        ({"first_mistake": 1, "step_ratings": [1, 1]}, "field step_ratings: expected 4 ratings"),
        ({"first_mistake": 1, "step_ratings": [1, 2, 0, 0]}, r"field step_ratings\.1"),
        (
            {"first_mistake": 1, "behavior_corrections": {7: ["verification"]}},
            "field behavior_corrections: step 7",
        ),
        (
            {"first_mistake": 1, "behavior_corrections": {1: ["guessing"]}},
            r"field behavior_corrections\.1\.0",
        ),
        ({}, "field first_mistake: dataset 'demo' labels the first mistake"),
    ],
)
def test_values_that_do_not_fit_the_trace_are_refused_naming_the_field(labelled, fields, message):
    with pytest.raises(ValueError, match=message):
        record_label(labelled, ANN, "a1", **fields)
    assert my_label(labelled, ANN, "a1") is None


def test_unknown_trace_is_a_value_error(labelled):
    with pytest.raises(ValueError, match="'nope': no such trace"):
        record_label(labelled, ANN, "nope", first_mistake=0)


def test_project_modes_decide_what_a_submit_needs(labelled):
    save_project(labelled, ADMIN, Project("demo", modes=("step_rating",)))
    # A draft may be empty; a submit needs at least one rated step.
    draft = record_label(labelled, ANN, "a1", draft=True)
    with pytest.raises(ValueError, match="field step_ratings: dataset 'demo' rates steps"):
        record_label(labelled, ANN, "a1", step_ratings=[None] * 4, expected_version=1)
    saved = record_label(labelled, ANN, "a1", step_ratings=[1, 0, None, -1], expected_version=1)
    assert saved.first_mistake is None and saved.version == draft.version + 1
    save_project(labelled, ADMIN, Project("demo", modes=("behaviors",)))
    assert record_label(labelled, BOB, "a1", behavior_corrections={2: []}).status == "submitted"


def test_submitting_then_saving_a_draft_turns_it_back_into_a_draft(labelled):
    record_label(labelled, ANN, "a1", first_mistake=2)
    assert labelled.list_traces()[0].n_labels == 1
    back = record_label(labelled, ANN, "a1", first_mistake=2, draft=True, expected_version=1)
    assert back.status == "draft" and labelled.list_traces()[0].n_labels == 0
    assert labelled.integrity_errors() == []


# ----------------------------------------------------------------------------- authorization


@pytest.mark.parametrize(
    "nobody", [Identity("", authenticated=False), Identity("ann", authenticated=False)]
)
def test_writes_without_a_logged_in_user_are_refused(labelled, nobody):
    mine = record_label(labelled, ANN, "a1", first_mistake=1)
    with pytest.raises(NotAllowed, match="nobody is logged in"):
        record_label(labelled, nobody, "a1", first_mistake=0)
    with pytest.raises(NotAllowed, match="nobody is logged in"):
        update_label_by_id(labelled, nobody, mine.id, expected_version=1, first_mistake=0)
    with pytest.raises(NotAllowed, match="nobody is logged in"):
        adjudicate(labelled, Identity("", "admin", authenticated=False), "a1", first_mistake=0)
    assert my_label(labelled, nobody, "a1") is None
    assert [(lb.annotator, lb.version) for lb in labelled.labels_for("a1")] == [
        ("dataset:demo", 1), ("ann", 1),
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["adjudicated", "dataset:demo"])
def test_reserved_names_cannot_label(labelled, name):
    with pytest.raises(NotAllowed, match="reserved"):
        record_label(labelled, Identity(name, "admin"), "a1", first_mistake=0)


def test_editing_another_annotators_label_by_id_is_refused(labelled):
    anns = record_label(labelled, ANN, "a1", first_mistake=1)
    shipped = labelled.labels_for("a1", annotator="dataset:demo")[0]
    for intruder, label in [(BOB, anns), (REVIEWER, anns), (ADMIN, anns), (BOB, shipped)]:
        with pytest.raises(NotAllowed, match=f"cannot edit label {label.id}: it belongs to"):
            update_label_by_id(
                labelled, intruder, label.id, expected_version=label.version, first_mistake=3
            )
    assert labelled.get_label(anns.id) == anns
    assert labelled.get_label(shipped.id) == shipped
    assert my_label(labelled, BOB, "a1") is None


def test_updating_ones_own_label_by_id_keeps_the_fields_not_given(labelled):
    saved = record_label(labelled, ANN, "a1", first_mistake=1, note="n", draft=True)
    again = update_label_by_id(labelled, ANN, saved.id, expected_version=1, note="better")
    assert (again.first_mistake, again.note, again.status, again.version) == (
        1, "better", "draft", 2,
    )  # fmt: skip
    done = update_label_by_id(labelled, ANN, saved.id, expected_version=2, draft=False)
    assert (done.status, done.note) == ("submitted", "better")
    with pytest.raises(LabelConflict, match="version 3"):
        update_label_by_id(labelled, ANN, saved.id, expected_version=2, first_mistake=0)
    with pytest.raises(LabelConflict, match="does not exist"):
        update_label_by_id(labelled, ANN, 987_654, expected_version=1, first_mistake=0)


def test_annotators_cannot_adjudicate_reviewers_can(labelled):
    record_label(labelled, ANN, "a1", first_mistake=1)
    record_label(labelled, BOB, "a1", first_mistake=2)
    with pytest.raises(NotAllowed, match="'ann' \\(annotator\\) cannot adjudicate.*reviewer"):
        adjudicate(labelled, ANN, "a1", first_mistake=1)
    final = adjudicate(labelled, REVIEWER, "a1", first_mistake=2, note="step 2 is wrong")
    assert (final.annotator, final.source, final.status) == (
        ADJUDICATED_ANNOTATOR, "adjudicated", "submitted",
    )  # fmt: skip
    with pytest.raises(LabelConflict):  # a second reviewer who loaded no adjudicated label
        adjudicate(labelled, ADMIN, "a1", first_mistake=1)
    changed = adjudicate(labelled, ADMIN, "a1", first_mistake=1, expected_version=1)
    history = labelled.label_history(final.id)
    assert [h["annotator"] for h in history] == ["rita", "boss"]
    assert [h["new"]["first_mistake"] for h in history] == [2, 1]
    assert changed.version == 2
    # Adjudication never edits the people's labels.
    assert {lb.annotator: lb.first_mistake for lb in labelled.labels_for("a1")} == {
        "dataset:demo": 1, "ann": 1, "bob": 2, "adjudicated": 1,
    }  # fmt: skip
    with pytest.raises(ValueError, match="needs a decision"):
        adjudicate(labelled, ADMIN, "a2", first_mistake=None)


# -------------------------------------------------------------------------------- visibility


def test_blind_mode_hides_others_labels_until_mine_is_submitted(labelled):
    record_label(labelled, BOB, "a1", first_mistake=2)
    record_label(labelled, Identity("cy"), "a1", first_mistake=0, draft=True)
    assert visible_labels(labelled, ANN, "a1") == []
    record_label(labelled, ANN, "a1", first_mistake=1, draft=True)
    assert visible_labels(labelled, ANN, "a1") == []
    record_label(labelled, ANN, "a1", first_mistake=1, expected_version=1)
    seen = visible_labels(labelled, ANN, "a1")
    assert [lb.annotator for lb in seen] == ["dataset:demo", "bob"]  # cy's draft stays hidden
    nobody = Identity("", authenticated=False)
    assert visible_labels(labelled, nobody, "a1") == []


def test_without_blind_mode_submitted_labels_are_shown_at_once(labelled):
    save_project(labelled, ADMIN, Project("demo", blind=False))
    record_label(labelled, BOB, "a1", first_mistake=2)
    record_label(labelled, Identity("cy"), "a1", first_mistake=0, draft=True)
    assert [lb.annotator for lb in visible_labels(labelled, ANN, "a1")] == ["dataset:demo", "bob"]


def test_reviewers_see_every_other_label_drafts_included(labelled):
    record_label(labelled, BOB, "a1", first_mistake=2)
    record_label(labelled, ANN, "a1", first_mistake=0, draft=True)
    seen = visible_labels(labelled, REVIEWER, "a1")
    assert [(lb.annotator, lb.status) for lb in seen] == [
        ("dataset:demo", "submitted"), ("bob", "submitted"), ("ann", "draft"),
    ]  # fmt: skip


# ------------------------------------------------------------------------- roles and projects


def test_only_admins_change_roles(labelled):
    assert role_of(labelled, "rita") is None
    for who in (ANN, REVIEWER, Identity("", "admin", authenticated=False)):
        with pytest.raises(NotAllowed):
            set_role(labelled, who, "rita", "admin")
        with pytest.raises(NotAllowed):
            remove_user(labelled, who, "rita")
    assert role_of(labelled, "rita") is None
    set_role(labelled, ADMIN, "rita", "reviewer")
    set_role(labelled, ADMIN, "ann", "annotator")
    set_role(labelled, ADMIN, "rita", "admin")  # a second call replaces the role
    assert list_users(labelled) == [("ann", "annotator"), ("rita", "admin")]
    with pytest.raises(ValueError, match="role: expected one of annotator, reviewer, admin"):
        set_role(labelled, ADMIN, "cy", "owner")
    with pytest.raises(ValueError, match="reserved"):
        set_role(labelled, ADMIN, "dataset:demo", "admin")
    assert remove_user(labelled, ADMIN, "rita") and not remove_user(labelled, ADMIN, "rita")
    assert role_of(labelled, "rita") is None


def test_only_admins_save_projects(labelled):
    assert get_project(labelled, "demo") == Project("demo")
    assert not get_project(labelled, "demo").saved
    wanted = Project("demo", modes=("step_rating", "first_mistake", "step_rating"), overlap=3,
                     blind=False, lease_seconds=60, guidelines="# Rules\nBe strict.")  # fmt: skip
    for who in (ANN, REVIEWER, Identity("", "admin", authenticated=False)):
        with pytest.raises(NotAllowed, match="change the labelling project of 'demo'"):
            save_project(labelled, who, wanted)
    assert not get_project(labelled, "demo").saved
    saved = save_project(labelled, ADMIN, wanted)
    assert saved.modes == ("step_rating", "first_mistake") and saved.saved
    assert get_project(labelled, "demo") == saved
    assert get_project(labelled, "other") == Project("other")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"modes": ("first_mistake", "vibes")}, "project modes: expected one or more of"),
        ({"modes": ()}, "project modes"),
        ({"overlap": 0}, "project overlap: expected a whole number >= 1, got 0"),
        ({"lease_seconds": 0}, "project lease_seconds"),
        ({"dataset": " "}, "project dataset"),
    ],
)
def test_bad_project_settings_are_refused_naming_the_field(labelled, changes, message):
    with pytest.raises(ValueError, match=message):
        save_project(labelled, ADMIN, replace(Project("demo"), **changes))
    assert not get_project(labelled, "demo").saved
