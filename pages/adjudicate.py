"""Adjudicate page: a reviewer sees the disagreeing labels of a trace side by side and records
the final label (annotation.adjudicate), which exports take with ``--labels adjudicated``.

Only reviewers and admins get past the identity check; annotators are told so and see nothing
else. The list holds the dataset's traces whose people's labels disagree on the first mistake,
on a step's rating or on a step's behaviour corrections (the store's
``label_state="disagreement"`` filter, trace_store.codec.label_disagreement), open ones first; a
link (``?trace=ID``) opens any trace. Ratings and corrections are shown side by side with the
differing steps marked, and the reviewer decides each differing step (components.adjudicate_merge).
The first mistake may be left undecided ("no verdict"), the default when nobody named one (an
agreed one is preselected, a disputed one defaults to the majority); a form that would decide
nothing at all is refused before saving.
The decision is saved with the version of the adjudicated label the reviewer saw, so a decision
another reviewer saved meanwhile is reported as a conflict, never overwritten.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.adjudicate_merge import (
    RATING_CHOICES,
    choice_of,
    correction_votes,
    corrections_grid_html,
    correctors,
    default_behaviors,
    default_first_mistake,
    default_rating,
    disagreement_text,
    final_mistake_text,
    first_mistake_choice_text,
    first_mistake_choices,
    has_decision,
    merged_corrections,
    merged_ratings,
    mistake_of,
    raters,
    rating_option_text,
    rating_votes,
)
from components.agreement_steps import (
    compared_labels,
    label_cards_html,
    reference_votes,
    steps_grid_html,
    votes,
)
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
from trace_store.codec import label_disagreement
from trace_store.schema import BEHAVIORS, Label

DATASET_KEY = "adjudicate_dataset"
TRACE_KEY = "adjudicate_trace"
SEEN_KEY = "adjudicate_seen"
FLASH_KEY = "adjudicate_flash"
NO_RATINGS = "none (first mistake only)"
MERGED_RATINGS = "merged: agreed + your choices below"
NO_CORRECTIONS = "none"
MERGED_CORRECTIONS = "merged: agreed + your choices below"
GRID_HEIGHT = 620
GRID_SCROLL_STEPS = 16
"""Past this many steps the step grid scrolls in a GRID_HEIGHT-pixel box."""
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


def _chosen(prefix: str, steps: tuple[int, ...]) -> dict[int, Any]:
    """Return the reviewer's per-step choices (widgets ``{prefix}{step}``) that were drawn."""
    ss = st.session_state
    return {k: ss[f"{prefix}{k}"] for k in steps if f"{prefix}{k}" in ss}


def decided_ratings(trace_id: str, labels: list[Label], n_steps: int) -> list[int | None] | None:
    """Return the step ratings the form puts in the final label (None: no ratings)."""
    source = st.session_state.get(f"adjudicate_ratings_{trace_id}", NO_RATINGS)
    if source == NO_RATINGS:
        return None
    if source == MERGED_RATINGS:
        split = label_disagreement(labels).rating_steps
        chosen = _chosen(f"adjudicate_rating_{trace_id}_", split)
        return merged_ratings(labels, n_steps, chosen)
    found = [lb for lb in labels if lb.annotator == source]
    return found[0].step_ratings if found else None


def decided_corrections(trace_id: str, labels: list[Label]) -> dict[int, list[str]] | None:
    """Return the behaviour corrections the form puts in the final label (None: none)."""
    source = st.session_state.get(f"adjudicate_corrections_{trace_id}", NO_CORRECTIONS)
    if source == NO_CORRECTIONS:
        return None
    if source == MERGED_CORRECTIONS:
        split = label_disagreement(labels).correction_steps
        chosen = _chosen(f"adjudicate_behaviors_{trace_id}_", split)
        return merged_corrections(labels, chosen)
    found = [lb for lb in labels if lb.annotator == source]
    return found[0].behavior_corrections if found else None


def save_decision(trace_id: str, n_steps: int) -> None:
    """Record the reviewer's final label of ``trace_id`` (form callback; result in FLASH_KEY)."""
    ss = st.session_state
    store = current_store()
    who = current_identity(store)
    choice = mistake_of(ss.get(f"adjudicate_choice_{trace_id}"))
    note = ss.get(f"adjudicate_note_{trace_id}", "") or ""
    labels = compared_labels(store.labels_for(trace_id))
    seen = ss.get(SEEN_KEY, {}).get(trace_id)
    ratings = decided_ratings(trace_id, labels, n_steps)
    corrections = decided_corrections(trace_id, labels)
    if not has_decision(choice, ratings, corrections):
        ss[FLASH_KEY] = (
            "error",
            "Not saved: the final label would decide nothing. Choose a first mistake (or “no "
            "mistake”), or keep step ratings or behaviour corrections.",
        )
        return
    try:
        saved = adjudicate(
            store,
            who,
            trace_id,
            first_mistake=choice,
            step_ratings=ratings,
            behavior_corrections=corrections,
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
        extra = ""
        if saved.step_ratings:
            extra += f", {sum(r is not None for r in saved.step_ratings)} step(s) rated"
        if saved.behavior_corrections:
            extra += f", behaviours of {len(saved.behavior_corrections)} step(s) corrected"
        ss[FLASH_KEY] = (
            "success",
            f"Saved the final label of {trace_id}: {final_mistake_text(saved.first_mistake)}"
            f"{extra} "
            f"(version {saved.version}).",
        )
        ss["adjudicate_advance"] = trace_id


def render_decision(trace_id: str, n_steps: int, labels: list[Label]) -> None:
    """Draw the decision form: final first mistake, step ratings, behaviour corrections, note."""
    final = next((lb for lb in labels if lb.annotator == ADJUDICATED_ANNOTATOR), None)
    st.session_state.setdefault(SEEN_KEY, {})[trace_id] = None if final is None else final.version
    options = first_mistake_choices(n_steps)
    by, reference = votes(labels), reference_votes(labels)
    split = label_disagreement(labels)
    default = choice_of(default_first_mistake(labels, split, final))
    with st.form(f"adjudicate_form_{trace_id}", border=True):
        st.markdown("**Final label**" + (" (replaces the current one)" if final else ""))
        st.selectbox(
            "First mistake",
            options,
            index=options.index(default) if default in options else 0,
            key=f"adjudicate_choice_{trace_id}",
            format_func=lambda m: first_mistake_choice_text(m, by, reference),
            help="Who named each choice is listed after it (people, then the dataset). “No "
            "verdict” leaves the first mistake out of the final label: the default when the "
            "people did not name different first mistakes.",
        )
        render_rating_choices(trace_id, labels, split.rating_steps, final)
        render_correction_choices(trace_id, labels, split.correction_steps, final)
        st.text_area(
            "Note (why this decision)",
            value=final.note if final else "",
            key=f"adjudicate_note_{trace_id}",
            height=80,
        )
        st.form_submit_button(
            "Save final label", type="primary", on_click=save_decision, args=(trace_id, n_steps)
        )


def render_rating_choices(
    trace_id: str, labels: list[Label], split: tuple[int, ...], final: Label | None
) -> None:
    """Draw where the final step ratings come from and a choice for each differing step."""
    names = raters(labels)
    merged = [MERGED_RATINGS] if len(names) >= 2 else []
    st.selectbox(
        "Step ratings to keep",
        [*merged, NO_RATINGS, *names],
        key=f"adjudicate_ratings_{trace_id}",
        help="Merged: the rating people agreed on for each step, and your choice below where "
        "they differ. Or copy one label's ratings, or keep none.",
    )
    for k in split:
        given = rating_votes(labels, k)
        ours = (final.step_ratings or []) if final else []
        default = ours[k] if k < len(ours) and ours[k] is not None else default_rating(given)
        st.selectbox(
            f"Step {k} rating (people differ)",
            RATING_CHOICES,
            index=RATING_CHOICES.index(default),
            key=f"adjudicate_rating_{trace_id}_{k}",
            format_func=lambda v, g=given: rating_option_text(v, g),
        )


def render_correction_choices(
    trace_id: str, labels: list[Label], split: tuple[int, ...], final: Label | None
) -> None:
    """Draw where the final behaviour corrections come from and a choice per differing step."""
    names = correctors(labels)
    if not names:
        return
    merged = [MERGED_CORRECTIONS] if len(names) >= 2 else []
    st.selectbox(
        "Behaviour corrections to keep",
        [*merged, NO_CORRECTIONS, *names],
        key=f"adjudicate_corrections_{trace_id}",
        help="Merged: each corrected step's behaviours as people agreed, and your choice below "
        "where they differ. Or copy one label's corrections, or keep none.",
    )
    ours = (final.behavior_corrections or {}) if final else {}
    for k in split:
        proposals = "; ".join(
            f"{', '.join(key) or 'none'} — {', '.join(who)}"
            for key, who in correction_votes(labels, k).items()
        )
        st.multiselect(
            f"Step {k} behaviours (people differ)",
            list(BEHAVIORS),
            default=list(ours[k]) if k in ours else default_behaviors(labels, k),
            key=f"adjudicate_behaviors_{trace_id}_{k}",
            format_func=lambda b: b.replace("_", " "),
            help=f"Proposed: {proposals}",
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
            return f"{tid} — adjudicated: {final_mistake_text(final[tid].first_mistake)}"
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
    top[1].markdown(f"**{len(ids):,}** trace(s) with disagreeing labels, **{open_count:,}** open")
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
    split = label_disagreement(labels)
    if split:
        st.caption(disagreement_text(split) + " Rows where the labels differ are highlighted.")
    st.html(label_cards_html(labels, len(trace.steps)))
    grid, side = st.columns([2.2, 1], gap="medium")
    with grid:
        # A long trace scrolls in its own box; a short one leaves no gap above the corrections.
        height = GRID_HEIGHT if len(trace.steps) > GRID_SCROLL_STEPS else "content"
        with st.container(height=height, border=False, key="adjudicate_grid"):
            st.html(steps_grid_html(trace, labels))
        corrections = corrections_grid_html(trace, labels, split.correction_steps)
        if corrections:
            st.markdown("**Behaviour corrections** (≠: people chose different behaviours)")
            st.html(corrections)
    with side:
        render_decision(tid, len(trace.steps), labels)
        st.page_link(page("trace"), label="Open in the Trace view", query_params={"trace": tid})
        st.page_link(
            page("agreement"), label="Agreement figures", query_params={"dataset": dataset}
        )


if __name__ == "__main__":  # run as a script by Streamlit's pages/ folder scan
    from pages.shared import run_router

    run_router()
