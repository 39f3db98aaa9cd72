"""The LM page's Correct and Compare tabs in headless Chromium (slow; no model is run).

The store holds the LM tests' source traces, one correction Run and one corrected trace whose
chosen candidate is hostile text, so the side-by-side view is checked for inert rendering.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.browser_helpers import (
    ARTIFACTS,
    launch_chromium,
    require_chromium,
    screenshot,
    streamlit_server,
    wait_for_app,
)
from tests.lm_page_helpers import SOURCE_DATASET, seed_source_store
from trace_store.schema import ImportedTrace, Run, Step, Trace, utcnow

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

TIMEOUT_MS = 60_000
RUN_ID = "correct-browser"
HOSTILE = "<img src=x onerror=alert(1)> $x$ :red[no] -> [a](javascript:alert(2))"
CORRECTED_ID = f"{SOURCE_DATASET}-0~label-s2-browser"


def corrected_item(original: Trace) -> ImportedTrace:
    """Return a corrected copy of ``original`` (divergence at step 2, hostile chosen text)."""
    steps = [*original.step_texts[:2], HOSTILE, "Then A * B = 7 * -3 = -21. So the answer is -21"]
    trace = Trace(
        id=CORRECTED_ID,
        dataset=f"{SOURCE_DATASET}-corrected",
        task=original.task,
        model="hand",
        question=original.question,
        steps=[Step(index=i, text=t) for i, t in enumerate(steps)],
        answer="-21",
        target=original.target,
        correct=True,
        metadata={
            "corrected_from": original.id,
            "correction": {
                "run_id": RUN_ID,
                "arm": "label",
                "step": 2,
                "location_source": f"label:dataset:{SOURCE_DATASET}",
                "original_step": original.steps[2].text,
                "original_step_logprob": -30.25,
                "original_answer": original.answer,
                "original_correct": False,
                "k": 2,
                "candidates": [
                    {"text": HOSTILE, "logprob": -4.5, "n_tokens": 9, "differs": True},
                    {"text": "Let's stop.", "logprob": -7.0, "n_tokens": 4, "differs": True},
                ],
                "chosen": 0,
            },
        },
    )
    return ImportedTrace(trace=trace)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Yield the URL of a running app whose store holds one correction run."""
    require_chromium()
    url = f"sqlite:///{tmp_path_factory.mktemp('lm-browser') / 'app.db'}"
    store = seed_source_store(url)
    store.add_traces([corrected_item(store.get_trace(f"{SOURCE_DATASET}-0"))])
    start = utcnow()
    store.save_run(
        Run(
            id=RUN_ID,
            kind="correct",
            dataset=f"{SOURCE_DATASET}-corrected",
            model="hand",
            params={"source_dataset": SOURCE_DATASET, "location": "label", "k": 2, "n": 1},
            stats={
                "arms": {
                    "label": {
                        "n": 1,
                        "n_with_target": 1,
                        "accuracy_before": 0.0,
                        "accuracy_after": 1.0,
                        "fixed": 1,
                        "broken": 0,
                    },
                    "random_control": {
                        "n": 1,
                        "n_with_target": 1,
                        "accuracy_before": 0.0,
                        "accuracy_after": 0.0,
                        "fixed": 0,
                        "broken": 0,
                    },
                }
            },
            status="done",
            started_at=start,
            finished_at=start + timedelta(seconds=3),
        )
    )
    store.close()
    with streamlit_server(url, ARTIFACTS / "streamlit-lm-browser.log") as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with launch_chromium() as b:
        yield b


def test_compare_tab_shows_both_sides_inert_with_both_trees(base_url: str, browser) -> None:
    page = browser.new_page(viewport={"width": 1500, "height": 2600})
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base_url}/lm?tab=Compare&corrected={CORRECTED_ID}")
    wait_for_app(page, TIMEOUT_MS)
    page.wait_for_selector('[data-side="corrected"] [data-role="chosen"]', timeout=TIMEOUT_MS)
    chosen = page.locator('[data-side="corrected"] [data-role="chosen"] .ts-text').inner_text()
    assert chosen == HOSTILE  # verbatim: no image, no LaTeX, no colour, no link
    replaced = page.locator('[data-side="original"] [data-role="replaced"] .ts-text').inner_text()
    assert replaced == "Let's calculate B = (2 - 5) = 3."
    assert page.locator('[data-side="original"] [data-role="kept"]').count() == 2
    assert page.locator('[data-side="corrected"] [data-role="continued"]').count() == 1
    assert page.locator("img[src=x]").count() == 0
    page.wait_for_function(
        "() => document.querySelectorAll('.js-plotly-plot').length === 2", timeout=TIMEOUT_MS
    )
    screenshot(page, "lm-compare")
    assert dialogs == [] and errors == []
    page.close()


def test_correct_tab_shows_the_arms_side_by_side(base_url: str, browser) -> None:
    page = browser.new_page(viewport={"width": 1500, "height": 2600})
    page.goto(f"{base_url}/lm?tab=Correct")
    wait_for_app(page, TIMEOUT_MS)
    metrics = page.locator('[data-testid="stMetric"]')
    metrics.first.wait_for(timeout=TIMEOUT_MS)
    lines = [
        [line for line in metrics.nth(i).inner_text().splitlines() if line.strip()]
        for i in range(metrics.count())
    ]
    assert lines == [
        ["labelled locations", "0.0% → 100.0%", "+100.0 points"],
        ["random-location control", "0.0% → 0.0%"],  # no change: no arrow
    ]
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "The labelled locations help: 100.0% correct after correction" in body
    screenshot(page, "lm-correct")
    page.close()
