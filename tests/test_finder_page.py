"""The Mistake finder page (AppTest): train, evaluate with the confusion chart, suggest."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.finder_charts import confusion_figure, saved_finders, scores_frame
from tests.browser_helpers import open_app_page
from tests.finder_helpers import tiny_encoder_dir


@pytest.fixture
def finder_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fill the default store with 30 Countdown traces; models and caches go to tmp_path."""
    from generators.countdown import generate_countdown
    from trace_store import open_store

    monkeypatch.setenv("THOUGHTSCOPE_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("THOUGHTSCOPE_CACHE", str(tmp_path / "cache"))
    store = open_store()
    store.add_traces(generate_countdown(30, 7, dataset="cd", mistake_rate=0.6))
    store.close()
    return tmp_path


def test_train_evaluate_and_predict_from_the_page(finder_env: Path) -> None:
    encoder = tiny_encoder_dir(finder_env / "tiny")
    at = open_app_page("finder", timeout=120)
    assert at.title[0].value == "Mistake finder"
    at.text_input(key="finder_encoder").set_value(str(encoder))
    at.button(key="finder_train").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    model = finder_env / "models" / "finder-cd"
    assert (model / "finder.json").is_file()
    assert "Trained finder:finder-cd on 30 traces" in at.success[0].value
    assert at.dataframe[0].value["predictor"].tolist() == ["validation"]

    assert at.text_input(key="finder_emodel").value == str(model)
    at.button(key="finder_evaluate").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[-1].value
    assert table["predictor"].tolist()[:2] == ["finder", "always no mistake"]
    assert (table["traces"] == 30).all()
    charts = at.get("plotly_chart")
    assert len(charts) == 1

    at.button(key="finder_predict").click().run()
    assert not at.exception, at.exception
    assert any("Stored 30 suggestions (agent finder:finder-cd)" in s.value for s in at.success)


def test_page_reports_a_folder_that_is_not_a_finder(finder_env: Path) -> None:
    at = open_app_page("finder", timeout=60)
    at.text_input(key="finder_emodel").set_value(str(finder_env))
    at.button(key="finder_evaluate").click().run()
    assert not at.exception, at.exception
    assert "not a mistake-finder folder" in at.error[0].value


def test_chart_helpers() -> None:
    fig = confusion_figure([[1, 2], [3, 4]], ["none", "0-20%"])
    assert [list(r) for r in fig.data[0].z] == [[1, 2], [3, 4]]
    assert fig.layout.yaxis.autorange == "reversed"
    row = {
        "n": 4,
        "location_accuracy": 0.5,
        "accuracy_with_mistake": 0.25,
        "accuracy_without_mistake": 1.0,
        "harmonic_mean": 0.4,
    }
    frame = scores_frame({"finder": row})
    assert frame.loc[0, "harmonic mean"] == 0.4 and frame.loc[0, "traces"] == 4
    assert saved_finders(Path("/nonexistent")) == []
