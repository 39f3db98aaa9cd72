"""Trace page: question, target, answer; step list beside the tree; URL holds trace, step, view."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from analyzers.graph import label_states
from components.behavior_tags import UNSAVED_SUFFIX, behavior_tags_of
from components.safe_text import STEP_CSS, escape_text, math_fragments, text_block_html
from components.step_list import (
    label_summary,
    step_list_html,
    step_window,
    tags_in_step,
)
from components.tree_figure import VIEWS, step_from_selection, view_figure
from components.tree_view import LOD_THRESHOLD, compute_view
from components.url_state import apply_query_params, parse_choice, parse_int, query_value
from pages.shared import current_store, page
from trace_store.schema import BehaviorTag, Label, Suggestion, Trace

PLOT_CONFIG = {"scrollZoom": True, "displaylogo": False, "modeBarButtonsToRemove": ["lasso2d"]}


def init_page_state() -> None:
    """Take trace id, selected step and view from the URL into session state.

    The URL is read only when it differs from what this page last wrote into it (a pasted
    link, browser back/forward), so it never undoes a move made since.
    """
    ss = st.session_state
    ss.setdefault("trace_id", None)
    ss.setdefault("trace_step", None)
    ss.setdefault("trace_view", "tree")
    url = (query_value("trace"), query_value("step"), query_value("view"))
    if url == ss.get("trace_url_written"):
        return
    tid, step_text, view = url
    if tid and tid != ss["trace_id"]:
        ss["trace_id"] = tid
        ss["trace_step"] = None
        ss.pop("trace_tree", None)
        ss.pop("trace_tree_seen", None)
    if tid:
        ss["trace_step"] = parse_int(step_text)
    if view is not None:
        ss["trace_view"] = parse_choice(view, VIEWS, "tree")


def write_url(trace_id: str, step: int | None, view: str) -> None:
    """Mirror the shown trace, step and view into the URL, remembering what was written."""
    apply_query_params({"trace": trace_id, "step": step, "view": view})
    st.session_state["trace_url_written"] = (trace_id, None if step is None else str(step), view)


@st.cache_data(max_entries=64, ttl=120, show_spinner=False)
def load_trace(
    url: str, trace_id: str, tagger: str | None = None
) -> tuple[Trace | None, list[BehaviorTag], str, bool]:
    """Return (trace, behaviour tags, analysis version, whether tags were computed just now).

    ``tagger`` None shows the saved analysis; a registered tagger's name, its tags computed now.
    """
    store = current_store()
    trace = store.get_trace(trace_id)
    if trace is None:
        return None, [], "", False
    found = behavior_tags_of(store, trace, tagger)
    return trace, found.tags, found.version, found.computed


SAVED_TAGS = "saved analysis"
"""The Trace page's tag-source choice that shows the stored analysis (the default)."""


def chosen_tagger() -> str | None:
    """Draw the sidebar's tag-source choice; return the tagger to run now (None: saved tags)."""
    from analyzers.behaviors import tagger_names

    choice = st.sidebar.selectbox(
        "Behaviour tags from",
        [SAVED_TAGS, *tagger_names()],
        key="trace_tagger",
        help="The saved analysis (`cli.py analyze`), or tags computed now by a registered "
        "tagger, to compare taggers on this trace. Computed tags are not saved.",
    )
    return None if choice == SAVED_TAGS else choice


def load_with_tagger(url: str, trace_id: str, tagger: str | None) -> tuple:
    """Return load_trace's answer for ``tagger``; if it can't run, a warning and saved tags."""
    from analyzers.behaviors import TaggerUnavailable

    if tagger is not None:
        try:
            return load_trace(url, trace_id, tagger)
        except TaggerUnavailable as exc:
            st.warning(f"Tagger {tagger!r} cannot run here: {exc} Showing the saved analysis.")
    return load_trace(url, trace_id)


@st.cache_data(max_entries=32, show_spinner=False)
def cached_view(
    _trace: Trace,
    _tags: list[BehaviorTag],
    _labels: list[Label],
    trace_id: str,
    version: str,
    labels_key: tuple,
    view: str,
    collapse: bool,
) -> Any:
    """Return the view model (graph + layout) for one trace, analysis version, view and LOD."""
    return compute_view(_trace, _tags, _labels, view, collapse=collapse)


def render_view_chart(
    trace: Trace,
    tags: list[BehaviorTag],
    version: str,
    labels: list[Label],
    suggestions: list[Suggestion],
    selected: int | None,
    view: str,
    collapse: bool,
    *,
    key: str,
    height: int = 640,
) -> None:
    """Draw the trace's figure for ``view`` (nodes selectable: a full rerun) and its note."""
    labels_key = tuple((lab.id, lab.version, lab.first_mistake) for lab in labels)
    model = cached_view(trace, tags, labels, trace.id, version, labels_key, view, collapse)
    fig = view_figure(trace, model, tags, labels, suggestions, selected, view, height=height)
    st.plotly_chart(fig, key=key, on_select="rerun", selection_mode="points", config=PLOT_CONFIG)
    if model.note:
        st.caption(model.note)


def _select_step(step: int | None) -> None:
    st.session_state["trace_step"] = step


def take_tree_click() -> None:
    """Select the step of a node clicked since the last run (the figure's selection changed).

    Reading the chart's state at the top of the run, before the step list is drawn, makes one
    click update both the list and the figure; an unchanged selection (the same node still
    selected after Prev/Next moved on) is not applied again.
    """
    take_chart_click("trace_tree", "trace_step")


def take_chart_click(chart_key: str, step_key: str) -> None:
    """Store in ``step_key`` the step of a node newly selected on chart ``chart_key``.

    The chart's last selection is remembered under ``<chart_key>_seen``, so an unchanged
    selection is not applied again.
    """
    ss = st.session_state
    event = ss.get(chart_key)
    seen = repr(event.get("selection") if isinstance(event, Mapping) else event)
    if seen == ss.get(f"{chart_key}_seen"):
        return
    ss[f"{chart_key}_seen"] = seen
    step = step_from_selection(event)
    if step is not None:
        ss[step_key] = step


def _on_jump(key: str) -> None:
    """Select the step typed or picked in widget ``key``, then clear the widget.

    Clearing keeps these widgets as one-shot jumps: they never hold a stale step that a later
    rerun could apply again over a Prev/Next move.
    """
    value = st.session_state.get(key)
    if value is not None:
        st.session_state["trace_step"] = int(value)
        st.session_state[key] = None


def _open_typed_id() -> None:
    """Open the trace whose id was typed in the form (form-submit callback)."""
    ss = st.session_state
    typed = (ss.get("trace_open_id") or "").strip()
    if typed and typed != ss["trace_id"]:
        ss["trace_id"] = typed
        ss["trace_step"] = None
        ss.pop("trace_tree", None)
        ss.pop("trace_tree_seen", None)


def render_trace_header(trace: Trace, labels: list[Label], computed: bool, version: str) -> None:
    """Draw the trace's metadata, question, target, answer and label summary (all inert)."""
    meta = [
        f"dataset: {trace.dataset}",
        f"task: {trace.task or '—'}",
        f"model: {trace.model or '—'}",
        f"steps: {len(trace.steps)}",
        "correct: " + {True: "yes", False: "no", None: "unknown"}[trace.correct],
    ]
    st.html(STEP_CSS + f'<div class="ts-head">{escape_text(" · ".join(meta))}</div>')
    q, t, a = st.columns([3, 1, 1])
    with q:
        st.markdown("**Question**")
        st.html(text_block_html(trace.question))
    with t:
        st.markdown("**Target**")
        st.html(text_block_html(trace.target if trace.target is not None else "—"))
    with a:
        st.markdown("**Answer**")
        st.html(text_block_html(trace.answer if trace.answer is not None else "—"))
    lines = label_summary(labels)
    st.text("Labels: " + ("; ".join(lines) if lines else "none"))
    if computed:
        by = version.removesuffix(UNSAVED_SUFFIX)
        st.caption(f"Behaviours computed now by {by}, not saved.")


@st.fragment
def render_trace_body(
    trace: Trace,
    tags: list[BehaviorTag],
    version: str,
    labels: list[Label],
    suggestions: list[Suggestion],
) -> None:
    """Draw the view switch, the step list and the figure; reruns alone when the step moves."""
    ss = st.session_state
    take_tree_click()
    n = len(trace.steps)
    if ss["trace_step"] is not None and not 0 <= ss["trace_step"] < n:
        ss["trace_step"] = None
    c1, c2, c3 = st.columns([2, 2, 3])
    c1.segmented_control("View", VIEWS, key="trace_view", required=True)
    collapse = False
    if n > LOD_THRESHOLD:
        collapse = c2.toggle("Collapse long chains", value=True, key="trace_collapse")
    c3.toggle("Show math of the selected step", key="trace_math")
    view = ss["trace_view"] or "tree"
    selected = ss["trace_step"]
    write_url(trace.id, selected, view)

    # The same choice of label (adjudicated, newest human, dataset) as the behaviour graph's.
    states = label_states(n, labels)
    suggested = [
        int(s.value)
        for s in suggestions
        if s.kind == "first_mistake" and isinstance(s.value, int) and s.value >= 0
    ]
    left, right = st.columns([1, 1.25])
    with left:
        window = step_window(n, selected)
        nav = st.columns([1, 1, 2])
        prev_step = max(0, (selected if selected is not None else 0) - 1)
        next_step = min(n - 1, (selected + 1) if selected is not None else 0)
        nav[0].button(
            "◀ Prev",
            on_click=_select_step,
            args=(prev_step,),
            disabled=n == 0,
            key="trace_prev",
            width="stretch",
        )
        nav[1].button(
            "Next ▶",
            on_click=_select_step,
            args=(next_step,),
            disabled=n == 0,
            key="trace_next",
            width="stretch",
        )
        nav[2].number_input(
            "Go to step",
            min_value=0,
            max_value=max(n - 1, 0),
            step=1,
            value=None,
            key="trace_goto",
            on_change=_on_jump,
            args=("trace_goto",),
            placeholder="go to step…",
            label_visibility="collapsed",
        )
        if n:
            st.pills(
                f"Steps {window[0]}–{window[1] - 1} of {n}",
                list(range(*window)),
                key="trace_pick",
                on_change=_on_jump,
                args=("trace_pick",),
            )
        # A fixed-height box scrolls a long window; a short trace needs no empty space.
        box_height = 560 if window[1] - window[0] > 5 else "content"
        with st.container(height=box_height, border=True, key="trace_steps_box"):
            st.html(step_list_html(trace, window, tags_in_step(tags), states, suggested, selected))
            if window[1] < n:
                st.caption(f"{n - window[1]} more steps below: press Next or pick a node.")
        if ss.get("trace_math") and selected is not None:
            found = math_fragments(trace.steps[selected].text)
            if not found:
                st.caption("No $…$ math in the selected step.")
            for expr in found[:20]:
                st.latex(expr)
    with right:
        render_view_chart(
            trace, tags, version, labels, suggestions, selected, view, collapse, key="trace_tree"
        )


def render_trace() -> None:
    """Draw the Trace page."""
    init_page_state()
    ss = st.session_state
    store = current_store()
    st.title("Trace")
    tid = ss["trace_id"]
    if ss.get("trace_open_for") != tid:  # show the id of the trace opened some other way
        ss["trace_open_for"] = tid
        ss["trace_open_id"] = tid or ""
    with st.form("trace_open_form", border=False):
        o1, o2 = st.columns([4, 1], vertical_alignment="bottom")
        o1.text_input("Open trace by id", key="trace_open_id")
        o2.form_submit_button("Open", on_click=_open_typed_id)
    if not tid:
        st.info("No trace chosen: select a row on the Traces page or type an id above.")
        st.page_link(page("traces"), label="Go to Traces")
        return
    trace, tags, version, computed = load_with_tagger(store.url, tid, chosen_tagger())
    if trace is None:
        st.error("No trace with this id in the store:")
        st.code(tid, language=None)
        apply_query_params({"trace": None, "step": None})
        return
    labels = store.labels_for(tid)
    suggestions = store.suggestions_for(tid)
    render_trace_header(trace, labels, computed, version)
    render_trace_body(trace, tags, version, labels, suggestions)


if __name__ == "__main__":  # run as a script by Streamlit's pages/ folder scan
    from pages.shared import run_router

    run_router()
