"""Inert HTML of the labelling screen: step cards with my judgement, suggestions, other labels.

Human judgements are solid badges; model suggestions are dashed orange boxes that name their
agent and score, so the two never look alike. All trace text goes through components.safe_text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

from components.label_editor import LabelValues, step_behaviors, suggestion_step
from components.safe_text import (
    BEHAVIOR_COLORS,
    BEHAVIOR_SHORT,
    STEP_CSS,
    behavior_chips_html,
    highlight_evidence_html,
)
from trace_store.schema import BEHAVIORS, NO_MISTAKE, BehaviorTag, Label, Suggestion

LABEL_CSS = """
<style>
.ts-lab-badge { border-radius: 4px; padding: 0 6px; font-size: 0.74rem; font-weight: 600; }
.ts-lab-good { background: #2e7d32; color: #fff; }
.ts-lab-neutral { background: #607d8b; color: #fff; }
.ts-lab-bad { background: #b71c1c; color: #fff; }
.ts-lab-after { background: #eeeeee; color: #616161; font-weight: 400; }
.ts-lab-unrated { border: 1px dashed #9e9e9e; color: #757575; font-weight: 400; }
.ts-step.ts-lab-first { border-left-color: #b71c1c; background: #fff5f5; }
.ts-step.ts-lab-done { border-left-color: #2e7d32; }
.ts-sugg { border: 1px dashed #ef6c00; color: #e65100; background: #fff8e1; border-radius: 4px;
  padding: 0 5px; font-size: 0.72rem; font-style: italic; }
.ts-chip.ts-chip-added { outline: 2px dashed #212121; outline-offset: 1px; }
.ts-chip.ts-chip-removed { background: #fff !important; color: #757575 !important;
  border: 1px solid #bdbdbd; text-decoration: line-through; }
.ts-keys { font-size: 0.78rem; color: #424242; line-height: 1.6; display: grid;
  grid-template-columns: 1fr 1fr; column-gap: 12px; border: 1px solid #eee; border-radius: 6px;
  padding: 4px 8px; background: #fcfcfc; }
.ts-keys kbd { border: 1px solid #bdbdbd; border-bottom-width: 2px; border-radius: 4px;
  padding: 0 5px; background: #fafafa; font-family: ui-monospace, monospace; font-size: 0.75rem; }
.ts-verdict { font-size: 0.95rem; margin: 2px 0 6px 0; }
</style>
"""
"""Styles of the labelling screen's HTML (sent with STEP_CSS)."""


def rating_badge_html(rating: int | None, *, first: bool = False, after: bool = False) -> str:
    """Return the badge of my judgement of one step (solid: a person's label)."""
    if rating == 1:
        return '<span class="ts-lab-badge ts-lab-good">✓ correct</span>'
    if rating == 0:
        return '<span class="ts-lab-badge ts-lab-neutral">0 neutral</span>'
    if rating == -1:
        text = "✗ first mistake" if first else "✗ mistake"
        return f'<span class="ts-lab-badge ts-lab-bad">{text}</span>'
    if after:
        return '<span class="ts-lab-badge ts-lab-after">after the first mistake</span>'
    return '<span class="ts-lab-badge ts-lab-unrated">unrated</span>'


def suggestion_badge_html(suggestion: Suggestion) -> str:
    """Return a dashed badge naming a suggestion's agent and score (never a person's label)."""
    score = "" if suggestion.score is None else f" {suggestion.score:.2f}"
    what = {"first_mistake": "mistake?", "finding": "finding", "behaviors": "behaviours?"}.get(
        suggestion.kind, suggestion.kind
    )
    return (
        f'<span class="ts-sugg" title="suggestion, not a label">suggested {html.escape(what)} · '
        f"{html.escape(suggestion.agent)}{html.escape(score)}</span>"
    )


def corrected_chips_html(shown: Sequence[str], analyzer: Sequence[str]) -> str:
    """Return behaviour chips: added ones outlined, removed ones struck through."""
    chips = []
    for name in BEHAVIORS:
        if name in shown and name in analyzer:
            chips.append(behavior_chips_html([name]))
        elif name in shown:
            chips.append(_chip(name, "ts-chip-added", "added by you"))
        elif name in analyzer:
            chips.append(_chip(name, "ts-chip-removed", "removed by you"))
    return "".join(chips)


def _chip(name: str, extra: str, title: str) -> str:
    color = BEHAVIOR_COLORS.get(name, "#9e9e9e")
    return (
        f'<span class="ts-chip {extra}" title="{html.escape(name)}: {title}" '
        f'style="background:{color};color:#fff">{html.escape(BEHAVIOR_SHORT.get(name, name))}'
        "</span>"
    )


def suggestions_by_step(suggestions: Iterable[Suggestion]) -> dict[int, list[Suggestion]]:
    """Return step index → the suggestions pointing at it (best score first)."""
    out: dict[int, list[Suggestion]] = {}
    for s in suggestions:
        step = suggestion_step(s)
        if step is not None and step >= 0:
            out.setdefault(step, []).append(s)
    for items in out.values():
        items.sort(key=lambda s: -(s.score or 0.0))
    return out


def label_card_html(
    index: int,
    text: str,
    tags: Sequence[BehaviorTag],
    values: LabelValues,
    suggestions: Sequence[Suggestion],
    *,
    selected: bool,
    show_behaviors: bool,
) -> str:
    """Return one step card: number, behaviours, my judgement, suggestions, verbatim text."""
    analyzer = [b for b in BEHAVIORS if any(t.behavior == b for t in tags)]
    rating = values.step_ratings[index] if index < len(values.step_ratings) else None
    fm = values.first_mistake
    first = fm is not None and fm == index
    after = fm is not None and fm >= 0 and index > fm
    classes = ["ts-step"]
    if selected:
        classes.append("ts-selected")
    if first:
        classes.append("ts-lab-first")
    elif rating is not None:
        classes.append("ts-lab-done")
    if show_behaviors:
        chips = corrected_chips_html(step_behaviors(values, index, analyzer), analyzer)
    else:
        chips = behavior_chips_html(analyzer)
    head = [f"<b>Step {index}</b>", chips, rating_badge_html(rating, first=first, after=after)]
    head += [suggestion_badge_html(s) for s in suggestions[:3]]
    return (
        f'<div class="{" ".join(classes)}" id="ts-step-{index}" data-step="{index}" '
        f'data-rating="{"" if rating is None else rating}">'
        f'<div class="ts-head">{"".join(head)}</div>'
        f'<div class="ts-text">{highlight_evidence_html(text, tags)}</div></div>'
    )


def verdict_html(values: LabelValues, status: str | None) -> str:
    """Return one line with the first-mistake verdict and the label's saved status."""
    fm = values.first_mistake
    if fm is None:
        verdict = "<b>Verdict:</b> not finished"
    elif fm == NO_MISTAKE:
        verdict = '<b>Verdict:</b> <span class="ts-lab-badge ts-lab-good">no mistake</span>'
    else:
        verdict = (
            '<b>Verdict:</b> <span class="ts-lab-badge ts-lab-bad">'
            f"first mistake at step {fm}</span>"
        )
    state = {
        "draft": "draft (autosaved)",
        "submitted": "submitted",
        "conflict": "NOT saved (conflict)",
    }.get(status or "", "not saved")
    return f'<div class="ts-verdict">{verdict} · <i>{state}</i></div>'


def shortcuts_html(rows: Sequence[tuple[str, str]]) -> str:
    """Return the on-screen list of keyboard shortcuts, one ``key: action`` per row."""
    items = "".join(
        f"<div><kbd>{html.escape(key)}</kbd> {html.escape(action)}</div>" for key, action in rows
    )
    return LABEL_CSS + f'<div class="ts-keys" aria-label="keyboard shortcuts">{items}</div>'


def other_label_line(label: Label, n_steps: int) -> str:
    """Return one plain-text line about another annotator's (or the dataset's) label."""
    if label.first_mistake is None:
        verdict = "no first-mistake verdict"
    elif label.first_mistake == NO_MISTAKE:
        verdict = "no mistake"
    else:
        verdict = f"first mistake at step {label.first_mistake}"
    extra = ""
    if label.step_ratings:
        rated = sum(r is not None for r in label.step_ratings)
        extra = f", {rated}/{n_steps} steps rated"
    if label.behavior_corrections:
        extra += f", behaviours corrected on {len(label.behavior_corrections)} step(s)"
    return f"{label.annotator} ({label.source}, {label.status}): {verdict}{extra}"


def history_rows(history: Sequence[Mapping]) -> list[dict[str, str]]:
    """Return the label's history as table rows: when, who, and old → new of what changed."""
    rows = []
    for entry in history:
        old = entry.get("old") or {}
        new = entry.get("new") or {}
        changes = []
        for name in ("status", "first_mistake", "step_ratings", "behavior_corrections", "note"):
            before, after = old.get(name), new.get(name)
            if before != after:
                changes.append(f"{name}: {_short(before)} → {_short(after)}")
        at = entry.get("at")
        rows.append(
            {
                "when": at.isoformat(timespec="seconds") if hasattr(at, "isoformat") else str(at),
                "who": str(entry.get("annotator", "")),
                "change": "; ".join(changes) if changes else "(saved unchanged)",
            }
        )
    return rows


def _short(value: object, limit: int = 60) -> str:
    """Return a compact text of a label field's value for the history table."""
    if value is None:
        return "—"
    if isinstance(value, list):
        text = "[" + ",".join("·" if v is None else str(v) for v in value) + "]"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def steps_css() -> str:
    """Return the styles the step cards need (the Trace page's plus the labelling ones)."""
    return STEP_CSS + LABEL_CSS
