"""The learned tagger's features, fitting, weight files and errors (no MiniLM, no real data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from analyzers.behaviors import _learned_ta, register_tagger, tagger_names
from analyzers.learned_features import (
    RULE_DECAY,
    probability_window,
    rule_context,
    stage1_dense,
    stage1_width,
)
from analyzers.learned_tagger import (
    LearnedTagger,
    LearnedTaggerUnavailable,
    load_heads,
)
from analyzers.learned_training import PreparedTrace, cross_val_predict, fit_heads, predict_steps
from cli import app

GOLD = Path(__file__).resolve().parent / "fixtures" / "gold_behaviors.jsonl"
runner = CliRunner()

# Synthetic chunks: each function tag has its own embedding direction and wording, so a correct
# fit must recover the tags almost perfectly; "other" chunks are plain computations.
KINDS = {
    "self_checking": (0, "let me verify the result again"),
    "plan_generation": (1, "next i will try a new plan"),
    "uncertainty_management": (2, "hmm wait i am not sure"),
    "active_computation": (3, "so three times four is twelve"),
}


class StubEncoder:
    """Stands in for MiniLM where a test must not load it; encoding is an error."""

    fingerprint = "stub"
    dim = 8

    def encode(self, texts, **_):
        raise AssertionError("the stub encoder must not be used")


def synthetic_trace(seed: int, n: int = 60) -> PreparedTrace:
    """Return a trace of runs of synthetic chunks (runs, as in Thought Anchors)."""
    rng = np.random.default_rng(seed)
    names = list(KINDS)
    tags: list[list[str]] = []
    while len(tags) < n:
        tags.extend([[names[rng.integers(len(names))]]] * int(rng.integers(1, 5)))
    tags = tags[:n]
    emb = rng.normal(0, 0.3, (n, 8)).astype(np.float32)
    steps = []
    for i, (tag,) in enumerate(tags):
        axis, words = KINDS[tag]
        emb[i, axis] += 1.0
        steps.append(f"{words} {rng.integers(100)}")
    return PreparedTrace(f"t{seed}", steps, tags, emb, np.zeros((n, 4), np.float32))


@pytest.fixture(scope="module")
def small_heads():
    return fit_heads([synthetic_trace(s) for s in range(4)], {"inner_folds": 2, "min_df": 1})


def kappa(truth: list[int], guess: list[int]) -> float:
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(truth, guess))


def test_rule_context_holds_neighbours_and_a_decaying_memory():
    rules = np.zeros((5, 4), np.float32)
    rules[1, 1] = 1.0  # verification cue at step 1
    ctx = rule_context(rules)
    assert ctx.shape == (5, 20)
    assert ctx[1, 1] == 1 and ctx[2, 4 + 1] == 1 and ctx[3, 8 + 1] == 1 and ctx[0, 12 + 1] == 1
    assert ctx[:, 16 + 1].tolist() == pytest.approx([0, 0, RULE_DECAY, RULE_DECAY**2, 0.6**3])
    dense = stage1_dense(np.ones((5, 8), np.float32), rules)
    assert dense.shape == (5, stage1_width(8)) == (5, 2 * 8 + 20 + 3)
    assert dense[0, 8:16].tolist() == [0.0] * 8  # no step before the first one
    window = probability_window(np.full((3, 2), 0.5), width=1)
    # Blocks: this step, the next one, the previous one; beyond the ends is log 1 = 0.
    assert window.shape == (3, 6) and window[0, 4:6].tolist() == window[2, 2:4].tolist() == [0, 0]
    assert window[1].tolist() == pytest.approx([np.log(0.5)] * 6)


def test_fit_heads_recovers_synthetic_tags_on_unseen_traces():
    train = [synthetic_trace(s) for s in range(5)]
    heads = fit_heads(train, {"inner_folds": 2, "min_df": 1})
    assert heads.behaviors == ["backtracking", "verification", "subgoal_setting"]
    assert all(0.0 < t < 1.0 for t in heads.thresholds)
    test = synthetic_trace(99)
    predicted = predict_steps(heads, test)
    for behavior, tag in [
        ("verification", "self_checking"),
        ("subgoal_setting", "plan_generation"),
        ("backtracking", "uncertainty_management"),
    ]:
        truth = [int(tag in t) for t in test.tags]
        guess = [int(behavior in names) for names in predicted]
        assert kappa(truth, guess) > 0.9, behavior


def test_near_constant_embedding_dimensions_get_no_weight():
    # Two MiniLM dimensions are ~1e-33 for every text; unit-variance scaling would blow them up.
    traces = [synthetic_trace(s) for s in range(4)]
    for i, trace in enumerate(traces):
        trace.embeddings[:, 5] = np.random.default_rng(i).normal(0, 1e-33, len(trace.steps))
    heads = fit_heads(traces, {"inner_folds": 2, "min_df": 1})
    assert np.abs(heads.w1_dense).max() < 100 and not heads.w1_dense[[5, 8 + 5]].any()
    assert np.abs(heads.w2).max() < 100


def test_heads_survive_a_save_and_load(tmp_path: Path, small_heads):
    heads = small_heads
    path = tmp_path / "heads.npz"
    heads.save(path)
    again = load_heads(path)
    assert again.classes == heads.classes and again.vocabulary == heads.vocabulary
    trace = synthetic_trace(7)
    args = (trace.steps, trace.embeddings, trace.rules)
    assert np.allclose(again.behaviour_probs(*args), heads.behaviour_probs(*args), atol=1e-5)


def test_missing_or_foreign_weights_give_a_clear_error(tmp_path: Path, small_heads):
    missing = tmp_path / "nope.npz"
    with pytest.raises(LearnedTaggerUnavailable, match="weights not found.*--save"):
        LearnedTagger(missing, encoder=StubEncoder())
    path = tmp_path / "old.npz"
    small_heads.save(path)
    with np.load(path) as data:
        arrays = dict(data)
    meta = json.loads(str(arrays["meta"]))
    arrays["meta"] = np.array(json.dumps({**meta, "format_version": 99}))
    np.savez(path, **arrays)
    with pytest.raises(LearnedTaggerUnavailable, match="'format_version': expected 1, got 99"):
        load_heads(path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(LearnedTaggerUnavailable, match="not a readable"):
        load_heads(tmp_path / "junk.npz")


def test_missing_encoder_dependency_names_the_tagger(monkeypatch: pytest.MonkeyPatch):
    import analyzers.mistake_finder as finder
    from analyzers.finder_encoder import EncoderUnavailable

    def no_torch(*_):
        raise EncoderUnavailable("the encoder needs 'torch', which cannot be imported")

    monkeypatch.setattr(finder, "get_encoder", no_torch)
    with pytest.raises(LearnedTaggerUnavailable, match="learned-ta.*torch"):
        LearnedTagger()


def test_cli_reports_an_unavailable_tagger_without_a_traceback(tmp_path: Path):
    assert "learned-ta" in tagger_names()
    missing = tmp_path / "nope.npz"
    register_tagger("learned-ta", lambda: LearnedTagger(missing, StubEncoder()), replace=True)
    try:
        result = runner.invoke(app, ["evaluate-tags", str(GOLD), "--tagger", "learned-ta"])
    finally:
        register_tagger("learned-ta", _learned_ta, replace=True)
    assert result.exit_code == 1
    assert "weights not found" in result.output and str(missing) in result.output
    assert "Traceback" not in result.output


def test_folds_keep_every_trace_of_a_problem_together():
    from analyzers.learned_training import _group_folds, n_groups, problem_of

    traces = [synthetic_trace(s) for s in range(8)]
    for i, t in enumerate(traces):
        t.group = problem_of(f"/ta/model-{i % 2}/correct_base_solution/problem_{i // 2}")
    assert n_groups(traces) == 4
    splits = _group_folds(traces, 4)
    for train, test in splits:
        held_out = {traces[i].group for i in test}
        assert held_out.isdisjoint(traces[i].group for i in train)
        assert len(test) == 2  # both models' traces of one problem
    assert sorted(i for _, test in splits for i in test) == list(range(8))
    with pytest.raises(ValueError, match="number of problems"):
        cross_val_predict(traces, 5)
