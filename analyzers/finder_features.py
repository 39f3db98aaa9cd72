"""Step features for the mistake finder: what the question, the earlier steps and step i say.

For every step i of a trace the finder sees (never a later step):

- ``embedding``: the step's sentence embedding, its difference from the previous step's, the
  mean of the earlier steps' embeddings (the context) and the step x question product;
- ``similarity``: cosines of the step with the question, the previous step, the context, and
  the most similar earlier step (a repeated step);
- ``position``: relative position, first step, log index, log length of the trace, step length,
  digits and '=' signs;
- ``behaviors``: the behaviour cues of the step (rule tagger) and how many earlier steps showed
  each;
- ``checkers``: the step checkers' findings at step i (highest confidence, a confident one, how
  many), whether one was confident earlier, and whether any checker applies to the trace.

Groups can be switched off (``groups=``), which is how the benchmark measures what each adds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analyzers.behaviors import step_behaviors, tag_behaviors
from analyzers.checkers import CONFIDENT, check_trace
from trace_store.schema import BEHAVIORS, Trace

FEATURE_GROUPS: tuple[str, ...] = ("embedding", "similarity", "position", "behaviors", "checkers")
"""Every feature group, in the order their columns appear."""

DEFAULT_GROUPS: tuple[str, ...] = FEATURE_GROUPS

_DIGIT = re.compile(r"\d")

SIMILARITY_NAMES = ("cos_question", "cos_previous", "cos_context", "cos_max_earlier")
POSITION_NAMES = (
    "relative_position",
    "is_first",
    "is_last",
    "log_index",
    "log_n_steps",
    "log_chars",
    "digit_share",
    "n_equals",
)
BEHAVIOR_NAMES = tuple(f"cue_{b}" for b in BEHAVIORS) + tuple(f"earlier_{b}" for b in BEHAVIORS)
CHECKER_NAMES = (
    "checker_max_confidence",
    "checker_confident",
    "checker_log_findings",
    "checker_confident_earlier",
    "checker_applies",
)


@dataclass
class TraceInputs:
    """What the features of one trace are computed from (embeddings come from the encoder)."""

    trace: Trace
    question_vector: np.ndarray
    """The question's embedding, shape (dim,)."""
    step_vectors: np.ndarray
    """One embedding per step, shape (n_steps, dim)."""


def check_groups(groups: Sequence[str]) -> tuple[str, ...]:
    """Return ``groups`` in canonical order; raise ValueError naming an unknown group."""
    unknown = [g for g in groups if g not in FEATURE_GROUPS]
    if unknown:
        raise ValueError(
            f"unknown feature group(s) {', '.join(unknown)}; known: {', '.join(FEATURE_GROUPS)}"
        )
    if not groups:
        raise ValueError("at least one feature group is needed")
    return tuple(g for g in FEATURE_GROUPS if g in groups)


def feature_names(groups: Sequence[str], dim: int) -> list[str]:
    """Return the column names of the feature matrix for ``groups`` and embedding width ``dim``."""
    names: list[str] = []
    for group in check_groups(groups):
        if group == "embedding":
            for part in ("step", "delta_previous", "context", "step_x_question"):
                names.extend(f"{part}_{k}" for k in range(dim))
        elif group == "similarity":
            names.extend(SIMILARITY_NAMES)
        elif group == "position":
            names.extend(POSITION_NAMES)
        elif group == "behaviors":
            names.extend(BEHAVIOR_NAMES)
        else:
            names.extend(CHECKER_NAMES)
    return names


def _embedding_block(q: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (embedding columns, similarity columns) for every step of one trace."""
    n, dim = steps.shape
    previous = np.vstack([np.zeros((1, dim), np.float32), steps[:-1]]) if n else steps
    # Context = mean of the earlier steps (zero before the first step), kept unnormalised so
    # its length tells how consistent the earlier steps were.
    cumulative = np.cumsum(steps, axis=0)
    context = np.zeros_like(steps)
    if n > 1:
        context[1:] = cumulative[:-1] / np.arange(1, n, dtype=np.float32)[:, None]
    delta = steps - previous
    delta[0] = 0.0
    emb = np.hstack([steps, delta, context, steps * q[None, :]]).astype(np.float32)
    sims = np.zeros((n, len(SIMILARITY_NAMES)), np.float32)
    if n:
        gram = steps @ steps.T
        sims[:, 0] = steps @ q
        sims[1:, 1] = np.diag(gram, k=-1)
        norms = np.linalg.norm(context, axis=1)
        sims[:, 2] = np.where(norms > 0, (steps * context).sum(1) / np.maximum(norms, 1e-9), 0.0)
        for i in range(1, n):
            sims[i, 3] = gram[i, :i].max()
    return emb, sims


def _position_block(trace: Trace) -> np.ndarray:
    n = len(trace.steps)
    out = np.zeros((n, len(POSITION_NAMES)), np.float32)
    for i, step in enumerate(trace.steps):
        text = step.text
        out[i] = (
            i / (n - 1) if n > 1 else 0.0,
            float(i == 0),
            float(i == n - 1),
            math.log1p(i),
            math.log1p(n),
            math.log1p(len(text)),
            len(_DIGIT.findall(text)) / max(1, len(text)),
            math.log1p(text.count("=")),
        )
    return out


def _behavior_block(trace: Trace) -> np.ndarray:
    n = len(trace.steps)
    per_step = step_behaviors(tag_behaviors(trace), n)
    out = np.zeros((n, len(BEHAVIOR_NAMES)), np.float32)
    seen = np.zeros(len(BEHAVIORS), np.float32)
    for i, names in enumerate(per_step):
        now = np.array([float(b in names) for b in BEHAVIORS], np.float32)
        out[i, : len(BEHAVIORS)] = now
        out[i, len(BEHAVIORS) :] = np.log1p(seen)
        seen += now
    return out


def _checker_block(trace: Trace) -> np.ndarray:
    n = len(trace.steps)
    out = np.zeros((n, len(CHECKER_NAMES)), np.float32)
    result = check_trace(trace)
    by_step = result.findings_by_step()
    applies = float(bool(result.checkers))
    confident_before = 0.0
    for i in range(n):
        found = by_step.get(i, [])
        best = max((f.confidence for f in found), default=0.0)
        confident = float(best >= CONFIDENT)
        out[i] = (best, confident, math.log1p(len(found)), confident_before, applies)
        confident_before = max(confident_before, confident)
    return out


def trace_features(inputs: TraceInputs, groups: Sequence[str]) -> np.ndarray:
    """Return the (n_steps, n_features) float32 matrix of one trace for feature ``groups``."""
    groups = check_groups(groups)
    trace = inputs.trace
    n = len(trace.steps)
    if inputs.step_vectors.shape[0] != n:
        raise ValueError(
            f"trace {trace.id}: {inputs.step_vectors.shape[0]} step embeddings for {n} steps"
        )
    if n == 0:
        dim = inputs.question_vector.shape[0]
        return np.zeros((0, len(feature_names(groups, dim))), np.float32)
    blocks: list[np.ndarray] = []
    emb, sims = (None, None)
    if "embedding" in groups or "similarity" in groups:
        emb, sims = _embedding_block(
            inputs.question_vector.astype(np.float32), inputs.step_vectors.astype(np.float32)
        )
    for group in groups:
        if group == "embedding":
            blocks.append(emb)  # type: ignore[arg-type]
        elif group == "similarity":
            blocks.append(sims)  # type: ignore[arg-type]
        elif group == "position":
            blocks.append(_position_block(trace))
        elif group == "behaviors":
            blocks.append(_behavior_block(trace))
        else:
            blocks.append(_checker_block(trace))
    return np.hstack(blocks)


def training_rows(n_steps: int, first_mistake: int) -> tuple[int, np.ndarray]:
    """Return (rows kept, 0/1 targets) for a trace whose first mistake is ``first_mistake``.

    Steps after the first mistake are left out: whether they are "the first mistake" is
    undefined once an earlier step is wrong. ``-1`` (no mistake) keeps every step as a negative.
    """
    keep = n_steps if first_mistake < 0 else min(first_mistake + 1, n_steps)
    targets = np.zeros(keep, np.float32)
    if 0 <= first_mistake < n_steps:
        targets[first_mistake] = 1.0
    return keep, targets


def group_widths(dim: int) -> dict[str, int]:
    """Return how many columns each feature group has for embedding width ``dim``."""
    return {
        "embedding": 4 * dim,
        "similarity": len(SIMILARITY_NAMES),
        "position": len(POSITION_NAMES),
        "behaviors": len(BEHAVIOR_NAMES),
        "checkers": len(CHECKER_NAMES),
    }


def group_columns(computed: Sequence[str], wanted: Sequence[str], dim: int) -> np.ndarray:
    """Return the column indices of groups ``wanted`` in a matrix computed for ``computed``."""
    computed, wanted = check_groups(computed), check_groups(wanted)
    missing = [g for g in wanted if g not in computed]
    if missing:
        raise ValueError(f"feature groups {', '.join(missing)} were not computed")
    widths = group_widths(dim)
    cols, start = [], 0
    for group in computed:
        if group in wanted:
            cols.extend(range(start, start + widths[group]))
        start += widths[group]
    return np.asarray(cols, dtype=np.int64)


def embedding_dim(groups: Sequence[str], n_features: int) -> int:
    """Return the embedding width implied by a matrix of ``n_features`` columns for ``groups``."""
    groups = check_groups(groups)
    if "embedding" not in groups:
        return 0
    rest = sum(w for g, w in group_widths(0).items() if g in groups and g != "embedding")
    return (n_features - rest) // 4


def column_weights(groups: Sequence[str], n_features: int, embedding_weight: float) -> np.ndarray:
    """Return per-column weights: ``embedding_weight`` on the raw embedding block, 1 elsewhere.

    The head standardises every column, so 1,536 raw embedding columns would otherwise outvote
    the handful of checker and position columns under the same penalty; and they mostly encode
    which task a step comes from, so on a task unseen in training they shift every step's score
    (leave-one-task-out on Dyck languages: 0.82 location accuracy at weight 1, 0.97 at 0.1).
    A weight w scales the standardised column by w, i.e. penalises its coefficient 1/w^2 harder.
    """
    weights = np.ones(n_features, np.float32)
    dim = embedding_dim(groups, n_features)
    if dim:
        weights[: 4 * dim] = embedding_weight
    return weights
