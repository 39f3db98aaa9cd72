"""Training the mistake finder's head: rows from traces, a scaler, a head, the threshold.

Two heads, both stored as plain numpy arrays (no pickle) and applied with numpy, so a saved model
predicts exactly what it predicted before saving, on any machine, without torch:

- ``logreg``: scikit-learn logistic regression; the inverse regularisation C is chosen on the
  validation split (the logistic head's early stopping);
- ``mlp``: one hidden layer trained with torch (Adam, dropout), stopped when the validation
  loss has not improved for ``patience`` epochs, keeping the best epoch's weights.

A trace's prediction is its first step whose probability exceeds the threshold ("no mistake"
when none does). ``choose_threshold`` picks, exactly, the threshold with the best location
accuracy on the validation traces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analyzers.finder_features import training_rows

HEADS: tuple[str, ...] = ("logreg", "mlp")
"""Head types train-finder can fit."""

LOGREG_C_GRID: tuple[float, ...] = (0.01, 0.1)
"""Inverse regularisation strengths tried for the logistic head."""

EMBEDDING_WEIGHT_GRID: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0)
"""Embedding-column weights tried by cross-task validation (see finder_validation)."""

TrainProgress = Callable[[str, int, int], None]
"""progress(stage, done, total)."""


class FinderError(ValueError):
    """A mistake-finder input is unusable (no labels, a folder that is no model, ...)."""


@dataclass
class HeadConfig:
    """How to fit the head."""

    head: str = "logreg"
    seed: int = 0
    class_weight: str | None = "balanced"
    """'balanced' weights the rare first-mistake steps up; None weights every step alike."""
    c_grid: tuple[float, ...] = LOGREG_C_GRID
    embedding_weight: float = 0.1
    """Weight of the raw embedding columns after standardising (see column_weights); with
    cross-task validation it is chosen from ``weight_grid`` instead."""
    weight_grid: tuple[float, ...] = EMBEDDING_WEIGHT_GRID
    hidden: int = 128
    dropout: float = 0.2
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    max_epochs: int = 40
    patience: int = 4
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise FinderError(f"unknown head {self.head!r}; choose one of {', '.join(HEADS)}")
        if not 0.0 < self.embedding_weight <= 1.0:
            raise FinderError(f"embedding_weight must be in (0, 1], got {self.embedding_weight}")
        if self.class_weight not in (None, "balanced"):
            raise FinderError(f"class_weight must be 'balanced' or None, got {self.class_weight}")


@dataclass
class Rows:
    """Step rows of several traces: features, 0/1 targets and where each trace's rows start."""

    x: np.ndarray
    y: np.ndarray
    offsets: np.ndarray
    """offsets[k]:offsets[k+1] are trace k's rows."""
    gold: list[int] = field(default_factory=list)
    weights: np.ndarray | None = None
    """Per-column weights applied after standardising (None: all 1)."""


def stack_rows(features: Sequence[np.ndarray], gold: Sequence[int], *, full: bool) -> Rows:
    """Return the rows of traces with per-trace ``features`` and first mistakes ``gold``.

    ``full`` keeps every step (to predict); otherwise only steps up to the first mistake (to
    train, see finder_features.training_rows).
    """
    xs, ys, offsets = [], [], [0]
    for feats, first in zip(features, gold, strict=True):
        keep, targets = training_rows(len(feats), first)
        if full:
            keep = len(feats)
            targets = np.zeros(keep, np.float32)
            if 0 <= first < keep:
                targets[first] = 1.0
        xs.append(feats[:keep])
        ys.append(targets)
        offsets.append(offsets[-1] + keep)
    width = features[0].shape[1] if features else 0
    x = np.vstack(xs) if xs else np.zeros((0, width), np.float32)
    y = np.concatenate(ys) if ys else np.zeros(0, np.float32)
    return Rows(x=x.astype(np.float32), y=y, offsets=np.asarray(offsets), gold=list(gold))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))


def head_probabilities(arrays: dict[str, np.ndarray], head: str, x: np.ndarray) -> np.ndarray:
    """Return P(first mistake) per row of ``x`` for a head stored as ``arrays``."""
    z = (x - arrays["mean"]) / arrays["scale"]
    if head == "logreg":
        return _sigmoid(z @ arrays["coef"] + arrays["intercept"])
    hidden = np.maximum(z @ arrays["w1"] + arrays["b1"], 0.0)
    return _sigmoid(hidden @ arrays["w2"] + arrays["b2"])


def split_probabilities(probs: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    """Return ``probs`` cut into one array per trace."""
    return [probs[offsets[k] : offsets[k + 1]] for k in range(len(offsets) - 1)]


def first_over(probs: np.ndarray, threshold: float) -> int:
    """Return the first index with probability > ``threshold``, or -1 when there is none."""
    hits = np.flatnonzero(probs > threshold)
    return int(hits[0]) if len(hits) else -1


def choose_threshold(per_trace: Sequence[np.ndarray], gold: Sequence[int]) -> tuple[float, float]:
    """Return (threshold, validation location accuracy) maximising exact location accuracy.

    A trace is located right for thresholds t in [max of earlier steps, p at the labelled step)
    (or [max p, 1] for "no mistake"), so the best t is where most such intervals overlap; the
    middle of the best stretch is returned.
    """
    events: list[tuple[float, int]] = []
    for probs, first in zip(per_trace, gold, strict=True):
        earlier = float(probs[:first].max()) if first > 0 else 0.0
        if first < 0:
            lo, hi = (float(probs.max()) if len(probs) else 0.0), 1.0 + 1e-9
        elif first < len(probs):
            lo, hi = earlier, float(probs[first])
        else:
            continue
        if hi > lo:
            events.append((lo, 1))
            events.append((hi, -1))
    if not events:
        return 0.5, 0.0
    events.sort(key=lambda e: (e[0], e[1]))
    best, best_lo, best_hi, count = -1, 0.5, 0.5, 0
    for k, (point, delta) in enumerate(events):
        count += delta
        nxt = events[k + 1][0] if k + 1 < len(events) else point
        if delta > 0 and count > best and nxt > point:
            best, best_lo, best_hi = count, point, nxt
    threshold = min((best_lo + best_hi) / 2, 1.0)
    return float(threshold), best / len(gold) if gold else 0.0


def _scaler(x: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Return (mean, scale) so that (x - mean) / scale is standardised times ``weights``."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    if weights is not None:
        scale = scale / weights
    return mean.astype(np.float32), scale.astype(np.float32)


def fit_logreg(train: Rows, cfg: HeadConfig, c: float) -> dict[str, np.ndarray]:
    """Return the arrays of a logistic head fitted on ``train`` with inverse penalty ``c``."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    mean, scale = _scaler(train.x, train.weights)
    model = LogisticRegression(
        C=c, class_weight=cfg.class_weight, max_iter=1000, random_state=cfg.seed
    )
    with warnings.catch_warnings():
        # A few hundred lbfgs iterations reach the accuracy that matters here; the warning
        # would only repeat on every fit of a grid.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit((train.x - mean) / scale, train.y.astype(int))
    return {
        "mean": mean,
        "scale": scale,
        "coef": model.coef_[0].astype(np.float32),
        "intercept": model.intercept_.astype(np.float32),
    }


def trace_probabilities(arrays: dict[str, np.ndarray], head: str, rows: Rows) -> list[np.ndarray]:
    """Return the head's step probabilities for every trace of ``rows``."""
    return split_probabilities(head_probabilities(arrays, head, rows.x), rows.offsets)


def _train_logreg(
    train: Rows, val: Rows, cfg: HeadConfig, progress: TrainProgress | None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    best: tuple[float, dict[str, np.ndarray], float] | None = None
    history = []
    for k, c in enumerate(cfg.c_grid):
        arrays = fit_logreg(train, cfg, c)
        threshold, acc = choose_threshold(trace_probabilities(arrays, "logreg", val), val.gold)
        history.append({"C": c, "val_location_accuracy": acc, "threshold": threshold})
        if best is None or acc > best[0]:
            best = (acc, arrays, c)
        if progress is not None:
            progress("fit", k + 1, len(cfg.c_grid))
    assert best is not None
    return best[1], {"C": best[2], "history": history}


def fit_mlp(
    train: Rows,
    val: Rows | None,
    cfg: HeadConfig,
    *,
    epochs: int | None = None,
    progress: TrainProgress | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Return (arrays, report) of an MLP head: early-stopped on ``val``, else ``epochs`` long."""
    import torch

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    mean, scale = _scaler(train.x, train.weights)
    xt = torch.from_numpy((train.x - mean) / scale)
    yt = torch.from_numpy(train.y)
    has_val = val is not None and len(val.y) > 0
    xv = torch.from_numpy((val.x - mean) / scale) if has_val else None
    yv = torch.from_numpy(val.y) if has_val else None
    n_pos = float(train.y.sum())
    pos_weight = (len(train.y) - n_pos) / max(n_pos, 1.0) if cfg.class_weight else 1.0
    net = torch.nn.Sequential(
        torch.nn.Linear(xt.shape[1], cfg.hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(cfg.dropout),
        torch.nn.Linear(cfg.hidden, 1),
    )
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))
    best_loss, best_state, best_epoch, stale = float("inf"), None, 0, 0
    history = []
    n_epochs = epochs if epochs is not None else cfg.max_epochs
    for epoch in range(n_epochs):
        net.train()
        order = rng.permutation(len(yt))
        for lo in range(0, len(order), cfg.batch_size):
            idx = torch.from_numpy(order[lo : lo + cfg.batch_size])
            opt.zero_grad()
            loss = loss_fn(net(xt[idx]).squeeze(1), yt[idx])
            loss.backward()
            opt.step()
        if progress is not None:
            progress("epoch", epoch + 1, n_epochs)
        if not has_val:
            best_epoch = epoch + 1
            continue
        net.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(net(xv).squeeze(1), yv))
        history.append({"epoch": epoch + 1, "val_loss": val_loss})
        if val_loss < best_loss - 1e-4:
            best_loss, best_epoch, stale = val_loss, epoch + 1, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    arrays = {
        "mean": mean,
        "scale": scale,
        "w1": net[0].weight.detach().numpy().T.copy(),
        "b1": net[0].bias.detach().numpy().copy(),
        "w2": net[3].weight.detach().numpy()[0].copy(),
        "b2": net[3].bias.detach().numpy().copy(),
    }
    runs = len(history) if has_val else n_epochs
    return arrays, {"best_epoch": best_epoch, "epochs_run": runs, "history": history}


def _train_mlp(
    train: Rows, val: Rows, cfg: HeadConfig, progress: TrainProgress | None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    return fit_mlp(train, val, cfg, progress=progress)


def train_head(
    train: Rows, val: Rows, cfg: HeadConfig, progress: TrainProgress | None = None
) -> tuple[dict[str, np.ndarray], float, dict[str, Any]]:
    """Return (head arrays, threshold, training report) fitted on ``train``, tuned on ``val``."""
    if not len(train.y):
        raise FinderError("no training steps: the traces given have no steps")
    if train.y.sum() == 0:
        raise FinderError(
            "the training traces have no labelled first mistake at all, so there is nothing to "
            "learn (every label says 'no mistake')"
        )
    fit = _train_logreg if cfg.head == "logreg" else _train_mlp
    arrays, report = fit(train, val, cfg, progress)
    threshold, val_acc = choose_threshold(trace_probabilities(arrays, cfg.head, val), val.gold)
    report["threshold"] = threshold
    report["val_location_accuracy"] = val_acc
    return arrays, threshold, report
