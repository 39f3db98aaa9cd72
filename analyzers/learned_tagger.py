"""The learned tagger "learned-ta": behaviour heads on frozen MiniLM embeddings, fitted to agree
with the Thought Anchors GPT-4o chunk tags (self_checking ≈ verification, plan_generation ≈
subgoal_setting, uncertainty_management ≈ backtracking).

Two linear stages (weights in analyzers/models/learned_ta.npz, card in learned_ta.json):
stage 1, a multinomial logistic regression over the Thought Anchors function tags from each
step's embedding, its predecessor's, word n-gram TF-IDF, the rule tagger's tags nearby and the
relative position; stage 2, one logistic head per behaviour over stage 1's probabilities in a
window of ±``width`` steps, with a threshold chosen by cross-validation. backward_chaining has no
Thought Anchors counterpart, so the rule tagger's tags for it are passed through unchanged.

This tagger follows GPT-4o's reading of the behaviours (hesitation counts as backtracking, any
planning sentence as subgoal setting), not Gandhi et al.'s definitions that the rule tagger
follows; see the card for its out-of-fold agreement and its F1 on the hand gold set.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analyzers.behavior_rules import RuleTagger
from analyzers.behaviors import TaggerUnavailable, step_behaviors
from analyzers.learned_features import rule_matrix, stage1_dense, stage2_dense
from trace_store.schema import BehaviorTag

MODEL_DIR = Path(__file__).resolve().parent / "models"
WEIGHTS_PATH = MODEL_DIR / "learned_ta.npz"
"""The shipped heads; the card beside it (same stem, .json) says data, CV figures and date."""

FORMAT_VERSION = 1
"""Layout of the .npz; a file of another version is refused rather than misread."""

TAGGER_NAME = "learned-ta"
TRAINED_ON = "thought-anchors"
"""What ``trained_on`` says: evaluation against this data set must be out-of-fold."""


class LearnedTaggerUnavailable(TaggerUnavailable):
    """The learned tagger's weights are missing or unreadable, or its encoder cannot load."""


@dataclass
class TaggerHeads:
    """The fitted two-stage heads (feature scaling already folded into the weights)."""

    classes: list[str]
    """Stage-1 classes: Thought Anchors function tags seen in training."""
    vocabulary: list[str]
    idf: np.ndarray
    w1_dense: np.ndarray
    """(stage-1 dense features, classes)."""
    w1_text: np.ndarray
    """(vocabulary, classes): weights of the TF-IDF n-grams."""
    b1: np.ndarray
    behaviors: list[str]
    """Behaviour of each stage-2 head (column of w2)."""
    w2: np.ndarray
    b2: np.ndarray
    thresholds: np.ndarray
    config: dict[str, Any] = field(default_factory=dict)
    """Training recipe: C1, C2, width, tfidf weight, n-gram range, min_df, inner folds..."""

    @property
    def width(self) -> int:
        """Return how many neighbouring steps each side stage 2 looks at."""
        return int(self.config["width"])

    def vectorizer(self) -> Any:
        """Return a TfidfVectorizer fixed to the shipped vocabulary and idf."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        lo, hi = self.config["ngram_range"]
        vec = TfidfVectorizer(
            ngram_range=(int(lo), int(hi)),
            sublinear_tf=True,
            vocabulary={term: i for i, term in enumerate(self.vocabulary)},
        )
        vec.idf_ = self.idf
        return vec

    def stage1_probs(self, steps: list[str], embeddings: np.ndarray, rules: np.ndarray) -> Any:
        """Return (steps, classes) stage-1 probabilities of the Thought Anchors function tags."""
        from scipy.special import softmax

        logits = stage1_dense(embeddings, rules) @ self.w1_dense + self.b1
        if self.vocabulary:
            logits = logits + np.asarray(self.vectorizer().transform(steps) @ self.w1_text)
        return softmax(logits, axis=1)

    def behaviour_probs(self, steps: list[str], embeddings: np.ndarray, rules: np.ndarray) -> Any:
        """Return (steps, len(behaviors)) probabilities that each step shows each behaviour."""
        from scipy.special import expit

        probs = self.stage1_probs(steps, embeddings, rules)
        return expit(stage2_dense(probs, rules, self.width) @ self.w2 + self.b2)

    def save(self, path: Path) -> None:
        """Write the heads to ``path`` (.npz, no pickles)."""
        meta = {
            "format_version": FORMAT_VERSION,
            "classes": self.classes,
            "behaviors": self.behaviors,
            "config": self.config,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            meta=np.array(json.dumps(meta)),
            vocabulary=np.array(self.vocabulary, dtype=str),
            idf=self.idf.astype(np.float32),
            w1_dense=self.w1_dense.astype(np.float32),
            w1_text=self.w1_text.astype(np.float32),
            b1=self.b1.astype(np.float32),
            w2=self.w2.astype(np.float32),
            b2=self.b2.astype(np.float32),
            thresholds=self.thresholds.astype(np.float32),
        )


def load_heads(path: Path = WEIGHTS_PATH) -> TaggerHeads:
    """Return the heads stored at ``path``; raise LearnedTaggerUnavailable saying what is wrong."""
    if not path.is_file():
        raise LearnedTaggerUnavailable(
            f"{path}: learned tagger weights not found; restore the file from the repository or "
            f"retrain with `python bench/learned_tagger_bench.py --save`"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError) as exc:
        raise LearnedTaggerUnavailable(
            f"{path}: not a readable learned-tagger file ({exc})"
        ) from exc
    if meta.get("format_version") != FORMAT_VERSION:
        raise LearnedTaggerUnavailable(
            f"{path}: field 'format_version': expected {FORMAT_VERSION}, "
            f"got {meta.get('format_version')!r}"
        )
    missing = {"vocabulary", "idf", "w1_dense", "w1_text", "b1", "w2", "b2", "thresholds"}
    missing -= set(arrays)
    if missing:
        raise LearnedTaggerUnavailable(f"{path}: missing arrays {sorted(missing)}")
    return TaggerHeads(
        classes=list(meta["classes"]),
        vocabulary=[str(t) for t in arrays["vocabulary"]],
        idf=arrays["idf"],
        w1_dense=arrays["w1_dense"],
        w1_text=arrays["w1_text"],
        b1=arrays["b1"],
        behaviors=list(meta["behaviors"]),
        w2=arrays["w2"],
        b2=arrays["b2"],
        thresholds=arrays["thresholds"],
        config=dict(meta["config"]),
    )


def evidence_span(text: str, rule_span: tuple[int, int] | None) -> tuple[int, int]:
    """Return the evidence span: the rule tagger's cue when it found one, else the stripped step."""
    if rule_span is not None:
        return rule_span
    start = len(text) - len(text.lstrip())
    return start, max(start, len(text.rstrip()))


class LearnedTagger:
    """Tagger "learned-ta": MiniLM + two linear stages, fitted to Thought Anchors' GPT-4o tags."""

    name = TAGGER_NAME
    trained_on = TRAINED_ON

    def __init__(self, weights: Path = WEIGHTS_PATH, encoder: Any = None) -> None:
        self.heads = load_heads(weights)
        # Stored analyses carry name@version: retrained weights must read as a new version.
        digest = hashlib.sha256(Path(weights).read_bytes()).hexdigest()[:8]
        self.version = f"{FORMAT_VERSION}-{digest}"
        self.rules = RuleTagger()
        if encoder is None:
            # The mistake finder's loader: one MiniLM per process, shared by both features.
            from analyzers.finder_encoder import EncoderUnavailable
            from analyzers.mistake_finder import get_encoder

            try:
                encoder = get_encoder()
            except EncoderUnavailable as exc:
                raise LearnedTaggerUnavailable(f"tagger {TAGGER_NAME!r}: {exc}") from exc
        self.encoder = encoder

    def tag(self, steps: list[str], question: str | None = None) -> list[BehaviorTag]:
        """Return the behaviour tags of ``steps``, at most one per (step, behaviour)."""
        if not steps:
            return []
        rule_tags = self.rules.tag(steps, question)
        rules = rule_matrix(step_behaviors(rule_tags, len(steps)))
        probs = self.heads.behaviour_probs(steps, self.encoder.encode(steps), rules)
        return self.tags_from(steps, rule_tags, probs)

    def tags_from(
        self, steps: list[str], rule_tags: list[BehaviorTag], probs: np.ndarray
    ) -> list[BehaviorTag]:
        """Return the tags given the rule tags and the heads' (steps, behaviours) probabilities.

        Behaviours without a head keep the rule tagger's tags (with its name on them, since it
        made them); a learned tag borrows the rule cue's span as evidence when there is one.
        """
        learned = set(self.heads.behaviors)
        spans = {(t.step, t.behavior): (t.start, t.end) for t in rule_tags}
        label = f"{self.name}@{self.version}"
        tags = [t for t in rule_tags if t.behavior not in learned]
        for col, behavior in enumerate(self.heads.behaviors):
            threshold = float(self.heads.thresholds[col])
            for index in np.flatnonzero(probs[:, col] >= threshold):
                text = steps[index]
                start, end = evidence_span(text, spans.get((int(index), behavior)))
                tags.append(
                    BehaviorTag(
                        step=int(index),
                        behavior=behavior,
                        start=start,
                        end=end,
                        evidence=text[start:end],
                        confidence=round(float(probs[index, col]), 4),
                        tagger=label,
                    )
                )
        return sorted(tags, key=lambda t: (t.step, t.behavior))

    def out_of_fold_steps(
        self, traces: list[Any], folds: int, n_jobs: int | None = None
    ) -> list[list[list[str]]]:
        """Return per trace, per chunk, behaviours from heads never fitted on its problem.

        ``traces`` are Thought Anchors traces (analyzers.thought_anchors.AnchorsTrace); the heads
        are refitted ``folds`` times with the shipped recipe, leaving every trace of a problem
        out together (other traces of the same problem would leak its content), on
        ``n_jobs`` processes (default: one per core, at most one per fold; one for small data).
        """
        import os

        from analyzers.learned_training import cross_val_predict, prepare_traces

        prepared = prepare_traces(traces, self.encoder)
        small = sum(len(t.steps) for t in prepared) < 2000  # not worth starting processes
        jobs = n_jobs if n_jobs is not None else 1 if small else min(folds, os.cpu_count() or 1)
        return cross_val_predict(prepared, folds, self.heads.config, n_jobs=jobs)[0]
