"""What every page shares: the store, the page registry, widget state kept across pages."""

from __future__ import annotations

import importlib
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from trace_store import Store, default_db_url, open_store

PAGE_SPECS: tuple[tuple[str, str, str], ...] = (
    # (url path = module name in pages/, title, render function)
    ("traces", "Traces", "render_traces"),
    ("trace", "Trace", "render_trace"),
    ("label", "Label", "render_label"),
    ("agreement", "Agreement", "render_agreement"),
    ("adjudicate", "Adjudicate", "render_adjudicate"),
    ("dashboard", "Dashboard", "render_dashboard"),
    ("import_generate", "Import / generate", "render_import"),
    ("export", "Export", "render_export"),
    ("lm", "LM generate / correct", "render_lm"),
    ("finder", "Mistake finder", "render_finder"),
)
"""The app's pages in navigation order. Each URL path is its module's name: see run_router.
No page icons: the browser makes a page's icon the tab's favicon, fetched from
fonts.gstatic.com for ``:material/...:`` icons (the app must work offline), and emoji need
an emoji font the machine may lack."""

APP_SCRIPT = Path(__file__).resolve().parents[1] / "app.py"

KEPT_KEY_PREFIXES: tuple[str, ...] = ("traces_f_", "dashboard_f_", "export_f_")
"""Widget keys under these prefixes keep their values while another page is shown."""


@st.cache_resource(show_spinner=False)
def _store_for(url: str) -> Store:
    """Return the open store for ``url`` (one per URL and process)."""
    return open_store(url)


def current_store() -> Store:
    """Return the store named by THOUGHTSCOPE_DB (or the default SQLite file)."""
    return _store_for(default_db_url())


@st.cache_data(ttl=600, show_spinner="Reading the list of datasets…")
def cached_datasets(url: str) -> list[Any]:
    """Return the store's datasets (DatasetInfo list), cached for ten minutes.

    On a 1M-trace store the query takes seconds; the list changes only through imports and
    generation, which clear the cache (clear_store_caches).
    """
    return _store_for(url).datasets()


def clear_store_caches() -> None:
    """Forget cached query results after the store was written to (import, generate)."""
    st.cache_data.clear()


def _load(module: str, func: str) -> Callable[[], None]:
    """Return the render function ``func`` of ``pages.<module>``."""
    return getattr(importlib.import_module(f"pages.{module}"), func)


def page(url_path: str, *, default: bool = False) -> Any:
    """Return the ``st.Page`` for ``url_path`` (usable with st.switch_page and st.page_link)."""
    for path, title, func in PAGE_SPECS:
        if path == url_path:
            return st.Page(_load(path, func), title=title, url_path=path, default=default)
    raise KeyError(f"no page with url path {url_path!r}")


def all_pages(default: str = "traces") -> list[Any]:
    """Return every page, in navigation order; ``default`` opens at the app's root URL."""
    return [page(path, default=path == default) for path, *_ in PAGE_SPECS]


def keep_widget_state() -> None:
    """Re-store kept widget values so Streamlit does not drop them when their page is hidden.

    Streamlit forgets the value of a widget that was not drawn in the last run; writing the
    value back under its key turns it into plain session state that survives page switches.
    """
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(KEPT_KEY_PREFIXES):
            st.session_state[key] = st.session_state[key]


def run_router() -> None:
    """Run app.py, the router: for a page module that Streamlit ran as a script (see below).

    Streamlit still scans a ``pages/`` folder beside the main script: on a server's first run
    (and on every AppTest run) it serves a URL such as ``/trace`` by running ``pages/trace.py``
    itself, and answers a URL naming no file there with a "Page not found" box. So every page
    module is named after its URL path and ends with ``if __name__ == "__main__": run_router()``:
    run that way, it hands over to the router, which draws the page the URL names.
    """
    runpy.run_path(str(APP_SCRIPT), run_name="__main__")


if __name__ == "__main__":  # run as a script by Streamlit's pages/ folder scan
    run_router()
