"""The labelling screen's step panel: keys, buttons, step cards, suggestions, history (a fragment).

The panel is one ``st.fragment``: a key press (``st.button(..., shortcut=...)``) reruns only the
panel, so moving between steps or judging one never redraws the tree beside it. Submitting
opens the next trace, which reruns the whole page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from components import label_editor as ed
from components.label_session import (
    apply_change,
    current_editor,
    reload_editor,
    submit_label,
    undo_change,
)
from components.label_steps import (
    history_rows,
    label_card_html,
    shortcuts_html,
    steps_css,
    suggestion_badge_html,
    suggestions_by_step,
    verdict_html,
)
from components.safe_text import BEHAVIOR_SHORT
from components.step_list import step_window, tags_in_step
from trace_store.annotation import Identity
from trace_store.schema import BEHAVIORS, BehaviorTag, Suggestion, Trace

STEP_KEY = "label_step"
"""Session key of the selected step."""

SUBMITTED_KEY = "label_submitted_trace"
"""Session key set to the trace just submitted: the page then opens the next one."""

PANEL_WINDOW = 12
"""Steps drawn in the panel at once (a window around the selected step)."""

BEHAVIOR_KEYS: dict[str, str] = {
    "backtracking": "1",
    "verification": "2",
    "subgoal_setting": "3",
    "backward_chaining": "4",
}


@dataclass(frozen=True)
class KeySpec:
    """One keyboard action: button key, caption, shortcut, and the modes that offer it."""

    action: str
    caption: str
    shortcut: str
    help: str
    modes: tuple[str, ...] = ()


KEYS: tuple[KeySpec, ...] = (
    KeySpec("next", "Next ▶", "j", "next step"),
    KeySpec("prev", "◀ Prev", "k", "previous step"),
    KeySpec("down", "▼", "Down", "next step"),
    KeySpec("up", "▲", "Up", "previous step"),
    KeySpec("correct", "✓ Correct", "g", "step is correct (+1), go on", ("first_mistake",)),
    KeySpec("correct", "+1 Good", "g", "rate +1 (correct), go on", ("step_rating",)),
    KeySpec("neutral", "0 Neutral", "0", "rate 0 (neutral), go on", ("step_rating",)),
    KeySpec("mistake", "✗ Mistake", "m", "step is wrong (−1)", ("first_mistake", "step_rating")),
    KeySpec("clear", "Unrate", "x", "step unrated again", ("first_mistake", "step_rating")),
    KeySpec("no_mistake", "No mistake", "n", "the trace has no mistake", ("first_mistake",)),
    *(
        KeySpec(f"beh_{b}", BEHAVIOR_SHORT[b], k, f"add/remove {b}", ("behaviors",))
        for b, k in BEHAVIOR_KEYS.items()
    ),
    KeySpec("accept", "Accept", "a", "accept the suggestion on this step"),
    KeySpec("undo", "Undo", "u", "undo the last change"),
    KeySpec("submit", "Submit", "Enter", "submit, open the next trace in the queue"),
)
"""Every key of the panel, in the order the on-screen list shows them."""


def active_keys(modes: Sequence[str]) -> list[KeySpec]:
    """Return the keys the project's modes offer (one spec per action, first match wins)."""
    out: list[KeySpec] = []
    seen: set[str] = set()
    for spec in KEYS:
        if spec.modes and not set(spec.modes) & set(modes):
            continue
        if spec.action in seen:
            continue
        seen.add(spec.action)
        out.append(spec)
    return out


def shortcut_rows(modes: Sequence[str]) -> list[tuple[str, str]]:
    """Return (key, what it does) rows of the on-screen shortcut list."""
    rows: list[tuple[str, str]] = [("j / ↓", "next step"), ("k / ↑", "previous step")]
    for spec in active_keys(modes):
        if spec.action in ("next", "prev", "down", "up"):
            continue
        rows.append((spec.shortcut, spec.help))
    rows.append(("click", "a step number or a tree node selects it"))
    return rows


@dataclass
class PanelContext:
    """What the panel needs from the page (fixed for one full run of the page)."""

    store: Any
    who: Identity
    trace: Trace
    tags: list[BehaviorTag]
    suggestions: list[Suggestion]
    modes: tuple[str, ...]
    on_draw: Callable[[int], None]
    """Called with the selected step after each draw (the page mirrors it into the URL)."""


def selected_step(n_steps: int) -> int:
    """Return the selected step, clamped into the trace (0 when none is selected)."""
    step = st.session_state.get(STEP_KEY)
    if not isinstance(step, int) or n_steps <= 0:
        return 0
    return max(0, min(step, n_steps - 1))


def best_suggestion(suggestions: Sequence[Suggestion], step: int) -> Suggestion | None:
    """Return the suggestion ``a`` accepts: the best one on ``step``, else the best verdict.

    A trace-level first-mistake suggestion (including "no mistake") is the fallback, so the
    key works wherever the cursor is.
    """
    on_step = suggestions_by_step(suggestions).get(step)
    if on_step:
        return on_step[0]
    verdicts = [s for s in suggestions if s.kind == "first_mistake"]
    return max(verdicts, key=lambda s: s.score or 0.0) if verdicts else None


def run_action(ctx: PanelContext, action: str, suggestion: Suggestion | None = None) -> None:
    """Apply one key's action to the open label (button callback): move, judge, undo, submit."""
    ss = st.session_state
    n = len(ctx.trace.steps)
    state = current_editor(ctx.store, ctx.who, ctx.trace, ctx.modes)
    step = selected_step(n)
    state.error = ""
    if action in ("next", "down"):
        ss[STEP_KEY] = ed.next_step(step, n)
        return
    if action in ("prev", "up"):
        ss[STEP_KEY] = ed.prev_step(step, n)
        return
    if action == "undo":
        back = undo_change(ctx.store, ctx.who, state, ctx.modes)
        if back is not None:
            ss[STEP_KEY] = back
        return
    if action == "submit":
        if submit_label(ctx.store, ctx.who, state, ctx.modes):
            ss[SUBMITTED_KEY] = ctx.trace.id
        return
    analyzer = [t.behavior for t in ctx.tags if t.step == step]
    values = state.values
    moves_on = False
    if action == "correct":
        new, moves_on = ed.mark_correct(values, step, ctx.modes), True
    elif action == "neutral":
        new, moves_on = ed.mark_neutral(values, step, ctx.modes), True
    elif action == "mistake":
        new = ed.mark_mistake(values, step, ctx.modes)
        moves_on = "first_mistake" not in ctx.modes
    elif action == "clear":
        new = ed.clear_step(values, step, ctx.modes)
    elif action == "no_mistake":
        new = ed.mark_no_mistake(values)
    elif action.startswith("beh_"):
        new = ed.toggle_behavior(values, step, action[4:], analyzer)
    elif action == "accept":
        chosen = suggestion or best_suggestion(ctx.suggestions, step)
        new = None if chosen is None else ed.accept_suggestion(values, chosen, ctx.modes)
        if chosen is None:
            state.error = "No suggestion to accept on this trace."
        elif new is None:
            state.error = f"The suggestion of {chosen.agent} cannot be applied to this trace."
    else:
        raise ValueError(f"unknown labelling action {action!r}")
    apply_change(ctx.store, ctx.who, state, new, step, ctx.modes)
    # Judging a step moves on even when it already had that judgement (walking a draft).
    if moves_on and not state.conflict and not state.error:
        ss[STEP_KEY] = ed.next_step(step, n)


def _pick(step: int) -> None:
    st.session_state[STEP_KEY] = step


def _key_button(where: Any, spec: KeySpec, ctx: PanelContext, *, disabled: bool = False) -> None:
    where.button(
        spec.caption,
        key=f"label_key_{spec.action}",
        shortcut=spec.shortcut,
        help=spec.help,
        on_click=run_action,
        args=(ctx, spec.action),
        disabled=disabled,
        width="stretch",
        type="primary" if spec.action == "submit" else "secondary",
    )


def render_keys(ctx: PanelContext, blocked: bool) -> None:
    """Draw the key buttons: navigation, judgements, behaviours, accept/undo/submit."""
    specs = {s.action: s for s in active_keys(ctx.modes)}
    nav = st.columns([2, 2, 1, 1])
    for col, action in zip(nav, ("prev", "next", "up", "down"), strict=True):
        _key_button(col, specs[action], ctx)
    judge = [a for a in ("correct", "neutral", "mistake", "clear") if a in specs]
    if judge:
        for col, action in zip(st.columns(len(judge)), judge, strict=True):
            _key_button(col, specs[action], ctx, disabled=blocked)
    beh = [f"beh_{b}" for b in BEHAVIORS if f"beh_{b}" in specs]
    if beh:
        for col, action in zip(st.columns(len(beh)), beh, strict=True):
            _key_button(col, specs[action], ctx, disabled=blocked)
    last = [a for a in ("no_mistake", "accept", "undo", "submit") if a in specs]
    for col, action in zip(st.columns(len(last)), last, strict=True):
        _key_button(col, specs[action], ctx, disabled=blocked)


def render_step_cards(ctx: PanelContext, values: ed.LabelValues, step: int) -> None:
    """Draw the window of steps around ``step``; each step's number button selects it."""
    n = len(ctx.trace.steps)
    window = step_window(n, step, size=PANEL_WINDOW)
    by_step = tags_in_step(ctx.tags)
    sugg = suggestions_by_step(ctx.suggestions)
    show_beh = "behaviors" in ctx.modes
    st.html(steps_css())
    with st.container(height=620, border=True, key="label_steps_box"):
        for i in range(*window):
            num, card = st.columns([1, 11], gap="small")
            num.button(
                f"▶{i}" if i == step else str(i),
                key=f"label_pick_{i}",
                on_click=_pick,
                args=(i,),
                type="tertiary",
                help=f"select step {i}",
            )
            card.html(
                label_card_html(
                    i,
                    ctx.trace.steps[i].text,
                    by_step.get(i, []),
                    values,
                    sugg.get(i, []),
                    selected=i == step,
                    show_behaviors=show_beh,
                )
            )
        if window[1] < n:
            st.caption(f"{n - window[1]} more steps below: press j to go on.")


def render_suggestions(ctx: PanelContext, blocked: bool) -> None:
    """Draw the model suggestions (agent, score) with one Accept button each."""
    shown = [s for s in ctx.suggestions if s.kind in ("first_mistake", "finding", "behaviors")]
    if not shown:
        st.caption("No suggestions from checkers or mistake finders for this trace.")
        return
    shown.sort(key=lambda s: (s.kind != "first_mistake", -(s.score or 0.0)))
    for k, sugg in enumerate(shown[:8]):
        where = ed.suggestion_step(sugg)
        if sugg.kind == "first_mistake":
            what = "no mistake" if where == -1 else f"first mistake at step {where}"
        elif sugg.kind == "finding":
            detail = sugg.value.get("message", "") if isinstance(sugg.value, dict) else ""
            what = f"finding at step {where}" + (f": {detail}" if detail else "")
        else:
            what = f"behaviours of step {where}: {sugg.value}"
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.html(steps_css() + suggestion_badge_html(sugg))
        left.text(what)
        right.button(
            "Accept",
            key=f"label_accept_{k}",
            on_click=run_action,
            args=(ctx, "accept", sugg),
            disabled=blocked,
            help="take this suggestion over into your label",
        )


@st.fragment
def render_step_panel(ctx: PanelContext) -> None:
    """Draw the step panel; it reruns alone on every key press (the tree is not redrawn)."""
    if st.session_state.get(SUBMITTED_KEY) == ctx.trace.id:
        st.rerun(scope="app")  # the page opens the next trace of the queue
    state = current_editor(ctx.store, ctx.who, ctx.trace, ctx.modes)
    n = len(ctx.trace.steps)
    step = selected_step(n)
    st.session_state[STEP_KEY] = step
    ctx.on_draw(step)
    blocked = bool(state.conflict)
    if state.conflict:
        st.error(
            "Not saved: this label changed somewhere else since you opened it (another tab or "
            f"window?). Nothing was merged. {state.conflict}"
        )
        st.button(
            "Reload the saved label (drops your unsaved change)",
            key="label_reload",
            on_click=reload_editor,
            args=(ctx.store, ctx.who, ctx.trace, ctx.modes),
        )
    if state.error:
        st.error(state.error)
    if state.notice:
        st.warning(state.notice)
    st.html(steps_css() + verdict_html(state.values, "conflict" if blocked else state.status))
    if state.saved_at is None:
        saved = "not saved yet (the first change saves a draft)"
    else:
        saved = f"saved {state.saved_at:%H:%M:%S} UTC (version {state.version})"
    counts = ed.rating_counts(state.values)
    st.caption(
        f"Step {step} of {n} · {saved} · rated +1: {counts['+1']}, 0: {counts['0']}, "
        f"−1: {counts['-1']}, unrated: {counts['unrated']}"
    )
    render_keys(ctx, blocked)
    render_step_cards(ctx, state.values, step)
    with st.expander(f"Suggestions ({len(ctx.suggestions)})", expanded=bool(ctx.suggestions)):
        render_suggestions(ctx, blocked)
    st.text_input(
        "Note (saved with the label)",
        value=state.values.note,
        key=f"label_note_{ctx.trace.id}",
        on_change=_note_changed,
        args=(ctx,),
        disabled=blocked,
    )
    with st.expander("History of this label (who, when, old → new)"):
        # Read only when asked for: the panel reruns on every key press.
        if st.toggle("Show the saves", key="label_show_history"):
            render_history(ctx, state.label_id)


def _note_changed(ctx: PanelContext) -> None:
    state = current_editor(ctx.store, ctx.who, ctx.trace, ctx.modes)
    note = st.session_state.get(f"label_note_{ctx.trace.id}") or ""
    apply_change(ctx.store, ctx.who, state, ed.with_note(state.values, note), None, ctx.modes)


def render_history(ctx: PanelContext, label_id: int | None) -> None:
    """Draw the saves of the open label, newest first."""
    if label_id is None:
        st.caption("Not saved yet: the first change saves a draft.")
        return
    rows = history_rows(ctx.store.label_history(label_id))
    st.dataframe(list(reversed(rows)), hide_index=True, width="stretch")


def render_shortcuts(modes: Sequence[str]) -> None:
    """Draw the list of keyboard shortcuts."""
    st.html(shortcuts_html(shortcut_rows(modes)))
