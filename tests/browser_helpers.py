"""Helpers for the app tests: a seeded test store, a real ``streamlit run`` server, Chromium.

The store holds Countdown traces (with dataset labels, analyses and one model suggestion), the
hostile corpus (tests/fixtures/hostile_traces.jsonl) and one 2,000-step search trace, so AppTest,
Playwright tests and bench/app_bench.py all look at the same kind of data.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from trace_store.schema import (
    Analysis,
    ImportedTrace,
    Label,
    Step,
    Suggestion,
    Trace,
)

REPO = Path(__file__).resolve().parents[1]
HOSTILE_FIXTURE = REPO / "tests" / "fixtures" / "hostile_traces.jsonl"
ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
COUNTDOWN_DATASET = "countdown-test"
LONG_TRACE_ID = "long-2000"
SUGGESTION_AGENT = "finder:test@1"


def load_hostile() -> list[ImportedTrace]:
    """Return the hostile corpus as ImportedTraces (dataset 'hostile')."""
    with HOSTILE_FIXTURE.open("rb") as f:
        return [ImportedTrace(trace=Trace.model_validate(orjson.loads(line))) for line in f]


def long_trace(n_steps: int = 2000, seed: int = 7) -> ImportedTrace:
    """Return one search trace of exactly ``n_steps`` steps: Countdown attempts run end to end.

    Each problem after the first opens with "Let's start over from the beginning", which the
    tree reconstruction reads as a backtrack to the root, so the trace has many branches.
    """
    from generators.countdown import generate_countdown

    texts: list[str] = []
    for item in generate_countdown(400, seed, dataset="long", max_steps=64):
        steps = item.trace.step_texts
        if texts:
            steps = ["Let's start over from the beginning with a new problem.", *steps]
        texts.extend(steps)
        if len(texts) >= n_steps:
            break
    texts = texts[:n_steps]
    trace = Trace(
        id=LONG_TRACE_ID,
        dataset="long",
        task="countdown-chain",
        model="countdown-dfs@1",
        question="Solve these Countdown problems one after another.",
        steps=[Step(index=i, text=t) for i, t in enumerate(texts)],
        answer="done",
        target="done",
        correct=True,
    )
    label = Label(
        trace_id=trace.id, annotator="dataset:long", source="dataset", first_mistake=n_steps // 2
    )
    return ImportedTrace(trace=trace, labels=[label])


def analyses_for(traces: Iterable[Trace]) -> list[Analysis]:
    """Return the behaviour analysis of each trace (the project's analyzer pipeline)."""
    from analyzers.pipeline import analyze_trace

    return [analyze_trace(t) for t in traces]


def seed_test_store(
    url: str, *, countdown: int = 30, hostile: bool = True, long: bool = True, demo: bool = False
):
    """Return an open store at ``url`` filled with the app tests' data (idempotent).

    ``demo`` adds the app's own demo data set (generators.demo), as a first start would.
    """
    from generators.countdown import generate_countdown
    from trace_store import open_store

    store = open_store(url)
    if demo:
        from generators.demo import seed_demo

        seed_demo(store)
    items = list(generate_countdown(countdown, 3, dataset=COUNTDOWN_DATASET, mistake_rate=0.4))
    if hostile:
        items.extend(load_hostile())
    if long:
        items.append(long_trace())
    store.add_traces(items)
    store.save_analyses(analyses_for(item.trace for item in items))
    first = items[0].trace
    store.add_suggestions(
        [
            Suggestion(
                trace_id=first.id, agent=SUGGESTION_AGENT, kind="first_mistake", value=1, score=0.7
            )
        ]
    )
    return store


def require_chromium() -> None:
    """Skip the calling test (or fixture) when Debian's Chromium is not installed."""
    import pytest

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (make system-deps)")


@contextlib.contextmanager
def launch_chromium() -> Iterator[Any]:
    """Yield a headless Chromium (Playwright) browser, closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_user_page(browser, user: str | None, *, height: int, timeout_ms: int):
    """Return a page in a fresh context logged in as ``user`` through the proxy header.

    ``user`` None sends no X-Forwarded-User header. Uncaught page errors are collected on the
    page's ``errors`` list.
    """
    headers = {"X-Forwarded-User": user} if user else None
    context = browser.new_context(
        viewport={"width": 1500, "height": height}, extra_http_headers=headers
    )
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    return page


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(db_url: str, log_path: Path, timeout: float = 60.0) -> Iterator[str]:
    """Run ``streamlit run app.py`` on a free port against ``db_url``; yield its base URL."""
    port = free_port()
    env = {**os.environ, "THOUGHTSCOPE_DB": db_url, "PYTHONUNBUFFERED": "1"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited early (code {proc.returncode}); see {log_path}"
                )
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit not healthy after {timeout:.0f}s; see {log_path}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


NODE_POSITION_JS = """(step) => {
  const gd = document.querySelector('.js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd.data) return null;
  const t = gd.data.find(d => d.name === 'steps');
  if (!t) return null;
  const k = Array.from(t.customdata).indexOf(step);
  if (k < 0) return null;
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const r = gd.getBoundingClientRect();
  return {x: r.left + xa._offset + xa.l2p(t.x[k]), y: r.top + ya._offset + ya.l2p(t.y[k])};
}"""
"""Script returning the page coordinates of the tree node whose customdata is ``step``."""


def wait_for_app(page, timeout_ms: int = 30_000) -> None:
    """Wait until the Streamlit app has drawn and finished its current run."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && document.querySelector('[data-testid=\"stMain\"] h1')",
        timeout=timeout_ms,
    )


def click_node(page, step: int, timeout_ms: int = 20_000) -> None:
    """Click the tree node of ``step`` (WebGL points have no DOM element: use plot coords)."""
    page.wait_for_function(f"() => ({NODE_POSITION_JS})({step}) !== null", timeout=timeout_ms)
    pos = page.evaluate(NODE_POSITION_JS, step)
    page.mouse.click(pos["x"], pos["y"])


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/, print and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def open_app_page(default: str, query: dict[str, str] | None = None, *, timeout: float = 60):
    """Return an AppTest of the router opened on page ``default`` with ``query`` in the URL."""
    from streamlit.testing.v1 import AppTest

    script = (
        "import streamlit as st\n"
        "from pages.shared import all_pages\n"
        f"st.navigation(all_pages(default={default!r})).run()\n"
    )
    at = AppTest.from_string(script, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def rerun(at):
    """Return ``at`` after running its script again, failing on any exception it raised."""
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at) -> list[str]:
    """Return the values of an AppTest's ``st.text`` elements."""
    return [t.value for t in at.text]


def html_of(at) -> str:
    """Return an AppTest's ``st.html`` bodies joined by newlines."""
    return "\n".join(h.value for h in at.html)
