"""`label`, `users` and `project` CLI verbs: same rules as the service, clear errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from tests.store_samples import imported, make_trace
from trace_store import open_store
from trace_store.annotation import Identity, get_project, record_label, role_of

runner = CliRunner()
STEPS = ("Add 2 and 3.", "2 + 3 = 6.", "So the answer is 6.")


@pytest.fixture
def db(store_sqlite, monkeypatch) -> str:
    """Return the URL of a store with traces b1, b2 (3 steps, dataset bbm) set as the default."""
    store_sqlite.add_traces(
        [imported(make_trace(t, dataset="bbm", steps=STEPS), first_mistake=1) for t in ("b1", "b2")]
    )
    monkeypatch.setenv("THOUGHTSCOPE_DB", store_sqlite.url)
    return store_sqlite.url


def run(*args: str):
    return runner.invoke(app, list(args), terminal_width=200)


def test_label_submits_then_updates_keeping_history(db):
    first = run("label", "b1", "--annotator", "ann", "--mistake-step", "1", "--note", "odd")
    assert first.exit_code == 0, first.output
    assert first.stdout.strip().startswith("saved submitted label")
    assert "by ann on b1: first mistake step 1" in first.stdout
    second = run("label", "b1", "--annotator", "ann", "--mistake-step", "none",
                 "--ratings", "1, +1,?", "--draft", "--json")  # fmt: skip
    assert second.exit_code == 0, second.output
    saved = json.loads(second.stdout)
    assert (saved["first_mistake"], saved["step_ratings"], saved["status"]) == (
        -1, [1, 1, None], "draft",
    )  # fmt: skip
    assert (saved["version"], saved["note"]) == (2, "odd")  # the note is kept when not given
    with open_store(db) as store:
        (label,) = store.labels_for("b1", annotator="ann")
        assert label.id == saved["id"]
        assert [h["annotator"] for h in store.label_history(label.id)] == ["ann", "ann"]


def test_label_records_behaviour_corrections(db):
    result = run("label", "b1", "--annotator", "ann", "--mistake-step", "none",
                 "--behaviors", "1=backtracking;0=")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "first mistake no mistake; behaviours of 2 step(s) corrected" in result.stdout
    with open_store(db) as store:
        (label,) = store.labels_for("b1", annotator="ann")
    assert label.behavior_corrections == {1: ["backtracking"], 0: []}
    bad = run("label", "b1", "--annotator", "ann", "--behaviors", "1=guessing")
    assert bad.exit_code == 1 and "--behaviors" in bad.output and "guessing" in bad.output


def test_label_conflict_is_a_clear_error_with_exit_code_1(db):
    assert run("label", "b1", "--annotator", "ann", "--mistake-step", "0").exit_code == 0
    # Someone (the page, another tab) saves version 2 after this script read version 1.
    with open_store(db) as store:
        record_label(store, Identity("ann"), "b1", first_mistake=2, expected_version=1)
    stale = run("label", "b1", "--annotator", "ann", "--mistake-step", "1",
                "--expected-version", "1")  # fmt: skip
    assert stale.exit_code == 1
    assert stale.stderr.startswith("error: conflict: label")
    assert "version 2" in stale.stderr and "Traceback" not in stale.output
    with open_store(db) as store:
        assert store.labels_for("b1", annotator="ann")[0].first_mistake == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mistake-step", "3"], "field first_mistake: expected -1 (no mistake) or a step index"),
        (["--mistake-step", "two"], "--mistake-step: expected a step index"),
        (["--mistake-step", "0", "--ratings", "1,1"], "field step_ratings: expected 3 ratings"),
        (["--mistake-step", "0", "--ratings", "1,5,0"], "--ratings item 2: expected 1, 0, -1"),
        ([], "field first_mistake: dataset 'bbm' labels the first mistake"),
    ],
)
def test_label_rejects_bad_values_naming_the_field(db, args, message):
    result = run("label", "b1", "--annotator", "ann", *args)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output
    with open_store(db) as store:
        assert store.labels_for("b1", annotator="ann") == []


def test_label_refuses_unknown_traces_and_reserved_names(db):
    unknown = run("label", "zz", "--annotator", "ann", "--mistake-step", "0")
    assert unknown.exit_code == 1 and "'zz': no such trace" in unknown.stderr
    reserved = run("label", "b1", "--annotator", "adjudicated", "--mistake-step", "0")
    assert reserved.exit_code == 1 and "reserved" in reserved.stderr


def test_adjudicate_needs_a_reviewer_and_names_them_in_history(db):
    refused = run("adjudicate", "b1", "--reviewer", "rita", "--mistake-step", "2")
    assert refused.exit_code == 1 and "only a reviewer or above" in refused.output
    assert run("users", "add", "rita", "--role", "reviewer").exit_code == 0
    done = run("adjudicate", "b1", "--reviewer", "rita", "--mistake-step", "2", "--note", "x")
    assert done.exit_code == 0, done.output
    assert "by rita on b1: first mistake step 2" in done.stdout
    again = run("adjudicate", "b1", "--reviewer", "rita", "--mistake-step", "none", "--json")
    saved = json.loads(again.stdout)
    assert (saved["first_mistake"], saved["version"], saved["source"]) == (-1, 2, "adjudicated")
    with open_store(db) as store:
        (label,) = store.labels_for("b1", annotator="adjudicated")
        assert [h["annotator"] for h in store.label_history(label.id)] == ["rita", "rita"]
    bad = run("adjudicate", "b1", "--reviewer", "rita", "--mistake-step", "7")
    assert bad.exit_code == 1 and "first_mistake" in bad.output


def test_adjudicate_records_ratings_and_behaviours_without_a_first_mistake(db):
    assert run("users", "add", "rita", "--role", "reviewer").exit_code == 0
    done = run("adjudicate", "b1", "--reviewer", "rita", "--ratings", "1,,-1",
               "--behaviors", "0=backtracking+Verification; 2=")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert done.stdout.strip().endswith(
        "by rita on b1: first mistake not decided; 2 step(s) rated; behaviours of 2 step(s) "
        "corrected"
    )
    with open_store(db) as store:
        (label,) = store.labels_for("b1", annotator="adjudicated")
    assert (label.first_mistake, label.step_ratings) == (None, [1, None, -1])
    assert label.behavior_corrections == {0: ["backtracking", "verification"], 2: []}
    # re-running replaces the whole decision: a first mistake only, ratings and behaviours cleared
    again = run("adjudicate", "b1", "--reviewer", "rita", "--mistake-step", "1", "--json")
    saved = json.loads(again.stdout)
    assert (saved["first_mistake"], saved["step_ratings"], saved["behavior_corrections"]) == (
        1, None, None,
    )  # fmt: skip
    assert saved["version"] == 2
    behaviours_only = run("adjudicate", "b2", "--reviewer", "rita", "--behaviors", "1=none")
    assert behaviours_only.exit_code == 0, behaviours_only.output
    with open_store(db) as store:
        (label,) = store.labels_for("b2", annotator="adjudicated")
    assert (label.first_mistake, label.step_ratings, label.behavior_corrections) == (
        None, None, {1: []},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to record: give the decision with --mistake-step, --ratings and/or"),
        (["--behaviors", "0=dancing"],
         "--behaviors item 1 ('0=dancing'): unknown behaviour 'dancing'; expected backtracking,"),
        (["--behaviors", "0=verification;x=backtracking"],
         "--behaviors item 2 ('x=backtracking'): expected a step index (0, 1, ...) before '='"),
        (["--behaviors", "verification"],
         "--behaviors item 1 ('verification'): expected STEP=BEHAVIOURS, e.g. '3=backtracking"),
        (["--behaviors", "1=verification;1="], "--behaviors item 2 ('1='): step 1 is given twice"),
        (["--behaviors", " ; "], "--behaviors: no step given in ' ; '"),
        (["--behaviors", "5=verification"],
         "field behavior_corrections: step 5 is not a step index 0..2"),
        (["--ratings", "1,2,1"], "--ratings item 2: expected 1, 0, -1, or ? or nothing"),
        (["--ratings", ",,"], "--ratings ',,' leaves every step unrated, and nothing else"),
        (["--ratings", "1,1"], "field step_ratings: expected 3 ratings"),
    ],
)  # fmt: skip
def test_adjudicate_rejects_bad_values_naming_the_option(db, args, message):
    assert run("users", "add", "rita", "--role", "reviewer").exit_code == 0
    result = run("adjudicate", "b1", "--reviewer", "rita", *args)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output
    with open_store(db) as store:
        assert store.labels_for("b1", annotator="adjudicated") == []


def test_adjudicate_help_shows_the_ratings_and_behaviours_syntax():
    result = run("adjudicate", "--help")
    assert result.exit_code == 0
    out = result.stdout
    assert "--behaviors" in out and "--ratings" in out
    assert 'python cli.py adjudicate bbm-0003 --reviewer rita --ratings "1,0,-1,,1"' in out
    assert (
        "python cli.py adjudicate bbm-0004 --reviewer rita --behaviors "
        '"3=backtracking+verification;5="' in out
    )


def test_users_add_list_remove(db):
    assert (
        run("users", "add", "rita", "--role", "reviewer").stdout.strip() == "rita is now reviewer"
    )
    assert run("users", "add", "ann").exit_code == 0
    bad = run("users", "add", "x", "--role", "boss")
    assert bad.exit_code == 1 and "role: expected one of annotator, reviewer, admin" in bad.stderr
    listed = json.loads(run("users", "list", "--json").stdout)
    assert listed == [{"name": "ann", "role": "annotator"}, {"name": "rita", "role": "reviewer"}]
    assert run("users", "list").stdout.splitlines() == ["ann\tannotator", "rita\treviewer"]
    assert run("users", "remove", "rita").exit_code == 0
    missing = run("users", "remove", "rita")
    assert missing.exit_code == 1 and "no registered user 'rita'" in missing.stderr
    with open_store(db) as store:
        assert role_of(store, "rita") is None and role_of(store, "ann") == "annotator"


def test_project_set_changes_only_what_is_given(db, tmp_path: Path):
    guide = tmp_path / "bbm.md"
    guide.write_text("# BBM\nMark the **first** wrong step.\n", encoding="utf-8")
    shown = run("project", "show", "--dataset", "bbm")
    assert "(defaults, not saved)" in shown.stdout and "overlap        1" in shown.stdout
    first = run("project", "set", "--dataset", "bbm", "--modes", "first_mistake,step_rating",
                "--overlap", "2", "--guidelines", str(guide))  # fmt: skip
    assert first.exit_code == 0, first.output
    second = run("project", "set", "--dataset", "bbm", "--no-blind", "--json")
    saved = json.loads(second.stdout)
    assert saved == {
        "dataset": "bbm", "modes": ["first_mistake", "step_rating"], "overlap": 2,
        "blind": False, "lease_seconds": 900, "guidelines": guide.read_text(), "saved": True,
    }  # fmt: skip
    with open_store(db) as store:
        assert get_project(store, "bbm").overlap == 2
    listed = json.loads(run("project", "show", "--json").stdout)
    assert [p["dataset"] for p in listed] == ["bbm"]
    # The saved modes now apply to `label`: a submit needs a rated step.
    no_rating = run("label", "b1", "--annotator", "ann", "--mistake-step", "0")
    assert no_rating.exit_code == 1 and "field step_ratings" in no_rating.stderr


def test_project_set_errors(db, tmp_path: Path):
    bad_mode = run("project", "set", "--dataset", "bbm", "--modes", "first_mistake,vibes")
    assert bad_mode.exit_code == 1 and "project modes: expected one or more of" in bad_mode.stderr
    missing = run("project", "set", "--dataset", "bbm", "--guidelines", str(tmp_path / "no.md"))
    assert missing.exit_code == 1 and "--guidelines" in missing.stderr and "no.md" in missing.stderr
    unknown = run("project", "set", "--dataset", "newset", "--overlap", "3")
    assert unknown.exit_code == 0 and "no traces in dataset 'newset' yet" in unknown.stderr


@pytest.mark.parametrize(
    "verb",
    [["label"], ["adjudicate"], ["users"], ["users", "add"], ["project"], ["project", "set"]],
)
def test_help_texts_carry_a_worked_example(verb):
    result = run(*verb, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout and "python cli.py " + verb[0] in result.stdout
