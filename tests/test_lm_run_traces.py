"""LM page: the traces of one run, found by the run id in their metadata (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from components.lm_tables import made_by_run, traces_of_run
from tests.store_samples import imported, make_trace
from trace_store.schema import Run

METADATA = {
    "a": {"generation": {"run_id": "gen-1"}},
    "b": {"generation": {"run_id": "gen-2"}},
    "fix": {"generation": {"run_id": "fix-1"}, "correction": {"run_id": "fix-1", "step": 1}},
    # a correction that kept its source's generation block: it belongs to its correction run
    "kept": {"generation": {"run_id": "gen-1"}, "correction": {"run_id": "fix-9"}},
    "c": {"generation": {"run_id": "gen-1"}},
    "plain": {},
}


def _run(run_id: str, dataset: str | None = "lm") -> Run:
    kind = "correct" if run_id.startswith("fix") else "generate"
    return Run(id=run_id, kind=kind, dataset=dataset, started_at=datetime(2025, 1, 1, tzinfo=UTC))


@pytest.fixture
def lm_store(store):
    store.add_traces(
        imported(make_trace(tid, dataset="lm", metadata=meta, question=f"q {tid}"))
        for tid, meta in METADATA.items()
    )
    store.add_traces([imported(make_trace("away", dataset="other", metadata=METADATA["a"]))])
    return store


def test_traces_of_run_reads_only_the_runs_traces(lm_store, monkeypatch) -> None:
    def no_scan(*_args, **_kwargs):
        raise AssertionError("traces_of_run read the whole dataset")

    monkeypatch.setattr(lm_store, "iter_traces", no_scan)
    read: list[str] = []
    real_get = lm_store.get_traces

    def get_traces(ids):
        read.extend(ids)
        return real_get(ids)

    monkeypatch.setattr(lm_store, "get_traces", get_traces)
    assert [t.id for t in traces_of_run(lm_store, _run("gen-1"))] == ["a", "c"]
    # "kept" is read (its generation block names gen-1) but belongs to fix-9
    assert read == ["a", "kept", "c"]
    assert [t.id for t in traces_of_run(lm_store, _run("fix-1"))] == ["fix"]
    assert [t.id for t in traces_of_run(lm_store, _run("fix-9"))] == ["kept"]
    assert [t.id for t in traces_of_run(lm_store, _run("gen-1"), limit=1)] == ["a"]
    assert traces_of_run(lm_store, _run("gen-1", dataset=None)) == []
    assert traces_of_run(lm_store, _run("gen-1", dataset="nothing")) == []


def test_made_by_run_prefers_the_correction() -> None:
    def trace(meta: dict):
        return make_trace("t", metadata=meta)

    assert made_by_run(trace(METADATA["kept"])) == "fix-9"
    assert made_by_run(trace(METADATA["a"])) == "gen-1"
    assert made_by_run(trace({"correction": {}, "generation": {"run_id": "g"}})) == "g"
    assert made_by_run(trace({"generation": "gen-1"})) is None
    assert made_by_run(trace({"generation": {"run_id": 3}})) is None
    assert made_by_run(trace({})) is None
