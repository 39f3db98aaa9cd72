"""Scoring first-mistake predictions: location accuracy, ProcessBench's F1, baselines, confusion.

Location accuracy counts a trace as right when the predicted first mistake is exactly the
labelled step, or both say "no mistake" (-1). ProcessBench also reports the accuracy on traces
with a mistake and on traces without one separately, and their harmonic mean, so a finder that
always says "no mistake" cannot look good on a dataset where most traces are right.

Baselines (every evaluation prints them beside the finder):

- ``always no mistake``; ``always first step``;
- ``uniform random step``: a step drawn uniformly from the trace (its expected scores: 1/n on a
  trace with a mistake, never right without one);
- ``behaviour cues``: the step before the first step the rule tagger marks as backtracking (a
  trace that backtracks noticed something wrong just before), "no mistake" when none does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from analyzers.behaviors import tag_behaviors
from trace_store.schema import NO_MISTAKE, Trace

BASELINES: tuple[str, ...] = (
    "always no mistake",
    "always first step",
    "uniform random step",
    "behaviour cues",
)
"""Names of the baselines, in the order they are printed."""

POSITION_BINS: tuple[str, ...] = ("none", "0-20%", "20-40%", "40-60%", "60-80%", "80-100%")
"""Rows/columns of the confusion by relative position ("none" = no mistake)."""


@dataclass
class Scores:
    """How well a set of predictions locates first mistakes."""

    n: int
    n_with_mistake: int
    n_without_mistake: int
    location_accuracy: float
    accuracy_with_mistake: float
    accuracy_without_mistake: float
    harmonic_mean: float
    """ProcessBench's F1: harmonic mean of the two accuracies above."""

    def to_dict(self) -> dict[str, float | int]:
        """Return the scores as a JSON-able dict."""
        return asdict(self)


def score_correctness(correct: Sequence[float], has_mistake: Sequence[bool]) -> Scores:
    """Return Scores from per-trace correctness (1/0, or a probability for random baselines)."""
    n = len(correct)
    with_m = [c for c, m in zip(correct, has_mistake, strict=True) if m]
    without = [c for c, m in zip(correct, has_mistake, strict=True) if not m]
    acc_with = sum(with_m) / len(with_m) if with_m else 0.0
    acc_without = sum(without) / len(without) if without else 0.0
    hm = 2 * acc_with * acc_without / (acc_with + acc_without) if acc_with + acc_without else 0.0
    return Scores(
        n=n,
        n_with_mistake=len(with_m),
        n_without_mistake=len(without),
        location_accuracy=sum(correct) / n if n else 0.0,
        accuracy_with_mistake=acc_with,
        accuracy_without_mistake=acc_without,
        harmonic_mean=hm,
    )


def _norm(index: int | None) -> int:
    return NO_MISTAKE if index is None or index < 0 else int(index)


def score_predictions(gold: Sequence[int | None], predicted: Sequence[int | None]) -> Scores:
    """Return Scores of ``predicted`` first mistakes against ``gold`` (-1/None = no mistake)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    g = [_norm(x) for x in gold]
    p = [_norm(x) for x in predicted]
    return score_correctness(
        [float(a == b) for a, b in zip(g, p, strict=True)], [a >= 0 for a in g]
    )


def cue_prediction(trace: Trace) -> int:
    """Return the behaviour-cue heuristic's first mistake: the step before the first backtrack."""
    steps = sorted({t.step for t in tag_behaviors(trace) if t.behavior == "backtracking"})
    if not steps:
        return NO_MISTAKE
    return max(steps[0] - 1, 0)


def baseline_scores(traces: Sequence[Trace], gold: Sequence[int | None]) -> dict[str, Scores]:
    """Return the Scores of every baseline in BASELINES on ``traces`` with labels ``gold``."""
    g = [_norm(x) for x in gold]
    has = [x >= 0 for x in g]
    n_steps = [max(len(t.steps), 1) for t in traces]
    return {
        "always no mistake": score_predictions(g, [NO_MISTAKE] * len(g)),
        "always first step": score_predictions(g, [0] * len(g)),
        "uniform random step": score_correctness(
            [1.0 / n if m >= 0 and m < n else 0.0 for m, n in zip(g, n_steps, strict=True)], has
        ),
        "behaviour cues": score_predictions(g, [cue_prediction(t) for t in traces]),
    }


def position_bin(index: int | None, n_steps: int) -> str:
    """Return the POSITION_BINS name of a first-mistake index in a trace of ``n_steps`` steps."""
    i = _norm(index)
    if i < 0:
        return "none"
    k = min(int(5 * i / max(n_steps, 1)), 4)
    return POSITION_BINS[k + 1]


def position_confusion(
    gold: Sequence[int | None], predicted: Sequence[int | None], n_steps: Sequence[int]
) -> list[list[int]]:
    """Return counts[gold bin][predicted bin] over POSITION_BINS (relative position in trace)."""
    size = len(POSITION_BINS)
    counts = [[0] * size for _ in range(size)]
    for g, p, n in zip(gold, predicted, n_steps, strict=True):
        row = POSITION_BINS.index(position_bin(g, n))
        col = POSITION_BINS.index(position_bin(p, n))
        counts[row][col] += 1
    return counts


def format_scores_table(rows: dict[str, Scores]) -> str:
    """Return an aligned text table: one line per named Scores."""
    width = max([len(k) for k in rows] + [10])
    head = f"{'':<{width}}  {'location':>8}  {'with':>6}  {'without':>7}  {'F1(HM)':>6}"
    lines = [head]
    for name, s in rows.items():
        lines.append(
            f"{name:<{width}}  {s.location_accuracy:>8.3f}  {s.accuracy_with_mistake:>6.3f}  "
            f"{s.accuracy_without_mistake:>7.3f}  {s.harmonic_mean:>6.3f}"
        )
    return "\n".join(lines)
