"""LM page: generate traces with a language model, correct them by backtracking, compare.

Four tabs over one background job at a time (components.lm_job): Generate (questions of a
stored dataset answered by a local model or an OpenAI-compatible server, traces stored with a
Run), Correct (Tyen et al.'s backtracking correction at labelled, suggested or random mistake
locations, with the random-location control; accuracy before/after side by side), Compare
(original vs corrected, components.correction_view) and Runs (every Run with its parameters
and timings). While a job runs, a progress bar above the tabs refreshes itself and a Cancel
button stops the job at the next batch. The open tab and the compared trace are in the URL
(``tab``, ``corrected``).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.correction_view import render_correction_view
from components.lm_forms import correct_fields, generate_fields, remember_fields, restore_fields
from components.lm_job import LMJob
from components.lm_runs import (
    check_backend,
    check_correction,
    check_generation,
    start_correction,
    start_generation,
)
from components.lm_tables import (
    ARM_NAMES,
    arm_counts,
    arms_frame,
    corrected_frame,
    correction_verdict,
    pct,
    run_details,
    runs_frame,
    traces_of_run,
)
from components.url_state import apply_query_params, parse_choice, query_value
from pages.shared import cached_datasets, clear_store_caches, current_store, page
from trace_store.schema import Run, Trace

PREFIX = "lm"
TABS: tuple[str, ...] = ("Generate", "Correct", "Compare", "Runs")
POLL_SECONDS = 0.5
"""How often the progress bar of a running job refreshes."""
RUN_KINDS: tuple[str, ...] = ("generate", "correct")
ROW_PX = 35
"""Height of one st.dataframe row, to size tables that should show every row."""


def plural(n: int, noun: str) -> str:
    """Return "1 trace", "2 traces"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def init_page_state() -> None:
    """Set the page's session defaults; take the tab and the compared trace from the URL.

    The URL is read only when it differs from what this page last wrote into it (a pasted
    link, browser back/forward), so it never undoes a tab switch made since.
    """
    ss = st.session_state
    ss.setdefault("lm_job", None)
    ss.setdefault("lm_problems", [])
    ss.setdefault("lm_run_id", None)
    ss.setdefault("lm_compare_id", None)
    url_tab = parse_choice(query_value("tab"), TABS, "")
    if url_tab and url_tab != ss.get("lm_tab_written"):
        ss["lm_tab"] = url_tab
    url_id = query_value("corrected")
    if url_id and url_id != ss.get("lm_compare_written"):
        ss["lm_compare_id"] = url_id
        ss["lm_compare_written"] = url_id


def _job() -> LMJob | None:
    return st.session_state.get("lm_job")


def _busy() -> bool:
    job = _job()
    return job is not None and job.running


def acknowledge_finished_job() -> None:
    """React once to a job's end: forget cached store queries, point at a new correction run."""
    job = _job()
    if job is None or job.running or job.acknowledged:
        return
    clear_store_caches()
    if job.kind == "correct" and job.result is not None:
        st.session_state["lm_run_id"] = job.result.run_id
    job.acknowledged = True


def _start(kind: str, settings: Any) -> None:
    """Start a generation or correction job, or record why it cannot start."""
    ss = st.session_state
    checks = check_generation if kind == "generate" else check_correction
    problems = check_backend(settings.backend) + checks(settings)
    if not problems:
        starter = start_generation if kind == "generate" else start_correction
        try:
            ss["lm_job"] = starter(current_store(), settings)
        except (ValueError, OSError) as exc:  # no questions, bad prompt file, ...
            problems = [str(exc)]
    ss["lm_problems"] = problems


def _dismiss_job() -> None:
    st.session_state["lm_job"] = None


def _show_traces(dataset: str) -> None:
    """Filter the Traces page to ``dataset`` (button callback; the page switch follows)."""
    st.session_state["traces_f_datasets"] = [dataset]
    st.session_state["lm_goto_traces"] = True


def render_job_panel() -> None:
    """Draw the current job: a live progress bar with Cancel, or how it ended."""
    job = _job()
    if job is None:
        return
    with st.container(border=True, key="lm_job_box"):
        st.text(f"Job: {job.title}")
        if job.running:

            @st.fragment(run_every=POLL_SECONDS)
            def live_progress() -> None:
                current = _job()
                if current is None:
                    return
                st.progress(current.fraction(), text=current.progress_text())
                st.button(
                    "Cancel",
                    key="lm_cancel",
                    on_click=current.request_cancel,
                    disabled=current.cancel_requested or not current.running,
                    help="Stops the job at the next batch; finished traces are not kept.",
                )
                if not current.running:
                    st.rerun()  # the whole page: results, runs and dataset lists change

            live_progress()
            return
        render_job_outcome(job)


def render_job_outcome(job: LMJob) -> None:
    """Draw how a finished job ended: figures of its report, or its error."""
    report = job.result
    if job.status == "failed":
        st.error("The job failed:")
        st.code(job.error or "unknown error", language=None)
        if job.error_details:
            with st.expander("Details"):
                st.code(job.error_details, language=None)
    elif report is None:
        st.warning(f"The job was cancelled before the model was loaded ({job.elapsed():.1f} s).")
    elif job.kind == "generate":
        acc = pct(report.accuracy)
        tps = "—" if report.tokens_per_s is None else f"{report.tokens_per_s:,.1f}"
        line = (
            f"{report.n_generated} traces generated into '{report.dataset}' "
            f"({report.added} added, {report.unchanged} already there); answered "
            f"{report.n_answered}/{report.n_generated}, accuracy {acc} "
            f"({report.n_correct}/{report.n_with_target}); {report.tokens:,} tokens in "
            f"{report.seconds:.1f} s ({tps} tokens/s). Run {report.run_id}."
        )
        (st.success if job.status == "done" else st.warning)(
            "Generation finished." if job.status == "done" else "Generation cancelled."
        )
        st.text(line)
        if report.added or report.unchanged:
            st.button(
                f"Show the traces of '{report.dataset}'",
                key="lm_show_traces",
                on_click=_show_traces,
                args=(report.dataset,),
            )
    else:
        done = job.status == "done"
        (st.success if done else st.warning)(
            "Correction finished: see the Correct tab."
            if done
            else "Correction cancelled: the arms finished so far are stored."
        )
        st.text(
            f"{report.added} corrected traces added to '{report.out_dataset}' "
            f"({report.unchanged} already there). Run {report.run_id}."
        )
    st.button("Dismiss", key="lm_dismiss", on_click=_dismiss_job)


def render_problems() -> None:
    """Draw why the last start was refused, if it was."""
    problems = st.session_state.get("lm_problems") or []
    if problems:
        st.error("Cannot start:")
        st.code("\n".join(problems), language=None)


def render_start_button(kind: str, settings: Any, label: str, key: str, *, can_start: bool) -> None:
    """Draw the button that starts a ``kind`` job (off while one runs) and why a start failed."""
    if st.button(label, type="primary", key=key, disabled=_busy() or not can_start):
        _start(kind, settings)
        st.rerun()
    render_problems()


def render_generate_tab(infos: dict[str, Any], templates: list[str]) -> None:
    """Draw the generation settings and the Generate button."""
    settings = generate_fields(infos, templates)
    render_start_button("generate", settings, "Generate", "lm_gen_go", can_start=bool(infos))
    st.caption(
        "Traces land in the store with per-step token log-probabilities; the Run (Runs tab) "
        "records model, prompt files, parameters and timings."
    )


def render_arms(run: Run) -> None:
    """Draw a correction run's arms side by side: accuracy before → after, counts, verdict."""
    arms = run.stats.get("arms") or {}
    if not arms:
        st.info(f"Run {run.id} ({run.status}) stored no results.")
        return
    cols = st.columns(len(arms))
    for col, (name, arm) in zip(cols, arms.items(), strict=True):
        full = arm_counts(arm)
        change = full["change"]
        with col, st.container(border=True):
            st.metric(
                ARM_NAMES.get(name, name),
                f"{pct(arm.get('accuracy_before'))} → {pct(arm.get('accuracy_after'))}",
                # No arrow for "no change": an up arrow on +0.0 reads as a gain.
                delta=f"{change:+.1f} points" if change else None,
            )
            st.text(
                f"{plural(arm.get('n', 0), 'trace')} ({arm.get('n_with_target', 0)} with a "
                "target): "
                f"{full['correct_before']} → {full['correct_after']} right; "
                f"{arm.get('fixed', 0)} fixed, {arm.get('broken', 0)} broken"
            )
    table = arms_frame(run.stats)
    st.dataframe(table, key="lm_arms_table", height=ROW_PX * (len(table) + 1) + 3)
    verdict = correction_verdict(run.stats)
    if verdict:
        st.info(verdict)
    skipped = run.stats.get("skipped") or {}
    if skipped:
        st.caption(
            "Skipped: "
            + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(skipped.items()))
        )


@st.cache_data(ttl=600, show_spinner=False)
def cached_run_traces(url: str, run_id: str, run_dataset: str, finished: str) -> list[Trace]:
    """Return the traces a run stored (cached; cleared when a job ends)."""
    store = current_store()
    run = next((r for r in store.list_runs() if r.id == run_id), None)
    return [] if run is None else traces_of_run(store, run)


def _sync_pick(widget: str, value_key: str, options: list[str]) -> None:
    """Show ``value_key``'s value in select widget ``widget`` (set before it is drawn)."""
    ss = st.session_state
    if ss.get(value_key) not in options and options:
        ss[value_key] = options[0]
    if ss.get(widget) != ss.get(value_key):
        ss[widget] = ss.get(value_key)


def _copy_pick(widget: str, value_key: str) -> None:
    st.session_state[value_key] = st.session_state[widget]


def _open_compare(trace_id: str) -> None:
    st.session_state["lm_compare_id"] = trace_id
    st.session_state["lm_tab"] = "Compare"


def _run_label(run: Run) -> str:
    params = run.params
    return (
        f"{run.started_at:%Y-%m-%d %H:%M} · {params.get('source_dataset')} · "
        f"{params.get('location')} · {run.status} · {run.id}"
    )


def selected_correction_run(runs: list[Run]) -> Run | None:
    """Draw the correction-run picker and return the chosen run (the newest by default)."""
    if not runs:
        return None
    by_id = {r.id: r for r in runs}
    _sync_pick("lm_run_pick", "lm_run_id", list(by_id))
    chosen = st.selectbox(
        "Correction run",
        list(by_id),
        format_func=lambda rid: _run_label(by_id[rid]),
        key="lm_run_pick",
        on_change=_copy_pick,
        args=("lm_run_pick", "lm_run_id"),
    )
    return by_id.get(chosen)


def render_correct_tab(infos: dict[str, Any], templates: list[str]) -> None:
    """Draw the correction settings, the Correct button and the chosen run's results."""
    settings = correct_fields(infos, templates)
    render_start_button("correct", settings, "Correct", "lm_cor_go", can_start=bool(infos))
    st.divider()
    store = current_store()
    run = selected_correction_run(store.list_runs("correct"))
    if run is None:
        st.info("No correction run yet: start one above.")
        return
    render_arms(run)
    traces = cached_run_traces(store.url, run.id, run.dataset or "", str(run.finished_at))
    frame = corrected_frame(traces)
    st.markdown(f"**Corrected traces** ({len(frame)}) in '{run.dataset}'")
    event = st.dataframe(
        frame,
        key="lm_corrected_table",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        column_config={"chosen log-prob": st.column_config.NumberColumn(format="%.3f")},
    )
    rows = event.selection.rows if event is not None else []
    if rows and rows[0] < len(frame):
        chosen_id = str(frame.iloc[rows[0]]["id"])
        st.button(
            "Compare side by side",
            key="lm_open_compare",
            on_click=_open_compare,
            args=(chosen_id,),
            type="primary",
        )
    else:
        st.caption("Select a row, then compare it with its original.")


def render_compare_tab() -> None:
    """Draw the corrected-trace picker and the side-by-side view."""
    ss = st.session_state
    store = current_store()
    runs = store.list_runs("correct")
    run = next((r for r in runs if r.id == ss.get("lm_run_id")), runs[0] if runs else None)
    ids = []
    if run is not None:
        traces = cached_run_traces(store.url, run.id, run.dataset or "", str(run.finished_at))
        ids = [t.id for t in traces]
    if ss.get("lm_compare_id") and ss["lm_compare_id"] not in ids:
        ids.insert(0, ss["lm_compare_id"])
    if not ids:
        st.info("No corrected trace yet: run a correction in the Correct tab.")
        return
    _sync_pick("lm_compare_pick", "lm_compare_id", ids)
    chosen = st.selectbox(
        "Corrected trace",
        ids,
        key="lm_compare_pick",
        on_change=_copy_pick,
        args=("lm_compare_pick", "lm_compare_id"),
    )
    apply_query_params({"corrected": chosen})
    ss["lm_compare_written"] = chosen
    trace = store.get_trace(chosen)
    if trace is None:
        st.error("No trace with this id in the store:")
        st.code(chosen, language=None)
        return
    render_correction_view(store, trace, key="lm_cmp")


def render_runs_tab() -> None:
    """Draw the stored runs with parameters and timings; a selected run's full record."""
    kinds = st.multiselect(
        "Kinds",
        ["generate", "correct", "import", "analyze", "train", "predict"],
        default=list(RUN_KINDS),
        key="lm_runs_kinds",
    )
    runs = [r for r in current_store().list_runs() if not kinds or r.kind in kinds]
    if not runs:
        st.info("No runs of these kinds yet.")
        return
    frame = runs_frame(runs)
    event = st.dataframe(
        frame,
        key="lm_runs_table",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
    )
    rows = event.selection.rows if event is not None else []
    if rows and rows[0] < len(runs):
        st.json(run_details(runs[rows[0]]), expanded=2)
    else:
        st.caption("Select a run to see all its parameters, prompt digests and figures.")


def render_lm() -> None:
    """Draw the LM generate / correct page."""
    from generators.prompts import available_templates

    init_page_state()
    ss = st.session_state
    if ss.pop("lm_goto_traces", False):
        st.switch_page(page("traces"))
    acknowledge_finished_job()
    restore_fields()
    st.title("LM generate / correct")
    store = current_store()
    infos = {info.name: info for info in cached_datasets(store.url)}
    templates = available_templates()
    render_job_panel()
    # Tabs run lazily (only the open one draws); the open tab is mirrored into the URL.
    tabs = st.tabs(list(TABS), key="lm_tab", on_change="rerun")
    ss["lm_tab_written"] = ss["lm_tab"]
    apply_query_params({"tab": ss["lm_tab"]})
    gen, cor, cmp_, runs = tabs
    with gen:
        if gen.open:
            render_generate_tab(infos, templates)
    with cor:
        if cor.open:
            render_correct_tab(infos, templates)
    with cmp_:
        if cmp_.open:
            render_compare_tab()
    with runs:
        if runs.open:
            render_runs_tab()
    remember_fields()


if __name__ == "__main__":  # run as a script by Streamlit's pages/ folder scan
    from pages.shared import run_router

    run_router()
