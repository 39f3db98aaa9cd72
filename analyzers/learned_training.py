"""Fitting the learned tagger's heads on Thought Anchors chunks, and its out-of-fold predictions.

``fit_heads`` fits stage 1 (multinomial logistic regression over the function tags) and, on
stage 1's *inner out-of-fold* probabilities, stage 2 (one logistic head per behaviour) and its
decision threshold, so that stage 2 never learns from stage-1 guesses on stage 1's own training
rows. ``cross_val_predict`` repeats the whole fit leaving groups of traces out; its predictions are
the honest figure for agreement with Thought Anchors (the shipped weights have seen every chunk).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analyzers.behavior_rules import RuleTagger
from analyzers.behaviors import step_behaviors
from analyzers.learned_features import rule_matrix, stage1_dense, stage2_dense
from analyzers.learned_tagger import TaggerHeads
from analyzers.thought_anchors import TAG_TO_BEHAVIOR
from trace_store.schema import BEHAVIORS

DEFAULT_CONFIG: dict[str, Any] = {
    "C1": 0.01,
    "C2": 0.05,
    "width": 3,
    "tfidf_weight": 5.0,
    "ngram_range": [1, 2],
    "min_df": 3,
    "inner_folds": 5,
    "max_iter": 5000,
    "threshold_grid": [0.05, 0.9, 0.025],
}
"""Recipe of the shipped heads (chosen by grouped CV on Thought Anchors, see the model card)."""

HEAD_TAGS: dict[str, str] = {b: t for t, b in TAG_TO_BEHAVIOR.items()}
"""Behaviour → the Thought Anchors function tag its head is fitted to."""
HEAD_BEHAVIORS: list[str] = [b for b in BEHAVIORS if b in HEAD_TAGS]

_ABSENT = -30.0
"""Logit bias of a class or head never seen positive in training: probability ≈ 1e-13."""


@dataclass
class PreparedTrace:
    """One training trace: chunks, their function tags, embeddings and rule-tag matrix."""

    key: str
    steps: list[str]
    tags: list[list[str]]
    embeddings: np.ndarray
    rules: np.ndarray
    group: str = ""
    """What cross-validation keeps together: the problem the trace solves (its folder name), so
    that no fold is scored on a problem whose other traces were trained on. Empty: the key."""

    @property
    def fold_group(self) -> str:
        """Return the group this trace is kept with in cross-validation folds."""
        return self.group or self.key


def prepare_traces(
    traces: Sequence[Any], encoder: Any, cache: Path | None | str = "default"
) -> list[PreparedTrace]:
    """Return Thought Anchors traces with embeddings (cached on disk) and rule tags attached.

    ``encoder`` is an analyzers.finder_encoder.TextEncoder (or anything with its ``encode``,
    ``fingerprint`` and ``dim``); ``cache`` "default" keeps vectors under the finder's cache
    root ($THOUGHTSCOPE_CACHE/embeddings), None keeps them in memory only.
    """
    from analyzers.finder_encoder import default_cache_root, embed_texts

    root = default_cache_root() if cache == "default" else cache
    texts = [chunk for trace in traces for chunk in trace.chunks]
    vectors = embed_texts(encoder, texts, cache_root=root)
    rules = RuleTagger()
    out, at = [], 0
    for trace in traces:
        n = len(trace.chunks)
        per_step = step_behaviors(rules.tag(trace.chunks), n)
        out.append(
            PreparedTrace(
                key=str(trace.path),
                steps=list(trace.chunks),
                tags=[list(t) for t in trace.function_tags],
                embeddings=vectors[at : at + n],
                rules=rule_matrix(per_step),
                group=problem_of(trace.path),
            )
        )
        at += n
    return out


def problem_of(path: Path | str) -> str:
    """Return the problem a Thought Anchors trace folder solves: its folder name.

    The data holds each problem up to four times (two models, correct and incorrect base
    solution), all in folders of the same name (problem_330, scenario_0).
    """
    return Path(path).name


def primary_tag(tags: list[str]) -> str:
    """Return the chunk's stage-1 class: its first function tag, "none" when it has none."""
    return tags[0] if tags else "none"


def _classes(traces: list[PreparedTrace]) -> list[str]:
    """Return the sorted stage-1 classes of ``traces``, always including the heads' tags."""
    return sorted({primary_tag(t) for tr in traces for t in tr.tags} | set(HEAD_TAGS.values()))


FLAT_STD = 1e-6
"""Features whose spread is below this are treated as constant (weight 0). Two MiniLM dimensions
are ~1e-33 for every text: scaling them to unit variance would give weights of ~1e31, whose
products with values that differ in the last bit between machines are noise."""


def _flat_zeroed(x: np.ndarray) -> np.ndarray:
    """Return ``x`` with its (nearly) constant columns set to 0, so they get a weight of 0."""
    flat = x.std(axis=0) < FLAT_STD
    if not flat.any():
        return x
    x = x.copy()
    x[:, flat] = 0.0
    return x


def _folded(scaler: Any, coef: np.ndarray, intercept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (weights, bias) acting on raw features, from a model fitted on scaled ones."""
    w = coef.T / scaler.scale_[:, None]
    return w, intercept - scaler.mean_ @ w


def _fit_stage1(traces: list[PreparedTrace], classes: list[str], config: dict) -> TaggerHeads:
    """Return heads whose stage 1 is fitted on ``traces`` (stage 2 left empty)."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    dense = _flat_zeroed(np.vstack([stage1_dense(t.embeddings, t.rules) for t in traces]))
    texts = [s for t in traces for s in t.steps]
    labels = np.array([classes.index(primary_tag(t)) for tr in traces for t in tr.tags])
    lo, hi = config["ngram_range"]
    min_df = min(int(config["min_df"]), len(texts))
    vec = TfidfVectorizer(ngram_range=(lo, hi), min_df=min_df, sublinear_tf=True)
    try:
        tfidf = vec.fit_transform(texts) * float(config["tfidf_weight"])
        vocabulary = [str(t) for t in vec.get_feature_names_out()]
    except ValueError:  # no term reaches min_df (tiny training sets)
        tfidf, vocabulary = sparse.csr_matrix((len(texts), 0)), []
    scaler = StandardScaler().fit(dense)
    k = len(classes)
    w_dense = np.zeros((dense.shape[1], k))
    w_text = np.zeros((len(vocabulary), k))
    b = np.full(k, _ABSENT)
    seen = np.unique(labels)
    if len(seen) == 1:
        b[seen[0]] = 0.0
    else:
        x = sparse.hstack([sparse.csr_matrix(scaler.transform(dense)), tfidf]).tocsr()
        model = LogisticRegression(C=config["C1"], max_iter=config["max_iter"]).fit(x, labels)
        coef = model.coef_ if len(seen) > 2 else np.vstack([-model.coef_, model.coef_]) / 2
        intercept = (
            model.intercept_ if len(seen) > 2 else np.array([-1, 1]) * model.intercept_[0] / 2
        )
        n_dense = dense.shape[1]
        wd, bd = _folded(scaler, coef[:, :n_dense], intercept)
        w_dense[:, seen] = wd
        w_text[:, seen] = coef[:, n_dense:].T * float(config["tfidf_weight"])
        b[seen] = bd
    return TaggerHeads(
        classes=list(classes),
        vocabulary=vocabulary,
        idf=vec.idf_ if vocabulary else np.zeros(0),
        w1_dense=w_dense.astype(np.float32),
        w1_text=w_text.astype(np.float32),
        b1=b.astype(np.float32),
        behaviors=[],
        w2=np.zeros((0, 0), np.float32),
        b2=np.zeros(0, np.float32),
        thresholds=np.zeros(0, np.float32),
        config=dict(config),
    )


def _fit_binary(x: np.ndarray, y: np.ndarray, c: float, max_iter: int) -> tuple[np.ndarray, float]:
    """Return (weights on raw features, bias) of a logistic head; constant when y is constant."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if y.min() == y.max():
        return np.zeros(x.shape[1]), (-_ABSENT if y.max() else _ABSENT)
    x = _flat_zeroed(x)
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, max_iter=max_iter).fit(scaler.transform(x), y)
    w, b = _folded(scaler, model.coef_, model.intercept_)
    return w[:, 0], float(b[0])


def _best_threshold(y: np.ndarray, p: np.ndarray, grid: list[float]) -> float:
    """Return the grid threshold on ``p`` with the highest Cohen's kappa against ``y``."""
    from sklearn.metrics import cohen_kappa_score

    if y.min() == y.max():
        return 0.5
    candidates = np.arange(grid[0], grid[1] + 1e-9, grid[2])
    kappas = [cohen_kappa_score(y, (p >= t).astype(int)) for t in candidates]
    return float(candidates[int(np.nanargmax(np.nan_to_num(kappas, nan=-1.0)))])


def n_groups(traces: Sequence[PreparedTrace]) -> int:
    """Return how many fold groups (problems) ``traces`` cover."""
    return len({t.fold_group for t in traces})


def _group_folds(traces: list[PreparedTrace], folds: int) -> list[tuple[list[int], list[int]]]:
    """Return (train, test) trace-index lists of a GroupKFold over chunks grouped by problem.

    Folds balance chunk counts; every trace of a problem falls in the same fold.
    """
    from sklearn.model_selection import GroupKFold

    names = sorted({t.fold_group for t in traces})
    trace_of_row = np.concatenate([np.full(len(t.steps), i) for i, t in enumerate(traces)])
    groups = np.concatenate([np.full(len(t.steps), names.index(t.fold_group)) for t in traces])
    out = []
    for train_rows, test_rows in GroupKFold(n_splits=folds).split(groups, groups=groups):
        out.append((sorted(set(trace_of_row[train_rows])), sorted(set(trace_of_row[test_rows]))))
    return out


def _binary_targets(traces: list[PreparedTrace]) -> np.ndarray:
    """Return (chunks, heads) 0/1 targets: does the chunk carry each head's function tag."""
    rows = [t for tr in traces for t in tr.tags]
    return np.array([[HEAD_TAGS[b] in tags for b in HEAD_BEHAVIORS] for tags in rows], dtype=int)


def fit_heads(
    traces: list[PreparedTrace], config: dict | None = None, classes: list[str] | None = None
) -> TaggerHeads:
    """Return both stages fitted on ``traces`` (thresholds from inner grouped CV)."""
    config = {**DEFAULT_CONFIG, **(config or {})}
    if classes is None:
        classes = _classes(traces)
    inner = min(int(config["inner_folds"]), n_groups(traces))
    if inner < 2:
        raise ValueError(f"need training traces of at least 2 problems, got {n_groups(traces)}")
    splits = _group_folds(traces, inner)
    # Stage 2 learns from stage-1 probabilities of traces stage 1 was not fitted on.
    p_oof: list[np.ndarray | None] = [None] * len(traces)
    for train, test in splits:
        stage1 = _fit_stage1([traces[i] for i in train], classes, config)
        for i in test:
            t = traces[i]
            p_oof[i] = stage1.stage1_probs(t.steps, t.embeddings, t.rules)
    width = int(config["width"])
    x2 = [stage2_dense(p, t.rules, width) for p, t in zip(p_oof, traces, strict=True)]
    y = _binary_targets(traces)
    offsets = np.cumsum([0] + [len(t.steps) for t in traces])
    heads = _fit_stage1(traces, classes, config)
    weights, biases, thresholds = [], [], []
    for col in range(len(HEAD_BEHAVIORS)):
        inner_p = np.zeros(len(y))
        for train, test in splits:
            w, b = _fit_binary(
                np.vstack([x2[i] for i in train]),
                np.concatenate([y[offsets[i] : offsets[i + 1], col] for i in train]),
                config["C2"],
                config["max_iter"],
            )
            for i in test:
                inner_p[offsets[i] : offsets[i + 1]] = 1 / (1 + np.exp(-(x2[i] @ w + b)))
        thresholds.append(_best_threshold(y[:, col], inner_p, config["threshold_grid"]))
        w, b = _fit_binary(np.vstack(x2), y[:, col], config["C2"], config["max_iter"])
        weights.append(w)
        biases.append(b)
    heads.behaviors = list(HEAD_BEHAVIORS)
    heads.w2 = np.stack(weights, axis=1).astype(np.float32)
    heads.b2 = np.array(biases, dtype=np.float32)
    heads.thresholds = np.array(thresholds, dtype=np.float32)
    return heads


def predict_steps(heads: TaggerHeads, trace: PreparedTrace) -> list[list[str]]:
    """Return, per chunk, its behaviours: the heads' decisions plus the rules' other behaviours."""
    probs = heads.behaviour_probs(trace.steps, trace.embeddings, trace.rules)
    decided = probs >= heads.thresholds[None, :]
    out = []
    for i in range(len(trace.steps)):
        names = {b for j, b in enumerate(heads.behaviors) if decided[i, j]}
        names |= {b for j, b in enumerate(BEHAVIORS) if trace.rules[i, j] and b not in HEAD_TAGS}
        out.append([b for b in BEHAVIORS if b in names])
    return out


def cross_val_predict(
    traces: list[PreparedTrace], folds: int, config: dict | None = None, n_jobs: int = 1
) -> tuple[list[list[list[str]]], list[int]]:
    """Return (per trace per chunk behaviours, fold of each trace) from heads fitted without it."""
    from joblib import Parallel, delayed

    if not 2 <= folds <= n_groups(traces):
        raise ValueError(
            f"folds must be between 2 and the number of problems ({n_groups(traces)}): "
            "every trace of a problem is held out together"
        )
    classes = _classes(traces)

    def one_fold(train: list[int], test: list[int]) -> list[tuple[int, list[list[str]]]]:
        heads = fit_heads([traces[i] for i in train], config, classes)
        return [(i, predict_steps(heads, traces[i])) for i in test]

    splits = _group_folds(traces, folds)
    results = Parallel(n_jobs=n_jobs)(delayed(one_fold)(tr, te) for tr, te in splits)
    steps: list[list[list[str]]] = [[] for _ in traces]
    fold_of = [0] * len(traces)
    for fold, pairs in enumerate(results):
        for i, predicted in pairs:
            steps[i] = predicted
            fold_of[i] = fold
    return steps, fold_of
