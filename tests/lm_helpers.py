"""Helpers shared by the LM and correction tests: a recording backend and small source traces."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from generators.lm import (
    Completion,
    LMBackend,
    ProgressFn,
    Prompt,
    SamplingParams,
    WrappedBackend,
)
from generators.prompts import Example, PromptTemplate, load_template
from trace_store.schema import ImportedTrace, Label, Step, Trace


@dataclass
class Call:
    """One ``complete`` call: what was asked and what came back."""

    prompts: list[Prompt]
    params: SamplingParams
    outputs: list[Completion]


class RecordingBackend(WrappedBackend):
    """Wraps a real backend and records every ``complete`` call (the model still does the work)."""

    def __init__(self, inner: LMBackend) -> None:
        super().__init__(inner)
        self.calls: list[Call] = []

    def complete(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams,
        *,
        batch_size: int = 8,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> list[Completion]:
        outs = super().complete(
            prompts, params, batch_size=batch_size, progress=progress, cancel=cancel
        )
        self.calls.append(Call(list(prompts), params, outs))
        return outs

    def close(self) -> None:
        # The test that made the inner backend closes it; a recorder only watches.
        pass


SOURCE_TRACES = [
    (
        "multistep_arithmetic",
        "((3 + 4) * (2 - 5)) =",
        "-21",
        [
            'This equation can be written as "A * B", where A = (3 + 4) and B = (2 - 5).',
            "Let's calculate A = (3 + 4) = 7.",
            "Let's calculate B = (2 - 5) = 3.",
            "Then, the final equation is A * B = 7 * 3 = 21. So the answer is 21",
        ],
        2,
    ),
    (
        "multistep_arithmetic",
        "((1 + 1) + (2 * 3)) =",
        "8",
        [
            'This equation can be written as "A + B", where A = (1 + 1) and B = (2 * 3).',
            "Let's calculate A = (1 + 1) = 2.",
            "Let's calculate B = (2 * 3) = 6.",
            "Then, the final equation is A + B = 2 + 6 = 8. So the answer is 8",
        ],
        -1,
    ),
    (
        "word_sorting",
        "pear apple fig",
        "apple fig pear",
        [
            "I should start by looking at the first letter of the words in the list. "
            'The first letter: "pear": "p" (16). "apple": "a" (1). "fig": "f" (6).',
            'We now have: (1) "apple" < (16) "pear" < (6) "fig".',
            "I have now sorted all the words. The answer is apple pear fig",
        ],
        1,
    ),
    (
        "dyck_languages",
        "( [",
        "] )",
        [
            "We should process each input one by one and keep track of the stack configuration.",
            "stack: empty",
            "( ; stack: (",
            "[ ; stack: ( [",
            'Now, we have reached the end. The final stack is "( [".',
            'So, we need "]" and ")". So the answer is ] )',
        ],
        -1,
    ),
]
"""(task, question, target, steps, dataset first_mistake) of small BBM-shaped traces."""


def source_items(dataset: str = "src") -> list[ImportedTrace]:
    """Return the SOURCE_TRACES as ImportedTrace items with their dataset labels."""
    items = []
    for i, (task, question, target, steps, mistake) in enumerate(SOURCE_TRACES):
        answer = steps[-1].rsplit("answer is ", 1)[1]
        trace = Trace(
            id=f"{dataset}-{i}",
            dataset=dataset,
            task=task,
            model="hand",
            question=question,
            steps=[Step(index=j, text=s) for j, s in enumerate(steps)],
            answer=answer,
            target=target,
            correct=answer == target,
        )
        label = Label(
            trace_id=trace.id,
            annotator=f"dataset:{dataset}",
            source="dataset",
            first_mistake=mistake,
        )
        items.append(ImportedTrace(trace=trace, labels=[label]))
    return items


def short_template(task: str) -> PromptTemplate:
    """Return ``task``'s real template with one two-step example, so tests prefill little.

    The answer kind, question wording and step limit stay the task's own.
    """
    real = load_template(task)
    example = Example(
        input="1 2", steps=("First, look at 1 and 2.", "So the answer is 3"), target="3"
    )
    return replace(real, examples=(example,))
