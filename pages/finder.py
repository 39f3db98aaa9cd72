"""Mistake finder page: train a finder on a dataset's labels, evaluate it, store its suggestions.

Three tabs. Train: dataset, tasks to leave out, head, feature groups, encoder folder (blank =
packaged MiniLM), seed and output folder; a progress bar follows embedding, features and the
head's fit, then the validation figures show. Evaluate: a saved finder on a dataset's labelled
traces, with the baselines beside it and the confusion by relative position (plotly heatmap).
Predict: stores the finder's first-mistake suggestions (agent ``finder:<name>``), which the
Label page shows and the LM page's correction can use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from components.finder_charts import confusion_figure, saved_finders, scores_frame
from pages.shared import cached_datasets, current_store

PREFIX = "finder"
MODELS_ENV = "THOUGHTSCOPE_MODELS"
"""Environment variable naming the folder where the page saves and looks for finders."""


def models_root() -> Path:
    """Return the folder of saved finders: $THOUGHTSCOPE_MODELS, else models/ (app folder)."""
    return Path(os.environ.get(MODELS_ENV, "models"))


HEADS = ("logreg", "mlp")
STAGE_NAMES = {
    "embed": "Embedding steps",
    "features": "Computing features",
    "fit": "Fitting the head",
    "epoch": "Training epochs",
    "finetune": "Fine-tuning the encoder",
}


def init_page_state() -> None:
    """Set the page's session defaults."""
    ss = st.session_state
    ss.setdefault(f"{PREFIX}_model", "")
    ss.setdefault(f"{PREFIX}_encoder", "")
    ss.setdefault(f"{PREFIX}_head", "logreg")
    ss.setdefault(f"{PREFIX}_seed", 0)
    ss.setdefault(f"{PREFIX}_last_eval", None)
    ss.setdefault(f"{PREFIX}_last_train", None)


def _progress_callback(bar: Any) -> Any:
    """Return a progress(stage, done, total) that moves the Streamlit progress ``bar``."""

    def update(stage: str, done: int, total: int) -> None:
        frac = min(1.0, done / total) if total else 1.0
        bar.progress(frac, text=f"{STAGE_NAMES.get(stage, stage)}: {done}/{total}")

    return update


def _dataset_tasks(infos: list[Any], name: str) -> list[str]:
    for info in infos:
        if info.name == name:
            return list(info.tasks)
    return []


def _render_train(infos: list[Any]) -> None:
    from analyzers.finder_features import FEATURE_GROUPS
    from analyzers.mistake_finder import FinderError, HeadConfig, labelled_traces, train_finder

    ss = st.session_state
    names = [i.name for i in infos]
    dataset = st.selectbox("Dataset (its labels are the training data)", names, key="finder_tds")
    tasks = _dataset_tasks(infos, dataset)
    exclude = st.multiselect("Leave out tasks (to test on them)", tasks, key="finder_exclude")
    c1, c2, c3 = st.columns(3)
    c1.radio("Head", HEADS, key=f"{PREFIX}_head", horizontal=True)
    c2.number_input("Seed", min_value=0, step=1, key=f"{PREFIX}_seed")
    c3.number_input("Validation share", 0.05, 0.5, value=0.2, step=0.05, key="finder_val_fraction")
    groups = st.multiselect(
        "Feature groups", FEATURE_GROUPS, default=list(FEATURE_GROUPS), key="finder_groups"
    )
    st.text_input("Encoder folder (blank: packaged MiniLM)", key=f"{PREFIX}_encoder")
    suffix = f"-no-{'-'.join(exclude)}" if exclude else ""
    out = st.text_input(
        "Save to folder", value=str(models_root() / f"finder-{dataset}{suffix}"), key="finder_out"
    )
    if st.button("Train", type="primary", key="finder_train"):
        bar = st.progress(0.0, text="Reading labelled traces…")
        try:
            examples = labelled_traces(current_store(), dataset, exclude_tasks=exclude)
            head = HeadConfig(head=ss[f"{PREFIX}_head"], seed=int(ss[f"{PREFIX}_seed"]))
            finder = train_finder(
                examples,
                head=head,
                groups=groups,
                encoder=ss[f"{PREFIX}_encoder"].strip() or None,
                val_fraction=float(ss["finder_val_fraction"]),
                progress=_progress_callback(bar),
                data={
                    "dataset": dataset,
                    "tasks": sorted({e.trace.task for e in examples if e.trace.task}),
                    "excluded_tasks": exclude,
                    "annotator": f"dataset:{dataset}",
                },
            )
            finder.save(out)
        except (FinderError, ValueError) as exc:
            bar.empty()
            st.error(str(exc))
            return
        bar.progress(1.0, text="Done")
        ss[f"{PREFIX}_model"] = out
        ss[f"{PREFIX}_last_train"] = {
            "model": out,
            "agent": finder.agent,
            "traces": len(examples),
            "seconds": finder.config["training"]["seconds"],
            "validation": finder.config["training"]["validation"],
        }
    last = ss[f"{PREFIX}_last_train"]
    if last:
        st.success(
            f"Trained {last['agent']} on {last['traces']} traces (head {last['seconds']} s), "
            f"saved to {last['model']}"
        )
        st.dataframe(scores_frame({"validation": last["validation"]}), hide_index=True)


def _choose_model(key: str) -> str:
    """Draw the finder-folder input ``key`` (default: the last trained, else the first saved)."""
    ss = st.session_state
    found = [str(p) for p in saved_finders(models_root())]
    latest = ss[f"{PREFIX}_model"] or (found[0] if found else "")
    if ss.get(f"{key}_seen") != latest:
        # A newly trained finder becomes the default of both tabs once.
        ss[key] = latest
        ss[f"{key}_seen"] = latest
    st.text_input(
        "Finder folder",
        key=key,
        help="Saved finders under models/: " + (", ".join(found) if found else "none yet"),
    )
    return str(ss[key]).strip()


def _render_evaluate(infos: list[Any]) -> None:
    from analyzers.finder_evaluation import POSITION_BINS
    from analyzers.mistake_finder import FinderError, evaluate_finder, labelled_traces, load_finder

    ss = st.session_state
    model = _choose_model("finder_emodel")
    names = [i.name for i in infos]
    dataset = st.selectbox("Dataset to evaluate on", names, key="finder_eds")
    tasks = st.multiselect(
        "Only tasks (blank: all)", _dataset_tasks(infos, dataset), key="finder_etasks"
    )
    if st.button("Evaluate", type="primary", key="finder_evaluate"):
        bar = st.progress(0.0, text="Loading the finder…")
        try:
            finder = load_finder(model)
            examples = labelled_traces(current_store(), dataset, tasks=tasks or None)
            result = evaluate_finder(finder, examples, progress=_progress_callback(bar))
        except (FinderError, ValueError) as exc:
            bar.empty()
            st.error(str(exc))
            return
        bar.progress(1.0, text="Done")
        ss[f"{PREFIX}_last_eval"] = {
            "title": f"{finder.agent} on {dataset}" + (f" ({', '.join(tasks)})" if tasks else ""),
            "rows": {"finder": result.scores.to_dict()}
            | {k: v.to_dict() for k, v in result.baselines.items()},
            "confusion": result.confusion,
        }
    last = ss[f"{PREFIX}_last_eval"]
    if last:
        st.subheader(last["title"])
        st.dataframe(scores_frame(last["rows"]), hide_index=True)
        st.caption("Confusion by relative position of the first mistake in the trace")
        st.plotly_chart(
            confusion_figure(last["confusion"], POSITION_BINS),
            key="finder_confusion",
            config={"displaylogo": False},
        )


def _render_predict(infos: list[Any]) -> None:
    from analyzers.mistake_finder import FinderError, load_finder, prediction_suggestions
    from trace_store import TraceFilter

    model = _choose_model("finder_pmodel")
    names = [i.name for i in infos]
    dataset = st.selectbox("Dataset to predict on", names, key="finder_pds")
    tasks = st.multiselect(
        "Only tasks (blank: all)", _dataset_tasks(infos, dataset), key="finder_ptasks"
    )
    if st.button("Store predictions as suggestions", type="primary", key="finder_predict"):
        bar = st.progress(0.0, text="Loading the finder…")
        store = current_store()
        try:
            finder = load_finder(model)
            traces = list(store.iter_traces(TraceFilter(datasets=[dataset], tasks=tasks or None)))
            predictions = finder.predict(traces, progress=_progress_callback(bar))
        except (FinderError, ValueError) as exc:
            bar.empty()
            st.error(str(exc))
            return
        stored = store.add_suggestions(prediction_suggestions(finder, predictions))
        located = sum(1 for p in predictions if p.first_mistake >= 0)
        bar.progress(1.0, text="Done")
        st.success(
            f"Stored {stored} suggestions (agent {finder.agent}): {located} traces with a "
            f"predicted mistake. They show on the Label page; the LM page's correction uses "
            f"them with location 'suggestion'."
        )


def render_finder() -> None:
    """Draw the Mistake finder page."""
    init_page_state()
    st.title("Mistake finder")
    st.caption(
        "A step classifier trained from first-mistake labels: frozen sentence embeddings of the "
        "question and the steps so far, behaviour cues and step-checker findings, with a "
        "trained head. Its predictions become suggestions for annotators and locations for "
        "correction."
    )
    store = current_store()
    infos = cached_datasets(store.url)
    if not infos:
        st.info("The store holds no traces yet: import a labelled dataset first.")
        return
    train, evaluate, predict = st.tabs(["Train", "Evaluate", "Predict"])
    with train:
        _render_train(infos)
    with evaluate:
        _render_evaluate(infos)
    with predict:
        _render_predict(infos)


if __name__ == "__main__":  # run as a script by Streamlit's pages/ folder scan
    from pages.shared import run_router

    run_router()
