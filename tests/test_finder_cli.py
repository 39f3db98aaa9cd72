"""The mistake-finder verbs: train-finder, evaluate-finder, predict-mistakes, and their errors."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import orjson
import pytest
import typer.main
from typer.testing import CliRunner

from cli import app
from tests.finder_helpers import tiny_encoder_dir

DOC = Path(__file__).resolve().parents[1] / "docs" / "finder.md"


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_encoder_dir(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture
def countdown_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Return the URL of a store holding 60 Countdown traces (half with an injected mistake)."""
    from generators.countdown import generate_countdown
    from trace_store import open_store
    from trace_store.schema import ImportedTrace, Step, Trace

    monkeypatch.setenv("THOUGHTSCOPE_CACHE", str(tmp_path / "cache"))
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = open_store(url)
    store.add_traces(generate_countdown(60, 5, dataset="cd", mistake_rate=0.5))
    unlabelled = Trace(id="u1", dataset="plain", question="q", steps=[Step(index=0, text="a")])
    store.add_traces([ImportedTrace(trace=unlabelled)])
    store.close()
    return url


def _run(url: str, *args: str):
    return CliRunner().invoke(app, ["--db", url, *args], terminal_width=200)


def test_train_evaluate_predict(countdown_store: str, tiny_encoder: Path, tmp_path: Path) -> None:
    out = tmp_path / "models" / "cd-finder"
    result = _run(
        countdown_store,
        "train-finder",
        "--dataset",
        "cd",
        "--out",
        str(out),
        "--encoder",
        str(tiny_encoder),
        "--seed",
        "3",
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["agent"] == "finder:cd-finder" and report["traces"] == 60
    assert report["validation"]["n"] == 12
    config = orjson.loads((out / "finder.json").read_bytes())
    assert config["encoder"]["source"] == "path" and config["encoder"]["dim"] == 32
    assert config["head_config"]["seed"] == 3
    assert "labels by `dataset:cd`" in (out / "MODEL_CARD.md").read_text()

    result = _run(
        countdown_store, "evaluate-finder", "--model", str(out), "--dataset", "cd", "--json"
    )
    assert result.exit_code == 0, result.output
    ev = orjson.loads(result.stdout)
    assert set(ev["baselines"]) == {
        "always no mistake",
        "always first step",
        "uniform random step",
        "behaviour cues",
    }
    assert ev["finder"]["n"] == 60
    assert (
        ev["finder"]["location_accuracy"]
        > ev["baselines"]["always no mistake"]["location_accuracy"]
    )
    counts = ev["confusion_by_relative_position"]["counts_gold_by_predicted"]
    assert sum(map(sum, counts)) == 60

    result = _run(
        countdown_store, "evaluate-finder", "--model", str(out), "--dataset", "cd", "--record"
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"^finder\s+[01]\.\d{3}\s", result.output, re.M)
    assert "always first step" in result.output and "80-100%" in result.output
    assert "Evaluation on cd, 60 traces" in (out / "MODEL_CARD.md").read_text()

    result = _run(countdown_store, "predict-mistakes", "--model", str(out), "--dataset", "cd")
    assert result.exit_code == 0, result.output
    assert "stored 60 suggestions (agent finder:cd-finder)" in result.output
    from trace_store import open_store

    store = open_store(countdown_store)
    try:
        tid = next(iter(store.iter_traces())).id
        mine = store.suggestions_for(tid, agent="finder:cd-finder")
        assert len(mine) == 1 and mine[0].kind == "first_mistake"
    finally:
        store.close()


def test_bad_inputs_are_clear_errors(countdown_store: str, tmp_path: Path) -> None:
    result = _run(countdown_store, "evaluate-finder", "--model", str(tmp_path), "--dataset", "cd")
    assert result.exit_code == 1
    assert "not a mistake-finder folder, no finder.json" in result.output
    assert "Traceback" not in result.output
    result = _run(
        countdown_store, "train-finder", "--dataset", "plain", "--out", str(tmp_path / "m")
    )
    assert result.exit_code == 1
    assert "none of its 1 traces has a first-mistake label by 'dataset:plain'" in result.output
    result = _run(
        countdown_store,
        "train-finder",
        "--dataset",
        "cd",
        "--out",
        str(tmp_path / "m"),
        "--encoder",
        str(tmp_path),
    )
    assert result.exit_code == 1 and "not a transformers model folder" in result.output
    result = _run(
        countdown_store, "train-finder", "--dataset", "cd", "--out", str(tmp_path), "--head", "x"
    )
    assert result.exit_code == 1 and "unknown head 'x'" in result.output


def test_every_command_in_the_finder_doc_exists() -> None:
    lines = re.findall(r"cli\.py ([^\n`|]+)", DOC.read_text(encoding="utf-8"))
    assert len(lines) >= 3
    for line in lines:
        args = shlex.split(line.rstrip("\\ "))
        command = typer.main.get_command(app)
        sub = command.commands.get(args[0])  # type: ignore[attr-defined]
        assert sub is not None, f"docs/finder.md documents an unknown command: {line}"
        result = CliRunner().invoke(app, [args[0], "--help"], terminal_width=200)
        for option in [a.split("=")[0] for a in args if a.startswith("--")]:
            assert option in result.output, f"cli.py {args[0]} has no option {option}"
