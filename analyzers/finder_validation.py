"""Cross-task validation: choose the head's settings and threshold for tasks it has not seen.

With a random validation split, the validation traces come from the same tasks as the training
traces, so the split rewards features that recognise the task (raw embeddings do) and a
threshold calibrated for it; on a new task both fail (leave-one-task-out on BBM: 0.82 location
accuracy on Dyck languages with a random split and embedding weight 1). When the training traces
span several tasks, ``train_head_by_task`` instead holds out each training task in turn, fits on
the others, and scores the held-out task: every (C, embedding weight) pair of the grids is
judged by those out-of-task predictions, the threshold is chosen on them, and the head is then
refitted on every training trace with the chosen pair. No trace of a task the finder is later
tested on takes part, so leave-one-task-out figures stay honest.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from analyzers.finder_evaluation import score_predictions
from analyzers.finder_features import column_weights
from analyzers.finder_training import (
    FinderError,
    HeadConfig,
    Rows,
    TrainProgress,
    choose_threshold,
    first_over,
    fit_logreg,
    fit_mlp,
    stack_rows,
    trace_probabilities,
)

MIN_TASKS = 2
"""Fewest distinct tasks for which cross-task validation is possible."""


def distinct_tasks(tasks: Sequence[str | None]) -> list[str]:
    """Return the distinct non-empty task names, sorted."""
    return sorted({t for t in tasks if t})


def _rows(features: Sequence[np.ndarray], gold: Sequence[int], idx: Sequence[int], full: bool):
    return stack_rows([features[i] for i in idx], [gold[i] for i in idx], full=full)


def _fit(train: Rows, val: Rows | None, cfg: HeadConfig, c: float, epochs: int | None):
    if cfg.head == "logreg":
        return fit_logreg(train, cfg, c), {}
    return fit_mlp(train, val, cfg, epochs=epochs)


def train_head_by_task(
    features: Sequence[np.ndarray],
    gold: Sequence[int],
    tasks: Sequence[str | None],
    groups: Sequence[str],
    cfg: HeadConfig,
    progress: TrainProgress | None = None,
) -> tuple[dict[str, np.ndarray], float, dict[str, Any]]:
    """Return (head arrays, threshold, report) chosen by leave-one-task-out within ``tasks``."""
    names = distinct_tasks(tasks)
    if len(names) < MIN_TASKS:
        raise FinderError(
            f"cross-task validation needs traces of at least {MIN_TASKS} tasks, found "
            f"{len(names)}; use the random validation split"
        )
    n_features = features[0].shape[1]
    has_embedding = "embedding" in groups
    weights = cfg.weight_grid if has_embedding else (1.0,)
    cs = cfg.c_grid if cfg.head == "logreg" else (0.0,)
    combos = list(itertools.product(cs, weights))
    total = len(combos) * len(names) + 1
    done = 0
    history: list[dict[str, Any]] = []
    best: tuple[float, float, float, float, int | None, list[int]] | None = None
    for c, w in combos:
        col_w = column_weights(groups, n_features, w)
        oof_probs: list[np.ndarray] = []
        oof_gold: list[int] = []
        epochs: list[int] = []
        for held in names:
            inner = [i for i, t in enumerate(tasks) if t != held]
            outer = [i for i, t in enumerate(tasks) if t == held]
            train = _rows(features, gold, inner, full=False)
            if not train.y.sum():
                continue  # a fold whose training tasks hold no mistake teaches nothing
            train.weights = col_w
            val = _rows(features, gold, outer, full=True)
            arrays, info = _fit(train, val, cfg, c, None)
            epochs.append(int(info.get("best_epoch", 0)))
            oof_probs.extend(trace_probabilities(arrays, cfg.head, val))
            oof_gold.extend(val.gold)
            done += 1
            if progress is not None:
                progress("fit", done, total)
        threshold, acc = choose_threshold(oof_probs, oof_gold)
        entry: dict[str, Any] = {"embedding_weight": w, "cross_task_accuracy": acc}
        if cfg.head == "logreg":
            entry["C"] = c
        else:
            entry["best_epochs"] = epochs
        history.append(entry | {"threshold": threshold})
        mlp_epochs = max(1, int(statistics.median(epochs))) if cfg.head == "mlp" else None
        if best is None or acc > best[0]:
            preds = [first_over(p, threshold) for p in oof_probs]
            best = (acc, c, w, threshold, mlp_epochs, preds)
            best_gold = list(oof_gold)
    assert best is not None
    acc, c, w, threshold, mlp_epochs, preds = best
    train = _rows(features, gold, range(len(features)), full=False)
    train.weights = column_weights(groups, n_features, w)
    arrays, _ = _fit(train, None, cfg, c, mlp_epochs)
    if progress is not None:
        progress("fit", total, total)
    report: dict[str, Any] = {
        "validation_mode": "tasks",
        "validation_tasks": names,
        "embedding_weight": w,
        "history": history,
        "cross_task_accuracy": acc,
        "validation_scores": score_predictions(best_gold, preds).to_dict(),
    }
    if cfg.head == "logreg":
        report["C"] = c
    else:
        report["best_epoch"] = mlp_epochs
        report["epochs_run"] = mlp_epochs
    return arrays, threshold, report
