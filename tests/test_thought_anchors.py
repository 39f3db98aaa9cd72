"""Thought Anchors reference loader: one reader shared with the importer, no database imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analyzers.thought_anchors import (
    AnchorsTrace,
    chunk_boundaries,
    load_thought_anchors,
    step_boundaries,
)
from trace_store.formats import read_records
from trace_store.formats.thought_anchors import AnchorsFileProblem
from trace_store.schema import ImportedTrace

FIXTURE = Path(__file__).parent / "fixtures" / "formats" / "thought_anchors"
REPO = Path(__file__).resolve().parents[1]


def _folder(root: Path, rel: str, solution: str | None, chunks: list[dict]) -> Path:
    folder = root / rel
    folder.mkdir(parents=True)
    (folder / "chunks_labeled.json").write_text(json.dumps(chunks))
    if solution is not None:
        (folder / "base_solution.json").write_text(json.dumps({"solution": solution}))
    return folder


def test_loader_reads_the_same_chunks_and_tags_as_the_importer() -> None:
    loaded = load_thought_anchors(FIXTURE)
    imported = [i for i in read_records(FIXTURE, dataset="ta") if isinstance(i, ImportedTrace)]
    by_path = {i.trace.metadata["source_path"]: i.trace for i in imported}
    assert [Path(t.path).name for t in loaded] == ["problem_7", "scenario_0"]
    for trace in loaded:
        stored = by_path["/".join(Path(trace.path).parts[-3:])]
        assert trace.solution == stored.raw_text
        assert trace.function_tags == [c["function_tags"] for c in stored.metadata["chunks"]]
        assert len(trace.chunks) == len(stored.steps)
    # the scenario file holds its tags as text ("['plan_generation', ...]"): parsed to a list
    assert loaded[1].function_tags[1] == ["plan_generation", "active_computation"]
    # the chunk keeps its published whitespace (the solution has two spaces there)
    assert loaded[0].chunks[1] == "First, 3 + 4 = 7."


def test_loader_skips_folders_without_a_solution_and_sorts_by_path(tmp_path: Path) -> None:
    _folder(tmp_path, "m/b-c/p", "x y", [{"chunk": "x y", "function_tags": ["a"]}])
    _folder(tmp_path, "m/b/p", "one. two.", [{"chunk": "one."}, {"chunk": "two."}])
    _folder(tmp_path, "m/b/q", None, [{"chunk": "lonely"}])
    loaded = load_thought_anchors(tmp_path)
    # ordered as the chunks files' paths sort (part by part): m/b/p before m/b-c/p
    assert [Path(t.path).relative_to(tmp_path).as_posix() for t in loaded] == ["m/b/p", "m/b-c/p"]
    expected = AnchorsTrace(str(tmp_path / "m/b/p"), "one. two.", ["one.", "two."], [[], []])
    assert loaded[0] == expected
    assert loaded[1].function_tags == [["a"]]


def test_empty_tag_text_means_no_tags_as_on_import(tmp_path: Path) -> None:
    _folder(tmp_path, "m/k/p", "a b", [{"chunk": "a", "function_tags": ""}, {"chunk": "b"}])
    assert load_thought_anchors(tmp_path)[0].function_tags == [[], []]


def test_bad_files_raise_value_errors_naming_file_and_field(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path, "m/k/p", "a b", [{"chunk": "a"}, {"chunk": "b", "function_tags": "oops("}]
    )
    with pytest.raises(ValueError, match=r"chunks_labeled\.json: field '\[1\]\.function_tags'"):
        load_thought_anchors(tmp_path)
    (folder / "chunks_labeled.json").write_text('[{"chunk": "a"}]')
    (folder / "base_solution.json").write_text('{"solution": 3}')
    with pytest.raises(AnchorsFileProblem) as caught:
        load_thought_anchors(tmp_path)
    assert caught.value.field == "solution"
    assert caught.value.path == folder / "base_solution.json"
    assert "expected a string, found a number" in str(caught.value)


def test_boundaries_count_non_whitespace_characters() -> None:
    assert chunk_boundaries(["ab c", " d\ne", "f"]) == {3, 5}
    text = "ab c  d\ne f"
    assert step_boundaries(text, [0, 6, 10]) == {3, 5}


def test_loader_imports_no_database_code() -> None:
    code = (
        "import sys, analyzers.thought_anchors; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
