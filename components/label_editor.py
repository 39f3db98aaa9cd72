"""The labelling screen's editor: what one annotator's label holds and what each key does to it.

Pure functions over plain values (no Streamlit, no store), so every key's effect is tested
without a browser. The page keeps one ``LabelValues`` per open trace, applies an action, and
saves the result as a draft through the annotation service.

How the three modes share one label:
- **first mistake** walks the steps: "correct" rates a step +1 and moves on, "mistake" rates
  it -1, and ``first_mistake`` is always derived from the ratings: the first -1 step, else -1
  ("no mistake") once every step is judged, else None (not finished). The ratings record the
  walk, so a reloaded draft resumes where it stopped.
- **per-step rating** (PRM800K) rates each step +1 / 0 / -1; an unrated step stays None,
  which is not the same as neutral (0).
- **behaviour correction** replaces the analyzer's behaviours of one step by a human list in
  ``behavior_corrections``; the analysis itself is never changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from trace_store.schema import BEHAVIORS, NO_MISTAKE, Label, Suggestion

MODES: tuple[str, ...] = ("first_mistake", "step_rating", "behaviors")
"""Labelling modes a project can enable (annotation.Project.modes)."""

MODE_TITLES: dict[str, str] = {
    "first_mistake": "First mistake",
    "step_rating": "Per-step rating",
    "behaviors": "Behaviour correction",
}

RATING_TEXT: dict[int | None, str] = {1: "+1 correct", 0: "0 neutral", -1: "−1 mistake", None: ""}

UNDO_LIMIT = 200
"""Undo steps kept per trace; older ones are dropped."""


@dataclass(frozen=True)
class LabelValues:
    """What the annotator has said about one trace so far (the editable part of a Label)."""

    n_steps: int
    first_mistake: int | None = None
    step_ratings: tuple[int | None, ...] = ()
    behavior_corrections: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    note: str = ""

    def record_fields(self) -> dict[str, Any]:
        """Return the keyword arguments of annotation.record_label for these values."""
        ratings = list(self.step_ratings)
        return {
            "first_mistake": self.first_mistake,
            "step_ratings": ratings if any(r is not None for r in ratings) else None,
            "behavior_corrections": (
                {step: list(names) for step, names in sorted(self.behavior_corrections.items())}
                or None
            ),
            "note": self.note,
        }

    def is_empty(self) -> bool:
        """Return True when nothing has been judged, corrected or noted yet."""
        return (
            self.first_mistake is None
            and all(r is None for r in self.step_ratings)
            and not self.behavior_corrections
            and not self.note
        )


def empty_values(n_steps: int) -> LabelValues:
    """Return the values of a trace nobody has judged yet."""
    return LabelValues(n_steps=n_steps, step_ratings=(None,) * n_steps)


def values_from_label(label: Label | None, n_steps: int, modes: Sequence[str]) -> LabelValues:
    """Return the editor values of a stored label (a fresh, empty one for None).

    A first-mistake label saved without ratings (by the CLI, say) gets the ratings its first
    mistake implies when the first-mistake mode is on, so walking on from it keeps the verdict.
    """
    if label is None:
        return empty_values(n_steps)
    ratings = list(label.step_ratings or [])[:n_steps]
    ratings += [None] * (n_steps - len(ratings))
    fm = label.first_mistake
    if "first_mistake" in modes and fm is not None and all(r is None for r in ratings):
        if fm == NO_MISTAKE:
            ratings = [1] * n_steps
        elif 0 <= fm < n_steps:
            ratings = [1] * fm + [-1] + [None] * (n_steps - fm - 1)
    corrections = {
        int(step): tuple(b for b in BEHAVIORS if b in names)
        for step, names in (label.behavior_corrections or {}).items()
        if 0 <= int(step) < n_steps
    }
    return LabelValues(
        n_steps=n_steps,
        first_mistake=fm,
        step_ratings=tuple(ratings),
        behavior_corrections=corrections,
        note=label.note,
    )


def derive_first_mistake(ratings: Sequence[int | None]) -> int | None:
    """Return the first mistake the ratings imply: first -1, else -1 when all judged, else None."""
    for i, rating in enumerate(ratings):
        if rating == -1:
            return i
    if ratings and all(r is not None for r in ratings):
        return NO_MISTAKE
    return None


def _rate(values: LabelValues, step: int, rating: int | None, modes: Sequence[str]) -> LabelValues:
    if not 0 <= step < values.n_steps:
        return values
    ratings = list(values.step_ratings)
    ratings[step] = rating
    fm = derive_first_mistake(ratings) if "first_mistake" in modes else values.first_mistake
    return replace(values, step_ratings=tuple(ratings), first_mistake=fm)


def mark_correct(values: LabelValues, step: int, modes: Sequence[str]) -> LabelValues:
    """Return ``values`` with ``step`` rated +1 (first-mistake mode: the walk goes on)."""
    return _rate(values, step, 1, modes)


def mark_neutral(values: LabelValues, step: int, modes: Sequence[str]) -> LabelValues:
    """Return ``values`` with ``step`` rated 0 (neutral: neither helps nor is wrong)."""
    return _rate(values, step, 0, modes)


def mark_mistake(values: LabelValues, step: int, modes: Sequence[str]) -> LabelValues:
    """Return ``values`` with ``step`` rated -1 (in first-mistake mode the first -1 decides)."""
    return _rate(values, step, -1, modes)


def clear_step(values: LabelValues, step: int, modes: Sequence[str]) -> LabelValues:
    """Return ``values`` with ``step`` unrated again (None, which is not neutral)."""
    return _rate(values, step, None, modes)


def mark_no_mistake(values: LabelValues) -> LabelValues:
    """Return ``values`` saying the trace has no mistake: unrated and -1 steps become +1.

    Neutral steps stay neutral: "no mistake" says nothing is wrong, not that every step helps.
    """
    ratings = tuple(1 if r in (None, -1) else r for r in values.step_ratings)
    return replace(values, step_ratings=ratings, first_mistake=NO_MISTAKE)


def toggle_behavior(
    values: LabelValues, step: int, behavior: str, analyzer_behaviors: Iterable[str]
) -> LabelValues:
    """Return ``values`` with ``behavior`` added to or removed from ``step``'s human list.

    The list starts from the analyzer's behaviours of the step; a correction that ends equal
    to them is dropped, so "no correction" and "agrees with the analyzer" are the same.
    """
    if behavior not in BEHAVIORS or not 0 <= step < values.n_steps:
        return values
    analyzer = tuple(b for b in BEHAVIORS if b in set(analyzer_behaviors))
    current = set(values.behavior_corrections.get(step, analyzer))
    current ^= {behavior}
    new = tuple(b for b in BEHAVIORS if b in current)
    corrections = dict(values.behavior_corrections)
    if new == analyzer:
        corrections.pop(step, None)
    else:
        corrections[step] = new
    return replace(values, behavior_corrections=corrections)


def step_behaviors(values: LabelValues, step: int, analyzer_behaviors: Iterable[str]) -> list[str]:
    """Return the behaviours shown for ``step``: the human correction, else the analyzer's."""
    if step in values.behavior_corrections:
        return list(values.behavior_corrections[step])
    present = set(analyzer_behaviors)
    return [b for b in BEHAVIORS if b in present]


def with_note(values: LabelValues, note: str) -> LabelValues:
    """Return ``values`` with the annotator's note replaced."""
    return replace(values, note=note)


def suggestion_step(suggestion: Suggestion) -> int | None:
    """Return the step a suggestion points at (-1 for "no mistake"), or None when it names none."""
    if suggestion.kind == "first_mistake":
        value = suggestion.value if suggestion.value is not None else suggestion.step
    else:
        value = suggestion.step
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def accept_suggestion(
    values: LabelValues, suggestion: Suggestion, modes: Sequence[str]
) -> LabelValues | None:
    """Return ``values`` after taking ``suggestion`` over, or None when it cannot be applied.

    A first-mistake suggestion at step k rates the unrated steps before k +1 and step k -1
    (k = -1: no mistake); a checker finding rates its step -1; a behaviours suggestion
    replaces its step's behaviours; a step score of -1, 0 or 1 becomes that step's rating.
    """
    step = suggestion_step(suggestion)
    n = values.n_steps
    if suggestion.kind == "first_mistake":
        if step == NO_MISTAKE:
            return mark_no_mistake(values)
        if step is None or not 0 <= step < n:
            return None
        ratings = list(values.step_ratings)
        for i in range(step):
            if ratings[i] is None:
                ratings[i] = 1
        ratings[step] = -1
        fm = derive_first_mistake(ratings) if "first_mistake" in modes else step
        return replace(values, step_ratings=tuple(ratings), first_mistake=fm)
    if step is None or not 0 <= step < n:
        return None
    if suggestion.kind == "finding":
        return mark_mistake(values, step, modes)
    if suggestion.kind == "behaviors" and isinstance(suggestion.value, list):
        names = tuple(b for b in BEHAVIORS if b in set(map(str, suggestion.value)))
        return replace(values, behavior_corrections={**values.behavior_corrections, step: names})
    if suggestion.kind == "step_score" and suggestion.value in (-1, 0, 1):
        if isinstance(suggestion.value, bool):
            return None
        return _rate(values, step, int(suggestion.value), modes)
    return None


def next_step(step: int | None, n_steps: int) -> int:
    """Return the step after ``step`` (the first one when none is selected), clamped."""
    if n_steps <= 0:
        return 0
    return 0 if step is None else min(n_steps - 1, step + 1)


def prev_step(step: int | None, n_steps: int) -> int:
    """Return the step before ``step`` (the first one when none is selected), clamped."""
    if n_steps <= 0:
        return 0
    return 0 if step is None else max(0, step - 1)


def resume_step(values: LabelValues) -> int:
    """Return the step to open a label at: its first mistake, else the first unrated step.

    A label that says "no mistake", or has every step rated, opens at step 0 for review.
    """
    fm = values.first_mistake
    if fm is not None:
        return fm if 0 <= fm < values.n_steps else 0
    for i, rating in enumerate(values.step_ratings):
        if rating is None:
            return i
    return 0


def missing_for_submit(values: LabelValues, modes: Sequence[str]) -> list[str]:
    """Return what must still be judged before the label can be submitted ([] = ready).

    The same rule as the annotation service: first-mistake mode needs a verdict (a first
    mistake or "no mistake"); per-step rating needs at least one rated step (a step left
    unrated is allowed: unrated means "could not judge", which is not neutral).
    """
    missing = []
    if "first_mistake" in modes and values.first_mistake is None:
        missing.append('a first mistake or "no mistake"')
    if "step_rating" in modes and all(r is None for r in values.step_ratings):
        missing.append("a rating of at least one step")
    return missing


def unrated_steps(values: LabelValues, modes: Sequence[str]) -> list[int]:
    """Return the steps still unrated that the annotator should look at before submitting.

    With first-mistake mode on, steps after the first mistake need no judgement (the walk
    stops there, as in BIG-Bench Mistake).
    """
    last = values.n_steps
    fm = values.first_mistake
    if "first_mistake" in modes and fm is not None and fm >= 0:
        last = fm + 1
    return [i for i in range(last) if values.step_ratings[i] is None]


def verdict_text(values: LabelValues) -> str:
    """Return the first-mistake verdict in words."""
    if values.first_mistake is None:
        return "not finished"
    if values.first_mistake == NO_MISTAKE:
        return "no mistake"
    return f"first mistake at step {values.first_mistake}"


def rating_counts(values: LabelValues) -> dict[str, int]:
    """Return how many steps are rated +1, 0, -1 and unrated."""
    counts = {"+1": 0, "0": 0, "-1": 0, "unrated": 0}
    for rating in values.step_ratings:
        counts[{1: "+1", 0: "0", -1: "-1", None: "unrated"}[rating]] += 1
    return counts


@dataclass
class UndoStack:
    """Earlier values of one trace's label, newest last, each with the step it changed."""

    items: list[tuple[LabelValues, int | None]] = field(default_factory=list)

    def push(self, values: LabelValues, step: int | None) -> None:
        """Remember ``values`` (before a change at ``step``), dropping the oldest past the limit."""
        self.items.append((values, step))
        del self.items[:-UNDO_LIMIT]

    def pop(self) -> tuple[LabelValues, int | None] | None:
        """Return the newest remembered values and step, or None when there is nothing to undo."""
        return self.items.pop() if self.items else None

    def __len__(self) -> int:
        return len(self.items)
