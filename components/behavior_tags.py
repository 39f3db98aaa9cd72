"""A trace's behaviour tags for display: its saved analysis, else tags computed now (cached).

The Trace page (pages/trace.py) and the correction view (components/correction_view.py) both
show tags for traces that may never have been analysed; both read them here, so a trace shows
the same tags and version wherever it is drawn. The Trace page may also ask for the tags of a
chosen registered tagger (rules, learned-ta, llm, ...), computed now and never saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from analyzers.pipeline import ANALYZER_NAME, analyze_trace
from trace_store.schema import BehaviorTag, Trace

UNSAVED_SUFFIX = "(unsaved)"
"""Appended to the version of tags computed for display and not stored."""


@dataclass(frozen=True)
class TraceTags:
    """Behaviour tags of one trace and where they came from."""

    tags: list[BehaviorTag]
    version: str
    """The analysis version (tagger@version); computed tags end in UNSAVED_SUFFIX."""
    computed: bool
    """True when no analysis was stored and the tags were computed for display."""


@st.cache_data(max_entries=64, ttl=300, show_spinner=False)
def _computed(
    _trace: Trace, trace_id: str, digest: str, tagger: str | None
) -> tuple[list[BehaviorTag], str]:
    """Return (tags, tagger version) computed for a trace (cached per id, content and tagger).

    Raises analyzers.behaviors.TaggerUnavailable when ``tagger`` cannot run here (not cached).
    """
    fresh = analyze_trace(_trace, tagger)
    return list(fresh.tags), fresh.version


def behavior_tags_of(store: Any, trace: Trace, tagger: str | None = None) -> TraceTags:
    """Return the behaviour tags of ``trace`` to show.

    Without ``tagger``: the stored analysis, or the default tagger's tags computed now when none
    is stored. With ``tagger`` (a registered name): that tagger's tags computed now, not saved.
    """
    if tagger is None:
        saved = store.get_analysis(trace.id, ANALYZER_NAME)
        if saved is not None:
            return TraceTags(list(saved.tags), saved.version, computed=False)
    tags, version = _computed(trace, trace.id, trace.content_hash(), tagger)
    return TraceTags(tags, f"{version}{UNSAVED_SUFFIX}", computed=True)
