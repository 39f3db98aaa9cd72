"""The mistake finder: a step classifier trained from first-mistake labels, saved as a folder.

Given the question and the steps up to step i, the finder scores P(step i is the first mistake)
from frozen sentence embeddings (MiniLM by default, any local transformers folder with
``encoder=``) and cheap features of the context, the behaviour cues and the step checkers (see
analyzers/finder_features.py); the trace's prediction is its first step over the threshold,
else "no mistake" (-1). Settings and threshold are chosen on held-out predictions: of each
training task by heads fitted on the others when there are several tasks (finder_validation),
else of a random split.

A saved finder is a folder: ``finder.json`` (config, feature groups, threshold, encoder
reference and fingerprint, training data and metrics), ``head.npz`` (the head's arrays),
``MODEL_CARD.md`` (for people) and, after ``finetune=True``, ``encoder/`` (the tuned encoder).
Predictions become Suggestions (kind ``first_mistake``, agent ``finder:<folder name>``), which
the labelling screen shows and ``correct --location suggestion --agent finder:<name>`` uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analyzers.finder_card import FINDER_KIND
from analyzers.finder_encoder import EncoderUnavailable, TextEncoder, default_cache_root
from analyzers.finder_evaluation import Scores, baseline_scores, position_confusion
from analyzers.finder_evaluation import score_predictions as _score
from analyzers.finder_features import DEFAULT_GROUPS, check_groups, column_weights
from analyzers.finder_model import (
    AGENT_PREFIX,
    EMBEDDING_GROUPS,
    LabelledTrace,
    MistakeFinder,
    TracePrediction,
    compute_features,
    embed_traces,
    encoder_reference,
    get_encoder,
    load_finder,
)
from analyzers.finder_training import (
    FinderError,
    HeadConfig,
    Rows,
    TrainProgress,
    first_over,
    head_probabilities,
    split_probabilities,
    stack_rows,
    train_head,
)
from analyzers.finder_validation import MIN_TASKS, distinct_tasks, train_head_by_task
from trace_store.schema import FORMAT_VERSION, Suggestion, Trace

__all__ = [
    "AGENT_PREFIX",
    "FinderError",
    "HeadConfig",
    "LabelledTrace",
    "MistakeFinder",
    "TracePrediction",
    "compute_features",
    "embed_traces",
    "evaluate_finder",
    "evaluate_predictions",
    "fit_from_features",
    "get_encoder",
    "labelled_traces",
    "load_finder",
    "prediction_suggestions",
    "train_finder",
]


def _split(n: int, val_fraction: float, seed: int, gold: Sequence[int]) -> tuple[list, list]:
    """Return (train, validation) trace indices, stratified by mistake / no mistake."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for has in (True, False):
        idx = [i for i in range(n) if (gold[i] >= 0) == has]
        rng.shuffle(idx)
        cut = int(round(len(idx) * val_fraction))
        cut = min(max(cut, 1), len(idx) - 1) if len(idx) >= 2 else 0
        val.extend(idx[:cut])
        train.extend(idx[cut:])
    return sorted(train), sorted(val)


VALIDATIONS: tuple[str, ...] = ("auto", "split", "tasks")
"""auto: cross-task validation when the traces span 2+ tasks, else a random split."""


def fit_from_features(
    features: Sequence[np.ndarray],
    gold: Sequence[int],
    *,
    groups: Sequence[str],
    head: HeadConfig,
    encoder_ref: dict[str, Any] | None,
    tasks: Sequence[str | None] | None = None,
    validation: str = "auto",
    val_fraction: float = 0.2,
    progress: TrainProgress | None = None,
    data: dict[str, Any] | None = None,
) -> MistakeFinder:
    """Return a finder fitted on precomputed per-trace features (the benchmark's fast path).

    ``validation`` "tasks" chooses the head's settings and threshold by leave-one-task-out over
    ``tasks`` (see finder_validation); "split" holds out a stratified ``val_fraction`` of the
    traces; "auto" takes "tasks" when the traces span two tasks or more.
    """
    if not features:
        raise FinderError("no labelled traces to train on")
    if validation not in VALIDATIONS:
        raise FinderError(f"validation must be one of {', '.join(VALIDATIONS)}, got {validation}")
    if not 0.0 < val_fraction < 1.0:
        raise FinderError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    n_tasks = len(distinct_tasks(tasks or []))
    if validation == "auto":
        validation = "tasks" if n_tasks >= MIN_TASKS else "split"
    started = time.perf_counter()
    if validation == "tasks":
        if tasks is None or len(tasks) != len(features):
            raise FinderError("cross-task validation needs the task of every trace")
        all_rows = stack_rows(list(features), list(gold), full=False)
        if not all_rows.y.sum():
            raise FinderError(
                "the training traces have no labelled first mistake at all, so there is nothing "
                "to learn (every label says 'no mistake')"
            )
        arrays, threshold, report = train_head_by_task(
            features, gold, tasks, groups, head, progress
        )
        val_scores = report.pop("validation_scores")
        n_train, n_val = len(features), len(features)
        n_steps, n_with = len(all_rows.y), int(sum(1 for g in gold if g >= 0))
    else:
        train_idx, val_idx = _split(len(features), val_fraction, head.seed, gold)
        train = stack_rows(
            [features[i] for i in train_idx], [gold[i] for i in train_idx], full=False
        )
        train.weights = column_weights(groups, train.x.shape[1], head.embedding_weight)
        val: Rows = stack_rows(
            [features[i] for i in val_idx], [gold[i] for i in val_idx], full=True
        )
        arrays, threshold, report = train_head(train, val, head, progress)
        report["validation_mode"] = "split"
        report["embedding_weight"] = head.embedding_weight
        val_probs = split_probabilities(head_probabilities(arrays, head.head, val.x), val.offsets)
        val_scores = _score(val.gold, [first_over(p, threshold) for p in val_probs]).to_dict()
        n_train, n_val = len(train_idx), len(val_idx)
        n_steps = int(len(train.y))
        n_with = int(sum(1 for i in train_idx if gold[i] >= 0))
    config: dict[str, Any] = {
        "kind": FINDER_KIND,
        "format_version": FORMAT_VERSION,
        "name": "finder",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "head": head.head,
        "head_config": {k: v for k, v in vars(head).items()},
        "groups": list(check_groups(groups)),
        "n_features": int(features[0].shape[1]),
        "threshold": threshold,
        "encoder": encoder_ref,
        "data": {
            **(data or {}),
            "n_traces": len(features),
            "n_train": n_train,
            "n_validation": n_val,
            "n_train_steps": n_steps,
            "n_train_with_mistake": n_with,
        },
        "training": {
            **report,
            "threshold": threshold,
            "seconds": round(time.perf_counter() - started, 2),
            "validation": val_scores,
        },
        "evaluations": [],
    }
    return MistakeFinder(config, arrays)


def train_finder(
    examples: Sequence[LabelledTrace],
    *,
    head: HeadConfig | None = None,
    groups: Sequence[str] = DEFAULT_GROUPS,
    encoder: str | Path | None = None,
    cache_root: str | Path | None = None,
    val_fraction: float = 0.2,
    validation: str = "auto",
    progress: TrainProgress | None = None,
    data: dict[str, Any] | None = None,
    finetune: Callable[[TextEncoder], TextEncoder] | None = None,
) -> MistakeFinder:
    """Return a finder trained on ``examples`` (not yet saved: call ``.save(folder)``).

    ``encoder`` is a local transformers folder (default MiniLM); ``cache_root`` where embeddings
    are cached (default $THOUGHTSCOPE_CACHE/embeddings; pass a folder, or None for the default).
    ``finetune``, when given, receives the encoder and returns a tuned one (see finder_finetune).
    ``validation``: see ``fit_from_features`` (cross-task when the examples span 2+ tasks).
    """
    head = head or HeadConfig()
    groups = check_groups(groups)
    check_labels(examples)
    enc = None
    if EMBEDDING_GROUPS & set(groups):
        try:
            enc = get_encoder(encoder)
        except EncoderUnavailable as exc:
            raise FinderError(str(exc)) from exc
        if finetune is not None:
            enc = finetune(enc)
    root = cache_root if cache_root is not None else default_cache_root()
    traces = [e.trace for e in examples]
    inputs = embed_traces(enc, traces, cache_root=root, progress=progress)
    features = compute_features(inputs, groups, progress)
    return fit_from_features(
        features,
        [e.first_mistake for e in examples],
        groups=groups,
        head=head,
        encoder_ref=encoder_reference(enc, finetuned=finetune is not None),
        tasks=[t.task for t in traces],
        validation=validation,
        val_fraction=val_fraction,
        progress=progress,
        data=data,
    )


def check_labels(examples: Sequence[LabelledTrace]) -> None:
    """Raise FinderError when ``examples`` cannot be trained on: none, or a label off the end."""
    if not examples:
        raise FinderError("no labelled traces: the dataset has no first-mistake labels")
    for e in examples:
        if e.first_mistake >= len(e.trace.steps):
            raise FinderError(
                f"trace {e.trace.id}: first_mistake {e.first_mistake} but the trace has only "
                f"{len(e.trace.steps)} steps (expected -1 or 0..{len(e.trace.steps) - 1})"
            )


@dataclass
class FinderEvaluation:
    """A finder's scores on labelled traces, the baselines beside them, and the confusion."""

    scores: Scores
    baselines: dict[str, Scores]
    confusion: list[list[int]]
    predictions: list[TracePrediction]
    gold: list[int]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able summary (no per-step probabilities)."""
        from analyzers.finder_evaluation import POSITION_BINS

        return {
            "finder": self.scores.to_dict(),
            "baselines": {k: v.to_dict() for k, v in self.baselines.items()},
            "confusion_by_relative_position": {
                "bins": list(POSITION_BINS),
                "counts_gold_by_predicted": self.confusion,
            },
        }


def evaluate_predictions(
    traces: Sequence[Trace], gold: Sequence[int], predictions: Sequence[TracePrediction]
) -> FinderEvaluation:
    """Return the evaluation of ``predictions`` against ``gold`` with the baselines."""
    predicted = [p.first_mistake for p in predictions]
    return FinderEvaluation(
        scores=_score(gold, predicted),
        baselines=baseline_scores(traces, gold),
        confusion=position_confusion(gold, predicted, [len(t.steps) for t in traces]),
        predictions=list(predictions),
        gold=list(gold),
    )


def evaluate_finder(
    finder: MistakeFinder,
    examples: Sequence[LabelledTrace],
    *,
    cache_root: str | Path | None = None,
    progress: TrainProgress | None = None,
) -> FinderEvaluation:
    """Return the finder's evaluation on labelled ``examples`` (baselines included)."""
    check_labels(examples)
    traces = [e.trace for e in examples]
    root = cache_root if cache_root is not None else default_cache_root()
    predictions = finder.predict(traces, cache_root=root, progress=progress)
    return evaluate_predictions(traces, [e.first_mistake for e in examples], predictions)


def prediction_suggestions(
    finder: MistakeFinder, predictions: Sequence[TracePrediction]
) -> list[Suggestion]:
    """Return one ``first_mistake`` Suggestion per prediction (agent ``finder:<name>``)."""
    return [
        Suggestion(
            trace_id=p.trace_id,
            agent=finder.agent,
            kind="first_mistake",
            step=p.first_mistake if p.first_mistake >= 0 else None,
            value=p.first_mistake,
            score=round(p.score, 6),
        )
        for p in predictions
    ]


def labelled_traces(
    store: Any,
    dataset: str,
    *,
    tasks: Sequence[str] | None = None,
    exclude_tasks: Sequence[str] = (),
    annotator: str | None = None,
    limit: int | None = None,
) -> list[LabelledTrace]:
    """Return the traces of ``dataset`` with a first-mistake label by ``annotator``.

    ``annotator`` defaults to the dataset's own labels (``dataset:<dataset>``); a trace with
    several submitted labels by that annotator uses the latest. FinderError when no trace of
    the selection has such a label.
    """
    from trace_store.filters import TraceFilter
    from trace_store.schema import DATASET_ANNOTATOR_PREFIX

    who = annotator or DATASET_ANNOTATOR_PREFIX + dataset
    latest: dict[str, int] = {}
    for label in store.iter_labels(dataset=dataset, annotator=who):
        if label.first_mistake is not None:
            latest[label.trace_id] = label.first_mistake
    flt = TraceFilter(datasets=[dataset], tasks=list(tasks) if tasks else None)
    skip = set(exclude_tasks)
    out: list[LabelledTrace] = []
    n_seen = 0
    for trace in store.iter_traces(flt):
        if trace.task in skip:
            continue
        n_seen += 1
        if trace.id in latest:
            out.append(LabelledTrace(trace, latest[trace.id]))
            if limit is not None and len(out) >= limit:
                break
    if not out:
        where = f"dataset '{dataset}'" + (f" (tasks {', '.join(tasks)})" if tasks else "")
        if n_seen == 0:
            raise FinderError(f"{where} has no traces in the store (import it first)")
        raise FinderError(
            f"{where}: none of its {n_seen} traces has a first-mistake label by '{who}' "
            f"(expected labels shipped with the data, or pass --annotator NAME)"
        )
    return out
