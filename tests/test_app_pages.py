"""AppTest of each page's logic on a small seeded store: filters, selection, URL state."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from streamlit.testing.v1 import AppTest

from components.safe_text import reveal_hidden
from tests.browser_helpers import (
    COUNTDOWN_DATASET,
    LONG_TRACE_ID,
    REPO,
    html_of,
    load_hostile,
    open_app_page,
    rerun,
    seed_test_store,
    texts,
)
from trace_store.schema import Label

TIMEOUT = 60
N_COUNTDOWN = 30
N_HOSTILE = len(load_hostile())
N_TOTAL = N_COUNTDOWN + N_HOSTILE + 1


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Return the URL of a seeded store and the ids of the human-labelled traces."""
    from trace_store import TraceFilter

    url = f"sqlite:///{tmp_path_factory.mktemp('app') / 'app.db'}"
    store = seed_test_store(url, countdown=N_COUNTDOWN)
    ids = [r.id for r in store.list_traces(TraceFilter(datasets=[COUNTDOWN_DATASET]), limit=3)]
    store.save_label(Label(trace_id=ids[0], annotator="ann1", first_mistake=2))
    store.save_label(Label(trace_id=ids[1], annotator="ann1", first_mistake=1))
    store.save_label(Label(trace_id=ids[1], annotator="ann2", first_mistake=4))
    store.close()
    return {"url": url, "labelled": ids[0], "disagreement": ids[1]}


@pytest.fixture(autouse=True)
def _use_seeded_store(seeded: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THOUGHTSCOPE_DB", str(seeded["url"]))


def open_page(default: str = "traces", query: dict[str, str] | None = None) -> AppTest:
    """Return an AppTest of the router opened on page ``default`` with ``query`` in the URL."""
    return open_app_page(default, query, timeout=TIMEOUT)


class _TextOnly(HTMLParser):
    """Collects the text of an HTML fragment outside <style> (entities decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.in_style = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.in_style = self.in_style or tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self.in_style = False

    def handle_data(self, data: str) -> None:
        if not self.in_style:
            self.parts.append(data)


def visible_text(fragment: str) -> str:
    """Return the text a browser would show for ``fragment`` (tags dropped, entities decoded)."""
    parser = _TextOnly()
    parser.feed(fragment)
    parser.close()
    return "".join(parser.parts)


# ----------------------------------------------------------------------------- Traces page


def test_app_router_opens_traces_page_on_the_seeded_store() -> None:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Traces"
    assert texts(at)[0].startswith(f"{N_TOTAL} traces match (all traces). Showing 1–50.")


def test_app_seeds_the_demo_into_an_empty_store_once(tmp_path, monkeypatch) -> None:
    from generators.demo import DEMO_DATASET, DEMO_TRACES

    monkeypatch.setenv("THOUGHTSCOPE_DB", f"sqlite:///{tmp_path / 'empty.db'}")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert texts(at)[0].startswith(f"{DEMO_TRACES} traces match")
    assert set(at.dataframe[0].value["dataset"]) == {DEMO_DATASET}
    rerun(at)
    at2 = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    assert texts(at2)[0].startswith(f"{DEMO_TRACES} traces match")


def test_app_router_keeps_working_across_reruns_and_page_switches() -> None:
    """Reruns of app.py go through Streamlit's pages/ folder scan (see pages.shared.run_router)."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    at.text_input(key="traces_f_text").set_value("iframe")
    rerun(at)
    assert at.title[0].value == "Traces"
    assert list(at.dataframe[0].value["id"]) == ["hostile-04-iframe"]
    at.session_state["traces_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    rerun(at)
    assert at.title[0].value == "Trace"
    at.button(key="trace_next").click()
    rerun(at)
    assert at.title[0].value == "Trace"
    assert at.query_params == {"trace": "hostile-04-iframe", "step": "0", "view": "tree"}


def test_traces_table_paginates_on_the_server() -> None:
    at = open_page()
    frame = at.dataframe[0].value
    assert len(frame) == 50
    assert list(frame.columns[:5]) == ["id", "dataset", "task", "model", "steps"]
    at.number_input(key="traces_f_page").set_value(2)
    rerun(at)
    second = at.dataframe[0].value
    assert len(second) == N_TOTAL - 50
    assert not set(second["id"]) & set(frame["id"])
    assert at.query_params["p"] == "2"
    assert texts(at)[0].endswith(f"Showing 51–{N_TOTAL}.")


def test_traces_filters_dataset_behaviour_correctness_and_labels(seeded: dict) -> None:
    at = open_page()
    at.multiselect(key="traces_f_datasets").set_value(["hostile"])
    rerun(at)
    frame = at.dataframe[0].value
    assert len(frame) == N_HOSTILE and set(frame["dataset"]) == {"hostile"}
    # Paging went back to the first page when the filter changed.
    assert texts(at)[0].startswith(f"{N_HOSTILE} traces match (datasets: hostile)")

    at.multiselect(key="traces_f_datasets").set_value([COUNTDOWN_DATASET])
    at.selectbox(key="traces_f_behavior").set_value("backtracking")
    rerun(at)  # the count range is enabled once a behaviour is chosen
    at.number_input(key="traces_f_behavior_min").set_value(3)
    rerun(at)
    frame = at.dataframe[0].value
    assert len(frame) > 0 and (frame["backtrack"] >= 3).all()

    at.selectbox(key="traces_f_behavior").set_value("any")
    at.selectbox(key="traces_f_correct").set_value("incorrect")
    rerun(at)
    frame = at.dataframe[0].value
    assert len(frame) > 0 and set(frame["correct"]) == {"no"}

    at.selectbox(key="traces_f_correct").set_value("any")
    at.selectbox(key="traces_f_label_state").set_value("labelled")
    rerun(at)
    frame = at.dataframe[0].value
    assert set(frame["id"]) == {seeded["labelled"], seeded["disagreement"]}
    at.selectbox(key="traces_f_label_state").set_value("disagreement")
    rerun(at)
    frame = at.dataframe[0].value
    assert list(frame["id"]) == [seeded["disagreement"]]
    assert list(frame["label state"]) == ["disagreement (2)"]


def test_search_updates_table_and_url() -> None:
    at = open_page()
    at.text_input(key="traces_f_text").set_value("onerror")
    rerun(at)
    frame = at.dataframe[0].value
    assert set(frame["id"]) == {"hostile-02-img-onerror"}
    assert at.query_params["q"] == "onerror"


def test_search_text_comes_from_the_url() -> None:
    at = open_page(query={"q": "iframe"})
    assert at.text_input(key="traces_f_text").value == "iframe"
    assert list(at.dataframe[0].value["id"]) == ["hostile-04-iframe"]


def test_selecting_a_row_opens_the_trace_with_its_id_in_the_url() -> None:
    at = open_page()
    at.multiselect(key="traces_f_datasets").set_value(["long"])
    rerun(at)
    at.session_state["traces_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    rerun(at)
    assert at.title[0].value == "Trace"
    assert at.query_params["trace"] == LONG_TRACE_ID
    assert at.session_state["trace_id"] == LONG_TRACE_ID


# ----------------------------------------------------------------------------- Trace page


def test_trace_page_restores_trace_step_and_view_from_the_url() -> None:
    at = open_page("trace", {"trace": "hostile-01-script-tag", "step": "2", "view": "graph"})
    assert at.session_state["trace_step"] == 2
    assert at.segmented_control(key="trace_view").value == "graph"
    page = html_of(at)
    assert 'class="ts-step ts-selected" id="ts-step-2"' in page
    assert at.query_params == {"trace": "hostile-01-script-tag", "step": "2", "view": "graph"}


def test_prev_next_goto_and_pills_move_the_selected_step() -> None:
    at = open_page("trace", {"trace": LONG_TRACE_ID})
    assert at.session_state["trace_step"] is None
    at.button(key="trace_next").click()
    rerun(at)
    assert at.session_state["trace_step"] == 0 and at.query_params["step"] == "0"
    at.button(key="trace_next").click()
    rerun(at)
    assert at.session_state["trace_step"] == 1
    at.number_input(key="trace_goto").set_value(1500)
    rerun(at)
    assert at.session_state["trace_step"] == 1500 and at.query_params["step"] == "1500"
    # Only a window of steps is rendered, starting just above the selected one.
    page = html_of(at)
    assert page.count('data-step="') == 25
    assert 'id="ts-step-1498"' in page and 'id="ts-step-1497"' not in page
    at.button(key="trace_prev").click()
    rerun(at)
    assert at.session_state["trace_step"] == 1499
    at.pills(key="trace_pick").set_value(1510)
    rerun(at)
    assert at.session_state["trace_step"] == 1510


def test_clicking_a_tree_node_selects_its_step() -> None:
    at = open_page("trace", {"trace": "hostile-03-javascript-md-link"})
    at.session_state["trace_tree"] = {
        "selection": {
            "points": [{"curve_number": 2, "point_index": 3, "customdata": 3}],
            "point_indices": [3],
            "box": [],
            "lasso": [],
        }
    }
    rerun(at)
    assert at.session_state["trace_step"] == 3
    assert at.query_params["step"] == "3"
    assert 'class="ts-step ts-selected" id="ts-step-3"' in html_of(at)
    # The same selection seen again does not undo a later move.
    at.button(key="trace_prev").click()
    rerun(at)
    assert at.session_state["trace_step"] == 2


def test_switching_views_keeps_trace_and_step() -> None:
    at = open_page("trace", {"trace": LONG_TRACE_ID, "step": "7"})
    assert at.toggle(key="trace_collapse").value is True
    for view in ("linear", "graph", "tree"):
        at.segmented_control(key="trace_view").set_value(view)
        rerun(at)
        assert at.query_params == {"trace": LONG_TRACE_ID, "step": "7", "view": view}
        assert len(at.get("plotly_chart")) == 1


def test_unknown_trace_id_is_an_error_not_a_traceback() -> None:
    at = open_page("trace", {"trace": "<no-such-trace>"})
    assert [e.value for e in at.error] == ["No trace with this id in the store:"]
    assert at.code[0].value == "<no-such-trace>"


@pytest.mark.parametrize("item", load_hostile(), ids=lambda i: i.trace.id)
def test_hostile_trace_text_reaches_the_page_escaped(item) -> None:
    trace = item.trace
    at = open_page("trace", {"trace": trace.id, "step": "1"})
    page = html_of(at)
    payload = trace.metadata["payload"]
    if "<" in payload:
        assert payload not in page  # never raw markup
    shown = visible_text(page)
    for step in trace.steps:  # every step (all within the window) reads as written
        assert reveal_hidden(step.text) in shown
    assert reveal_hidden(trace.question) in shown
    assert reveal_hidden(trace.answer or "") in shown


# ----------------------------------------------------------------------------- other pages


def test_dashboard_draws_charts_with_csv_downloads() -> None:
    at = open_page("dashboard")
    assert at.title[0].value == "Dashboard"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Traces"] == f"{N_TOTAL:,}"
    assert metrics["Labelled by people"] == "2"
    assert len(at.get("plotly_chart")) == 5
    labels = [b.label for b in at.get("download_button")]
    assert "Download data (CSV): behaviour frequency" in labels
    at.radio(key="dashboard_f_by").set_value("model")
    at.multiselect(key="dashboard_f_datasets").set_value([COUNTDOWN_DATASET])
    rerun(at)
    assert {m.label: m.value for m in at.metric}["Traces"] == f"{N_COUNTDOWN:,}"


def test_generate_countdown_adds_traces(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THOUGHTSCOPE_DB", f"sqlite:///{tmp_path / 'gen.db'}")
    at = open_page("import_generate")
    at.number_input(key="import_gen_n").set_value(12)
    at.text_input(key="import_gen_dataset").set_value("cd-gen")
    at.button(key="import_gen_go").click()
    rerun(at)
    assert "12 traces added to cd-gen, 0 already there" in " ".join(texts(at))
    from pages.shared import current_store

    assert current_store().count_traces() == 12
    assert current_store().list_traces(limit=1)[0].behavior_counts  # analysed


def test_upload_reports_bad_records_per_line(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THOUGHTSCOPE_DB", f"sqlite:///{tmp_path / 'up.db'}")
    good = (
        b'{"input": "Sort: b a", "steps": ["a comes first", "so a b"], "answer": "a b", '
        b'"target": "a b", "mistake_index": null}\n'
    )
    bad = b'{"input": "x", "steps": "not a list", "answer": "a", "target": "a"}\n'
    at = open_page("import_generate")
    at.file_uploader(key="import_files").set_value(
        [("word_sorting.jsonl", good + bad + good, "application/json")]
    )
    at.text_input(key="import_dataset").set_value("bbm-up")
    at.selectbox(key="import_format").set_value("bbm")
    rerun(at)
    at.button(key="import_go").click()
    rerun(at)
    report = " ".join(texts(at))
    assert "Read 3 records: 1 added, 1 unchanged, 1 failed" in report
    errors = at.dataframe(key="import_errors").value if False else at.dataframe[-1].value
    assert list(errors["line"]) == [2]
    assert list(errors["file"]) == ["word_sorting.jsonl"]
    assert "steps" in errors["field"][0]


def test_export_previews_and_prepares_a_download() -> None:
    at = open_page("export")
    at.multiselect(key="export_f_datasets").set_value(["hostile"])
    at.selectbox(key="export_f_format").set_value("jsonl")
    rerun(at)
    assert f"{N_HOSTILE} traces match (datasets: hostile)." in texts(at)
    preview = at.code[0].value
    assert preview.count("\n") == 4 and '"hostile-01-script-tag"' in preview
    at.button(key="export_go").click()
    rerun(at)
    assert any(t.startswith("Export ready: hostile.jsonl") for t in texts(at))
    assert len(at.get("download_button")) == 1


class _Offline:
    """A registered tagger that cannot run here (like `llm` without its server)."""

    name = "offline"
    version = "1"

    def __init__(self) -> None:
        from analyzers.behaviors import TaggerUnavailable

        raise TaggerUnavailable("set THOUGHTSCOPE_TAGGER_SERVER.")


def test_trace_page_shows_tags_of_a_chosen_tagger_or_says_why_it_cannot(seeded: dict) -> None:
    from analyzers.behaviors import register_tagger, unregister_tagger

    register_tagger("offline", _Offline)
    try:
        at = open_page("trace", {"trace": str(seeded["labelled"])})
        choice = at.sidebar.selectbox(key="trace_tagger")
        assert choice.value == "saved analysis"
        assert {"rules", "learned-ta", "offline"} <= set(choice.options)
        assert not any("computed now" in c.value for c in at.caption)
        choice.set_value("rules").run()
        assert not at.exception, at.exception
        assert any("Behaviours computed now by rules@" in c.value for c in at.caption)
        at.sidebar.selectbox(key="trace_tagger").set_value("offline").run()
        assert not at.exception, at.exception
        warnings = [w.value for w in at.warning]
        assert any("'offline' cannot run here: set THOUGHTSCOPE_TAGGER_SERVER." in w
                   for w in warnings), warnings  # fmt: skip
        assert not any("computed now" in c.value for c in at.caption)  # the saved tags again
    finally:
        unregister_tagger("offline")
