"""The mistake finder: threshold choice, scores and baselines, training on a slice, save/reload,
bad inputs, and suggestions that the labelling screen and the correction loop understand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analyzers.finder_evaluation import (
    POSITION_BINS,
    baseline_scores,
    cue_prediction,
    position_bin,
    position_confusion,
    score_predictions,
)
from analyzers.finder_features import FEATURE_GROUPS, feature_names, group_columns, training_rows
from analyzers.finder_training import FinderError, HeadConfig, choose_threshold, first_over
from analyzers.mistake_finder import (
    LabelledTrace,
    evaluate_finder,
    labelled_traces,
    load_finder,
    prediction_suggestions,
    train_finder,
)
from tests.finder_helpers import BBM, bbm_slice, tiny_encoder_dir
from trace_store.schema import Step, Trace


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_encoder_dir(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THOUGHTSCOPE_CACHE", str(tmp_path / "cache"))


def _trace(n: int, tid: str = "t", texts: list[str] | None = None) -> Trace:
    texts = texts or [f"step {i}" for i in range(n)]
    steps = [Step(index=i, text=t) for i, t in enumerate(texts)]
    return Trace(id=tid, dataset="d", question="q", steps=steps)


# ----------------------------------------------------------------------------- pure pieces


def test_threshold_is_chosen_exactly_on_validation_traces() -> None:
    probs = [np.array([0.1, 0.8, 0.3]), np.array([0.2, 0.4]), np.array([0.6, 0.1])]
    gold = [1, -1, 0]
    threshold, acc = choose_threshold(probs, gold)
    # right for trace 1 when 0.1 <= t < 0.8, trace 2 when t >= 0.4, trace 3 when t < 0.6
    assert 0.4 <= threshold < 0.6
    assert acc == 1.0
    assert [first_over(p, threshold) for p in probs] == gold


def test_threshold_prefers_the_majority_when_traces_conflict() -> None:
    probs = [np.array([0.9]), np.array([0.9]), np.array([0.9])]
    threshold, acc = choose_threshold(probs, [0, 0, -1])
    assert threshold < 0.9 and acc == pytest.approx(2 / 3)


def test_training_rows_stop_at_the_first_mistake() -> None:
    keep, y = training_rows(5, 2)
    assert keep == 3 and y.tolist() == [0, 0, 1]
    keep, y = training_rows(4, -1)
    assert keep == 4 and y.sum() == 0


def test_scores_follow_processbench() -> None:
    s = score_predictions([2, -1, 0, -1], [2, -1, 1, 0])
    assert s.location_accuracy == 0.5
    assert s.accuracy_with_mistake == 0.5 and s.accuracy_without_mistake == 0.5
    assert s.harmonic_mean == pytest.approx(0.5)
    assert score_predictions([1, 1], [-1, -1]).harmonic_mean == 0.0


def test_baselines_and_cue_heuristic() -> None:
    traces = [_trace(4, "a"), _trace(2, "b"), _trace(3, "c")]
    gold = [0, -1, 2]
    base = baseline_scores(traces, gold)
    assert base["always no mistake"].location_accuracy == pytest.approx(1 / 3)
    assert base["always first step"].location_accuracy == pytest.approx(1 / 3)
    assert base["uniform random step"].accuracy_with_mistake == pytest.approx((1 / 4 + 1 / 3) / 2)
    backtracks = _trace(
        3, "d", ["12 + 5 = 18.", "Wait, that is wrong. Let me go back and redo it.", "12 + 5 = 17."]
    )
    assert cue_prediction(backtracks) == 0
    assert cue_prediction(_trace(3, "e")) == -1


def test_position_confusion_bins() -> None:
    assert position_bin(-1, 5) == "none" and position_bin(0, 5) == "0-20%"
    assert position_bin(4, 5) == "80-100%"
    counts = position_confusion([0, -1, 4], [0, 1, -1], [5, 5, 5])
    assert counts[1][1] == 1 and counts[0][POSITION_BINS.index("20-40%")] == 1
    assert counts[POSITION_BINS.index("80-100%")][0] == 1
    assert sum(map(sum, counts)) == 3


def test_group_columns_select_the_named_groups() -> None:
    names = feature_names(FEATURE_GROUPS, 3)
    cols = group_columns(FEATURE_GROUPS, ["position", "checkers"], 3)
    picked = [names[c] for c in cols]
    assert picked[0] == "relative_position" and picked[-1] == "checker_applies"
    assert len(picked) == len(feature_names(["position", "checkers"], 3))
    with pytest.raises(ValueError, match="unknown feature group"):
        feature_names(["colour"], 3)


def test_head_config_rejects_unknown_head() -> None:
    with pytest.raises(FinderError, match="unknown head"):
        HeadConfig(head="forest")


# ----------------------------------------------------------------------- training on a slice


def _examples(task: str, n: int) -> list[LabelledTrace]:
    if not BBM.exists():
        pytest.skip(f"real data not found at {BBM} (see /work/shared/data/README.md)")
    return [LabelledTrace(t, g) for t, g in bbm_slice(task, n)]


@pytest.mark.realdata
def test_slice_training_beats_always_no_mistake_and_reloads_identically(
    tiny_encoder: Path, tmp_path: Path
) -> None:
    examples = _examples("multistep_arithmetic", 140)
    train, test = examples[:80], examples[80:]
    data = {"dataset": "bbm", "tasks": ["multistep_arithmetic"], "annotator": "dataset:bbm"}
    finder = train_finder(train, encoder=tiny_encoder, data=data)
    result = evaluate_finder(finder, test)
    floor = result.baselines["always no mistake"].location_accuracy
    assert result.scores.location_accuracy > floor + 0.2, (result.scores, floor)
    assert result.scores.harmonic_mean > 0.3
    assert 0.0 < finder.threshold <= 1.0

    saved = finder.save(tmp_path / "ma-finder")
    assert {p.name for p in saved.iterdir()} >= {"finder.json", "head.npz", "MODEL_CARD.md"}
    card = (saved / "MODEL_CARD.md").read_text()
    assert "tasks: multistep_arithmetic" in card and "labels by `dataset:bbm`" in card
    assert "traces: 80 (64 train, 16 validation)" in card and "| finder | 16 |" in card
    again = load_finder(saved)
    assert again.agent == "finder:ma-finder"
    before = [(p.first_mistake, p.step_probabilities) for p in result.predictions]
    reloaded = evaluate_finder(again, test).predictions
    after = [(p.first_mistake, p.step_probabilities) for p in reloaded]
    assert before == after


@pytest.mark.realdata
def test_mlp_head_with_early_stopping_and_no_embedding_groups(tmp_path: Path) -> None:
    examples = _examples("tracking_shuffled_objects", 120)
    finder = train_finder(
        examples[:80],
        head=HeadConfig(head="mlp", max_epochs=30, patience=3),
        groups=["position", "behaviors", "checkers"],
    )
    training = finder.config["training"]
    assert 1 <= training["best_epoch"] <= training["epochs_run"] <= 30
    assert finder.config["encoder"] is None  # no embeddings: no encoder is loaded at all
    result = evaluate_finder(finder, examples[80:])
    assert result.scores.location_accuracy > result.baselines["always no mistake"].location_accuracy
    again = load_finder(finder.save(tmp_path / "mlp"))
    assert [p.first_mistake for p in evaluate_finder(again, examples[80:]).predictions] == [
        p.first_mistake for p in result.predictions
    ]


@pytest.mark.realdata
def test_cross_task_validation_carries_to_an_unseen_task(tiny_encoder: Path) -> None:
    train = _examples("multistep_arithmetic", 50) + _examples("tracking_shuffled_objects", 50)
    test = _examples("word_sorting", 40)
    finder = train_finder(train, encoder=tiny_encoder)
    training = finder.config["training"]
    assert training["validation_mode"] == "tasks"
    assert training["validation_tasks"] == ["multistep_arithmetic", "tracking_shuffled_objects"]
    # every (C, embedding weight) pair of the grids was judged on out-of-task predictions
    assert len(training["history"]) == 2 * 4
    assert training["embedding_weight"] in (0.03, 0.1, 0.3, 1.0)
    assert training["validation"]["n"] == 100
    result = evaluate_finder(finder, test)
    floor = result.baselines["always no mistake"].location_accuracy
    assert result.scores.location_accuracy > floor + 0.3, (result.scores, floor)
    split = train_finder(train, encoder=tiny_encoder, validation="split")
    assert split.config["training"]["validation_mode"] == "split"


# ------------------------------------------------------------------------------ bad inputs


def test_loading_something_that_is_not_a_finder_says_why(tmp_path: Path) -> None:
    with pytest.raises(FinderError, match="does not exist"):
        load_finder(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(FinderError, match="is a file, not a mistake-finder folder"):
        load_finder(tmp_path / "file.txt")
    with pytest.raises(FinderError, match="no finder.json"):
        load_finder(tmp_path)
    (tmp_path / "finder.json").write_text('{"kind": "thoughtscope-mistake-finder",\n  oops}')
    with pytest.raises(FinderError, match=r"finder.json: line 2: not valid JSON"):
        load_finder(tmp_path)
    (tmp_path / "finder.json").write_text('{"architectures": ["BertModel"]}')
    with pytest.raises(FinderError, match="field 'kind'.*not a mistake-finder model"):
        load_finder(tmp_path)


def test_labels_off_the_end_and_no_labels_are_refused() -> None:
    with pytest.raises(FinderError, match="first_mistake 5 but the trace has only 3 steps"):
        train_finder([LabelledTrace(_trace(3), 5)], groups=["position"])
    with pytest.raises(FinderError, match="no first-mistake labels"):
        train_finder([], groups=["position"])
    only_clean = [LabelledTrace(_trace(3, f"t{i}"), -1) for i in range(6)]
    with pytest.raises(FinderError, match="no labelled first mistake"):
        train_finder(only_clean, groups=["position"])


def test_dataset_without_labels_gives_a_clear_error(store_sqlite) -> None:
    from trace_store.schema import ImportedTrace

    store_sqlite.add_traces([ImportedTrace(trace=_trace(3, "plain"))])
    with pytest.raises(FinderError, match="none of its 1 traces has a first-mistake label"):
        labelled_traces(store_sqlite, "d")
    with pytest.raises(FinderError, match="has no traces in the store"):
        labelled_traces(store_sqlite, "missing")


# ------------------------------------------------------------- suggestions reach their users


def test_suggestions_feed_the_label_screen_and_the_correction(store_sqlite) -> None:
    from components.label_editor import suggestion_step
    from generators.correct_runs import suggestion_location
    from generators.countdown import generate_countdown

    items = list(generate_countdown(40, 3, dataset="cd", mistake_rate=0.6))
    store_sqlite.add_traces(items)
    examples = labelled_traces(store_sqlite, "cd")
    assert len(examples) == 40
    finder = train_finder(examples, groups=["position", "checkers"])
    finder.config["name"] = "cd-finder"
    predictions = finder.predict([e.trace for e in examples])
    suggestions = prediction_suggestions(finder, predictions)
    assert {s.agent for s in suggestions} == {"finder:cd-finder"}
    assert all(s.kind == "first_mistake" for s in suggestions)
    store_sqlite.add_suggestions(suggestions)
    located = [p for p in predictions if p.first_mistake >= 0]
    assert located, "the checker features should locate injected Countdown mistakes"
    trace = next(e.trace for e in examples if e.trace.id == located[0].trace_id)
    loc = suggestion_location(store_sqlite, trace, agent="finder:cd-finder")
    assert loc is not None and loc.step == located[0].first_mistake
    shown = store_sqlite.suggestions_for(trace.id, agent="finder:cd-finder")
    assert [suggestion_step(s) for s in shown] == [located[0].first_mistake]
    clean = next(p for p in predictions if p.first_mistake < 0)
    clean_trace = next(e.trace for e in examples if e.trace.id == clean.trace_id)
    assert suggestion_location(store_sqlite, clean_trace, agent="finder:cd-finder") is None


# ------------------------------------------------------------------- encoders and fine-tuning


def test_packaged_minilm_embeds_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from analyzers.finder_encoder import TextEncoder, embed_texts

    encoder = TextEncoder()
    assert encoder.name == "all-MiniLM-L6-v2" and encoder.dim == 384
    texts = ["7 - 28 = -21", "7 - 28 = -21", "seven minus twenty-eight", "The stack is empty."]
    first = embed_texts(encoder, texts, cache_root=tmp_path)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first[0], first[1])
    assert first[0] @ first[2] > first[0] @ first[3]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("cached texts must not be embedded again")

    monkeypatch.setattr(encoder, "encode", refuse)
    again = embed_texts(encoder, texts, cache_root=tmp_path)
    assert np.array_equal(first, again)


def test_finetuned_encoder_travels_with_the_finder(tiny_encoder: Path, tmp_path: Path) -> None:
    from analyzers.finder_encoder import folder_fingerprint
    from analyzers.finder_finetune import FinetuneConfig, finetune_encoder
    from generators.countdown import generate_countdown

    items = list(generate_countdown(24, 11, dataset="cd", mistake_rate=0.7))
    examples = [LabelledTrace(i.trace, i.labels[0].first_mistake) for i in items]
    work = tmp_path / "work-encoder"
    cfg = FinetuneConfig(max_rows=48, batch_size=16, learning_rate=1e-3)
    finder = train_finder(
        examples[:16],
        encoder=tiny_encoder,
        finetune=lambda enc: finetune_encoder(enc, examples[:16], work, cfg),
    )
    ref = finder.config["encoder"]
    assert ref["source"] == "model-folder"
    assert ref["fingerprint"] != folder_fingerprint(tiny_encoder, 256)  # the weights moved
    saved = finder.save(tmp_path / "tuned")
    assert (saved / "encoder" / "config.json").is_file()
    before = [p.step_probabilities for p in finder.predict([e.trace for e in examples[16:]])]
    reloaded = load_finder(saved)
    after = [p.step_probabilities for p in reloaded.predict([e.trace for e in examples[16:]])]
    assert before == after
