"""The statistics behind the agreement report: step judgements, Cohen's kappa, Krippendorff's alpha.

Everything here is pure and small. The figures themselves come from kept libraries
(``sklearn.metrics.cohen_kappa_score`` and the ``krippendorff`` package); this module only
decides what the units are and answers None, with the reason, where a statistic is undefined
(no shared items, or every rating the same so chance agreement is perfect) instead of NaN.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from trace_store.schema import NO_MISTAKE, Label

RATING_VALUES: tuple[int, ...] = (-1, 0, 1)
"""The values a step judgement can take (PRM800K's bad / neutral / good), in order."""

NO_MISTAKE_BUCKET = "no mistake"
"""Name of the confusion axis entry for "the annotator found no mistake"."""

AlphaLevel = Literal["nominal", "ordinal"]


@dataclass(frozen=True)
class Statistic:
    """A figure and what it rests on: ``value`` None means undefined, and ``reason`` says why."""

    value: float | None
    n: int
    """How many items (step judgements, units, comparisons) it was computed on."""
    reason: str | None = None


def effective_mistake(label: Label) -> int | None:
    """Return the label's first-mistake index (-1 = no mistake), or None when it gives none.

    A label with only step ratings names the first step rated -1; when every step is rated and
    none is -1 it means "no mistake". With unrated steps and no -1 the verdict is unknown.
    """
    if label.first_mistake is not None:
        return label.first_mistake
    ratings = label.step_ratings
    if not ratings:
        return None
    if -1 in ratings:
        return ratings.index(-1)
    if all(r is not None for r in ratings):
        return NO_MISTAKE
    return None


def step_judgements(label: Label, n_steps: int | None) -> list[int | None] | None:
    """Return one judgement per step (+1 / 0 / -1, None = not judged), or None when it has none.

    Step ratings are used where the label has any; otherwise they are derived from the first
    mistake: steps before it +1, the mistake step -1, later steps not judged; "no mistake" makes
    every step +1. Deriving needs ``n_steps``; a first mistake past the end gives None.
    """
    ratings = label.step_ratings
    if ratings and any(r is not None for r in ratings):
        if n_steps is not None and len(ratings) != n_steps:
            ratings = (list(ratings) + [None] * n_steps)[:n_steps]
        return [None if r is None else int(r) for r in ratings]
    if label.first_mistake is None or n_steps is None:
        return None
    mistake = label.first_mistake
    if mistake == NO_MISTAKE:
        return [1] * n_steps
    if not 0 <= mistake < n_steps:
        return None
    return [1] * mistake + [-1] + [None] * (n_steps - mistake - 1)


def paired_judgements(
    a: Sequence[int | None], b: Sequence[int | None]
) -> tuple[list[int], list[int]]:
    """Return the judgements of the steps both ``a`` and ``b`` judged, as two aligned lists."""
    left: list[int] = []
    right: list[int] = []
    for x, y in zip(a, b, strict=False):
        if x is not None and y is not None:
            left.append(x)
            right.append(y)
    return left, right


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> Statistic:
    """Return unweighted Cohen's kappa of two raters' aligned judgements (None when undefined).

    Kappa is undefined without shared items and when chance agreement is 1: both raters gave
    every shared item the same single value (e.g. both said +1 everywhere).
    """
    if len(a) != len(b):
        raise ValueError(f"cohen_kappa: {len(a)} judgements against {len(b)}")
    n = len(a)
    if n == 0:
        return Statistic(None, 0, "no step was judged by both")
    values = set(a) | set(b)
    if len(values) == 1:
        only = _rating_text(next(iter(values)))
        return Statistic(
            None,
            n,
            f"both gave all {n} shared step judgements the same value ({only}), so chance "
            "agreement is 1 and kappa is undefined",
        )
    from sklearn.metrics import cohen_kappa_score  # heavy import; only when scoring

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = float(cohen_kappa_score(list(a), list(b)))
    if math.isnan(value):  # defensive: sklearn answers NaN where kappa is 0/0
        return Statistic(None, n, "kappa is undefined (0/0) for these judgements")
    return Statistic(value, n)


def krippendorff_alpha(units: Sequence[Sequence[int]], level: AlphaLevel) -> Statistic:
    """Return Krippendorff's alpha over ``units`` (the values each unit got), None if undefined.

    Units with fewer than two values are not pairable and do not count. Alpha is undefined with
    no pairable unit and when every pairable value is the same (expected disagreement 0).
    ``level`` is the level of measurement: nominal (every difference counts the same) or
    ordinal (-1 < 0 < +1: bad-vs-good differs more than neutral-vs-good).
    """
    pairable = [list(u) for u in units if len(u) >= 2]
    n_values = sum(len(u) for u in pairable)
    if not pairable:
        return Statistic(None, 0, "no step was judged by two or more annotators")
    seen = {v for u in pairable for v in u}
    unknown = seen - set(RATING_VALUES)
    if unknown:
        raise ValueError(f"krippendorff_alpha: values {sorted(unknown)} are not step judgements")
    if len(seen) == 1:
        only = _rating_text(next(iter(seen)))
        return Statistic(
            None,
            n_values,
            f"all {n_values} pairable step judgements are {only}: with no variation, expected "
            "disagreement is 0 and alpha is undefined",
        )
    import krippendorff
    import numpy as np

    counts = np.zeros((len(pairable), len(RATING_VALUES)), dtype=float)
    column = {v: i for i, v in enumerate(RATING_VALUES)}
    for row, unit in enumerate(pairable):
        for value in unit:
            counts[row, column[value]] += 1
    value = float(
        krippendorff.alpha(
            value_counts=counts,
            value_domain=list(RATING_VALUES),
            level_of_measurement=level,
        )
    )
    return Statistic(value, n_values)


def _rating_text(value: int) -> str:
    return {1: "+1", 0: "0", -1: "-1"}.get(value, str(value))


# ----------------------------------------------------------------------------- confusion


@dataclass(frozen=True)
class MistakeBuckets:
    """Axis of a first-mistake confusion: one entry per step, or ranges of steps when many."""

    width: int
    """Steps per bucket (1 = one entry per step)."""
    n_step_buckets: int

    @property
    def names(self) -> list[str]:
        """Return the axis entries in order: step buckets, then "no mistake"."""
        names = []
        for k in range(self.n_step_buckets):
            lo = k * self.width
            hi = lo + self.width - 1
            names.append(str(lo) if self.width == 1 else f"{lo}–{hi}")
        return [*names, NO_MISTAKE_BUCKET]

    def index(self, mistake: int) -> int:
        """Return the axis position of first mistake ``mistake`` (-1 = no mistake)."""
        if mistake == NO_MISTAKE:
            return self.n_step_buckets
        return min(mistake // self.width, self.n_step_buckets - 1)


def mistake_buckets(mistakes: Sequence[int], max_entries: int = 16) -> MistakeBuckets:
    """Return the axis for ``mistakes``: one entry per step up to the latest, ranges past
    ``max_entries - 1`` steps (so the axis has at most ``max_entries`` entries with no mistake)."""
    if max_entries < 2:
        raise ValueError("max_entries must be at least 2 (one step bucket and 'no mistake')")
    steps = [m for m in mistakes if m != NO_MISTAKE]
    span = (max(steps) + 1) if steps else 1
    slots = max_entries - 1
    width = 1 if span <= slots else math.ceil(span / slots)
    return MistakeBuckets(width=width, n_step_buckets=math.ceil(span / width))


def confusion_matrix(
    pairs: Sequence[tuple[int, int]], buckets: MistakeBuckets, *, ordered: bool = False
) -> list[list[int]]:
    """Return counts of (row, column) first-mistake pairs on ``buckets``' axis.

    With ``ordered`` each pair is put earlier-first ("no mistake" counts as latest), so the
    matrix is upper triangular and reads "one said step i, the other the later j".
    """
    size = len(buckets.names)
    matrix = [[0] * size for _ in range(size)]
    for a, b in pairs:
        if ordered and _later(a, b):
            a, b = b, a
        matrix[buckets.index(a)][buckets.index(b)] += 1
    return matrix


def _later(a: int, b: int) -> bool:
    """Return whether first mistake ``a`` comes after ``b`` ("no mistake" after every step)."""
    rank_a = math.inf if a == NO_MISTAKE else a
    rank_b = math.inf if b == NO_MISTAKE else b
    return rank_a > rank_b


def mistake_order(a: int, b: int) -> Literal["same", "earlier", "later"]:
    """Return whether first mistake ``a`` is the same as, earlier or later than ``b``."""
    if a == b:
        return "same"
    return "later" if _later(a, b) else "earlier"


def value_counts(values: Sequence[int]) -> dict[str, int]:
    """Return how often each step judgement occurs, keyed "+1", "0", "-1" (JSON-able)."""
    counts = Counter(values)
    return {_rating_text(v): counts.get(v, 0) for v in reversed(RATING_VALUES)}
