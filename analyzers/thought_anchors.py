"""Thought Anchors reference data: R1 traces cut into chunks that GPT-4o tagged with functions.

Used to measure two things against a public reference: how closely ``segment_steps`` reproduces
the published chunk boundaries, and how well behaviour tags agree with the chunk function tags
(self_checking ≈ verification, plan_generation ≈ subgoal_setting, uncertainty_management ≈
backtracking). The layout is ``MODEL/<kind>_base_solution/<problem or scenario>/`` with
``base_solution.json`` (``solution``: the whole generation) and ``chunks_labeled.json`` (chunks in
order, ``function_tags`` a list or a string holding a Python-style list), read by the importer's
reader in trace_store.formats.thought_anchors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from trace_store.formats.thought_anchors import (
    CHUNKS_FILE,
    SOLUTION_FILE,
    read_chunked_solution,
    trace_folders,
)

TAG_TO_BEHAVIOR: dict[str, str] = {
    "self_checking": "verification",
    "plan_generation": "subgoal_setting",
    "uncertainty_management": "backtracking",
}
"""Thought Anchors function tag that stands in for each behaviour (backward chaining has none)."""

_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class AnchorsTrace:
    """One Thought Anchors trace: where it came from, its text and its tagged chunks."""

    path: str
    solution: str
    chunks: list[str]
    function_tags: list[list[str]]


def load_thought_anchors(root: Path) -> list[AnchorsTrace]:
    """Return every trace under ``root`` that has a solution and labelled chunks, sorted by path.

    The files are read by the importer's reader (trace_store.formats.thought_anchors), so both
    agree on what a chunk and its tags are; a folder without base_solution.json is skipped,
    and a malformed file raises ValueError (AnchorsFileProblem) naming the file and field.
    """
    traces = []
    # Ordered by the chunks file's path, as evaluations and folds have always seen them.
    for folder in sorted(trace_folders(root), key=lambda f: f / CHUNKS_FILE):
        if not (folder / SOLUTION_FILE).exists():
            continue
        read = read_chunked_solution(folder)
        traces.append(AnchorsTrace(str(folder), read.solution, read.chunks, read.function_tags))
    return traces


def _nonspace_index(text: str) -> list[int]:
    """Return, for each position of ``text``, how many non-whitespace characters precede it."""
    counts = [0] * (len(text) + 1)
    n = 0
    for i, ch in enumerate(text):
        counts[i] = n
        if not ch.isspace():
            n += 1
    counts[len(text)] = n
    return counts


def chunk_boundaries(chunks: list[str]) -> set[int]:
    """Return chunk starts (after the first) as counts of non-whitespace characters before them.

    Counting only non-whitespace characters makes boundaries comparable although the published
    chunks had their whitespace rewritten when short chunks were merged.
    """
    bounds = set()
    n = 0
    for chunk in chunks:
        if n:
            bounds.add(n)
        n += len(_WS.sub("", chunk))
    return bounds


def step_boundaries(text: str, starts: list[int]) -> set[int]:
    """Return step start offsets into ``text`` (after the first) in non-whitespace characters."""
    index = _nonspace_index(text)
    return {index[s] for s in starts[1:]}
