"""Feature matrices of the learned behaviour tagger, for one trace at a time.

Stage 1 sees each step through its frozen MiniLM embedding, the previous step's embedding, the
rule tagger's tags around it and its relative position; stage 2 sees stage 1's function-tag
probabilities over a window of neighbouring steps. Thought Anchors tags come in runs (a block of
checking, a block of planning), so the neighbours' stage-1 guesses carry much of the signal.
Training (analyzers/learned_training.py) and tagging (analyzers/learned_tagger.py) both build
their matrices here, so the shipped weights always meet the features they were fitted on.
"""

from __future__ import annotations

import numpy as np

from trace_store.schema import BEHAVIORS

RULE_DECAY = 0.6
"""Per-step decay of the "a rule cue fired recently" features (0.6**3 ≈ 0.2 after three steps)."""

N_RULE = len(BEHAVIORS)
N_POSITION = 3
"""Relative position, is-first-step, is-last-step."""


def shifted(rows: np.ndarray, k: int) -> np.ndarray:
    """Return ``rows`` moved down by ``k`` (up when negative), zero-filled: row i holds i - k."""
    out = np.zeros_like(rows)
    if k > 0:
        out[k:] = rows[:-k]
    elif k < 0:
        out[:k] = rows[-k:]
    else:
        out[:] = rows
    return out


def rule_matrix(per_step: list[list[str]]) -> np.ndarray:
    """Return a (steps, 4) 0/1 float matrix of the rule tagger's behaviours, in BEHAVIORS order."""
    out = np.zeros((len(per_step), N_RULE), dtype=np.float32)
    for i, names in enumerate(per_step):
        for name in names:
            out[i, BEHAVIORS.index(name)] = 1.0
    return out


def rule_context(rules: np.ndarray) -> np.ndarray:
    """Return (steps, 20): rules of this, previous, second previous and next step, and decay.

    The decay block is, per behaviour, ``RULE_DECAY ** d`` for the nearest earlier step d back
    whose rules fired (0 when none did), so a "let me verify" three steps back still counts.
    """
    decay = np.zeros_like(rules)
    recent = np.zeros(rules.shape[1], dtype=rules.dtype)
    for i in range(len(rules)):
        recent = recent * RULE_DECAY
        decay[i] = recent
        recent = np.maximum(recent, rules[i])
    return np.hstack([rules, shifted(rules, 1), shifted(rules, 2), shifted(rules, -1), decay])


def positions(n: int) -> np.ndarray:
    """Return (n, 3): relative position in [0, 1], is-first and is-last flags."""
    out = np.zeros((n, N_POSITION), dtype=np.float32)
    if n:
        out[:, 0] = np.arange(n) / max(n - 1, 1)
        out[0, 1] = 1.0
        out[-1, 2] = 1.0
    return out


def stage1_dense(embeddings: np.ndarray, rules: np.ndarray) -> np.ndarray:
    """Return stage 1's dense features: [embedding, previous embedding, rule context, position]."""
    n = len(embeddings)
    return np.hstack(
        [embeddings, shifted(embeddings, 1), rule_context(rules), positions(n)]
    ).astype(np.float32)


def stage1_width(embedding_dim: int) -> int:
    """Return the number of stage-1 dense features for embeddings of ``embedding_dim``."""
    return 2 * embedding_dim + 5 * N_RULE + N_POSITION


def probability_window(probs: np.ndarray, width: int) -> np.ndarray:
    """Return (steps, (2·width+1)·K) log-probabilities of this step and ``width`` each side.

    Steps beyond the trace's ends contribute zeros (log 1), i.e. no evidence either way.
    """
    logp = np.log(np.clip(probs, 1e-6, 1.0))
    parts = [logp] + [shifted(logp, k) for k in range(-width, width + 1) if k]
    return np.hstack(parts).astype(np.float32)


def stage2_dense(probs: np.ndarray, rules: np.ndarray, width: int) -> np.ndarray:
    """Return stage 2's features: [stage-1 probability window, rule context, position]."""
    return np.hstack(
        [probability_window(probs, width), rule_context(rules), positions(len(probs))]
    ).astype(np.float32)
