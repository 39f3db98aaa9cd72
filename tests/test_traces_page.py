"""Traces page data: one page of rows with each row's model-predicted first mistake."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from pages.traces import fetch_page
from tests.store_samples import numbered
from trace_store import Store, TraceFilter, open_store
from trace_store.schema import Suggestion


def test_fetch_page_reads_predicted_mistakes_in_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    with open_store(os.environ["THOUGHTSCOPE_DB"]) as store:
        store.add_traces(numbered(4))
        older = datetime(2025, 1, 1, tzinfo=UTC)
        store.add_suggestions(
            [
                Suggestion(trace_id="t0000", agent="a", kind="first_mistake", value=1,
                           created_at=older),
                Suggestion(trace_id="t0000", agent="b", kind="first_mistake", value=-1),
                Suggestion(trace_id="t0001", agent="a", kind="step_score", value=[0.2, 0.9]),
                Suggestion(trace_id="t0003", agent="a", kind="first_mistake", value=0),
            ]
        )  # fmt: skip

    def one_by_one(self: Store, trace_id: str, **_: object) -> list[Suggestion]:
        raise AssertionError(f"suggestions read one trace at a time ({trace_id})")

    monkeypatch.setattr(Store, "suggestions_for", one_by_one)
    total, rows, predicted = fetch_page(TraceFilter(), 1, "id", False)
    assert total == 4 and [r.id for r in rows] == ["t0000", "t0001", "t0002", "t0003"]
    # the newest first_mistake suggestion wins; other kinds predict nothing
    assert predicted == {"t0000": -1, "t0001": None, "t0002": None, "t0003": 0}
