"""Label page: walk a trace's steps with the keyboard, judge them, autosave, submit, next.

The queue (annotation.next_trace) chooses the trace; the step panel (a fragment, see
components.label_panel) holds the keys; the tree beside it is the Trace page's figure, drawn
once per trace and clickable; the guidelines sit on the right. The URL keeps the dataset, the
trace, the step and (single-user mode) the annotator, so a reload reopens the same place and
the autosaved draft.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.identity import render_identity
from components.label_editor import MODE_TITLES, resume_step
from components.label_guidelines import guidelines_for
from components.label_panel import (
    STEP_KEY,
    SUBMITTED_KEY,
    PanelContext,
    render_shortcuts,
    render_step_panel,
)
from components.label_session import current_editor, forget_editor
from components.label_steps import other_label_line
from components.safe_text import STEP_CSS, escape_text, text_block_html
from components.url_state import apply_query_params, parse_int, query_value
from pages.shared import cached_datasets, current_store
from pages.trace import load_trace, render_view_chart, take_chart_click
from trace_store.annotation import (
    MODES,
    Identity,
    NotAllowed,
    Project,
    get_project,
    next_trace,
    progress,
    release_lease,
    save_project,
    visible_labels,
)
from trace_store.schema import Label, Trace

TRACE_KEY = "label_trace"
SKIPPED_KEY = "label_skipped"
"""Traces this person skipped in this browser session: the queue passes over them."""
DATASET_KEY = "label_dataset"


def init_page_state() -> None:
    """Take dataset, trace and step from the URL when it differs from what this page wrote."""
    ss = st.session_state
    ss.setdefault(TRACE_KEY, None)
    url = (query_value("dataset"), query_value("trace"), query_value("step"))
    if url == ss.get("label_url_written"):
        return
    dataset, tid, step = url
    if dataset:
        ss[DATASET_KEY] = dataset
    if tid and tid != ss[TRACE_KEY]:
        ss[TRACE_KEY] = tid
        ss.pop("label_step_for", None)
        forget_editor()
    if tid:
        ss[STEP_KEY] = parse_int(step)
        ss["label_step_from_url"] = ss[STEP_KEY] is not None


def write_url(dataset: str, trace_id: str | None, step: int | None) -> None:
    """Mirror dataset, trace and step into the URL, remembering what was written."""
    apply_query_params({"dataset": dataset, "trace": trace_id, "step": step})
    st.session_state["label_url_written"] = (
        dataset,
        trace_id,
        None if step is None else str(step),
    )


def open_trace(trace_id: str | None) -> None:
    """Make ``trace_id`` the open trace (the editor and step are set up when it is drawn)."""
    ss = st.session_state
    ss[TRACE_KEY] = trace_id
    ss.pop("label_step_for", None)
    ss["label_step_from_url"] = False
    ss.pop("label_tree", None)
    ss.pop("label_tree_seen", None)
    forget_editor()


def skip_trace(store: Any, who: Identity, dataset: str, trace_id: str) -> None:
    """Give up the lease on ``trace_id`` and open the next queue trace, passing over skipped ones.

    A draft of the skipped trace stays saved; it comes back once the session ends (or the
    person opens it by link).
    """
    ss = st.session_state
    skipped = ss.setdefault(SKIPPED_KEY, set())
    skipped.add(trace_id)
    release_lease(store, who, trace_id)
    open_trace(next_trace(store, who, dataset, skip=skipped))


def take_tree_click() -> None:
    """Select the step of a tree node clicked since the last run (before the panel is drawn)."""
    take_chart_click("label_tree", STEP_KEY)


def choose_dataset(store: Any) -> str | None:
    """Draw the dataset choice and return the chosen dataset (None when the store has none)."""
    names = [d.name for d in cached_datasets(store.url)]
    ss = st.session_state
    current = ss.get(DATASET_KEY)
    if current and current not in names:
        names.append(current)  # a dataset imported after the list was cached
    if not names:
        st.info("The store holds no datasets yet: import some on the Import page.")
        return None
    if current not in names:
        ss[DATASET_KEY] = names[0]
    return st.selectbox("Dataset", names, key=DATASET_KEY, on_change=open_trace, args=(None,))


def render_project_settings(store: Any, who: Identity, project: Project) -> None:
    """Draw the project's settings; admins may change them (modes, overlap, blind, guidelines)."""
    with st.expander("Project settings" + ("" if project.saved else " (defaults)")):
        if not who.can("admin"):
            st.text(
                f"Modes: {', '.join(project.modes)} · overlap {project.overlap} · "
                f"blind: {'yes' if project.blind else 'no'} (only an admin can change them)"
            )
            return
        with st.form(f"label_project_{project.dataset}", border=False):
            modes = st.multiselect(
                "Modes",
                list(MODES),
                default=list(project.modes),
                format_func=lambda m: MODE_TITLES.get(m, m),
            )
            c1, c2, c3 = st.columns(3)
            overlap = c1.number_input("Annotators per trace", 1, 50, value=project.overlap)
            lease = c2.number_input(
                "Lease (seconds)", 30, 86_400, value=project.lease_seconds, step=60
            )
            blind = c3.checkbox("Blind (others' labels hidden until I submit)", project.blind)
            guidelines = st.text_area(
                "Guidelines (markdown; empty = the default file for this dataset)",
                value=project.guidelines,
                height=160,
            )
            if st.form_submit_button("Save project settings"):
                try:
                    save_project(
                        store,
                        who,
                        Project(
                            dataset=project.dataset,
                            modes=tuple(modes),
                            overlap=int(overlap),
                            blind=bool(blind),
                            lease_seconds=int(lease),
                            guidelines=guidelines,
                        ),
                    )
                except (ValueError, NotAllowed) as exc:
                    st.error(str(exc))
                else:
                    forget_editor()
                    st.rerun()


def render_progress(store: Any, who: Identity, project: Project, mine: Any, team: Any) -> None:
    """Draw my progress and the team's on the dataset (in the two given containers)."""
    prog = progress(store, who, project.dataset)
    total = max(prog.total, 1)
    mine.progress(
        min(1.0, prog.mine_submitted / total),
        text=f"Mine: {prog.mine_submitted} submitted, {prog.mine_drafts} draft(s) of {prog.total}",
    )
    team.progress(
        min(1.0, prog.complete / total),
        text=f"Team: {prog.complete} of {prog.total} complete ({project.overlap} "
        f"each), {prog.in_progress} in progress",
    )


def render_header(trace: Trace, modes: tuple[str, ...]) -> None:
    """Draw the trace's metadata, question, target and answer (inert text).

    ``data-page-run`` counts the page's full runs, so a browser test can tell that a key
    press reran only the step panel (the fragment), not the page with its tree.
    """
    runs = st.session_state["label_page_runs"] = st.session_state.get("label_page_runs", 0) + 1
    meta = [
        "modes: " + ", ".join(MODE_TITLES.get(m, m) for m in modes),
        f"trace: {trace.id}",
        f"task: {trace.task or '—'}",
        f"model: {trace.model or '—'}",
        f"steps: {len(trace.steps)}",
    ]
    st.html(
        STEP_CSS
        + f'<div class="ts-head" data-page-run="{runs}">{escape_text(" · ".join(meta))}</div>'
    )
    q, t, a = st.columns([3, 1, 1])
    q.markdown("**Question**")
    q.html(text_block_html(trace.question))
    t.markdown("**Target**")
    t.html(text_block_html(trace.target if trace.target is not None else "—"))
    a.markdown("**Answer**")
    a.html(text_block_html(trace.answer if trace.answer is not None else "—"))


def render_others(
    store: Any, who: Identity, trace: Trace, project: Project, mine: str | None
) -> list[Label]:
    """Draw the other labels ``who`` may see (visible_labels) and return the ones shown.

    In a blind project, reviewers and admins (who may see everything) still get the labels
    hidden until they submit, behind a switch, so opening a trace does not show the answer.
    """
    others = visible_labels(store, who, trace.id)
    blind_now = project.blind and mine != "submitted"
    if others and blind_now and who.can("reviewer"):
        shown = st.toggle(
            f"Show {len(others)} other label(s) before submitting ({who.role})",
            key=f"label_reveal_{trace.id}",
        )
        if not shown:
            st.caption("Hidden until you submit yours (blind mode).")
            return []
    if others:
        st.text("\n".join(other_label_line(lab, len(trace.steps)) for lab in others))
    elif blind_now:
        st.caption("Hidden until you submit yours (blind mode).")
    else:
        st.caption("No other labels on this trace yet.")
    return others


def render_tree(trace: Trace, tags: list, version: str, labels: list, suggestions: list) -> None:
    """Draw the trace's search tree; clicking a node selects its step (a full rerun)."""
    collapse = len(trace.steps) > 300
    # No "selected" ring: keys move the selection without redrawing the tree, so a ring
    # would lag behind; the step panel shows the selection.
    render_view_chart(
        trace,
        tags,
        version,
        labels,
        suggestions,
        None,
        "tree",
        collapse,
        key="label_tree",
        height=520,
    )


def render_label() -> None:
    """Draw the Label page."""
    init_page_state()
    ss = st.session_state
    store = current_store()
    st.title("Label")
    who = render_identity(store)
    if not who.logged_in:
        st.info("Nothing can be labelled or saved until you are logged in.")
        return
    trace = None
    if ss[TRACE_KEY] is not None:
        trace, tags, version, _computed = load_trace(store.url, ss[TRACE_KEY])
        if trace is None:
            st.error(f"No trace with id {ss[TRACE_KEY]!r} in the store; opening the queue.")
            open_trace(None)
        else:
            # A link to a trace labels it under its own dataset's project.
            ss[DATASET_KEY] = trace.dataset
    top = st.columns([1.4, 1, 1], vertical_alignment="bottom")
    with top[0]:
        dataset = choose_dataset(store)
    if dataset is None:
        return
    project = get_project(store, dataset)
    skipped = ss.setdefault(SKIPPED_KEY, set())
    if ss.pop(SUBMITTED_KEY, None) is not None:
        open_trace(next_trace(store, who, dataset, skip=skipped))
        trace = None
        st.toast("Submitted. Here is the next trace of the queue.")
    if ss[TRACE_KEY] is None:
        open_trace(next_trace(store, who, dataset, skip=skipped))
    render_progress(store, who, project, top[1], top[2])
    render_project_settings(store, who, project)
    tid = ss[TRACE_KEY]
    if tid is None:
        write_url(dataset, None, None)
        if skipped:
            st.info(f"Nothing left in {dataset} but the {len(skipped)} trace(s) you skipped.")
            if st.button("Go back to the skipped traces", key="label_unskip"):
                skipped.clear()
                st.rerun()
        else:
            st.success(f"Nothing left for you to label in {dataset}: the queue is empty.")
        return
    if trace is None or trace.id != tid:
        trace, tags, version, _computed = load_trace(store.url, tid)
    if trace is None:
        st.error(f"No trace with id {tid!r} in the store.")
        return
    modes = tuple(m for m in project.modes if m in MODES) or ("first_mistake",)
    state = current_editor(store, who, trace, modes)
    if ss.get("label_step_for") != trace.id:
        ss["label_step_for"] = trace.id
        if not ss.pop("label_step_from_url", False):
            ss[STEP_KEY] = resume_step(state.values)
    take_tree_click()
    suggestions = store.suggestions_for(trace.id)
    render_header(trace, modes)
    st.button(
        "Skip this trace",
        key="label_skip",
        help="Leave it for now (a draft stays saved) and open the next trace of the queue.",
        on_click=skip_trace,
        args=(store, who, dataset, trace.id),
    )
    panel, side = st.columns([1.3, 1], gap="medium")
    with side:
        render_shortcuts(modes)
        guide_tab, tree_tab, others_tab = st.tabs(["Guidelines", "Tree", "Other labels"])
        with others_tab:
            others = render_others(store, who, trace, project, state.status)
        with tree_tab:
            render_tree(trace, tags, version, others, suggestions)
        with guide_tab:
            text, source = guidelines_for(dataset, project.guidelines)
            if source:
                st.caption(f"From {source}.")
            with st.container(height=560, border=False, key="label_guidelines"):
                # Written by the project's admin (trusted markdown), never trace text.
                st.markdown(text or "No guidelines for this dataset yet.")
    with panel:
        ctx = PanelContext(
            store, who, trace, tags, suggestions, modes, lambda step: write_url(dataset, tid, step)
        )
        render_step_panel(ctx)


if __name__ == "__main__":  # run as a script by Streamlit's pages/ folder scan
    from pages.shared import run_router

    run_router()
