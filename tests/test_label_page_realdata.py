"""The Label page on real BIG-Bench Mistake traces: keys reproduce the dataset's own verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_helpers import open_app_page
from tests.store_samples import bbm_items
from trace_store import open_store

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
N_TRACES = 4

pytestmark = pytest.mark.realdata


@pytest.fixture
def bbm_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Yield a store holding the first BBM word-sorting traces (dataset 'bbm')."""
    path = DATA / "big-bench-mistake" / "word_sorting.jsonl"
    if not path.exists():
        pytest.skip(f"real data file {path} is absent")
    url = f"sqlite:///{tmp_path / 'bbm.db'}"
    monkeypatch.setenv("THOUGHTSCOPE_DB", url)
    monkeypatch.delenv("THOUGHTSCOPE_AUTH", raising=False)
    items = []
    for item in bbm_items(path):
        items.append(item)
        if len(items) == N_TRACES:
            break
    store = open_store(url)
    store.add_traces(items)
    yield store
    store.close()


def test_keys_reproduce_the_bbm_verdicts_and_the_guidelines_are_bbm_s(bbm_store) -> None:
    at = open_app_page("label", {"annotator": "ann"}, timeout=60)
    assert any(c.value == "From guidelines/bbm.md." for c in at.caption)
    assert any("first logical mistake" in m.value for m in at.markdown)
    done = []
    for _ in range(N_TRACES):
        tid = at.session_state["label_trace"]
        [shipped] = bbm_store.labels_for(tid, annotator="dataset:bbm")
        n = len(bbm_store.get_trace(tid).steps)
        target = shipped.first_mistake
        # Walk: g on every correct step, then m on the first mistake (or n for none).
        for _step in range(target if target >= 0 else 0):
            at.button(key="label_key_correct").click().run()
        at.button(key="label_key_mistake" if target >= 0 else "label_key_no_mistake").click()
        at.run()
        at.button(key="label_key_submit").click().run()
        assert not at.exception, at.exception
        [mine] = bbm_store.labels_for(tid, annotator="ann")
        assert (mine.status, mine.first_mistake) == ("submitted", target)
        assert len(mine.step_ratings) == n
        done.append(tid)
    assert len(set(done)) == N_TRACES
    assert at.session_state["label_trace"] is None  # the queue is empty now
    assert any("Nothing left for you to label in bbm" in s.value for s in at.success)
    # After submitting, the dataset's own label is visible beside mine.
    at = open_app_page("label", {"annotator": "ann", "trace": done[0]}, timeout=60)
    assert any(t.value.startswith("dataset:bbm (dataset, submitted):") for t in at.text)
