"""What a reviewer records with adjudicate() is what `export --labels adjudicated` writes, with
provenance columns; the TRL stepwise export of it loads with datasets.load_dataset("json")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzers.agreement import load_report
from cli import app
from tests.agreement_samples import DATASET, STEPS, noisy_labels, record_hand_labels, who
from tests.store_samples import bbm_items
from trace_store import open_store
from trace_store.annotation import adjudicate

runner = CliRunner()


def export(url: str, *args: str) -> None:
    result = runner.invoke(app, ["--db", url, "export", *args], terminal_width=200)
    assert result.exit_code == 0, result.output


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def adjudicated_store(tmp_path: Path) -> str:
    """Return the URL of the hand-labelled store where a reviewer settled t2 and t3."""
    url = f"sqlite:///{tmp_path / 'adj.db'}"
    with open_store(url) as store:
        record_hand_labels(store)
        rita = who("rita", "reviewer")
        adjudicate(store, rita, "t2", first_mistake=-1, note="step 0 is right")
        adjudicate(store, rita, "t3", first_mistake=2, step_ratings=[1, 1, -1])
    return url


def test_adjudicated_labels_are_exported_with_provenance(
    adjudicated_store: str, tmp_path: Path
) -> None:
    out = tmp_path / "adj.jsonl"
    export(adjudicated_store, "--dataset", DATASET, "--format", "jsonl", "--out", str(out),
           "--labels", "adjudicated", "--labelled-only")  # fmt: skip
    rows = {r["id"]: r for r in lines(out)}
    assert sorted(rows) == ["t2", "t3"]  # only the adjudicated traces
    with open_store(adjudicated_store) as store:
        (t2,) = store.labels_for("t2", annotator="adjudicated")
        (t3,) = store.labels_for("t3", annotator="adjudicated")
        # the export names the decision, not the annotators' (alice said -1, bob 0 on t2)
        assert rows["t2"]["first_mistake"] == -1 and rows["t3"]["first_mistake"] == 2
        assert rows["t3"]["step_ratings"] == [1, 1, -1]
        for row, label in ((rows["t2"], t2), (rows["t3"], t3)):
            assert row["label_source"] == "adjudicated"
            assert row["label_annotators"] == ["rita"]  # the reviewer who decided
            assert row["label_time"] == label.updated_at.isoformat()
            assert "label_agreement" in row
        # the reviewer who decided is in the label's history
        assert store.label_history(t2.id)[0]["annotator"] == "rita"

    bbm = tmp_path / "adj_bbm.jsonl"
    export(adjudicated_store, "--dataset", DATASET, "--format", "bbm", "--out", str(bbm),
           "--labels", "adjudicated")  # fmt: skip
    by_input = {r["input"]: r for r in lines(bbm)}
    assert by_input["Question t3"]["mistake_index"] == 2
    assert by_input["Question t2"]["mistake_index"] is None  # "no mistake" in BBM terms
    assert by_input["Question t2"]["labelled"] is True
    assert by_input["Question t1"]["labelled"] is False  # never adjudicated
    assert by_input["Question t1"]["label_source"] is None


def test_trl_export_of_adjudicated_labels_loads_with_datasets(
    adjudicated_store: str, tmp_path: Path
) -> None:
    import datasets

    out = tmp_path / "trl.jsonl"
    export(adjudicated_store, "--dataset", DATASET, "--format", "trl", "--out", str(out),
           "--labels", "adjudicated")  # fmt: skip
    loaded = datasets.load_dataset(
        "json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert loaded.num_rows == 2
    assert sorted(loaded.column_names) == ["completions", "labels", "prompt"]
    rows = {r["prompt"]: r for r in loaded}
    assert rows["Question t2"]["completions"] == list(STEPS[:3])
    assert rows["Question t2"]["labels"] == [True, True, True]
    assert rows["Question t3"]["completions"] == list(STEPS[:3])
    assert rows["Question t3"]["labels"] == [True, True, False]
    meta = json.loads((tmp_path / "trl.jsonl.meta.json").read_text())
    assert meta["labels"] == "adjudicated"
    assert {m["id"] for m in meta["records"]} == {"t2", "t3"}
    assert all(m["label_source"] == "adjudicated" and m["label_time"] for m in meta["records"])


@pytest.mark.realdata
def test_bbm_two_annotators_adjudicate_and_export_trl(shared_data: Path, tmp_path: Path) -> None:
    """The issue's "done when" on real BBM word_sorting traces: two annotators, agreement,
    adjudication of every disagreement, a TRL file that datasets reads."""
    import datasets

    path = shared_data / "big-bench-mistake" / "word_sorting.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    url = f"sqlite:///{tmp_path / 'bbm.db'}"
    items = list(bbm_items(path))[:30]
    truth = {i.trace.id: i.labels[0].first_mistake for i in items}
    n_steps = {i.trace.id: len(i.trace.steps) for i in items}
    with open_store(url) as store:
        store.add_traces(items)
        noisy_labels(store, truth, truth, n_steps, {"ann": 0.2, "ben": 0.3}, seed=11)
        report = load_report(store, "bbm")
        assert report.n_traces_overlap == 30 and report.disagreements
        assert report.pairs[0].kappa.value is not None
        # ann agrees with BBM's labels on exactly the traces she was not made to miss
        ann = next(r for r in report.reference if r.annotator == "ann")
        assert 0 < ann.n_agree < 30
        for d in report.disagreements:
            adjudicate(store, who("rita", "reviewer"), d.trace_id, first_mistake=truth[d.trace_id])
        settled = {d.trace_id for d in report.disagreements}
        assert load_report(store, "bbm").n_adjudicated == len(settled)
    out = tmp_path / "bbm_trl.jsonl"
    export(url, "--dataset", "bbm", "--format", "trl", "--out", str(out), "--labels", "adjudicated")
    loaded = datasets.load_dataset(
        "json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert loaded.num_rows == len(settled)
    by_prompt = {i.trace.question: i for i in items}
    for row in loaded:
        trace = by_prompt[row["prompt"]].trace
        mistake = truth[trace.id]
        if mistake == -1:
            assert row["labels"] == [True] * len(trace.steps)
        else:
            assert row["labels"] == [True] * mistake + [False]
        assert row["completions"] == trace.step_texts[: len(row["labels"])]
