"""Behaviour tags for display: the stored analysis, else computed tags, the same on every page."""

from __future__ import annotations

import os

from analyzers.pipeline import analyze_trace
from components.behavior_tags import behavior_tags_of
from components.correction_view import trace_tags
from pages.trace import load_trace
from tests.store_samples import make_trace
from trace_store import open_store
from trace_store.schema import Analysis, BehaviorTag, ImportedTrace

STEPS = ("First, I need to add 2 and 3.", "Let me verify: 2 + 3 = 5.", "So the answer is 5.")


def test_stored_analysis_wins_and_computed_tags_are_marked_unsaved() -> None:
    url = os.environ["THOUGHTSCOPE_DB"]
    trace = make_trace("t1", steps=STEPS)
    with open_store(url) as store:
        store.add_traces([ImportedTrace(trace=trace, location="x:1")])
        trace = store.get_trace("t1")
        assert trace is not None
        fresh = analyze_trace(trace)
        assert {t.behavior for t in fresh.tags} >= {"subgoal_setting", "verification"}

        computed = behavior_tags_of(store, trace)
        assert computed.computed and computed.version == f"{fresh.version}(unsaved)"
        assert computed.tags == fresh.tags
        assert trace_tags(store, trace) == fresh.tags
        assert load_trace(url, "t1") == (trace, fresh.tags, computed.version, True)

        mine = BehaviorTag(step=2, behavior="backtracking", start=0, end=2, evidence="So",
                           confidence=1.0, tagger="hand@2")  # fmt: skip
        store.save_analyses(
            [Analysis(trace_id="t1", analyzer="behaviors", version="hand@2", tags=[mine])]
        )
        saved = behavior_tags_of(store, trace)
        assert (saved.tags, saved.version, saved.computed) == ([mine], "hand@2", False)
        assert trace_tags(store, trace) == [mine]
        load_trace.clear()
        assert load_trace(url, "t1") == (trace, [mine], "hand@2", False)
        assert load_trace(url, "missing") == (None, [], "", False)
