"""AppTest of the LM page with the tiny model: generate, list the Run, correct, compare."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("torch")

from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.browser_helpers import html_of, open_app_page, rerun, texts  # noqa: E402
from tests.lm_page_helpers import SOURCE_DATASET, seed_source_store, write_short_prompt  # noqa: E402
from tests.tiny_model import tiny_model_dir  # noqa: E402
from trace_store import TraceFilter, open_store  # noqa: E402

TIMEOUT = 120
JOB_WAIT_S = 180


@pytest.fixture(scope="session")
def tiny_chat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("lm"), chat_template=True)


@pytest.fixture
def page_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_chat_dir: Path) -> dict:
    """Return the store URL (source traces seeded), the model folder and a short prompt file."""
    url = f"sqlite:///{tmp_path / 'lm-page.db'}"
    seed_source_store(url).close()
    monkeypatch.setenv("THOUGHTSCOPE_DB", url)
    return {"url": url, "model": str(tiny_chat_dir), "prompt": str(write_short_prompt(tmp_path))}


def codes(at: AppTest) -> str:
    return "\n".join(c.value for c in at.code)


def wait_for_job(at: AppTest):
    """Wait for the page's background job to end, rerun the page, and return the job."""
    job = at.session_state["lm_job"]
    assert job is not None
    assert job.wait(JOB_WAIT_S), "job still running"
    rerun(at)
    return job


def open_tab(at: AppTest, tab: str) -> AppTest:
    """Switch the page to ``tab`` (as a click on it does)."""
    at.session_state["lm_tab"] = tab
    return rerun(at)


def fill_backend(at: AppTest, prefix: str, model: str) -> None:
    at.text_input(key=f"{prefix}_model_path").set_value(model)


def test_page_is_listed_and_opens_on_the_generate_tab(page_env: dict) -> None:
    at = open_app_page("lm", timeout=TIMEOUT)
    assert at.title[0].value == "LM generate / correct"
    assert [t.label for t in at.tabs] == ["Generate", "Correct", "Compare", "Runs"]
    assert at.selectbox(key="lm_gen_from").options == [SOURCE_DATASET]
    assert at.selectbox(key="lm_gen_task").options == [
        "all tasks",
        "dyck_languages",
        "multistep_arithmetic",
        "word_sorting",
    ]


def test_generate_refuses_a_missing_model_folder(page_env: dict, tmp_path: Path) -> None:
    at = open_app_page("lm", timeout=TIMEOUT)
    fill_backend(at, "lm_gen", str(tmp_path / "nowhere"))
    at.button(key="lm_gen_go").click()
    rerun(at)
    assert at.session_state["lm_job"] is None
    assert "Model folder: no folder at" in codes(at)
    assert str(tmp_path / "nowhere") in codes(at)


def test_generate_tab_stores_traces_and_lists_the_run(page_env: dict) -> None:
    at = open_app_page("lm", timeout=TIMEOUT)
    fill_backend(at, "lm_gen", page_env["model"])
    at.selectbox(key="lm_gen_prompt").set_value("a .toml file…")
    rerun(at)
    at.text_input(key="lm_gen_prompt_path").set_value(page_env["prompt"])
    at.text_input(key="lm_gen_dataset").set_value("regen")
    at.number_input(key="lm_gen_n").set_value(3)
    at.number_input(key="lm_gen_max_new_tokens_stepwise").set_value(12)
    at.number_input(key="lm_gen_batch").set_value(2)
    at.button(key="lm_gen_go").click()
    rerun(at)
    job = at.session_state["lm_job"]
    assert job is not None and job.kind == "generate", codes(at)
    # While running (or just finished), the job box names what it does.
    assert any(t.startswith("Job: generate 3 stepwise traces") for t in texts(at))
    job = wait_for_job(at)
    assert job.status == "done", job.error
    report = job.result
    assert report.n_generated == 3 and report.added == 3
    assert [s.value for s in at.success] == ["Generation finished."]
    assert any("3 traces generated into 'regen' (3 added" in t for t in texts(at))
    # The traces are in the store, made by the tiny model and linked to the run.
    store = open_store(page_env["url"])
    try:
        stored = list(store.iter_traces(TraceFilter(datasets=["regen"])))
        assert len(stored) == 3
        assert {t.model for t in stored} == {page_env["model"]}
        assert {t.metadata["generation"]["run_id"] for t in stored} == {report.run_id}
        run = store.list_runs("generate")[0]
        assert run.id == report.run_id and run.status == "done"
        assert run.params["from_dataset"] == SOURCE_DATASET
        assert run.params["sampling"]["max_new_tokens"] == 12
        assert run.params["batch_size"] == 2
    finally:
        store.close()
    # The Runs tab lists the run with its settings, result and timing.
    open_tab(at, "Runs")
    frame = at.dataframe(key="lm_runs_table").value
    row = frame[frame["id"] == report.run_id].iloc[0]
    assert row["kind"] == "generate" and row["status"] == "done"
    assert row["from"] == SOURCE_DATASET and row["into"] == "regen" and row["n"] == 3
    assert row["settings"].startswith("stepwise, T=0.0, max tokens 12, batch 2, seed 0")
    assert row["result"].startswith("3 traces, accuracy")
    assert row["seconds"] >= 0
    # Selecting the run shows its whole record: prompt file digest, sampling, backend, timings.
    index = int(frame.index[frame["id"] == report.run_id][0])
    at.session_state["lm_runs_table"] = {"selection": {"rows": [index], "columns": [], "cells": []}}
    rerun(at)
    details = json.loads(at.json[0].value)
    assert details["id"] == report.run_id and details["finished_at"] is not None
    assert details["params"]["backend"]["backend"] == "transformers"
    prompt_info = details["params"]["prompts"]["multistep_arithmetic"]
    assert prompt_info["path"] == page_env["prompt"] and prompt_info["text"] == "10 lines"
    assert details["stats"]["tokens"] == report.tokens
    # "Show the traces" (in the job box above the tabs) filters the Traces page to them.
    at.button(key="lm_show_traces").click()
    rerun(at)
    assert at.title[0].value == "Traces"
    assert set(at.dataframe[0].value["dataset"]) == {"regen"}
    # The new dataset is offered as a source at once (the dataset cache was cleared).
    fresh = open_app_page("lm", timeout=TIMEOUT)
    assert "regen" in fresh.selectbox(key="lm_gen_from").options


def test_correct_tab_reports_arms_and_compare_shows_both_sides(page_env: dict) -> None:
    at = open_app_page("lm", timeout=TIMEOUT)
    open_tab(at, "Correct")
    fill_backend(at, "lm_cor", page_env["model"])
    at.selectbox(key="lm_cor_prompt").set_value("a .toml file…")
    rerun(at)
    at.text_input(key="lm_cor_prompt_path").set_value(page_env["prompt"])
    at.number_input(key="lm_cor_k").set_value(4)
    at.number_input(key="lm_cor_max_new_tokens").set_value(12)
    at.number_input(key="lm_cor_max_steps").set_value(5)
    assert at.radio(key="lm_cor_location").value == "label"
    at.button(key="lm_cor_go").click()
    rerun(at)
    job = wait_for_job(at)
    assert job.status == "done", job.error
    report = job.result
    arms = {a.arm: a.as_dict() for a in report.arms}
    assert set(arms) == {"label", "random_control"}
    # Two of the four source traces carry a first-mistake label; both originals are wrong.
    assert arms["label"]["n"] == arms["random_control"]["n"] == 2
    assert arms["label"]["accuracy_before"] == 0.0
    # Side by side: one metric per arm, before → after.
    metrics = {m.label: m.value for m in at.metric}
    after = {k: v["accuracy_after"] for k, v in arms.items()}
    assert metrics == {
        "labelled locations": f"0.0% → {after['label']:.1%}",
        "random-location control": f"0.0% → {after['random_control']:.1%}",
    }
    table = next(d.value for d in at.dataframe if "traces corrected" in d.value.index)
    assert list(table.columns) == ["labelled locations", "random-location control"]
    assert table.loc["traces corrected"].tolist() == ["2", "2"]
    assert table.loc["accuracy before"].tolist() == ["0.0%", "0.0%"]
    assert any("2 no label location" in c.value for c in at.caption)
    # The corrected traces of this run, both arms.
    corrected = at.dataframe(key="lm_corrected_table").value
    assert len(corrected) == 4
    assert sorted(corrected["arm"]) == ["labelled locations"] * 2 + ["random-location control"] * 2
    label_rows = corrected[corrected["arm"] == "labelled locations"]
    assert sorted(label_rows["step"].tolist()) == [1, 2]
    assert set(corrected["id"]) == set(report.trace_ids)
    # Select the trace corrected at its labelled step 2, and compare it side by side.
    row = int(label_rows.index[label_rows["step"] == 2][0])
    at.session_state["lm_corrected_table"] = {
        "selection": {"rows": [row], "columns": [], "cells": []}
    }
    rerun(at)
    at.button(key="lm_open_compare").click()
    rerun(at)
    chosen_id = corrected.iloc[row]["id"]
    assert at.session_state["lm_compare_id"] == chosen_id
    assert at.query_params["corrected"] == chosen_id
    assert at.query_params["tab"] == "Compare"
    page = html_of(at)
    assert 'data-side="original"' in page and 'data-side="corrected"' in page
    # Steps 0-1 kept on both sides; step 2 replaced on the left, chosen candidate on the right.
    assert page.count('data-role="kept"') == 4
    assert page.count('data-role="replaced"') == 1 and page.count('data-role="chosen"') == 1
    assert "Let&#x27;s calculate B = (2 - 5) = 3." in page  # the original (wrong) step 2
    cands = next(d.value for d in at.dataframe if "log-prob" in d.value.columns)
    assert len(cands) == 4 + 1  # k candidates and the original step
    assert cands["chosen"].tolist().count("✔ chosen") == 1
    lps = cands["log-prob"].tolist()[:4]
    assert lps == sorted(lps, reverse=True)
    chosen = cands[cands["chosen"] == "✔ chosen"].iloc[0]
    assert bool(chosen["differs from original"])
    assert chosen["log-prob"] == max(cands[cands["differs from original"]]["log-prob"])
    assert len(at.get("plotly_chart")) == 2  # both trees
    # A link with ?corrected= opens the same comparison.
    again = open_app_page("lm", {"tab": "Compare", "corrected": chosen_id}, timeout=TIMEOUT)
    assert again.selectbox(key="lm_compare_pick").value == chosen_id
    assert html_of(again).count('data-role="chosen"') == 1
