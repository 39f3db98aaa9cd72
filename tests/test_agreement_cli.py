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
    assert "Disagreements: 3 trace(s), 2 not adjudicated yet" in out
    t3 = next(line for line in lines if line.startswith("t3 "))
    assert t3.split() == ["t3", "alice=2,", "bob=none", "2", "2"]
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
