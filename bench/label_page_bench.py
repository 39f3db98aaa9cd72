"""Print how long the Label page takes to answer a key in a real browser (headless Chromium).

    python bench/label_page_bench.py [--presses 20] [--store-dir DIR]

For a short Countdown trace and the 2,000-step test trace, it times (key press → the step
panel shows the result): ``j`` (move; no write) and ``g`` (judge; autosaves a draft through the
annotation service), and checks that no key reran the whole page (the tree is drawn once).
Figures are medians and maxima in milliseconds; the machine's load shows in them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser_helpers import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    LONG_TRACE_ID,
    seed_test_store,
    streamlit_server,
    wait_for_app,
)

SELECTED_JS = "() => document.querySelector('.ts-step.ts-selected')?.dataset.step"
RUN_JS = "() => document.querySelector('[data-page-run]')?.dataset.pageRun"


def time_keys(page, key: str, presses: int) -> list[float]:
    """Return the milliseconds from each press of ``key`` until the selection moved on."""
    out = []
    for _ in range(presses):
        before = int(page.evaluate(SELECTED_JS))
        start = time.perf_counter()
        page.keyboard.press(key)
        page.wait_for_selector(f"#ts-step-{before + 1}.ts-selected", timeout=30_000)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=20)
    parser.add_argument("--store-dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    db = args.store_dir / "label_page_bench.db"
    db.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    seed_test_store(url, countdown=5, hostile=False, long=True).close()
    log = args.store_dir / "label_page_bench.log"
    with streamlit_server(url, log) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, path in (
            ("countdown (queue)", "/label?annotator=bench"),
            ("2,000 steps", f"/label?annotator=bench2&trace={LONG_TRACE_ID}&step=0"),
        ):
            page = browser.new_page(viewport={"width": 1500, "height": 1400})
            page.goto(base + path)
            wait_for_app(page)
            page.get_by_role("button", name="Submit").wait_for()
            page.wait_for_selector(".ts-step.ts-selected")
            runs = page.evaluate(RUN_JS)
            for key in ("j", "g"):
                ms = time_keys(page, key, args.presses)
                print(
                    f"{name:18} key {key}: median {statistics.median(ms):6.0f} ms, "
                    f"max {max(ms):6.0f} ms over {len(ms)} presses"
                )
            same = page.evaluate(RUN_JS) == runs
            print(f"{name:18} whole page reran during the presses: {'no' if same else 'YES'}")
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
