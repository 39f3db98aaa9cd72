"""`python cli.py generate countdown`: to a JSONL file and into the store."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from cli import app
from generators.countdown import generate_countdown
from trace_store.schema import Trace

runner = CliRunner()


def test_help_documents_options_and_a_worked_example():
    result = runner.invoke(app, ["generate", "countdown", "--help"])
    assert result.exit_code == 0
    for option in ("--n", "--seed", "--dataset", "--mistake-rate", "--out", "--json"):
        assert option in result.output
    assert "python cli.py generate countdown --n 500 --seed 0" in result.output
    top = runner.invoke(app, ["generate", "--help"])
    assert top.exit_code == 0 and "countdown" in top.output


def test_out_writes_trace_dumps_equal_to_the_generator(tmp_path):
    out = tmp_path / "cd.jsonl"
    args = ["generate", "countdown", "--n", "25", "--seed", "3", "--dataset", "cd"]
    result = runner.invoke(app, [*args, "--mistake-rate", "0.4", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    traces = [Trace.model_validate(orjson.loads(line)) for line in out.read_bytes().splitlines()]
    expected = [i.trace for i in generate_countdown(25, 3, dataset="cd", mistake_rate=0.4)]
    assert traces == expected
    assert summary["traces"] == 25
    assert summary["steps"] == sum(len(t.steps) for t in expected)
    assert summary["with_mistake"] == sum(t.metadata["first_mistake"] >= 0 for t in expected)
    assert summary["correct"] == sum(bool(t.correct) for t in expected)


def test_store_gets_traces_labels_and_a_run(tmp_path):
    from trace_store import open_store

    url = f"sqlite:///{tmp_path / 'gen.db'}"
    args = ["--db", url, "generate", "countdown", "--n", "40", "--seed", "1"]
    result = runner.invoke(app, [*args, "--mistake-rate", "0.5", "--dataset", "cd-store"])
    assert result.exit_code == 0, result.output
    assert "40 added, 0 unchanged, 0 conflicts" in result.output
    again = runner.invoke(app, [*args, "--mistake-rate", "0.5", "--dataset", "cd-store", "--json"])
    assert orjson.loads(again.stdout)["unchanged"] == 40
    expected = list(generate_countdown(40, 1, dataset="cd-store", mistake_rate=0.5))
    store = open_store(url)
    try:
        assert store.count_traces() == 40
        for item in expected[:5]:
            assert store.get_trace(item.trace.id) == item.trace
            (label,) = store.labels_for(item.trace.id, annotator="dataset:cd-store")
            assert label.first_mistake == item.trace.metadata["first_mistake"]
        runs = [r for r in store.list_runs("generate") if r.dataset == "cd-store"]
        assert len(runs) == 2 and {r.status for r in runs} == {"done"}
        assert runs[0].params["mistake_rate"] == 0.5
    finally:
        store.close()


def test_user_errors_are_one_line_without_traceback(tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "x.jsonl"
    result = runner.invoke(app, ["generate", "countdown", "--n", "2", "--out", str(missing)])
    assert result.exit_code == 1
    assert f"error: cannot write {missing}" in result.output
    assert "Traceback" not in result.output
    bad_db = runner.invoke(app, ["--db", "bogus://x", "generate", "countdown", "--n", "2"])
    assert bad_db.exit_code == 1 and "error: cannot open store bogus://x" in bad_db.output
    bad_rate = runner.invoke(app, ["generate", "countdown", "--mistake-rate", "2"])
    assert bad_rate.exit_code == 2 and "--mistake-rate" in bad_rate.output


@pytest.mark.parametrize(
    "verb",
    [
        ["analyze", "--dataset", "d"],
        ["generate", "lm", "--model", "m", "--dataset", "d", "--from-dataset", "s", "--n", "1"],
        ["correct", "--dataset", "d", "--location", "random", "--model", "m"],
    ],
)
def test_store_verbs_report_a_bad_store_url_in_one_line(verb) -> None:
    result = runner.invoke(app, ["--db", "bogus://x", *verb])
    assert result.exit_code == 1, result.output
    assert "error: cannot open store bogus://x" in result.output
    assert "Traceback" not in result.output
