"""Tables of the Agreement page: an AgreementReport's numbers as pandas frames (pure).

Every frame holds exactly what the page shows (and what its CSV download serves). Undefined
statistics are empty cells, with the reason in a ``note`` column rather than NaN passed off as
a figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analyzers.agreement import (
    AgreementReport,
    Disagreement,
    PairAgreement,
    ReferenceAgreement,
)
from analyzers.agreement_stats import Statistic
from trace_store.schema import NO_MISTAKE


def stat_text(stat: Statistic, digits: int = 3) -> str:
    """Return a statistic for display: the number, or "—" when it is undefined."""
    return "—" if stat.value is None else f"{stat.value:.{digits}f}"


def mistake_text(mistake: int | None) -> str:
    """Return a first mistake for display: "step k", "no mistake", or "—"."""
    if mistake is None:
        return "—"
    return "no mistake" if mistake == NO_MISTAKE else f"step {mistake}"


def _value(stat: Statistic) -> float | None:
    return None if stat.value is None else round(stat.value, 4)


def _notes(*stats: tuple[str, Statistic]) -> str:
    return "; ".join(f"{name}: {s.reason}" for name, s in stats if s.value is None and s.reason)


def without_empty_notes(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` without its ``note`` column when no row has a note."""
    if "note" in frame.columns and not frame["note"].astype(bool).any():
        return frame.drop(columns=["note"])
    return frame


def annotators_frame(report: AgreementReport) -> pd.DataFrame:
    """Return one row per annotator: labels, verdicts, no-mistake verdicts, step judgements."""
    rows = [
        {
            "annotator": a.name,
            "labels": a.n_labels,
            "first-mistake verdicts": a.n_first_mistake,
            "no mistake": a.n_no_mistake,
            "with step ratings": a.n_step_ratings,
            "steps +1": a.judgements.get("+1", 0),
            "steps 0": a.judgements.get("0", 0),
            "steps -1": a.judgements.get("-1", 0),
        }
        for a in report.annotators
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "annotator",
            "labels",
            "first-mistake verdicts",
            "no mistake",
            "with step ratings",
            "steps +1",
            "steps 0",
            "steps -1",
        ],
    )


PAIR_COLUMNS = [
    "annotator A",
    "annotator B",
    "shared traces",
    "same first mistake",
    "exact match",
    "Cohen's kappa",
    "steps compared",
    "note",
]


def _agreement_cells(x: PairAgreement | ReferenceAgreement) -> dict[str, object]:
    """Return the columns a pair row and a reference row share: counts, exact match, kappa."""
    return {
        "shared traces": x.n_shared,
        "same first mistake": x.n_agree,
        "exact match": _value(x.exact_match),
        "Cohen's kappa": _value(x.kappa),
        "steps compared": x.kappa.n,
        "note": _notes(("exact match", x.exact_match), ("kappa", x.kappa)),
    }


def pairs_frame(report: AgreementReport) -> pd.DataFrame:
    """Return one row per annotator pair: shared traces, exact match, kappa, why undefined."""
    rows = [{"annotator A": p.a, "annotator B": p.b, **_agreement_cells(p)} for p in report.pairs]
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


REFERENCE_COLUMNS = [
    "annotator",
    "dataset labels",
    "shared traces",
    "same first mistake",
    "exact match",
    "annotator earlier",
    "annotator later",
    "Cohen's kappa",
    "steps compared",
    "note",
]


def reference_frame(report: AgreementReport) -> pd.DataFrame:
    """Return one row per (annotator, dataset labels): exact match, earlier/later, kappa."""
    rows = [
        {
            "annotator": r.annotator,
            "dataset labels": r.reference,
            "annotator earlier": r.n_earlier,
            "annotator later": r.n_later,
            **_agreement_cells(r),
        }
        for r in report.reference
    ]
    return pd.DataFrame(rows, columns=REFERENCE_COLUMNS)


def disagreement_summary(d: Disagreement) -> str:
    """Return one short line on a disagreement: the first mistakes when they differ, and the
    steps whose ratings or behaviours differ."""
    parts = [t for t in d.topics() if t != "first mistake"]
    if d.first_mistake:
        parts.insert(0, ", ".join(f"{name}: {mistake_text(m)}" for name, m in d.mistakes.items()))
    return "; ".join(parts)


def adjudicated_text(d: Disagreement) -> str:
    """Return the adjudicated cell: the final first mistake, "decided" for a final label that
    decides only ratings or behaviours, "—" when not adjudicated."""
    if d.is_adjudicated and d.adjudicated is None:
        return "decided"
    return mistake_text(d.adjudicated)


DISAGREEMENT_COLUMNS = [
    "trace",
    "disagree on",
    "first mistakes",
    "distinct answers",
    "dataset label",
    "adjudicated",
]


def disagreements_frame(disagreements: Sequence[Disagreement]) -> pd.DataFrame:
    """Return one row per disagreeing trace: what they disagree on, the first mistakes,
    dataset's, adjudicated."""
    rows = [
        {
            "trace": d.trace_id,
            "disagree on": "; ".join(d.topics()),
            "first mistakes": ", ".join(
                f"{name}: {mistake_text(m)}" for name, m in d.mistakes.items()
            ),
            "distinct answers": len(set(d.mistakes.values())),
            "dataset label": mistake_text(d.reference),
            "adjudicated": adjudicated_text(d),
        }
        for d in disagreements
    ]
    return pd.DataFrame(rows, columns=DISAGREEMENT_COLUMNS)
