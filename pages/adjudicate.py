"""Adjudicate page: a reviewer sees the disagreeing labels of a trace side by side and records
the final label (annotation.adjudicate), which exports take with ``--labels adjudicated``.

Only reviewers and admins get past the identity check; annotators are told so and see nothing
else. The list holds the dataset's traces whose annotators named different first mistakes (the
store's ``label_state="disagreement"`` filter), open ones first; a link (``?trace=ID``) opens
any trace. The decision is saved with the version of the adjudicated label the reviewer saw, so
a decision another reviewer saved meanwhile is reported as a conflict, never overwritten.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.agreement_steps import (
    compared_labels,
    decision_options,
    default_decision,
    label_cards_html,
    option_text,
    reference_votes,
    steps_grid_html,
    votes,
)
from components.agreement_tables import mistake_text
from components.identity import current_identity, render_identity
from components.safe_text import STEP_CSS, text_block_html
from components.url_state import apply_query_params, query_value
from pages.shared import cached_datasets, current_store, page
from trace_store import TraceFilter
from trace_store.annotation import (
    ADJUDICATED_ANNOTATOR,
    LabelConflict,
    NotAllowed,
    adjudicate,
)
from trace_store.schema import Label

DATASET_KEY = "adjudicate_dataset"
TRACE_KEY = "adjudicate_trace"
SEEN_KEY = "adjudicate_seen"
FLASH_KEY = "adjudicate_flash"
NO_RATINGS = "none (first mistake only)"
LIST_LIMIT = 2_000
"""Most disagreeing traces listed (the rest are reachable by link or after adjudicating)."""


def init_page_state() -> None:
    """Take dataset and trace from the URL when they differ from what this page last wrote."""
    ss = st.session_state
    url = (query_value("dataset"), query_value("trace"))
    if url == ss.get("adjudicate_url_written"):
        return
    dataset, tid = url
    if dataset:
        ss[DATASET_KEY] = dataset
    if tid:
        ss[TRACE_KEY] = tid


def write_url(dataset: str, trace_id: str | None) -> None:
    """Mirror dataset and trace into the URL, remembering what was written."""
    apply_query_params({"dataset": dataset, "trace": trace_id})
    st.session_state["adjudicate_url_written"] = (dataset, trace_id)


def choose_dataset(store: Any) -> str | None:
    """Draw the dataset choice; return it (None when the store has none)."""
    names = [d.name for d in cached_datasets(store.url)]
    ss = st.session_state
    current = ss.get(DATASET_KEY)
    if current and current not in names:
        names.append(current)
    if not names:
        st.info("The store holds no datasets yet.")
        return None
    if current not in names:
        ss[DATASET_KEY] = names[0]
    return st.selectbox(
        "Dataset", names, key=DATASET_KEY, on_change=lambda: ss.pop(TRACE_KEY, None)
    )


def disagreement_queue(store: Any, dataset: str) -> tuple[list[str], dict[str, Label]]:
    """Return (disagreeing trace ids, open ones first, in import order; adjudicated labels)."""
    rows = store.list_traces(
        TraceFilter(datasets=[dataset], label_state="disagreement"),
        limit=LIST_LIMIT,
        order_by="added",
    )
    final = {
        lb.trace_id: lb
        for lb in store.iter_labels(dataset=dataset, annotator=ADJUDICATED_ANNOTATOR)
    }
    ids = [r.id for r in rows]
    return sorted(ids, key=lambda t: t in final), final


def save_decision(trace_id: str) -> None:
    """Record the reviewer's final label of ``trace_id`` (form callback; result in FLASH_KEY)."""
    ss = st.session_state
    store = current_store()
    who = current_identity(store)
    choice = ss.get(f"adjudicate_choice_{trace_id}")
    ratings_from = ss.get(f"adjudicate_ratings_{trace_id}", NO_RATINGS)
    note = ss.get(f"adjudicate_note_{trace_id}", "") or ""
    ratings = None
    if ratings_from != NO_RATINGS:
        source = store.labels_for(trace_id, annotator=ratings_from)
        ratings = source[0].step_ratings if source else None
    seen = ss.get(SEEN_KEY, {}).get(trace_id)
    try:
        saved = adjudicate(
            store,
            who,
            trace_id,
            first_mistake=choice,
            step_ratings=ratings,
            note=note,
            expected_version=seen,
        )
    except LabelConflict as exc:
        ss[FLASH_KEY] = (
            "error",
            f"Not saved: {exc}. The decision saved meanwhile is shown beside the other "
            "labels (card “adjudicated”); save again to replace it with yours.",
        )
    except (NotAllowed, ValueError) as exc:
        ss[FLASH_KEY] = ("error", f"Not saved: {exc}")
    else:
        ss[FLASH_KEY] = (
            "success",
            f"Saved the final label of {trace_id}: {mistake_text(saved.first_mistake)} "
            f"(version {saved.version}).",
        )
        ss["adjudicate_advance"] = trace_id


def render_decision(trace_id: str, n_steps: int, labels: list[Label]) -> None:
    """Draw the decision form: final first mistake, step ratings to keep, note."""
    final = next((lb for lb in labels if lb.annotator == ADJUDICATED_ANNOTATOR), None)
    st.session_state.setdefault(SEEN_KEY, {})[trace_id] = None if final is None else final.version
    options = decision_options(n_steps)
    by, reference = votes(labels), reference_votes(labels)
    default = default_decision(labels)
    raters = [
        lb.annotator
        for lb in labels
        if lb.annotator != ADJUDICATED_ANNOTATOR
        and lb.step_ratings
        and any(r is not None for r in lb.step_ratings)
    ]
    with st.form(f"adjudicate_form_{trace_id}", border=True):
        st.markdown("**Final label**" + (" (replaces the current one)" if final else ""))
        st.selectbox(
            "First mistake",
            options,
            index=options.index(default) if default in options else 0,
            key=f"adjudicate_choice_{trace_id}",
            format_func=lambda m: option_text(m, by, reference),
            help="Who named each choice is listed after it (people, then the dataset).",
        )
        st.selectbox(
            "Step ratings to keep",
            [NO_RATINGS, *raters],
            key=f"adjudicate_ratings_{trace_id}",
            help="Copy one label's per-step ratings into the final label (optional).",
        )
        st.text_area(
            "Note (why this decision)",
            value=final.note if final else "",
            key=f"adjudicate_note_{trace_id}",
            height=80,
        )
        st.form_submit_button(
            "Save final label", type="primary", on_click=save_decision, args=(trace_id,)
        )


def pick_trace(ids: list[str], final: dict[str, Label]) -> str | None:
    """Draw the trace choice (open ones first) and return the chosen trace id."""
    ss = st.session_state
    options = list(ids)
    current = ss.get(TRACE_KEY)
    if current and current not in options:
        options.insert(0, current)  # opened by link: any trace may be adjudicated
    if not options:
        return None
    if ss.pop("adjudicate_advance", None) == current:
        open_ = [t for t in ids if t not in final and t != current]
        if open_:
            ss[TRACE_KEY] = open_[0]
    if ss.get(TRACE_KEY) not in options:
        ss[TRACE_KEY] = options[0]

    def show(tid: str) -> str:
        if tid in final:
            return f"{tid} — adjudicated: {mistake_text(final[tid].first_mistake)}"
        return f"{tid} — open" if tid in ids else f"{tid} — (no disagreement recorded)"

    return st.selectbox("Trace", options, key=TRACE_KEY, format_func=show)


def render_adjudicate() -> None:
    """Draw the Adjudicate page."""
    init_page_state()
    ss = st.session_state
    store = current_store()
    st.title("Adjudicate")
    who = render_identity(store)
    if not who.logged_in:
        st.info("Log in to adjudicate.")
        return
    if not who.can("reviewer"):
        st.warning(
            f"Reviewers only: adjudication is for reviewers and admins, and you are logged in "
            f"as {who.name!r} ({who.role}). Ask an admin to give you the reviewer role; you can "
            "still label traces and see the agreement figures."
        )
        st.page_link(page("agreement"), label="See the agreement figures")
        return
    top = st.columns([1, 2])
    with top[0]:
        dataset = choose_dataset(store)
    if dataset is None:
        return
    ids, final = disagreement_queue(store, dataset)
    open_count = sum(1 for t in ids if t not in final)
    top[1].markdown(
        f"**{len(ids):,}** trace(s) with disagreeing first mistakes, **{open_count:,}** open"
    )
    flash = ss.pop(FLASH_KEY, None)
    if flash:
        (st.success if flash[0] == "success" else st.error)(flash[1])
    with top[1]:
        tid = pick_trace(ids, final)
    if tid is None:
        write_url(dataset, None)
        st.success(f"No disagreements to adjudicate in {dataset}.")
        st.page_link(page("agreement"), label="See the agreement figures")
        return
    trace = store.get_trace(tid)
    if trace is None:
        st.error(f"No trace with id {tid!r} in the store.")
        return
    write_url(dataset, tid)
    labels = compared_labels(store.labels_for(tid))
    st.caption(
        f"dataset {trace.dataset} · task {trace.task or '—'} · model {trace.model or '—'} · "
        f"{len(trace.steps)} steps"
    )
    q, t, a = st.columns([3, 1, 1])
    q.markdown("**Question**")
    q.html(STEP_CSS + text_block_html(trace.question))
    t.markdown("**Target**")
    t.html(text_block_html(trace.target if trace.target is not None else "—"))
    a.markdown("**Answer**")
    a.html(text_block_html(trace.answer if trace.answer is not None else "—"))
    if not labels:
        st.info("Nobody has submitted a label on this trace yet.")
    st.html(label_cards_html(labels, len(trace.steps)))
    grid, side = st.columns([2.2, 1], gap="medium")
    with grid, st.container(height=620, border=False, key="adjudicate_grid"):
        st.html(steps_grid_html(trace, labels))
    with side:
        render_decision(tid, len(trace.steps), labels)
        st.page_link(page("trace"), label="Open in the Trace view", query_params={"trace": tid})
        st.page_link(
            page("agreement"), label="Agreement figures", query_params={"dataset": dataset}
        )


if __name__ == "__main__":  # run as a script by Streamlit's pages/ folder scan
    from pages.shared import run_router

    run_router()
