"""Agreement page: how far a dataset's annotators agree, where they disagree, and what next.

Figures come from analyzers.agreement.load_report (the same report `cli.py agreement` prints):
headline figures, each pair of annotators (exact first-mistake match and Cohen's kappa), the
first-mistake confusion heatmap, each annotator against the dataset's own labels, and the
disagreeing traces (on the first mistake, step ratings or behaviour corrections: the Adjudicate
queue's rule, with the count of each) with links to the Adjudicate page and the Trace view. The
report is read fresh on every full run, so labels submitted a moment ago count at once; the
heatmap's pair choice and the trace picker are fragments that reuse it (reading takes about a
second for 6,000 labels, see bench/agreement_bench.py).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from analyzers.agreement import AgreementReport, load_report
from components import agreement_figures as figures
from components import agreement_tables as tables
from components.url_state import apply_query_params, query_value
from pages.shared import cached_datasets, current_store, page

DATASET_KEY = "agreement_dataset"
PICK_KEY = "agreement_pick"
TABLE_KEY = "agreement_disagreements"
ALL_PAIRS = "All pairs (earlier first mistake as row)"

STEP_JUDGEMENTS_NOTE = (
    "Kappa and alpha compare step judgements: a label's step ratings where it has any, else "
    "derived from its first mistake (steps before it +1, the mistake −1, later steps not "
    "judged; “no mistake” = every step +1). Alpha is given at the nominal level (every "
    "difference counts the same, like Cohen's kappa) and the ordinal level (−1 < 0 < +1). "
    "Only submitted labels count."
)


def init_page_state() -> None:
    """Take the dataset from the URL when it differs from what this page last wrote."""
    ss = st.session_state
    dataset = query_value("dataset")
    if dataset and dataset != ss.get("agreement_url_written"):
        ss[DATASET_KEY] = dataset


def choose_dataset(store: Any) -> str | None:
    """Draw the dataset choice; return the chosen dataset (None when the store has none)."""
    names = [d.name for d in cached_datasets(store.url)]
    ss = st.session_state
    current = ss.get(DATASET_KEY)
    if current and current not in names:
        names.append(current)  # imported after the list was cached, or a URL typo (reported)
    if not names:
        st.info("The store holds no datasets yet: import some on the Import page.")
        return None
    if current not in names:
        ss[DATASET_KEY] = names[0]
    dataset = st.selectbox("Dataset", names, key=DATASET_KEY)
    apply_query_params({"dataset": dataset})
    ss["agreement_url_written"] = dataset
    return dataset


def render_headline(report: AgreementReport) -> None:
    """Draw the headline figures (an undefined figure shows "—" with its reason as help)."""
    exact = report.first_mistake_exact
    cols = st.columns(5)
    cols[0].metric(
        "Traces with human labels",
        f"{report.n_traces:,}",
        help=f"{report.n_traces_overlap:,} of them labelled by two or more annotators",
    )
    cols[1].metric(
        "Exact first-mistake match",
        tables.stat_text(exact),
        help=exact.reason
        or f"Pooled over {exact.n:,} pairwise comparisons; all annotators agree on "
        f"{report.n_unanimous:,} of {report.n_traces_overlap:,} shared traces",
    )
    for col, name, stat in (
        (cols[2], "Krippendorff's α (nominal)", report.alpha_nominal),
        (cols[3], "Krippendorff's α (ordinal)", report.alpha_ordinal),
    ):
        col.metric(
            name, tables.stat_text(stat), help=stat.reason or f"over {stat.n:,} step judgements"
        )
    open_ = sum(1 for d in report.disagreements if not d.is_adjudicated)
    cols[4].metric(
        "Disagreeing traces",
        f"{len(report.disagreements):,}",
        help=f"{open_:,} not adjudicated yet. {breakdown_text(report)}",
    )
    undefined = [
        f"{name}: {stat.reason}"
        for name, stat in (
            ("exact match", exact),
            ("alpha", report.alpha_nominal),
        )
        if stat.value is None and stat.reason
    ]
    for line in undefined:
        st.warning(f"Undefined {line}.")
    st.caption(STEP_JUDGEMENTS_NOTE)
    for note in report.notes:
        st.caption(f"Note: {note}.")


def breakdown_text(report: AgreementReport) -> str:
    """Return how many disagreeing traces disagree on each kind of judgement, in words."""
    counts = report.disagreement_counts
    return (
        f"On the first mistake: {counts.first_mistake:,} · on step ratings: {counts.ratings:,} "
        f"· on behaviour corrections: {counts.behaviors:,} (a trace may count under more than "
        "one; the same rule as the Adjudicate page's queue)."
    )


def render_pairs(report: AgreementReport) -> None:
    """Draw the pairs table and bars."""
    st.subheader("Pairs of annotators")
    if not report.pairs:
        st.info("Only one annotator has submitted labels: no pair to compare yet.")
        return
    st.dataframe(
        tables.without_empty_notes(tables.pairs_frame(report)),
        hide_index=True,
        key="agreement_pairs_table",
    )


@st.fragment
def render_confusion(report: AgreementReport) -> None:
    """Draw the first-mistake confusion heatmap (all pairs, or one chosen pair).

    A fragment: choosing another pair redraws the heatmap from the report already read.
    """
    st.subheader("First mistakes compared")
    if not any(any(row) for row in report.confusion):
        st.info("No trace has first-mistake verdicts from two annotators yet.")
        return
    choices = [ALL_PAIRS] + [f"{p.a} vs {p.b}" for p in report.pairs]
    choice = st.selectbox("Compare", choices, key="agreement_confusion_pair")
    grouped = (
        "" if report.confusion_width == 1 else f" (steps in groups of {report.confusion_width})"
    )
    if choice == ALL_PAIRS:
        fig = figures.confusion_figure(
            report.confusion_axis,
            report.confusion,
            title="First mistake: every pair of annotators on a shared trace" + grouped,
            row_title="earlier first mistake",
            column_title="later first mistake",
            unit="label pairs",
        )
    else:
        pair = report.pairs[choices.index(choice) - 1]
        fig = figures.confusion_figure(
            report.confusion_axis,
            pair.confusion,
            title=f"First mistake: {pair.a} vs {pair.b}" + grouped,
            row_title=pair.a,
            column_title=pair.b,
        )
    st.plotly_chart(fig, key="agreement_confusion_chart", config={"displaylogo": False})
    st.caption(
        "Diagonal: both named the same first mistake (or the same group of steps); off the "
        "diagonal: disagreements. “no mistake” counts as later than every step."
    )


def render_reference(report: AgreementReport) -> None:
    """Draw each annotator's agreement with the dataset's own labels."""
    st.subheader("Against the dataset's own labels")
    if not report.reference:
        st.info("This dataset shipped no labels of its own to compare with.")
        return
    st.dataframe(
        tables.without_empty_notes(tables.reference_frame(report)),
        hide_index=True,
        key="agreement_ref_table",
    )


def render_bars(report: AgreementReport) -> None:
    """Draw the pairs' and the dataset comparison's bars side by side."""
    left, right = st.columns(2, gap="large")
    if report.pairs:
        left.plotly_chart(
            figures.pairs_figure(report), key="agreement_pairs_chart", config={"displaylogo": False}
        )
    if report.reference:
        right.plotly_chart(
            figures.reference_figure(report),
            key="agreement_ref_chart",
            config={"displaylogo": False},
        )


def _pick_from_table(ids: list[str]) -> None:
    """Make the row selected in the disagreements table the trace to act on."""
    event = st.session_state.get(TABLE_KEY)
    rows = event.get("selection", {}).get("rows", []) if event else []
    if rows and rows[0] < len(ids):
        st.session_state[PICK_KEY] = ids[rows[0]]


@st.fragment
def render_disagreements(report: AgreementReport, dataset: str) -> None:
    """Draw the disagreeing traces, with links to adjudicate one or open it (a fragment)."""
    st.subheader("Disagreeing traces")
    if not report.disagreements:
        st.success(
            "No trace has annotators disagreeing on the first mistake, a step's rating or a "
            "step's behaviours."
        )
        return
    ids = [d.trace_id for d in report.disagreements]
    st.caption(breakdown_text(report))
    st.caption(
        "Not yet adjudicated first. Select a row (or pick below) to adjudicate it or open it "
        "in the Trace view."
    )
    st.dataframe(
        tables.disagreements_frame(report.disagreements),
        hide_index=True,
        key=TABLE_KEY,
        on_select=lambda: _pick_from_table(ids),
        selection_mode="single-row",
    )
    ss = st.session_state
    if ss.get(PICK_KEY) not in ids:
        ss[PICK_KEY] = ids[0]
    by_id = {d.trace_id: d for d in report.disagreements}
    tid = st.selectbox(
        "Trace",
        ids,
        key=PICK_KEY,
        format_func=lambda t: f"{t} — {tables.disagreement_summary(by_id[t])}",
    )
    c1, c2 = st.columns(2)
    c1.page_link(
        page("adjudicate"),
        label=f"Adjudicate {tid}",
        query_params={"dataset": dataset, "trace": tid},
    )
    c2.page_link(page("trace"), label=f"Open {tid} in the Trace view", query_params={"trace": tid})


def render_agreement() -> None:
    """Draw the Agreement page."""
    init_page_state()
    store = current_store()
    st.title("Agreement")
    dataset = choose_dataset(store)
    if dataset is None:
        return
    with st.spinner("Comparing labels…"):
        report = load_report(store, dataset)
    if not report.annotators:
        st.info(
            f"No submitted human labels in {dataset!r} yet: agreement needs people's labels. "
            "Label traces on the Label page (drafts do not count until submitted)."
        )
        st.page_link(page("label"), label="Go to Label", query_params={"dataset": dataset})
        return
    render_headline(report)
    render_pairs(report)
    render_reference(report)
    render_bars(report)
    render_confusion(report)
    render_disagreements(report, dataset)
    with st.expander(f"Annotators ({len(report.annotators)})"):
        st.dataframe(tables.annotators_frame(report), hide_index=True)
    st.download_button(
        "Download the report (JSON)",
        data=_report_json(report),
        file_name=f"agreement-{dataset}.json",
        mime="application/json",
        key="agreement_json",
    )


def _report_json(report: AgreementReport) -> bytes:
    import orjson

    return orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2)


if __name__ == "__main__":  # run as a script by Streamlit's pages/ folder scan
    from pages.shared import run_router

    run_router()
