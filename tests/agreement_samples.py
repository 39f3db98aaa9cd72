"""A store with labels from several annotators, for the agreement and adjudication tests.

Labels are written through the annotation service (record_label), exactly as the UI would.
The hand-computed figures of tests/test_agreement.py are about HAND_LABELS.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from tests.store_samples import imported, make_trace
from trace_store.annotation import Identity, record_label
from trace_store.schema import ImportedTrace

DATASET = "agree-demo"
STEPS = ("Start with 12.", "Add 5 to get 17.", "Double it: 34.", "So the answer is 34.")

HAND_LABELS: dict[str, dict[str, int]] = {
    # trace -> annotator -> first mistake (-1 = no mistake); all traces have 3 steps
    "t1": {"alice": 1, "bob": 1},
    "t2": {"alice": -1, "bob": 0},
    "t3": {"alice": 2, "bob": -1},
    "t4": {"alice": 0, "bob": 0, "carol": 2},
}
HAND_DATASET: dict[str, int] = {"t1": 1, "t2": 0, "t3": 2, "t4": 0}
"""The dataset's own first mistakes of the HAND_LABELS traces."""


def hand_traces(dataset: str = DATASET) -> list[ImportedTrace]:
    """Return the four 3-step traces of HAND_LABELS, with the dataset's labels."""
    return [
        imported(
            make_trace(tid, dataset=dataset, steps=STEPS[:3], question=f"Question {tid}"),
            first_mistake=HAND_DATASET[tid],
        )
        for tid in HAND_LABELS
    ]


def who(name: str, role: str = "annotator") -> Identity:
    """Return a logged-in identity."""
    return Identity(name=name, role=role)  # type: ignore[arg-type]


def record_hand_labels(store, dataset: str = DATASET) -> None:
    """Store the HAND_LABELS traces and submit every annotator's label through record_label."""
    store.add_traces(hand_traces(dataset))
    for tid, by in HAND_LABELS.items():
        for name, mistake in by.items():
            record_label(store, who(name), tid, first_mistake=mistake)


def noisy_labels(
    store,
    trace_ids: Iterable[str],
    truth: dict[str, int],
    n_steps: dict[str, int],
    annotators: dict[str, float],
    seed: int = 3,
) -> int:
    """Submit a label per annotator per trace: the truth, or (with the given rate) a wrong step.

    Returns how many labels were written. Deterministic for a seed.
    """
    rng = random.Random(seed)
    written = 0
    for tid in trace_ids:
        for name, error_rate in annotators.items():
            mistake = truth[tid]
            if rng.random() < error_rate:
                choices = [-1, *range(n_steps[tid])]
                choices.remove(mistake)
                mistake = rng.choice(choices)
            record_label(store, who(name), tid, first_mistake=mistake)
            written += 1
    return written
