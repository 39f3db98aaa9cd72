"""What the Adjudicate page offers for the first mistake, step ratings and behaviour
corrections (pure).

The first mistake may be left undecided ("no verdict on the first mistake", None): that is the
default when nobody named one, so a ratings-only or behaviours-only disagreement does not put a
first mistake into the final label that nobody gave; one that everybody named is kept.
Where people rated a step differently, or corrected its behaviours to different sets (the steps
trace_store.codec.label_disagreement reports), the reviewer decides that step; everywhere else
the final label keeps what the people agreed on (or what the one person who judged the step
gave). Names and behaviour names shown in HTML go through components.safe_text.escape_text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from analyzers.agreement import ADJUDICATED, is_reference
from components.agreement_steps import ADJ_CSS, decision_options, default_decision, option_text
from components.agreement_tables import mistake_text
from components.safe_text import escape_text
from trace_store.codec import LabelDisagreement
from trace_store.schema import BEHAVIORS, Label, Trace

RATING_CHOICES: tuple[int | None, ...] = (1, 0, -1, None)
"""What the reviewer may give a step where people's ratings differ (None = leave unrated)."""

_RATING_TEXT = {1: "+1", 0: "0", -1: "−1", None: "unrated"}

NO_VERDICT = "no verdict"
"""The first-mistake choice that saves first_mistake None. A string, not None, because a select
box reads a None value as "nothing selected"."""

NO_VERDICT_TEXT = "no verdict on the first mistake"
"""How the NO_VERDICT choice (and a final label without a first mistake) reads."""

MistakeChoice = int | str
"""A first-mistake choice: -1 (no mistake), a step index, or NO_VERDICT."""


def first_mistake_choices(n_steps: int) -> list[MistakeChoice]:
    """Return the final first-mistake choices: NO_VERDICT, no mistake (-1), every step."""
    return [NO_VERDICT, *decision_options(n_steps)]


def choice_of(mistake: int | None) -> MistakeChoice:
    """Return the choice standing for first mistake ``mistake`` (None: NO_VERDICT)."""
    return NO_VERDICT if mistake is None else mistake


def mistake_of(choice: MistakeChoice | None) -> int | None:
    """Return the first mistake a choice saves (NO_VERDICT, or nothing chosen: None)."""
    return None if choice is None or choice == NO_VERDICT else int(choice)


def first_mistake_choice_text(
    choice: MistakeChoice, by: dict[int, list[str]], reference: dict[int, list[str]]
) -> str:
    """Return a first-mistake choice's text: the verdict and who named it, or NO_VERDICT_TEXT."""
    mistake = mistake_of(choice)
    return NO_VERDICT_TEXT if mistake is None else option_text(mistake, by, reference)


def final_mistake_text(mistake: int | None) -> str:
    """Return a final label's first mistake in words ("step 2", "no mistake", NO_VERDICT_TEXT)."""
    return NO_VERDICT_TEXT if mistake is None else mistake_text(mistake)


def default_first_mistake(
    labels: Sequence[Label], found: LabelDisagreement, final: Label | None
) -> int | None:
    """Return the first-mistake choice to preselect.

    The current final label's own first mistake when there is one (None when it decided none);
    else the people's majority when they named different first mistakes; else the first mistake
    they all named, kept as agreed (like the steps they rated alike); else None (no verdict):
    nobody gave one, so there is nothing to carry over or decide.
    """
    if final is not None:
        return final.first_mistake
    if found.first_mistake:
        return default_decision(labels)
    named = {lb.first_mistake for lb in people(labels) if lb.first_mistake is not None}
    return named.pop() if len(named) == 1 else None


def has_decision(
    first_mistake: int | None,
    step_ratings: Sequence[int | None] | None,
    corrections: Mapping[int, Sequence[str]] | None,
) -> bool:
    """Return whether a final label with these values decides anything (adjudicate needs one)."""
    rated = any(r is not None for r in step_ratings or ())
    return first_mistake is not None or rated or corrections is not None


def people(labels: Sequence[Label]) -> list[Label]:
    """Return the submitted labels given by people (not the dataset's, not the adjudicated)."""
    return [
        lb
        for lb in labels
        if lb.status == "submitted"
        and lb.source == "human"
        and not is_reference(lb)
        and lb.annotator != ADJUDICATED
    ]


def raters(labels: Sequence[Label]) -> list[str]:
    """Return the people whose labels rate at least one step, in the labels' order."""
    return [
        lb.annotator for lb in people(labels) if any(r is not None for r in lb.step_ratings or [])
    ]


def correctors(labels: Sequence[Label]) -> list[str]:
    """Return the people whose labels correct at least one step's behaviours."""
    return [lb.annotator for lb in people(labels) if lb.behavior_corrections]


def rating_votes(labels: Sequence[Label], step: int) -> dict[int, list[str]]:
    """Return who gave each rating to ``step`` (unrated left out)."""
    out: dict[int, list[str]] = {}
    for lb in people(labels):
        ratings = lb.step_ratings or []
        if step < len(ratings) and ratings[step] is not None:
            out.setdefault(int(ratings[step]), []).append(lb.annotator)
    return out


def default_rating(votes: Mapping[int, Sequence[str]]) -> int | None:
    """Return the rating most people gave (None when nobody rated the step).

    Ties go to the lower rating: a step someone called a mistake stays one until the reviewer
    says otherwise.
    """
    if not votes:
        return None
    return min(votes, key=lambda v: (-len(votes[v]), v))


def rating_option_text(value: int | None, votes: Mapping[int, Sequence[str]]) -> str:
    """Return a rating choice's text with who gave it ("+1 — alice, bob")."""
    who = list(votes.get(value, [])) if value is not None else []
    return f"{_RATING_TEXT[value]} — {', '.join(who)}" if who else _RATING_TEXT[value]


def merged_ratings(
    labels: Sequence[Label], n_steps: int, chosen: Mapping[int, int | None]
) -> list[int | None] | None:
    """Return the final step ratings: the reviewer's ``chosen`` ones, else the people's.

    A step nobody chose for gets the rating the people gave it (default_rating where they
    differ); None when the result rates no step at all.
    """
    out: list[int | None] = []
    for step in range(n_steps):
        out.append(chosen[step] if step in chosen else default_rating(rating_votes(labels, step)))
    return out if any(r is not None for r in out) else None


def correction_votes(labels: Sequence[Label], step: int) -> dict[tuple[str, ...], list[str]]:
    """Return who corrected ``step`` to each behaviour set (sets in BEHAVIORS order)."""
    out: dict[tuple[str, ...], list[str]] = {}
    for lb in people(labels):
        given = (lb.behavior_corrections or {}).get(step)
        if given is not None:
            key = tuple(b for b in BEHAVIORS if b in set(given))
            out.setdefault(key, []).append(lb.annotator)
    return out


def default_behaviors(labels: Sequence[Label], step: int) -> list[str]:
    """Return the behaviours at least half of the step's correctors gave it, in BEHAVIORS order.

    With two people that is everything either named: the reviewer removes what is wrong rather
    than having to remember what was proposed.
    """
    votes = correction_votes(labels, step)
    n = sum(len(names) for names in votes.values())
    count = {b: sum(len(names) for key, names in votes.items() if b in key) for b in BEHAVIORS}
    return [b for b in BEHAVIORS if n and 2 * count[b] >= n]


def merged_corrections(
    labels: Sequence[Label], chosen: Mapping[int, Sequence[str]]
) -> dict[int, list[str]] | None:
    """Return the final behaviour corrections: the reviewer's ``chosen`` steps, else the people's.

    Every step a person corrected is in the result (default_behaviors where people differ);
    None when nobody corrected any step and nothing was chosen.
    """
    steps = {s for lb in people(labels) for s in (lb.behavior_corrections or {})} | set(chosen)
    out = {
        step: (
            [b for b in BEHAVIORS if b in set(chosen[step])]
            if step in chosen
            else default_behaviors(labels, step)
        )
        for step in sorted(steps)
    }
    return out or None


def disagreement_text(found: LabelDisagreement) -> str:
    """Return what the people disagree on, in words ("" when they agree)."""
    parts = []
    if found.first_mistake:
        parts.append("the first mistake")
    if found.rating_steps:
        parts.append(f"the rating of {_steps_text(found.rating_steps)}")
    if found.correction_steps:
        parts.append(f"the behaviours of {_steps_text(found.correction_steps)}")
    if not parts:
        return ""
    head = ", ".join(parts[:-1])
    return "They disagree on " + (f"{head} and {parts[-1]}" if head else parts[-1]) + "."


def _steps_text(steps: Sequence[int]) -> str:
    return ("step " if len(steps) == 1 else "steps ") + ", ".join(str(s) for s in steps)


def corrections_grid_html(trace: Trace, labels: Sequence[Label], split: Sequence[int]) -> str:
    """Return the corrected steps as rows, one column per label with its behaviours for the step.

    Only steps some label corrected are listed; the ``split`` steps (people chose different
    sets) are highlighted and marked "≠". "" when no label corrects any step.
    """
    columns = [lb for lb in labels if lb.behavior_corrections]
    steps = sorted({s for lb in columns for s in (lb.behavior_corrections or {})})
    if not steps:
        return ""
    head = "".join(f'<th class="ts-adj-col">{escape_text(lb.annotator)}</th>' for lb in columns)
    texts = {s.index: s.text for s in trace.steps}
    rows = []
    for k in steps:
        cells = "".join(
            f'<td class="ts-adj-col">{_behaviors_cell((lb.behavior_corrections or {}).get(k))}</td>'
            for lb in columns
        )
        marked = k in split
        attr = ' class="ts-adj-split"' if marked else ""
        rows.append(
            f'<tr{attr} data-step="{k}">'
            f'<td class="ts-adj-col"><b>{k}</b>{" ≠" if marked else ""}</td>{cells}'
            f'<td class="ts-adj-text">{escape_text(texts.get(k, ""))}</td></tr>'
        )
    return (
        ADJ_CSS
        + '<table class="ts-adj-grid ts-adj-corrections"><thead><tr>'
        + '<th class="ts-adj-col">step</th>'
        + head
        + "<th>text</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _behaviors_cell(given: Any) -> str:
    if given is None:
        return '<span class="ts-adj-none" title="not corrected">·</span>'
    if not given:
        return '<span class="ts-adj-mark ts-adj-neutral">none</span>'
    names = [b for b in BEHAVIORS if b in set(given)]
    return "<br>".join(
        f'<span class="ts-adj-mark ts-adj-good">{escape_text(b.replace("_", " "))}</span>'
        for b in names
    )
