"""Traces page: a filtered, server-paginated table of traces; selecting a row opens the trace."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from components.filters import describe_filter, filter_options, render_filter_controls
from components.trace_table import predicted_mistake, rows_to_frame, selected_row_id
from components.url_state import apply_query_params, parse_int, query_value
from pages.shared import cached_datasets, current_store, page
from trace_store import TraceFilter

PREFIX = "traces_f"
PAGE_SIZE = 50
COUNT_CAP = 10_000
"""Counts stop here: an exact count of a huge filtered store is slow, '10,000+' is enough."""

SORT_CHOICES: dict[str, str] = {
    "id": "id",
    "dataset": "dataset",
    "task": "task",
    "model": "model",
    "steps": "n_steps",
    "correct": "correct",
    "human labels": "n_labels",
    "labelled mistake": "dataset_mistake",
    "backtracking": "backtracking",
    "verification": "verification",
    "subgoal setting": "subgoal_setting",
    "backward chaining": "backward_chaining",
    "order added": "added",
}


def init_page_state() -> None:
    """Set the page's session defaults, taking the search text and page from the URL."""
    ss = st.session_state
    q = query_value("q")
    if q is not None and f"{PREFIX}_text" not in ss:
        ss[f"{PREFIX}_text"] = q
    if "traces_f_page" not in ss:
        ss["traces_f_page"] = parse_int(query_value("p"), lo=1) or 1
    ss.setdefault("traces_filter_sig", None)
    ss.setdefault(f"{PREFIX}_sort", "id")
    ss.setdefault(f"{PREFIX}_desc", False)


def filter_signature(flt: TraceFilter, sort: str, desc: bool) -> tuple:
    """Return a hashable summary of what the table shows, to reset paging when it changes."""
    return (repr(flt), sort, desc)


def fetch_page(
    flt: TraceFilter, page_no: int, order_by: str, descending: bool
) -> tuple[int, list[Any], dict[str, int | None]]:
    """Return (capped count, rows of page ``page_no``, predicted mistake per row id)."""
    store = current_store()
    total = store.count_traces(flt, cap=COUNT_CAP + 1)
    rows = store.list_traces(
        flt,
        limit=PAGE_SIZE,
        offset=(page_no - 1) * PAGE_SIZE,
        order_by=order_by,
        descending=descending,
    )
    # One query for the whole page, not one per row.
    found = store.suggestions_for_many([r.id for r in rows], kind="first_mistake")
    predicted = {r.id: predicted_mistake(found[r.id]) for r in rows}
    return total, rows, predicted


def count_text(total: int) -> str:
    """Return how the match count reads: '1 trace', '37 traces', '10,000+ traces'."""
    if total > COUNT_CAP:
        return f"{COUNT_CAP:,}+ traces"
    return "1 trace" if total == 1 else f"{total:,} traces"


def render_traces() -> None:
    """Draw the Traces page."""
    init_page_state()
    ss = st.session_state
    store = current_store()
    st.title("Traces")
    infos = cached_datasets(store.url)
    if not infos:
        st.info("The store holds no traces yet. Import some on the Import / generate page.")
        st.page_link(page("import_generate"), label="Import / generate")
        return
    options = filter_options(infos, ss.get(f"{PREFIX}_datasets") or ())
    flt = render_filter_controls(options, PREFIX)
    s1, s2, _ = st.columns([1, 1, 3])
    s1.selectbox("Sort by", list(SORT_CHOICES), key=f"{PREFIX}_sort")
    s2.toggle("Descending", key=f"{PREFIX}_desc")
    sort = SORT_CHOICES.get(ss[f"{PREFIX}_sort"], "id")
    sig = filter_signature(flt, sort, ss[f"{PREFIX}_desc"])
    if sig != ss["traces_filter_sig"]:
        if ss["traces_filter_sig"] is not None:
            ss["traces_f_page"] = 1
        ss["traces_filter_sig"] = sig
    try:
        total, rows, predicted = fetch_page(flt, ss["traces_f_page"], sort, ss[f"{PREFIX}_desc"])
    except ValueError as exc:
        st.error("This filter cannot be applied:")
        st.code(str(exc), language=None)
        return
    n_pages = max(1, math.ceil(min(total, COUNT_CAP) / PAGE_SIZE))
    if ss["traces_f_page"] > n_pages:
        ss["traces_f_page"] = n_pages
        total, rows, predicted = fetch_page(flt, n_pages, sort, ss[f"{PREFIX}_desc"])
    apply_query_params(
        {"q": flt.text, "p": ss["traces_f_page"] if ss["traces_f_page"] > 1 else None}
    )
    first = (ss["traces_f_page"] - 1) * PAGE_SIZE
    st.text(
        f"{count_text(total)} match ({describe_filter(flt)}). "
        + (f"Showing {first + 1}–{first + len(rows)}." if rows else "")
    )
    frame = rows_to_frame(rows, predicted)
    # A selection opens the trace at once, so it never outlives the rows it points into.
    event = st.dataframe(
        frame,
        key="traces_table",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        height=min(38 + 35 * max(len(frame), 1), 38 + 35 * 15),
        column_config={
            "id": st.column_config.TextColumn("id", width="medium"),
            "question": st.column_config.TextColumn("question", width="large"),
        },
    )
    st.caption("Select a row to open the trace.")
    opened = selected_row_id(frame, event)
    if opened:
        st.switch_page(page("trace"), query_params={"trace": opened})
    if n_pages > 1:
        st.number_input(
            f"Page (of {n_pages:,})", min_value=1, max_value=n_pages, step=1, key="traces_f_page"
        )


if __name__ == "__main__":  # run as a script by Streamlit's pages/ folder scan
    from pages.shared import run_router

    run_router()
