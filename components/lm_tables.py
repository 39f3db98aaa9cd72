"""Tables of the LM page: runs with parameters and timings, correction arms, corrected traces.

Plain functions of stored records (Run, Trace) returning pandas frames, so tests check the
figures without a browser. Text cells are shown by ``st.dataframe``, which renders no markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from trace_store.schema import Run, Trace

ARM_NAMES: dict[str, str] = {
    "label": "labelled locations",
    "suggestion": "suggested locations",
    "random": "random locations",
    "random_control": "random-location control",
}
"""How each correction arm is named for people."""

ARM_ROWS: tuple[tuple[str, str], ...] = (
    ("n", "traces corrected"),
    ("n_with_target", "with a target"),
    ("accuracy_before", "accuracy before"),
    ("accuracy_after", "accuracy after"),
    ("change", "change (points)"),
    ("correct_before", "correct before"),
    ("correct_after", "correct after"),
    ("fixed", "fixed (wrong → right)"),
    ("broken", "broken (right → wrong)"),
    ("changed_answer", "answer changed"),
    ("no_differing_candidate", "no candidate differed"),
)
"""Rows of the arm comparison table: stats key, label."""

TRACE_READ = 500
"""Traces read whole per store call by traces_of_run."""


def pct(value: float | None) -> str:
    """Return a fraction as a percentage with one decimal, or '—' when unknown."""
    return "—" if value is None else f"{value:.1%}"


def _seconds(run: Run) -> float | None:
    if run.stats.get("seconds") is not None:
        return float(run.stats["seconds"])
    if run.finished_at is None:
        return None
    return (run.finished_at - run.started_at).total_seconds()


def arm_counts(arm: Mapping[str, Any]) -> dict[str, Any]:
    """Return an arm's stats with correct-before/after counts and the change in points added."""
    out = dict(arm)
    with_target = arm.get("n_with_target") or 0
    before, after = arm.get("accuracy_before"), arm.get("accuracy_after")
    out["correct_before"] = None if before is None else round(before * with_target)
    out["correct_after"] = None if after is None else round(after * with_target)
    out["change"] = None if before is None or after is None else round(100 * (after - before), 1)
    return out


def run_summary(run: Run) -> str:
    """Return the run's result in one line (accuracy; before → after per correction arm)."""
    stats = run.stats
    if run.kind == "generate":
        if "n_generated" not in stats:
            return ""
        return (
            f"{stats.get('n_generated', 0)} traces, accuracy {pct(stats.get('accuracy'))} "
            f"({stats.get('n_correct', 0)}/{stats.get('n_with_target', 0)})"
        )
    if run.kind == "correct":
        parts = []
        for name, arm in (stats.get("arms") or {}).items():
            parts.append(
                f"{ARM_NAMES.get(name, name)}: {pct(arm.get('accuracy_before'))} → "
                f"{pct(arm.get('accuracy_after'))} (n={arm.get('n', 0)})"
            )
        return "; ".join(parts)
    return ""


def runs_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Return one row per run: when, what, status, model, datasets, result, timings, id."""
    rows = []
    for run in runs:
        params = run.params
        sampling = params.get("sampling") or {}
        seconds = _seconds(run)
        rows.append(
            {
                "started (UTC)": run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                "kind": run.kind,
                "status": run.status,
                "result": run_summary(run),
                "seconds": None if seconds is None else round(seconds, 1),
                "tokens/s": run.stats.get("tokens_per_s"),
                "model": run.model or "",
                "from": params.get("from_dataset") or params.get("source_dataset") or "",
                "into": run.dataset or "",
                "task": params.get("task") or "",
                "n": params.get("n"),
                "settings": _settings_text(run.kind, params, sampling),
                "id": run.id,
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "started (UTC)",
            "kind",
            "status",
            "result",
            "seconds",
            "tokens/s",
            "model",
            "from",
            "into",
            "task",
            "n",
            "settings",
            "id",
        ],
    )
    frame["n"] = frame["n"].astype("Int64")
    return frame


def _settings_text(kind: str, params: Mapping[str, Any], sampling: Mapping[str, Any]) -> str:
    """Return the run's main parameters in one short line."""
    if kind == "generate":
        return (
            f"{params.get('mode', '?')}, T={sampling.get('temperature')}, "
            f"max tokens {sampling.get('max_new_tokens')}, batch {params.get('batch_size')}, "
            f"seed {sampling.get('seed')}"
        )
    if kind == "correct":
        return (
            f"{params.get('location', '?')} locations, k={params.get('k')}, "
            f"max tokens {params.get('max_new_tokens')}, batch {params.get('batch_size')}, "
            f"seed {params.get('seed')}" + (", with control" if params.get("control") else "")
        )
    return ""


def run_details(run: Run) -> dict[str, Any]:
    """Return the run as a JSON-able dict for people (prompt texts shortened to a line count)."""
    params = dict(run.params)
    prompts = params.get("prompts")
    if isinstance(prompts, dict):
        params["prompts"] = {
            task: (
                {**info, "text": f"{len(str(info.get('text') or '').splitlines())} lines"}
                if isinstance(info, dict)
                else info
            )
            for task, info in prompts.items()
        }
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
        "model": run.model,
        "dataset": run.dataset,
        "started_at": run.started_at.isoformat(),
        "finished_at": None if run.finished_at is None else run.finished_at.isoformat(),
        "params": params,
        "stats": run.stats,
    }


def arms_frame(stats: Mapping[str, Any]) -> pd.DataFrame:
    """Return the arms of a correction run side by side: one column per arm, one row per figure.

    Accuracies are shown as percentages, counts as integers, the change in percentage points.
    """
    arms = stats.get("arms") or {}
    columns = {}
    for name, arm in arms.items():
        full = arm_counts(arm)
        col = []
        for key, _label in ARM_ROWS:
            value = full.get(key)
            if key.startswith("accuracy"):
                col.append(pct(value))
            elif key == "change":
                col.append("—" if value is None else f"{value:+.1f}")
            else:
                col.append("—" if value is None else str(int(value)))
        columns[ARM_NAMES.get(name, name)] = col
    return pd.DataFrame(columns, index=[label for _key, label in ARM_ROWS])


def correction_verdict(stats: Mapping[str, Any]) -> str | None:
    """Return whether the chosen locations beat the random control after correction, or None."""
    arms = list((stats.get("arms") or {}).items())
    if len(arms) != 2:
        return None
    (name, chosen), (_c, control) = arms
    a, b = chosen.get("accuracy_after"), control.get("accuracy_after")
    if a is None or b is None:
        return None
    if a > b:
        how = "help"
    elif a == b:
        how = "do no better than chance"
    else:
        how = "do worse than chance"
    return (
        f"The {ARM_NAMES.get(name, name)} {how}: {pct(a)} correct after correction at them vs "
        f"{pct(b)} at random steps of the same traces."
    )


def is_corrected(trace: Trace) -> bool:
    """Return True when ``trace`` was made by backtracking correction (linked to its original)."""
    return isinstance(trace.metadata.get("correction"), dict) and bool(
        trace.metadata.get("corrected_from")
    )


def corrected_frame(traces: Iterable[Trace]) -> pd.DataFrame:
    """Return one row per corrected trace: arm, step, answers before/after, chosen log-prob."""
    rows = []
    for trace in traces:
        if not is_corrected(trace):
            continue
        corr = trace.metadata["correction"]
        cands = corr.get("candidates") or []
        chosen = corr.get("chosen")
        chosen_lp = (
            cands[chosen].get("logprob") if chosen is not None and chosen < len(cands) else None
        )
        rows.append(
            {
                "arm": ARM_NAMES.get(corr.get("arm"), corr.get("arm") or ""),
                "step": corr.get("step"),
                "location": corr.get("location_source") or "",
                "answer before": corr.get("original_answer") or "—",
                "answer after": trace.answer or "—",
                "target": trace.target or "—",
                "right before": corr.get("original_correct"),
                "right after": trace.correct,
                "chosen log-prob": chosen_lp,
                "original": trace.metadata["corrected_from"],
                "id": trace.id,
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "arm",
            "step",
            "location",
            "answer before",
            "answer after",
            "target",
            "right before",
            "right after",
            "chosen log-prob",
            "original",
            "id",
        ],
    )
    frame["step"] = frame["step"].astype("Int64")
    return frame


RUN_ID_PATHS: tuple[tuple[str, str], ...] = (("correction", "run_id"), ("generation", "run_id"))
"""Where a stored trace names the run that made it (a correction's run id comes first)."""


def made_by_run(trace: Trace) -> str | None:
    """Return the id of the run that made ``trace``: its correction's, else its generation's."""
    made_by = trace.metadata.get("correction") or trace.metadata.get("generation") or {}
    run_id = made_by.get("run_id") if isinstance(made_by, Mapping) else None
    return run_id if isinstance(run_id, str) else None


def traces_of_run(store: Any, run: Run, *, limit: int = 5000) -> list[Trace]:
    """Return the traces a run stored (by the run id in their metadata), up to ``limit``.

    The store picks the run's traces out of its dataset by their metadata, so only those are
    read whole, TRACE_READ at a time, in the order they were added.
    """
    from trace_store import TraceFilter

    if not run.dataset:
        return []
    ids = store.trace_ids_with_metadata(RUN_ID_PATHS, run.id, TraceFilter(datasets=[run.dataset]))
    out: list[Trace] = []
    for start in range(0, len(ids), TRACE_READ):
        for trace in store.get_traces(ids[start : start + TRACE_READ]):
            # A correction's own run id wins over the generation block it also carries.
            if made_by_run(trace) == run.id:
                out.append(trace)
                if len(out) >= limit:
                    return out
    return out
