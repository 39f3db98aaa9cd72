"""The Label page in headless Chromium against a real ``streamlit run`` (slow; marked browser).

One annotator labels a trace with the keyboard only, reloads mid-way (the draft comes back),
submits, and finds the label in the store, on the Agreement page when there is one, and in a
``cli.py export --labels annotator:NAME`` file. Then two annotators in two browser contexts
(header login behind a "proxy": Playwright sends X-Forwarded-User) share a trace on overlap 2.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_helpers import (
    ARTIFACTS,
    COUNTDOWN_DATASET,
    REPO,
    click_node,
    launch_chromium,
    new_user_page,
    require_chromium,
    screenshot,
    seed_test_store,
    streamlit_server,
    wait_for_app,
)
from trace_store import open_store
from trace_store.annotation import Identity, Project, save_project

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

TIMEOUT_MS = 30_000
DOCS_SCREENSHOT = REPO / "docs" / "screenshot-label.png"


def _seeded(tmp_path_factory: pytest.TempPathFactory, name: str) -> str:
    require_chromium()
    db = tmp_path_factory.mktemp(name) / "label.db"
    url = f"sqlite:///{db}"
    seed_test_store(url, countdown=6, hostile=False, long=False).close()
    return url


@pytest.fixture(scope="module")
def single_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Yield (base URL, store URL) of an app in single-user mode."""
    url = _seeded(tmp_path_factory, "label-single")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("THOUGHTSCOPE_AUTH", raising=False)
        with streamlit_server(url, ARTIFACTS / "streamlit-label.log") as base:
            yield base, url


@pytest.fixture(scope="module")
def team_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Yield (base URL, store URL) of an app in header mode, project overlap 2."""
    url = _seeded(tmp_path_factory, "label-team")
    with open_store(url) as store:
        save_project(store, Identity("root", "admin"), Project(COUNTDOWN_DATASET, overlap=2))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("THOUGHTSCOPE_AUTH", "header")
        with streamlit_server(url, ARTIFACTS / "streamlit-label-team.log") as base:
            yield base, url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with launch_chromium() as b:
        yield b


def new_page(browser, user: str | None = None):
    return new_user_page(browser, user, height=1500, timeout_ms=TIMEOUT_MS)


def page_run(page) -> str:
    """Return the page's full-run counter (the header's data-page-run)."""
    return page.evaluate("() => document.querySelector('[data-page-run]').dataset.pageRun")


def wait_selected(page, step: int) -> None:
    """Wait until ``step`` is selected and the key buttons are drawn.

    Streamlit loads widget code lazily: right after a (re)load the step cards can be on screen
    before the buttons that hold the shortcuts, and a key pressed then does nothing.
    """
    page.wait_for_selector(f"#ts-step-{step}.ts-selected")
    page.get_by_role("button", name=re.compile(r"^Submit")).wait_for()


def wait_rating(page, step: int, rating: str) -> None:
    page.wait_for_selector(f'#ts-step-{step}[data-rating="{rating}"]')


def wait_verdict(page, text: str) -> None:
    page.locator(".ts-verdict").filter(has_text=text).wait_for()


def open_trace_id(page) -> str:
    match = re.search(r"[?&]trace=([^&]+)", page.url)
    assert match, page.url
    return match.group(1)


def wait_label(url: str, trace_id: str, annotator: str, version: int, timeout: float = 20.0):
    """Return the annotator's label once the store holds ``version`` of it (autosave is async)."""
    deadline = time.monotonic() + timeout
    with open_store(url) as store:
        while True:
            found = store.labels_for(trace_id, annotator=annotator)
            if found and found[0].version >= version:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no version {version} of {annotator}'s label: {found}")
            time.sleep(0.2)


def test_label_with_the_keyboard_reload_submit_and_export(
    browser, single_app: tuple[str, str], tmp_path: Path
) -> None:
    base, url = single_app
    page = new_page(browser)
    has_agreement = (REPO / "pages" / "agreement.py").exists()
    if has_agreement:
        page.goto(f"{base}/agreement?dataset={COUNTDOWN_DATASET}")
        wait_for_app(page)
        page.get_by_text("No submitted human labels").wait_for()
    page.goto(f"{base}/label")
    wait_for_app(page)
    page.get_by_label("Your name").focus()
    page.keyboard.type("kbd")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"[?&]annotator=kbd.*[?&]trace="))
    wait_selected(page, 0)
    tid = open_trace_id(page)
    run = page_run(page)
    page.keyboard.press("j")
    wait_selected(page, 1)
    page.keyboard.press("k")
    wait_selected(page, 0)
    page.keyboard.press("g")
    wait_selected(page, 1)
    page.keyboard.press("g")
    wait_selected(page, 2)
    wait_rating(page, 1, "1")
    assert page_run(page) == run  # keys rerun the step panel only, never the page and tree
    wait_label(url, tid, "kbd", 2)

    page.reload()  # mid-way: the draft and the step come back
    wait_for_app(page)
    wait_selected(page, 2)
    wait_rating(page, 0, "1")
    wait_rating(page, 1, "1")
    wait_verdict(page, "draft (autosaved)")
    page.keyboard.press("g")
    wait_selected(page, 3)
    page.keyboard.press("u")  # undo goes back to step 2, unrated again
    wait_selected(page, 2)
    page.wait_for_selector('#ts-step-2[data-rating=""]')
    page.keyboard.press("m")
    wait_verdict(page, "first mistake at step 2")
    screenshot(page, "label-01-first-mistake")
    page.screenshot(path=str(DOCS_SCREENSHOT), full_page=False)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda u: f"trace={tid}" not in u)
    wait_selected(page, 0)
    label = wait_label(url, tid, "kbd", 1)
    assert (label.status, label.first_mistake) == ("submitted", 2)
    assert label.step_ratings[:3] == [1, 1, -1]
    page.get_by_text("Mine: 1 submitted, 1 draft(s) of 6").or_(
        page.get_by_text("Mine: 1 submitted, 0 draft(s) of 6")
    ).wait_for()

    if has_agreement:  # the Agreement page counts the new label at once
        page.goto(f"{base}/agreement?dataset={COUNTDOWN_DATASET}")
        wait_for_app(page)
        metric = page.locator('[data-testid="stMetric"]').filter(
            has_text="Traces with human labels"
        )
        assert metric.locator('[data-testid="stMetricValue"]').inner_text() == "1"
        screenshot(page, "label-02-agreement")

    out = tmp_path / "kbd.jsonl"
    done = subprocess.run(
        [sys.executable, "cli.py", "export", "--dataset", COUNTDOWN_DATASET, "--format", "jsonl",
         "--labels", "annotator:kbd", "--labelled-only", "--out", str(out)],
        cwd=REPO, env={**os.environ, "THOUGHTSCOPE_DB": url}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["first_mistake"], r["label_annotators"]) for r in records] == [
        (tid, 2, ["kbd"])
    ]
    assert page.errors == []


def test_clicking_a_tree_node_selects_its_step(browser, single_app: tuple[str, str]) -> None:
    base, _url = single_app
    page = new_page(browser)
    page.goto(f"{base}/label?annotator=clicker")
    wait_for_app(page)
    wait_selected(page, 0)
    page.get_by_role("tab", name="Tree").click()
    click_node(page, 4)
    wait_selected(page, 4)
    page.wait_for_url(re.compile(r"[?&]step=4"))
    page.get_by_role("button", name="6", exact=True).click()  # a step's number selects it
    wait_selected(page, 6)
    screenshot(page, "label-03-tree-click")
    assert page.errors == []


def test_two_annotators_share_a_trace_on_overlap_two(browser, team_app: tuple[str, str]) -> None:
    base, url = team_app
    nobody = new_page(browser)
    nobody.goto(f"{base}/label")
    wait_for_app(nobody)
    nobody.get_by_text("carried no X-Forwarded-User header").wait_for()
    assert nobody.locator(".ts-step").count() == 0

    pages = {name: new_page(browser, name) for name in ("ann", "ben")}
    for name, page in pages.items():
        page.goto(f"{base}/label")
        wait_for_app(page)
        page.get_by_text(f"Labelling as {name}").wait_for()
        wait_selected(page, 0)
    tids = {name: open_trace_id(page) for name, page in pages.items()}
    assert tids["ann"] == tids["ben"]  # overlap 2: both slots of the first trace
    tid = tids["ann"]
    # ann: no mistake; ben: first mistake at step 1.
    pages["ann"].keyboard.press("n")
    wait_verdict(pages["ann"], "no mistake")
    pages["ben"].keyboard.press("g")
    wait_selected(pages["ben"], 1)
    pages["ben"].keyboard.press("m")
    wait_verdict(pages["ben"], "first mistake at step 1")
    # Blind: before submitting, ann does not see ben's label.
    pages["ann"].get_by_role("tab", name="Other labels").click()
    pages["ann"].get_by_text("Hidden until you submit yours").wait_for()
    # A focused button (the tab just clicked) takes Enter itself: click plain text first.
    pages["ann"].locator(".ts-verdict").click()
    for page in pages.values():
        page.keyboard.press("Enter")
        page.wait_for_url(lambda u: f"trace={tid}" not in u)
    with open_store(url) as store:
        got = {lab.annotator: lab for lab in store.labels_for(tid) if lab.source == "human"}
    assert {n: (lab.status, lab.first_mistake) for n, lab in got.items()} == {
        "ann": ("submitted", -1),
        "ben": ("submitted", 1),
    }
    # After submitting, ann may see ben's label on the trace.
    ann = pages["ann"]
    ann.goto(f"{base}/label?trace={tid}")
    wait_for_app(ann)
    wait_selected(ann, 0)
    ann.get_by_role("tab", name="Other labels").click()
    ann.get_by_text("ben (human, submitted): first mistake at step 1").wait_for()
    wait_for_app(ann)
    screenshot(ann, "label-04-team-other-labels")
    assert all(p.errors == [] for p in pages.values())
