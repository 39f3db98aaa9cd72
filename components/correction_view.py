"""Original vs corrected trace, side by side: divergence step, the k candidates, both trees.

``correction_info`` reads what generators.correct_runs stored on a corrected trace
(``metadata.corrected_from`` and ``metadata.correction``); ``side_html`` draws one side's steps
as inert HTML cards (kept prefix dimmed, the divergence step highlighted: the replaced original
step in red, the chosen candidate in green); ``candidates_frame`` lists the candidates with
their log-probabilities and marks the chosen one; ``render_correction_view`` puts it all on the
page with both search trees (components.tree_view / tree_figure), the divergence step ringed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

from components.behavior_tags import behavior_tags_of
from components.safe_text import STEP_CSS, escape_text, step_card_html, text_block_html
from components.tree_figure import view_figure
from components.tree_view import compute_view
from trace_store.schema import BehaviorTag, Label, Trace

CORRECTION_CSS = """
<style>
.ts-step.ts-kept { opacity: 0.6; }
.ts-step.ts-replaced { border-color: #c62828; border-left: 6px solid #c62828;
  background: #fff5f5; }
.ts-step.ts-chosen { border-color: #2e7d32; border-left: 6px solid #2e7d32;
  background: #f3fbf3; }
.ts-step.ts-continued { border-left-color: #1565c0; }
.ts-role { font-size: 0.72rem; border-radius: 4px; padding: 0 5px; }
.ts-side-empty { color: #666; font-style: italic; }
</style>
"""
"""Styles of the side-by-side cards (on top of components.safe_text.STEP_CSS)."""

ROLE_STYLE: dict[str, tuple[str, str]] = {
    "kept": ("kept unchanged", "#757575"),
    "replaced": ("divergence: original step", "#c62828"),
    "chosen": ("divergence: chosen candidate", "#2e7d32"),
    "kept_original": ("divergence: no candidate differed, original kept", "#ef6c00"),
    "continued": ("greedy continuation", "#1565c0"),
    "original": ("original", "#757575"),
}
"""Badge text and colour of each step role."""

TREE_HEIGHT = 460
STEPS_BOX_PX = 560
STEPS_BOX_MIN_STEPS = 8
"""Traces longer than this scroll inside a box of STEPS_BOX_PX pixels."""


@dataclass
class CorrectionInfo:
    """What a correction did to one trace, as stored on the corrected trace."""

    corrected_from: str
    step: int
    arm: str
    location_source: str
    candidates: list[dict[str, Any]]
    chosen: int | None
    original_step: str
    original_step_logprob: float | None
    original_answer: str | None
    original_correct: bool | None
    k: int
    run_id: str | None
    extra: dict[str, Any] = field(default_factory=dict)


def correction_info(trace: Trace) -> CorrectionInfo | None:
    """Return the correction record of a corrected trace, or None for any other trace."""
    corr = trace.metadata.get("correction")
    source = trace.metadata.get("corrected_from")
    if not isinstance(corr, dict) or not source or not isinstance(corr.get("step"), int):
        return None
    return CorrectionInfo(
        corrected_from=str(source),
        step=int(corr["step"]),
        arm=str(corr.get("arm") or ""),
        location_source=str(corr.get("location_source") or ""),
        candidates=list(corr.get("candidates") or []),
        chosen=corr.get("chosen"),
        original_step=str(corr.get("original_step") or ""),
        original_step_logprob=corr.get("original_step_logprob"),
        original_answer=corr.get("original_answer"),
        original_correct=corr.get("original_correct"),
        k=int(corr.get("k") or len(corr.get("candidates") or [])),
        run_id=corr.get("run_id"),
        extra={
            k: v
            for k, v in corr.items()
            if k not in {"candidates", "original_step", "step", "arm", "chosen"}
        },
    )


def first_difference(original: Trace, corrected: Trace) -> int | None:
    """Return the first step index where the two traces' step texts differ (None: identical)."""
    a, b = original.step_texts, corrected.step_texts
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x.split() != y.split():
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def step_roles(n_steps: int, divergence: int, side: str, chosen: int | None) -> list[str]:
    """Return each step's role on one side ('original' or 'corrected') around the divergence."""
    roles = []
    for i in range(n_steps):
        if i < divergence:
            roles.append("kept")
        elif i == divergence:
            if side == "original":
                roles.append("replaced")
            else:
                roles.append("chosen" if chosen is not None else "kept_original")
        else:
            roles.append("original" if side == "original" else "continued")
    return roles


def _role_card(index: int, text: str, tags: list[BehaviorTag], role: str) -> str:
    """Return one step card with its role badge and role class."""
    card = step_card_html(index, text, tags, selected=False)
    label, color = ROLE_STYLE[role]
    badge = (
        f'<span class="ts-role" style="border:1px solid {color};color:{color}">'
        f"{html.escape(label)}</span>"
    )
    css = {"kept": "ts-kept", "replaced": "ts-replaced", "chosen": "ts-chosen"}.get(role, "")
    if role == "kept_original":
        css = "ts-replaced"
    elif role == "continued":
        css = "ts-continued"
    card = card.replace('class="ts-step"', f'class="ts-step {css}" data-role="{role}"', 1)
    return card.replace("</b>", "</b>" + badge, 1)


def side_html(
    trace: Trace, divergence: int, side: str, chosen: int | None, tags: list[BehaviorTag]
) -> str:
    """Return one side's steps as inert HTML cards, roles marked (styles included)."""
    by_step: dict[int, list[BehaviorTag]] = {}
    for tag in tags:
        by_step.setdefault(tag.step, []).append(tag)
    roles = step_roles(len(trace.steps), divergence, side, chosen)
    cards = [
        _role_card(i, step.text, by_step.get(i, []), roles[i]) for i, step in enumerate(trace.steps)
    ]
    body = "".join(cards) or '<div class="ts-side-empty">no steps</div>'
    return (
        STEP_CSS
        + CORRECTION_CSS
        + f'<div class="ts-steps" data-side="{side}" data-trace="{html.escape(trace.id)}">'
        + body
        + "</div>"
    )


def candidates_frame(info: CorrectionInfo) -> pd.DataFrame:
    """Return the k candidates, most likely first: log-prob, tokens, differs, chosen, text.

    The original step is added as a last row (its log-probability under the same prompt, when
    the backend could score it), so people see how it ranked against the candidates.
    """
    rows = []
    for i, cand in enumerate(info.candidates):
        rows.append(
            {
                "candidate": i,
                "chosen": "✔ chosen" if info.chosen == i else "",
                "log-prob": cand.get("logprob"),
                "tokens": cand.get("n_tokens"),
                "differs from original": bool(cand.get("differs")),
                "text": cand.get("text") or "",
            }
        )
    rows.sort(key=lambda r: (r["log-prob"] is None, -(r["log-prob"] or 0.0), r["candidate"]))
    rows.append(
        {
            "candidate": None,
            "chosen": "original step",
            "log-prob": info.original_step_logprob,
            "tokens": None,
            "differs from original": False,
            "text": info.original_step,
        }
    )
    frame = pd.DataFrame(
        rows, columns=["candidate", "chosen", "log-prob", "tokens", "differs from original", "text"]
    )
    frame["candidate"] = frame["candidate"].astype("Int64")
    frame["tokens"] = frame["tokens"].astype("Int64")
    return frame


def verdict_text(correct: bool | None) -> str:
    """Return 'right', 'wrong' or 'unknown' for an answer's correctness."""
    return {True: "right", False: "wrong", None: "unknown"}[correct]


def trace_tags(store: Any, trace: Trace) -> list[BehaviorTag]:
    """Return the trace's saved behaviour tags, or tags computed now when none are saved."""
    return behavior_tags_of(store, trace).tags


def tree_figure(trace: Trace, tags: list[BehaviorTag], labels: list[Label], divergence: int) -> Any:
    """Return the search-tree figure of ``trace`` with the divergence step ringed."""
    model = compute_view(trace, tags, labels, "tree")
    selected = divergence if divergence < len(trace.steps) else None
    fig = view_figure(trace, model, tags, labels, [], selected, "tree", height=TREE_HEIGHT)
    # The "selected step" ring is the divergence here: say so in the legend.
    for item in fig.data:
        if item.name == "selected step":
            item.name = "divergence step"
    return fig


def render_correction_view(store: Any, corrected: Trace, key: str) -> None:
    """Draw original vs corrected for ``corrected``: answers, candidates, steps, both trees."""
    info = correction_info(corrected)
    if info is None:
        st.warning("This trace was not made by backtracking correction.")
        return
    original = store.get_trace(info.corrected_from)
    if original is None:
        st.error("The original of this corrected trace is no longer in the store:")
        st.code(info.corrected_from, language=None)
        return
    m = info.step
    found = first_difference(original, corrected)
    head = [
        f"divergence at step {m}",
        f"location: {info.location_source or info.arm}",
        f"k = {info.k}",
        "chosen: " + (f"candidate {info.chosen}" if info.chosen is not None else "none differed"),
        f"model: {corrected.model or '—'}",
    ]
    st.html(STEP_CSS + f'<div class="ts-head">{escape_text(" · ".join(head))}</div>')
    if info.chosen is not None and found is not None and found != m:
        st.caption(f"Note: the step texts first differ at step {found}, not at step {m}.")
    t, a, b = st.columns(3)
    with t:
        st.markdown("**Target**")
        st.html(text_block_html(corrected.target if corrected.target is not None else "—"))
    with a:
        st.markdown(f"**Original answer** ({verdict_text(info.original_correct)})")
        st.html(text_block_html(info.original_answer or "—"))
    with b:
        st.markdown(f"**Corrected answer** ({verdict_text(corrected.correct)})")
        st.html(text_block_html(corrected.answer or "—"))
    st.markdown(f"**The {len(info.candidates)} candidates for step {m}** (temperature 1)")
    st.dataframe(
        candidates_frame(info),
        hide_index=True,
        key=f"{key}_candidates",
        column_config={
            "log-prob": st.column_config.NumberColumn(format="%.3f"),
            "text": st.column_config.TextColumn(width="large"),
        },
    )
    labels = store.labels_for(original.id)
    tags_o, tags_c = trace_tags(store, original), trace_tags(store, corrected)
    # One height for both sides so their steps start level; a short pair needs no scrolling.
    longest = max(len(original.steps), len(corrected.steps))
    box_height = STEPS_BOX_PX if longest > STEPS_BOX_MIN_STEPS else "content"
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Original** · {len(original.steps)} steps")
        st.caption(original.id)
        with st.container(height=box_height, border=True, key=f"{key}_orig_steps"):
            st.html(side_html(original, m, "original", info.chosen, tags_o))
    with right:
        st.markdown(f"**Corrected** · {len(corrected.steps)} steps")
        st.caption(corrected.id)
        with st.container(height=box_height, border=True, key=f"{key}_corr_steps"):
            st.html(side_html(corrected, m, "corrected", info.chosen, tags_c))
    st.markdown("**Search trees** (the ringed node is the divergence step)")
    left, right = st.columns(2)
    config = {"displaylogo": False, "scrollZoom": True}
    with left:
        st.plotly_chart(
            tree_figure(original, tags_o, labels, m), key=f"{key}_tree_orig", config=config
        )
    with right:
        st.plotly_chart(
            tree_figure(corrected, tags_c, [], m), key=f"{key}_tree_corr", config=config
        )
