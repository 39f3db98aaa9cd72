"""Reader for Thought Anchors folders (``MODEL/<kind>_base_solution/problem_N/``).

Each trace folder holds ``base_solution.json`` (``prompt``, ``solution``: the whole generation)
and ``chunks_labeled.json`` (the chunks, in order, with function tags, dependencies and
importance scores), plus ``problem.json`` for MATH problems. Steps are the chunks, located in
the solution text; their tags and scores are kept in ``metadata["chunks"]``.

``read_chunked_solution`` (the generation and its checked chunks, no trace built) is the one
reader of these files: the importer builds traces on it and ``analyzers.thought_anchors`` reads
the reference chunks through it. This module imports no database code, so analyzers may use it.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from trace_store.formats.chat import CLOSE_TAG, last_boxed
from trace_store.formats.fields import (
    THINK_SPAN_KEY,
    FieldProblem,
    RecordContext,
    StepData,
    answers_match,
    build_imported,
    jsonable,
    opt_bool,
    type_name,
)
from trace_store.formats.sources import MAX_JSON_BYTES, error
from trace_store.schema import ImportedTrace, RecordError

CHUNKS_FILE = "chunks_labeled.json"
SOLUTION_FILE = "base_solution.json"
PROBLEM_FILE = "problem.json"
_SCORE_KEYS = (
    "accuracy",
    "resampling_importance_accuracy",
    "resampling_importance_kl",
    "counterfactual_importance_accuracy",
    "counterfactual_importance_kl",
    "forced_importance_accuracy",
    "forced_importance_kl",
    "different_trajectories_fraction",
    "overdeterminedness",
)


def trace_folders(root: Path) -> Iterator[Path]:
    """Yield every folder under ``root`` (itself included) holding a chunks_labeled.json, sorted."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if CHUNKS_FILE in files:
            yield Path(folder)


def is_thought_anchors(root: Path) -> bool:
    """Return whether ``root`` is (or contains) a Thought Anchors trace folder."""
    return next(trace_folders(root), None) is not None


class AnchorsFileProblem(ValueError):
    """A file of a Thought Anchors folder is missing or malformed (names the file and field)."""

    def __init__(self, path: Path, message: str, field: str | None = None) -> None:
        where = f"{path}: field {field!r}" if field else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.message, self.field = path, message, field


@dataclass(frozen=True)
class ChunkedSolution:
    """One Thought Anchors folder's generation and its labelled chunks, read and checked."""

    folder: Path
    base: Mapping[str, Any]
    """The whole ``base_solution.json`` object (prompt, answer, is_correct, ...)."""
    solution: str
    """The whole generation, ``base_solution.json`` field ``solution``."""
    chunks: list[str]
    """The chunk texts in order, as published (whitespace may differ from ``solution``)."""
    chunk_meta: list[dict[str, Any]]
    """Per chunk: chunk_idx, function_tags, depends_on, summary and the importance scores."""

    @property
    def function_tags(self) -> list[list[str]]:
        """Return each chunk's function tags, in chunk order."""
        return [meta["function_tags"] for meta in self.chunk_meta]


def _load(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise AnchorsFileProblem(path, f"is over the {MAX_JSON_BYTES // 2**20} MB limit")
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise AnchorsFileProblem(path, f"is missing; expected it beside {CHUNKS_FILE}") from None
    except orjson.JSONDecodeError as exc:
        message = f"is not valid JSON ({exc.msg} at char {exc.pos})"
        raise AnchorsFileProblem(path, message) from None


def _literal_list(value: Any, field: str) -> list[Any]:
    """Return a list given as a list or as text holding a Python-style list ("['a', 'b']")."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value) if value.strip() else []
        except (ValueError, SyntaxError):
            raise FieldProblem(field, f"expected a list, found {type_name(value)}") from None
    if not isinstance(value, list | tuple):
        raise FieldProblem(field, f"expected a list, found {type_name(value)}")
    return list(value)


def _number(value: Any) -> Any:
    """Return numbers stored as text ("0.25") as floats; other values unchanged."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def locate_chunks(solution: str, chunks: list[str]) -> list[tuple[int, int] | None]:
    """Return each chunk's (start, end) in ``solution``, matched in order ignoring whitespace.

    Chunks differ from the solution only in whitespace, so both are compared with whitespace
    removed; a chunk not found (or empty) gets None and the search goes on after the last match.
    """
    kept = [i for i, ch in enumerate(solution) if not ch.isspace()]
    dense = "".join(solution[i] for i in kept)
    spans: list[tuple[int, int] | None] = []
    pos = 0
    for chunk in chunks:
        needle = "".join(chunk.split())
        found = dense.find(needle, pos) if needle else -1
        if found < 0:
            spans.append(None)
            continue
        pos = found + len(needle)
        spans.append((kept[found], kept[pos - 1] + 1))
    return spans


def _chunk_meta(chunk: Mapping[str, Any], i: int) -> dict[str, Any]:
    meta: dict[str, Any] = {"chunk_idx": int(_number(chunk.get("chunk_idx", i)))}
    meta["function_tags"] = [
        str(t) for t in _literal_list(chunk.get("function_tags", []), f"[{i}].function_tags")
    ]
    meta["depends_on"] = [
        int(_number(d)) for d in _literal_list(chunk.get("depends_on", []), f"[{i}].depends_on")
    ]
    if "summary" in chunk:
        meta["summary"] = chunk["summary"]
    for key in _SCORE_KEYS:
        if key in chunk:
            meta[key] = _number(chunk[key])
    return meta


def read_chunked_solution(folder: Path) -> ChunkedSolution:
    """Return the generation and labelled chunks of one folder; raise AnchorsFileProblem if bad."""
    solution_obj = _load(folder / SOLUTION_FILE)
    chunks_obj = _load(folder / CHUNKS_FILE)
    if not isinstance(solution_obj, Mapping):
        found = type_name(solution_obj)
        raise AnchorsFileProblem(folder / SOLUTION_FILE, f"expected a JSON object, found {found}")
    if not isinstance(chunks_obj, list):
        found = type_name(chunks_obj)
        raise AnchorsFileProblem(folder / CHUNKS_FILE, f"expected a list of chunks, found {found}")
    solution = solution_obj.get("solution")
    if not isinstance(solution, str):
        found = type_name(solution)
        raise AnchorsFileProblem(
            folder / SOLUTION_FILE, f"expected a string, found {found}", "solution"
        )
    texts, metas = [], []
    try:
        for i, chunk in enumerate(chunks_obj):
            if not isinstance(chunk, Mapping) or not isinstance(chunk.get("chunk"), str):
                found = type_name(chunk)
                expected = f"expected an object with a 'chunk' string, found {found}"
                raise FieldProblem(f"[{i}].chunk", expected)
            texts.append(chunk["chunk"])
            try:
                metas.append(_chunk_meta(chunk, i))
            except (ValueError, TypeError) as exc:
                raise FieldProblem(f"[{i}]", f"has a non-numeric index or score ({exc})") from None
    except FieldProblem as exc:
        raise AnchorsFileProblem(folder / CHUNKS_FILE, exc.message, exc.field) from None
    return ChunkedSolution(folder, solution_obj, solution, texts, metas)


def read_trace_folder(folder: Path, dataset: str) -> ImportedTrace:
    """Return the trace in one Thought Anchors folder; raise AnchorsFileProblem if bad."""
    read = read_chunked_solution(folder)
    problem_obj = _load(folder / PROBLEM_FILE) if (folder / PROBLEM_FILE).exists() else {}
    if not isinstance(problem_obj, Mapping):
        found = type_name(problem_obj)
        raise AnchorsFileProblem(folder / PROBLEM_FILE, f"expected a JSON object, found {found}")
    solution_obj, solution, texts = read.base, read.solution, read.chunks
    metas = [dict(meta) for meta in read.chunk_meta]
    steps: list[StepData] = []
    for i, (text, span) in enumerate(zip(texts, locate_chunks(solution, texts), strict=True)):
        if span is None:
            steps.append({"index": i, "text": text})
            continue
        located = solution[span[0] : span[1]]
        if located != text:
            metas[i]["chunk_text"] = text
        steps.append({"index": i, "text": located, "start": span[0], "end": span[1]})
    question = problem_obj.get("problem", solution_obj.get("prompt", ""))
    target = problem_obj.get("gt_answer")
    answer = solution_obj.get("answer")
    if not isinstance(answer, str):
        answer = last_boxed(solution)
    kind = folder.parent.name
    correct = opt_bool(solution_obj.get("is_correct"), "is_correct", text_cells=True)
    if correct is None and target is not None:
        correct = answers_match(answer, str(target))
    metadata: dict[str, Any] = {
        "source_path": "/".join(folder.parts[-3:]),
        "kind": kind,
        "chunks": metas,
        THINK_SPAN_KEY: [0, solution.find(CLOSE_TAG) if CLOSE_TAG in solution else len(solution)],
    }
    for key in ("level", "type", "nickname", "gt_solution"):
        if key in problem_obj:
            metadata[key] = problem_obj[key]
    for key, value in solution_obj.items():
        if key not in ("prompt", "solution", "full_cot", "answer", "is_correct"):
            metadata[key] = value
    ctx = RecordContext(file=str(folder), line=None, dataset=dataset)
    return build_imported(
        ctx,
        trace_id=None,
        question=question if isinstance(question, str) else str(question),
        steps=steps,
        answer=answer,
        target=None if target is None else str(target),
        raw_text=solution,
        task=problem_obj.get("type") if isinstance(problem_obj.get("type"), str) else kind,
        model=folder.parent.parent.name if len(folder.parts) >= 3 else None,
        correct=correct,
        metadata=jsonable(metadata),
    )


def iter_thought_anchors(root: Path, dataset: str) -> Iterator[ImportedTrace | RecordError]:
    """Yield one trace per Thought Anchors folder under ``root`` (errors name file and field)."""
    for folder in trace_folders(root):
        try:
            yield read_trace_folder(folder, dataset)
        except AnchorsFileProblem as exc:
            yield error(exc.path, None, exc.message, exc.field)
