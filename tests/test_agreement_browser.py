"""Agreement and Adjudicate pages in headless Chromium against ``streamlit run`` (slow; browser).

Team mode behind a "proxy" (Playwright sends X-Forwarded-User): a reviewer reads the figures,
follows a disagreement's link to the Adjudicate page, picks the final first mistake with the
mouse and saves it; an annotator opening the same page is told it is for reviewers only.
Screenshots go to test-artifacts/screenshots/agreement-*.png.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.agreement_samples import DATASET, record_hand_labels
from tests.browser_helpers import (
    ARTIFACTS,
    launch_chromium,
    new_user_page,
    require_chromium,
    screenshot,
    streamlit_server,
    wait_for_app,
)
from trace_store import open_store
from trace_store.annotation import ADJUDICATED_ANNOTATOR, Identity, set_role

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def team_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Yield (base URL, store URL) of an app in header mode holding the hand-labelled traces."""
    require_chromium()
    url = f"sqlite:///{tmp_path_factory.mktemp('agreement') / 'agree.db'}"
    with open_store(url) as store:
        record_hand_labels(store)
        set_role(store, Identity("root", "admin"), "rita", "reviewer")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("THOUGHTSCOPE_AUTH", "header")
        with streamlit_server(url, ARTIFACTS / "streamlit-agreement.log") as base:
            yield base, url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with launch_chromium() as b:
        yield b


def new_page(browser, user: str):
    return new_user_page(browser, user, height=1400, timeout_ms=TIMEOUT_MS)


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` with the mouse."""
    box = page.get_by_role("combobox", name=label)
    wanted = page.get_by_role("option", name=option)
    box.click()
    try:
        wanted.wait_for(timeout=3_000)
    except PlaywrightTimeout:  # a click that only focused the box (seen under load): again
        box.click()
    wanted.click()


def wait_adjudicated(url: str, trace_id: str, timeout: float = 30.0):
    """Return the trace's adjudicated label once the store has it."""
    deadline = time.monotonic() + timeout
    with open_store(url) as store:
        while True:
            found = store.labels_for(trace_id, annotator=ADJUDICATED_ANNOTATOR)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"trace {trace_id} was not adjudicated")
            time.sleep(0.2)


def test_reviewer_reads_agreement_and_adjudicates(browser, team_app: tuple[str, str]) -> None:
    base, url = team_app
    page = new_page(browser, "rita")
    page.goto(f"{base}/agreement?dataset={DATASET}")
    wait_for_app(page)
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Exact first-mistake match")
    assert metric.locator('[data-testid="stMetricValue"]').inner_text() == "0.333"
    page.locator(".js-plotly-plot .heatmaplayer").first.wait_for()
    screenshot(page, "agreement-01-figures")

    # the trace picker is a fragment: picking t4 changes the links without a full rerun
    choose(page, "Trace", "t4 — alice: step 0, bob: step 0, carol: step 2")
    page.get_by_role("link", name="Adjudicate t4").click()
    page.wait_for_url(lambda u: "/adjudicate" in u and "trace=t4" in u)
    wait_for_app(page)
    page.locator("table.ts-adj-grid").wait_for()
    # alice's, bob's and the dataset's first mistake at step 0, carol's at step 2
    assert page.locator("table.ts-adj-grid .ts-adj-bad").count() == 4
    choose(page, "First mistake", "step 2 — carol")
    page.get_by_label("Note (why this decision)").fill("17 doubled is 34: carol is right")
    screenshot(page, "agreement-02-adjudicate")
    page.get_by_role("button", name="Save final label").click()
    page.get_by_text("Saved the final label of t4: step 2").wait_for()
    label = wait_adjudicated(url, "t4")
    assert (label.first_mistake, label.note) == (2, "17 doubled is 34: carol is right")
    with open_store(url) as store:
        assert store.label_history(label.id)[0]["annotator"] == "rita"
    page.wait_for_url(lambda u: "trace=t2" in u)  # on to the first open disagreement
    wait_for_app(page)
    page.locator(".ts-adj-card").filter(has_text="alice").filter(has_text="no mistake").wait_for()
    expect(page.get_by_role("combobox", name="First mistake")).to_have_value(
        "step 0 — bob, dataset:agree-demo"
    )
    expect(page.get_by_label("Note (why this decision)")).to_have_value("")
    screenshot(page, "agreement-03-saved")

    page.goto(f"{base}/agreement?dataset={DATASET}")
    wait_for_app(page)
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Disagreeing traces")
    assert metric.locator('[data-testid="stMetricValue"]').inner_text() == "3"
    # adjudicated traces go last: the picker opens on the first open one
    expect(page.get_by_role("combobox", name="Trace")).to_have_value(
        "t2 — alice: no mistake, bob: step 0"
    )


def test_annotator_is_told_reviewers_only(browser, team_app: tuple[str, str]) -> None:
    base, _ = team_app
    page = new_page(browser, "ann")
    page.goto(f"{base}/adjudicate?dataset={DATASET}")
    wait_for_app(page)
    page.get_by_text("Reviewers only").wait_for()
    assert page.locator("table.ts-adj-grid").count() == 0
    assert page.get_by_role("button", name="Save final label").count() == 0
    screenshot(page, "agreement-04-annotator")
