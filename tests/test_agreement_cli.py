"""`cli.py agreement`: the table output, --json, and clear errors (via typer's CliRunner)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli import app
from tests.agreement_samples import DATASET, record_hand_labels, who
from tests.store_samples import imported, make_trace
from trace_store import open_store
from trace_store.annotation import adjudicate, record_label

runner = CliRunner()


@pytest.fixture
def hand_store(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'agree.db'}"
    with open_store(url) as store:
        record_hand_labels(store)
        adjudicate(store, who("rita", "reviewer"), "t3", first_mistake=2)
    return url


def run(url: str, *args: str):
    return runner.invoke(app, ["--db", url, "agreement", *args], terminal_width=200)


def test_table_output(hand_store: str) -> None:
    result = run(hand_store, "--dataset", DATASET)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "4 trace(s) with submitted human labels, 4 labelled by two or more" in out
    assert "exact match: 0.333 over 6 pairwise comparison(s)" in out
    assert "all annotators agree on 1 of 4 shared trace(s)" in out
    assert "alpha, nominal, on step judgements: 0.222 over 15 step judgement(s)" in out
    lines = out.splitlines()
    alice_bob = next(line for line in lines if line.split()[:2] == ["alice", "bob"])
    assert alice_bob.split() == ["alice", "bob", "4", "2", "0.500", "0.417", "7"]
    alice_ref = next(line for line in lines if line.startswith("alice") and "dataset:" in line)
    assert alice_ref.split() == [
        "alice",
        f"dataset:{DATASET}",
        "4",
        "0.750",
        "0",
        "1",
        "0.720",
        "7",
    ]
    assert (
        "Disagreements: 3 trace(s), 2 not adjudicated yet; on first mistake 3, step ratings 0, "
        "behaviours 0" in out
    )
    t3 = next(line for line in lines if line.startswith("t3 "))
    assert t3.split() == ["t3", "alice=2,", "bob=none", "2", "2", "first", "mistake"]
    # the confusion table: header then the "0" row (one (0,0), two (0,2), one (0,none))
    header = next(i for i, line in enumerate(lines) if line.startswith("First mistakes"))
    assert lines[header + 1].split() == ["0", "1", "2", "no", "mistake"]
    assert lines[header + 2].split() == ["0", "1", "0", "2", "1"]


def test_json_output(hand_store: str) -> None:
    result = run(hand_store, "--dataset", DATASET, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["dataset"] == DATASET
    assert data["pairs"][0]["kappa"]["value"] == pytest.approx(10 / 24)
    assert data["alpha_nominal"]["value"] == pytest.approx(2 / 9)
    assert data["first_mistake_exact"] == {"value": pytest.approx(1 / 3), "n": 6, "reason": None}
    assert [d["trace_id"] for d in data["disagreements"]] == ["t2", "t4", "t3"]
    assert data["n_adjudicated"] == 1
    assert data["disagreement_counts"] == {"first_mistake": 3, "ratings": 0, "behaviors": 0}
    t3 = data["disagreements"][2]
    assert (t3["is_adjudicated"], t3["first_mistake"], t3["rating_steps"]) == (True, True, [])


def test_rating_and_behaviour_disagreements_count_as_in_the_adjudicate_queue(tmp_path) -> None:
    """Traces whose people agree on the first mistake but not on a step's rating or behaviours
    are disagreements here too, with the breakdown, exactly the store's "disagreement" ones."""
    from trace_store import TraceFilter

    url = f"sqlite:///{tmp_path / 'kinds.db'}"
    with open_store(url) as store:
        store.add_traces(
            [imported(make_trace(t, dataset="kinds"), labelled=False) for t in ("k1", "k2", "k3")]
        )
        alice, bob = who("alice"), who("bob")
        record_label(store, alice, "k1", first_mistake=1, step_ratings=[1, -1, 0])
        record_label(store, bob, "k1", first_mistake=1, step_ratings=[1, -1, 1])
        record_label(store, alice, "k2", first_mistake=-1, behavior_corrections={0: []})
        record_label(store, bob, "k2", first_mistake=-1, behavior_corrections={0: ["verification"]})
        record_label(store, alice, "k3", first_mistake=0)
        record_label(store, bob, "k3", first_mistake=0)
        adjudicate(store, who("rita", "reviewer"), "k2", first_mistake=None,
                   behavior_corrections={0: ["verification"]})  # fmt: skip
        queue = store.list_traces(TraceFilter(datasets=["kinds"], label_state="disagreement"))
    result = run(url, "--dataset", "kinds")
    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        "Disagreements: 2 trace(s), 1 not adjudicated yet; on first mistake 0, step ratings 1, "
        "behaviours 1" in out
    )
    lines = out.splitlines()
    k1 = next(line for line in lines if line.startswith("k1 "))
    assert k1.split() == ["k1", "alice=1,", "bob=1", "-", "-", "ratings:", "step", "2"]
    # a final label that decides behaviours only reads "decided", not "-" (open)
    k2 = next(line for line in lines if line.startswith("k2 "))
    assert k2.split() == [
        "k2",
        "alice=none,",
        "bob=none",
        "-",
        "decided",
        "behaviours:",
        "step",
        "0",
    ]
    assert not any(line.startswith("k3 ") for line in lines)
    data = json.loads(run(url, "--dataset", "kinds", "--json").output)
    assert sorted(r.id for r in queue) == ["k1", "k2"]
    assert sorted(d["trace_id"] for d in data["disagreements"]) == ["k1", "k2"]
    assert data["disagreement_counts"] == {"first_mistake": 0, "ratings": 1, "behaviors": 1}


def test_undefined_figures_print_a_dash_and_the_reason(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    with open_store(url) as store:
        store.add_traces([imported(make_trace("x1", dataset="solo"), first_mistake=1)])
        record_label(store, who("alice"), "x1", first_mistake=1)
    result = run(url, "--dataset", "solo")
    assert result.exit_code == 0, result.output
    assert "exact match: - (needs labels from two annotators; only 'alice'" in result.output
    assert "alpha, nominal, on step judgements: - (needs labels from two" in result.output
    data = json.loads(run(url, "--dataset", "solo", "--json").output)
    assert data["alpha_ordinal"]["value"] is None and data["pairs"] == []


def test_dataset_without_human_labels(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    with open_store(url) as store:
        store.add_traces([imported(make_trace("y1", dataset="fresh"), first_mistake=0)])
    result = run(url, "--dataset", "fresh")
    assert result.exit_code == 0, result.output
    assert "No submitted human labels yet: nothing to compare." in result.output


def test_unknown_dataset_is_a_clear_error(hand_store: str) -> None:
    result = run(hand_store, "--dataset", "nope")
    assert result.exit_code == 1
    assert f"error: --dataset: no dataset 'nope' in the store (datasets: {DATASET})" in (
        result.output
    )
    assert "Traceback" not in result.output
