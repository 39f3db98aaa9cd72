"""Conversions between schema models and table rows (JSON columns encoded with orjson)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from trace_store.schema import (
    DATASET_ANNOTATOR_PREFIX,
    FORMAT_VERSION,
    Analysis,
    Label,
    Run,
    Step,
    Suggestion,
    Trace,
)

PREVIEW_CHARS = 120
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def dumps(value: Any) -> str:
    """Return ``value`` as compact JSON text; raise TypeError when it is not JSON-able."""
    return orjson.dumps(value, option=_JSON_OPTIONS).decode()


def loads(text: str | None) -> Any:
    """Return the value of JSON ``text`` (None stays None)."""
    return None if text is None else orjson.loads(text)


def question_preview(question: str) -> str:
    """Return the first PREVIEW_CHARS characters of ``question`` on one line."""
    head = question[:PREVIEW_CHARS]
    if head.isprintable() and "  " not in head and not head.startswith(" "):
        return head  # the common case: already one clean line
    return " ".join(question[: PREVIEW_CHARS * 4].split())[:PREVIEW_CHARS]


TRACE_WRITE_COLUMNS = (
    "rid", "id", "dataset", "task", "model", "n_steps", "correct", "content_hash", "preview",
    "n_labels", "label_disagreement", "dataset_mistake", "format_version", "added_at",
)  # fmt: skip
"""Columns of ``traces`` that trace_values fills, in order."""

BODY_WRITE_COLUMNS = (
    "rid", "question", "steps", "spans", "raw_text", "answer", "target", "metadata",
)  # fmt: skip
"""Columns of ``trace_bodies`` that body_values fills, in order."""


def trace_values(
    trace: Trace, rid: int, n_steps: int, digest: str, summary: dict, now: datetime
) -> tuple:
    """Return the ``traces`` row of ``trace`` in TRACE_WRITE_COLUMNS order."""
    return (
        rid,
        trace.id,
        trace.dataset,
        trace.task,
        trace.model,
        n_steps,
        trace.correct,
        digest,
        question_preview(trace.question),
        summary["n_labels"],
        summary["label_disagreement"],
        summary["dataset_mistake"],
        trace.format_version,
        now,
    )


def body_values(trace: Trace, rid: int, texts: list[str]) -> tuple:
    """Return the ``trace_bodies`` row of ``trace`` in BODY_WRITE_COLUMNS order.

    Raises TypeError when the metadata is not JSON-serialisable.
    """
    spans = None
    for step in trace.steps:
        if step.start is not None or step.end is not None:
            spans = dumps([[s.start, s.end] for s in trace.steps])
            break
    return (
        rid,
        trace.question,
        dumps(texts),
        spans,
        trace.raw_text,
        trace.answer,
        trace.target,
        dumps(trace.metadata) if trace.metadata else "{}",
    )


def trace_from_row(row: Mapping[str, Any]) -> Trace:
    """Return the Trace stored in a joined traces + trace_bodies row."""
    texts = orjson.loads(row["steps"])
    spans = orjson.loads(row["spans"]) if row["spans"] else [[None, None]] * len(texts)
    correct = row["correct"]
    fields = {
        "format_version": row["format_version"],
        "id": row["id"],
        "dataset": row["dataset"],
        "task": row["task"],
        "model": row["model"],
        "question": row["question"],
        "raw_text": row["raw_text"],
        "answer": row["answer"],
        "target": row["target"],
        "correct": None if correct is None else bool(correct),
        "metadata": orjson.loads(row["metadata"]),
    }
    if row["format_version"] != FORMAT_VERSION:
        # Older shapes go through the schema's migration; current ones were validated on write.
        fields["steps"] = [
            {"index": i, "text": t, "start": s, "end": e}
            for i, (t, (s, e)) in enumerate(zip(texts, spans, strict=True))
        ]
        return Trace.model_validate(fields)
    fields["steps"] = [
        Step.model_construct(index=i, text=t, start=s, end=e)
        for i, (t, (s, e)) in enumerate(zip(texts, spans, strict=True))
    ]
    return Trace.model_construct(**fields)


def is_dataset_label(label: Label | SummaryLabel) -> bool:
    """Return whether ``label`` is one a dataset shipped (not a person's response)."""
    return label.source == "dataset" or label.annotator.startswith(DATASET_ANNOTATOR_PREFIX)


class SummaryLabel(NamedTuple):
    """The label fields label_summary and label_disagreement read, decoded from a labels row.

    Cheaper than a Label on the save path (no validation); Labels have the same attributes, so
    either may be passed.
    """

    annotator: str
    source: str
    status: str
    first_mistake: int | None
    step_ratings: list[int | None] | None
    behavior_corrections: dict[int, list[str]] | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SummaryLabel:
        """Return the summary fields of a ``labels`` row (JSON columns decoded, step keys int)."""
        corrections = loads(row["behavior_corrections"])
        return cls(
            row["annotator"],
            row["source"],
            row["status"],
            row["first_mistake"],
            loads(row["step_ratings"]),
            None if corrections is None else {int(k): v for k, v in corrections.items()},
        )


SUMMARY_LABEL_COLUMNS: tuple[str, ...] = SummaryLabel._fields
"""Columns of ``labels`` that SummaryLabel.from_row reads."""


@dataclass(frozen=True)
class LabelDisagreement:
    """Where submitted human labels of one trace disagree (see label_disagreement)."""

    first_mistake: bool = False
    """Two labels name different first mistakes (-1 = no mistake counts as a verdict)."""
    rating_steps: tuple[int, ...] = ()
    """Steps two labels rated differently (both rated), in order."""
    correction_steps: tuple[int, ...] = ()
    """Steps two labels corrected to different behaviour sets (both corrected), in order."""

    def __bool__(self) -> bool:
        return self.first_mistake or bool(self.rating_steps) or bool(self.correction_steps)


def label_disagreement(labels: Iterable[Any]) -> LabelDisagreement:
    """Return where the trace's submitted human labels disagree (falsy when they do not).

    Two labels disagree when both judged the first mistake and named different ones, or both
    rated a step (+1 / 0 / -1) and gave it different ratings, or both corrected a step's
    behaviours and chose different sets (order and repeats ignored). Unjudged first mistakes,
    unrated steps and uncorrected steps never disagree with anything. Only submitted labels of
    people count: drafts, dataset-shipped labels and the adjudicated label are left out.
    ``labels`` are Labels or SummaryLabels of one trace.
    """
    mistakes: set[int] = set()
    ratings: dict[int, set[int]] = {}
    corrections: dict[int, set[frozenset[str]]] = {}
    for label in labels:
        if label.status != "submitted" or label.source != "human" or is_dataset_label(label):
            continue
        if label.first_mistake is not None:
            mistakes.add(label.first_mistake)
        for step, rating in enumerate(label.step_ratings or ()):
            if rating is not None:
                ratings.setdefault(step, set()).add(rating)
        for step, behaviors in (label.behavior_corrections or {}).items():
            corrections.setdefault(int(step), set()).add(frozenset(behaviors))
    return LabelDisagreement(
        first_mistake=len(mistakes) > 1,
        rating_steps=tuple(sorted(k for k, given in ratings.items() if len(given) > 1)),
        correction_steps=tuple(sorted(k for k, given in corrections.items() if len(given) > 1)),
    )


def label_summary(dataset: str, labels: Sequence[Any]) -> dict[str, int | None]:
    """Return the trace row's label columns (n_labels, label_disagreement, dataset_mistake).

    n_labels counts submitted labels given by people (human or adjudicated); label_disagreement
    is 1 when label_disagreement() finds any disagreement (first mistake, step rating or
    behaviour correction); dataset_mistake is the first mistake of the dataset's own label
    (annotator ``dataset:<dataset>`` preferred over other dataset labels). ``labels`` are all
    the trace's Labels (or SummaryLabels).
    """
    if len(labels) == 1 and is_dataset_label(labels[0]):  # what a dataset import ships
        return {"n_labels": 0, "label_disagreement": 0, "dataset_mistake": labels[0].first_mistake}
    n_labels = 0
    n_human = 0
    shipped: list[Any] = []
    for label in labels:
        if is_dataset_label(label):
            shipped.append(label)
            continue
        if label.status != "submitted":
            continue
        n_labels += 1
        n_human += label.source == "human"
    mistake = None
    if shipped:
        own = DATASET_ANNOTATOR_PREFIX + dataset
        shipped.sort(key=lambda lb: (lb.annotator != own, lb.annotator))
        mistake = shipped[0].first_mistake
    # One person's label cannot disagree with itself: skip the per-step work below two.
    disagree = n_human >= 2 and bool(label_disagreement(labels))
    return {
        "n_labels": n_labels,
        "label_disagreement": int(disagree),
        "dataset_mistake": mistake,
    }


LABEL_WRITE_COLUMNS = (
    "trace_id", "annotator", "source", "first_mistake", "step_ratings", "behavior_corrections",
    "note", "status", "created_at", "updated_at", "version", "format_version",
)  # fmt: skip
"""Columns of ``labels`` that label_row fills, in this order (its keys)."""


def label_row(label: Label) -> dict[str, Any]:
    """Return the ``labels`` row for ``label`` (without id)."""
    corrections = label.behavior_corrections
    return {
        "trace_id": label.trace_id,
        "annotator": label.annotator,
        "source": label.source,
        "first_mistake": label.first_mistake,
        "step_ratings": None if label.step_ratings is None else dumps(label.step_ratings),
        "behavior_corrections": None if corrections is None else dumps(corrections),
        "note": label.note,
        "status": label.status,
        "created_at": label.created_at,
        "updated_at": label.updated_at,
        "version": label.version,
        "format_version": label.format_version,
    }


def label_from_row(row: Mapping[str, Any]) -> Label:
    """Return the Label stored in a ``labels`` row."""
    return Label.model_validate(
        {
            "id": row["id"],
            "trace_id": row["trace_id"],
            "annotator": row["annotator"],
            "source": row["source"],
            "first_mistake": row["first_mistake"],
            "step_ratings": loads(row["step_ratings"]),
            "behavior_corrections": loads(row["behavior_corrections"]),
            "note": row["note"],
            "status": row["status"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "version": row["version"],
            "format_version": row["format_version"],
        }
    )


def label_json(label: Label) -> str:
    """Return ``label`` as JSON text, as label history keeps it."""
    return label.model_dump_json()


def suggestion_row(suggestion: Suggestion) -> dict[str, Any]:
    """Return the ``suggestions`` row for ``suggestion`` (without id)."""
    return {
        "trace_id": suggestion.trace_id,
        "agent": suggestion.agent,
        "kind": suggestion.kind,
        "step": suggestion.step,
        "value": dumps(suggestion.value),
        "score": suggestion.score,
        "created_at": suggestion.created_at,
        "format_version": suggestion.format_version,
    }


def suggestion_from_row(row: Mapping[str, Any]) -> Suggestion:
    """Return the Suggestion stored in a ``suggestions`` row."""
    return Suggestion.model_validate(
        {
            "id": row["id"],
            "trace_id": row["trace_id"],
            "agent": row["agent"],
            "kind": row["kind"],
            "step": row["step"],
            "value": loads(row["value"]),
            "score": row["score"],
            "created_at": row["created_at"],
            "format_version": row["format_version"],
        }
    )


def analysis_row(analysis: Analysis) -> dict[str, Any]:
    """Return the ``analyses`` row for ``analysis``."""
    return {
        "trace_id": analysis.trace_id,
        "analyzer": analysis.analyzer,
        "version": analysis.version,
        "tags": dumps([t.model_dump() for t in analysis.tags]),
        "counts": dumps(analysis.counts),
        "extra": dumps(analysis.extra),
        "created_at": analysis.created_at,
        "format_version": analysis.format_version,
    }


def analysis_from_row(row: Mapping[str, Any]) -> Analysis:
    """Return the Analysis stored in an ``analyses`` row."""
    return Analysis.model_validate(
        {
            "trace_id": row["trace_id"],
            "analyzer": row["analyzer"],
            "version": row["version"],
            "tags": orjson.loads(row["tags"]),
            "counts": orjson.loads(row["counts"]),
            "extra": orjson.loads(row["extra"]),
            "created_at": row["created_at"],
            "format_version": row["format_version"],
        }
    )


def run_row(run: Run) -> dict[str, Any]:
    """Return the ``runs`` row for ``run``."""
    return {
        "id": run.id,
        "kind": run.kind,
        "dataset": run.dataset,
        "model": run.model,
        "params": dumps(run.params),
        "stats": dumps(run.stats),
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "format_version": run.format_version,
    }


def run_from_row(row: Mapping[str, Any]) -> Run:
    """Return the Run stored in a ``runs`` row."""
    return Run.model_validate(
        {
            "id": row["id"],
            "kind": row["kind"],
            "dataset": row["dataset"],
            "model": row["model"],
            "params": orjson.loads(row["params"]),
            "stats": orjson.loads(row["stats"]),
            "status": row["status"],
            "started_at": row["started_at"],
            "finished_at": row["finished_at"],
            "format_version": row["format_version"],
        }
    )
