"""Inert HTML and choices of the Adjudicate page: labels side by side over the trace's steps.

Each column of the step grid is one label (annotators, then the dataset's, then the current
adjudicated one); each cell shows that label's judgement of the step, with its first mistake
marked. Trace text, annotator names and notes are data: everything goes through
components.safe_text.escape_text.
"""

from __future__ import annotations

from collections.abc import Sequence

from analyzers.agreement import ADJUDICATED, is_reference
from analyzers.agreement_stats import effective_mistake, step_judgements
from components.safe_text import escape_text
from trace_store.formats.label_choice import majority_vote
from trace_store.schema import NO_MISTAKE, Label, Trace

ADJ_CSS = """
<style>
.ts-adj-cards { display: flex; flex-wrap: wrap; gap: 8px; margin: 4px 0 8px 0; }
.ts-adj-card { border: 1px solid #ddd; border-radius: 6px; padding: 6px 10px; min-width: 180px;
  max-width: 320px; background: #fcfcfc; font-size: 0.85rem; line-height: 1.45; }
.ts-adj-card.ts-adj-dataset { background: #f3f6fb; border-color: #c5d3e8; }
.ts-adj-card.ts-adj-final { background: #f1f8f1; border-color: #a5d6a7; }
.ts-adj-card .ts-adj-who { font-weight: 700; }
.ts-adj-card .ts-adj-note { color: #424242; white-space: pre-wrap; font-style: italic; }
.ts-adj-muted { color: #757575; font-size: 0.78rem; }
table.ts-adj-grid { border-collapse: collapse; width: 100%; font-size: 0.85rem; }
table.ts-adj-grid th { position: sticky; top: 0; background: #fff; z-index: 1;
  border-bottom: 2px solid #ccc; text-align: left; padding: 4px 6px; white-space: nowrap; }
table.ts-adj-grid td { border-bottom: 1px solid #eee; padding: 4px 6px; vertical-align: top; }
table.ts-adj-grid .ts-adj-col { width: 1%; white-space: nowrap; }
table.ts-adj-grid td.ts-adj-text { white-space: pre-wrap; word-break: break-word;
  font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.8rem; }
table.ts-adj-grid tr.ts-adj-split td { background: #fff8e1; }
.ts-adj-mark { border-radius: 4px; padding: 0 5px; font-size: 0.74rem; font-weight: 600;
  white-space: nowrap; }
.ts-adj-good { background: #e8f5e9; color: #1b5e20; }
.ts-adj-neutral { background: #eceff1; color: #37474f; }
.ts-adj-bad { background: #c62828; color: #fff; }
.ts-adj-none { color: #bdbdbd; }
</style>
"""
"""Styles of the Adjudicate page's cards and step grid."""


def compared_labels(labels: Sequence[Label]) -> list[Label]:
    """Return the labels to show side by side: submitted people's labels (by name), then the
    dataset's, then the adjudicated one; drafts are left out."""
    done = [lb for lb in labels if lb.status == "submitted"]
    people = sorted(
        (lb for lb in done if not is_reference(lb) and lb.annotator != ADJUDICATED),
        key=lambda lb: lb.annotator,
    )
    shipped = sorted((lb for lb in done if is_reference(lb)), key=lambda lb: lb.annotator)
    final = [lb for lb in done if lb.annotator == ADJUDICATED]
    return people + shipped + final


def verdict_text(label: Label) -> str:
    """Return the label's first-mistake verdict in words."""
    mistake = effective_mistake(label)
    if mistake is None:
        return "no first-mistake verdict"
    return "no mistake" if mistake == NO_MISTAKE else f"first mistake at step {mistake}"


def _kind(label: Label) -> str:
    if label.annotator == ADJUDICATED:
        return "final"
    return "dataset" if is_reference(label) else "person"


def label_cards_html(labels: Sequence[Label], n_steps: int) -> str:
    """Return one card per label: who, verdict, step ratings, note, when last saved."""
    cards = []
    for label in labels:
        kind = _kind(label)
        lines = [f'<div class="ts-adj-who">{escape_text(label.annotator)}</div>']
        lines.append(f"<div><b>{escape_text(verdict_text(label))}</b></div>")
        ratings = label.step_ratings
        if ratings and any(r is not None for r in ratings):
            rated = [r for r in ratings if r is not None]
            counts = ", ".join(
                f"{sign}×{rated.count(v)}" for v, sign in ((1, "+1"), (0, "0"), (-1, "−1"))
            )
            lines.append(f"<div>{len(rated)}/{n_steps} steps rated ({counts})</div>")
        if label.note:
            lines.append(f'<div class="ts-adj-note">{escape_text(label.note)}</div>')
        when = label.updated_at.strftime("%Y-%m-%d %H:%M UTC")
        source = {"final": "adjudicated", "dataset": "shipped with the dataset"}.get(
            kind, "annotator"
        )
        lines.append(f'<div class="ts-adj-muted">{source} · v{label.version} · {when}</div>')
        extra = {"final": " ts-adj-final", "dataset": " ts-adj-dataset"}.get(kind, "")
        cards.append(f'<div class="ts-adj-card{extra}">{"".join(lines)}</div>')
    return ADJ_CSS + f'<div class="ts-adj-cards">{"".join(cards)}</div>'


def judgement_mark_html(value: int | None, *, first: bool) -> str:
    """Return one grid cell: a label's judgement of a step (first mistake marked)."""
    if value == -1:
        text = "✗ first mistake" if first else "✗ mistake"
        return f'<span class="ts-adj-mark ts-adj-bad">{text}</span>'
    if value == 1:
        return '<span class="ts-adj-mark ts-adj-good">✓</span>'
    if value == 0:
        return '<span class="ts-adj-mark ts-adj-neutral">0</span>'
    return '<span class="ts-adj-none" title="not judged">·</span>'


def steps_grid_html(trace: Trace, labels: Sequence[Label]) -> str:
    """Return the steps as rows, one column per label with its judgement of each step.

    Rows where the labels' judgements differ are highlighted.
    """
    n_steps = len(trace.steps)
    columns = []
    for label in labels:
        judged = step_judgements(label, n_steps) or [None] * n_steps
        columns.append((label, judged, effective_mistake(label)))
    head = "".join(
        f'<th class="ts-adj-col">{escape_text(label.annotator)}</th>' for label, _, _ in columns
    )
    rows = []
    for step in trace.steps:
        k = step.index
        values = [j[k] if k < len(j) else None for _, j, _ in columns]
        given = {v for v in values if v is not None}
        split = ' class="ts-adj-split"' if len(given) > 1 else ""
        cells = "".join(
            f'<td class="ts-adj-col">{judgement_mark_html(v, first=m == k)}</td>'
            for (_, _, m), v in zip(columns, values, strict=True)
        )
        rows.append(
            f'<tr{split} data-step="{k}"><td class="ts-adj-col"><b>{k}</b></td>{cells}'
            f'<td class="ts-adj-text">{escape_text(step.text)}</td></tr>'
        )
    return (
        ADJ_CSS
        + '<table class="ts-adj-grid"><thead><tr><th class="ts-adj-col">step</th>'
        + head
        + "<th>text</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def votes(labels: Sequence[Label]) -> dict[int, list[str]]:
    """Return which people named each first mistake (dataset and adjudicated labels excluded)."""
    out: dict[int, list[str]] = {}
    for label in labels:
        if _kind(label) != "person":
            continue
        mistake = effective_mistake(label)
        if mistake is not None:
            out.setdefault(mistake, []).append(label.annotator)
    return out


def decision_options(n_steps: int) -> list[int]:
    """Return the choices of the final first mistake: no mistake, then every step."""
    return [NO_MISTAKE, *range(n_steps)]


def option_text(mistake: int, by: dict[int, list[str]], reference: dict[int, list[str]]) -> str:
    """Return a choice's text: the verdict and who named it ("step 3 — alice, bob")."""
    text = "no mistake" if mistake == NO_MISTAKE else f"step {mistake}"
    who = list(by.get(mistake, [])) + list(reference.get(mistake, []))
    return f"{text} — {', '.join(who)}" if who else text


def default_decision(labels: Sequence[Label]) -> int | None:
    """Return the choice to preselect: the adjudicated verdict, else the people's majority.

    Ties go to the earliest step (as exports' majority does); None when nobody gave a verdict.
    """
    for label in labels:
        if _kind(label) == "final" and (m := effective_mistake(label)) is not None:
            return m
    vote = majority_vote(m for m, names in votes(labels).items() for _ in names)
    return None if vote is None else vote[0]


def reference_votes(labels: Sequence[Label]) -> dict[int, list[str]]:
    """Return which dataset labels named each first mistake."""
    out: dict[int, list[str]] = {}
    for label in labels:
        if _kind(label) == "dataset" and (m := effective_mistake(label)) is not None:
            out.setdefault(m, []).append(label.annotator)
    return out
