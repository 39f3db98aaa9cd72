"""Thoughtscope's browser app: an ``st.navigation`` router over the pages in ``pages/``.

Run it with ``streamlit run app.py`` (``make run``). The store is THOUGHTSCOPE_DB or the default
SQLite file; an empty store is seeded with the built-in Countdown demo once per process.
"""

from __future__ import annotations

import streamlit as st

from generators.llm_tagger import register_llm_tagger
from pages.shared import all_pages, current_store, keep_widget_state


@st.cache_resource(show_spinner="Seeding the demo data set…")
def seed_demo_once(url: str) -> int:
    """Return how many demo traces were added to the store at ``url`` (0 unless it was empty)."""
    from generators.demo import seed_demo_if_empty

    return seed_demo_if_empty(current_store())


st.set_page_config(page_title="Thoughtscope", layout="wide")
register_llm_tagger()  # the "llm" tagger (THOUGHTSCOPE_TAGGER_*) is known to get_tagger
seed_demo_once(current_store().url)
keep_widget_state()
st.navigation(all_pages()).run()
