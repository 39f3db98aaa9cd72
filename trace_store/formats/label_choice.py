"""Which label an export writes for each trace: the dataset's, one annotator's, the majority's
or the adjudicated one, with its provenance (annotators, time, agreement).

Labels are read once per export with ``store.iter_labels`` (streamed) and kept as small tuples
per trace, so choosing is a dictionary lookup while traces stream past.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from trace_store.annotation_access import ADJUDICATED_ANNOTATOR
from trace_store.schema import DATASET_ANNOTATOR_PREFIX, NO_MISTAKE, Label, Trace

if TYPE_CHECKING:
    from trace_store.store import Store

LABEL_MODES = ("dataset", "majority", "adjudicated", "annotator:NAME")
"""Accepted values of ``labels=`` (annotator:NAME with a real annotator name)."""


@dataclass(frozen=True)
class ChosenLabel:
    """The label written for one trace and where it came from."""

    first_mistake: int | None
    step_ratings: list[int | None] | None
    source: str
    annotators: list[str]
    time: datetime | None
    agreement: float | None

    def effective_mistake(self) -> int | None:
        """Return first_mistake, or the first step rated -1 when only ratings were given."""
        if self.first_mistake is not None or self.step_ratings is None:
            return self.first_mistake
        return self.step_ratings.index(-1) if -1 in self.step_ratings else None

    def provenance(self) -> dict[str, object]:
        """Return the provenance columns: label_source, label_annotators, label_time, agreement."""
        return {
            "label_source": self.source,
            "label_annotators": self.annotators,
            "label_time": None if self.time is None else self.time.isoformat(),
            "label_agreement": self.agreement,
        }


EMPTY_PROVENANCE: dict[str, object] = {
    "label_source": None,
    "label_annotators": [],
    "label_time": None,
    "label_agreement": None,
}


class _Kept(NamedTuple):
    annotator: str
    first_mistake: int | None
    step_ratings: list[int | None] | None
    time: datetime


def parse_label_mode(mode: str) -> tuple[str, str | None]:
    """Return (kind, annotator) for a ``labels=`` value; raise ValueError naming the choices."""
    if mode in ("dataset", "majority", "adjudicated"):
        return mode, None
    if mode.startswith("annotator:") and mode.removeprefix("annotator:").strip():
        return "annotator", mode.removeprefix("annotator:").strip()
    raise ValueError(f"unknown label choice {mode!r}; expected one of {', '.join(LABEL_MODES)}")


def majority_vote(votes: Iterable[int]) -> tuple[int, float] | None:
    """Return (winning first mistake, fraction of votes for it); ties go to the earliest step.

    "No mistake" (-1) counts as later than every step, so a tie between a step and "no
    mistake" names the step: an export for training should not hide a mistake someone saw.
    """
    counts = Counter(votes)
    if not counts:
        return None
    total = sum(counts.values())
    best = min(counts, key=lambda v: (-counts[v], v == NO_MISTAKE, v))
    return best, counts[best] / total


class LabelIndex:
    """Chooses the label to export for each trace, from labels loaded up front."""

    def __init__(self, store: Store, mode: str, datasets: list[str] | None) -> None:
        self.kind, self.annotator = parse_label_mode(mode)
        self.by_trace: dict[str, list[_Kept]] = {}
        for label in self._labels(store, datasets):
            if self._wanted(label):
                kept = _Kept(
                    self._who(store, label),
                    label.first_mistake,
                    label.step_ratings,
                    label.updated_at,
                )
                self.by_trace.setdefault(label.trace_id, []).append(kept)

    @staticmethod
    def _who(store: Store, label: Label) -> str:
        """Return who gave ``label``: for the adjudicated label, the reviewer who last saved it.

        Adjudicated labels are stored under the annotator name "adjudicated" (one per trace);
        the reviewer is recorded in the label's history. Adjudicated labels are few, so one
        history query each is cheap.
        """
        if label.annotator != ADJUDICATED_ANNOTATOR or label.id is None:
            return label.annotator
        history = store.label_history(label.id)
        return history[-1]["annotator"] if history else label.annotator

    def _labels(self, store: Store, datasets: list[str] | None) -> Iterator[Label]:
        status = None if self.kind == "dataset" else "submitted"
        for dataset in datasets if datasets is not None else [None]:
            annotator = self.annotator
            if self.kind == "dataset" and dataset is not None:
                annotator = DATASET_ANNOTATOR_PREFIX + dataset
            yield from store.iter_labels(dataset=dataset, annotator=annotator, status=status)

    def _wanted(self, label: Label) -> bool:
        if self.kind == "dataset":
            return label.source == "dataset" or label.annotator.startswith(DATASET_ANNOTATOR_PREFIX)
        if self.kind == "annotator":
            return True
        if self.kind == "adjudicated":
            return label.source == "adjudicated"
        return label.source == "human" and label.first_mistake is not None

    def choose(self, trace: Trace) -> ChosenLabel | None:
        """Return the label to write for ``trace``, or None when it has no such label."""
        kept = self.by_trace.get(trace.id)
        if not kept:
            return None
        if self.kind == "majority":
            vote = majority_vote(k.first_mistake for k in kept if k.first_mistake is not None)
            if vote is None:
                return None
            winner, agreement = vote
            return ChosenLabel(
                first_mistake=winner,
                step_ratings=None,
                source="majority",
                annotators=sorted(k.annotator for k in kept if k.first_mistake == winner),
                time=max(k.time for k in kept),
                agreement=agreement,
            )
        if self.kind == "dataset":
            own = DATASET_ANNOTATOR_PREFIX + trace.dataset
            pick = min(kept, key=lambda k: (k.annotator != own, k.annotator))
        else:
            pick = max(kept, key=lambda k: k.time)
        return ChosenLabel(
            first_mistake=pick.first_mistake,
            step_ratings=pick.step_ratings,
            source=self.kind,
            annotators=[pick.annotator],
            time=pick.time,
            agreement=None,
        )
