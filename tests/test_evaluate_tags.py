"""Tag evaluation: the gold file, the scores, and the `evaluate-tags` / `analyze` CLI verbs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzers.evaluate_tags import GoldFormatError, evaluate_gold, load_gold, score_tags
from cli import app
from trace_store.schema import BEHAVIORS

GOLD = Path(__file__).resolve().parent / "fixtures" / "gold_behaviors.jsonl"
runner = CliRunner()


def test_gold_set_is_large_mixed_and_split_with_every_behaviour_in_both_parts():
    traces = load_gold(GOLD)
    assert sum(len(t.steps) for t in traces) >= 250
    assert {t.split for t in traces} == {"dev", "test"}
    assert {t.style for t in traces} == {"bbm", "r1", "countdown", "word"}
    for split in ("dev", "test"):
        steps = [names for t in traces if t.split == split for names in t.behaviors]
        for behavior in BEHAVIORS:
            assert sum(behavior in names for names in steps) >= 10, (split, behavior)
        assert sum(not names for names in steps) >= 80  # plenty of steps showing nothing


def test_rule_tagger_reaches_the_macro_f1_target_on_the_gold_set_and_its_held_out_part():
    traces = load_gold(GOLD)
    assert evaluate_gold(traces).macro_f1 >= 0.85
    held_out = evaluate_gold(traces, split="test")
    assert held_out.n_steps == sum(len(t.steps) for t in traces if t.split == "test")
    assert held_out.macro_f1 >= 0.85


def test_scores_match_hand_computed_precision_recall_and_macro_f1():
    gold = [["verification"], [], ["backtracking", "verification"], ["subgoal_setting"]]
    predicted = [["verification"], ["verification"], ["backtracking"], []]
    scores = score_tags(gold, predicted, n_traces=1)
    v = scores.per_behavior["verification"]
    assert (v["precision"], v["recall"], v["f1"], v["support"]) == (0.5, 0.5, 0.5, 2)
    assert scores.per_behavior["backtracking"]["f1"] == 1.0
    assert scores.per_behavior["subgoal_setting"]["recall"] == 0.0
    assert scores.per_behavior["backward_chaining"]["support"] == 0
    assert scores.macro_f1 == pytest.approx((0.5 + 1.0 + 0.0 + 0.0) / 4)
    assert (scores.n_traces, scores.n_steps) == (1, 4)


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ("{not json", "not valid JSON"),
        ('{"steps": "a b", "behaviors": []}', "field 'steps'"),
        ('{"steps": ["a", "b"], "behaviors": [[]]}', "field 'behaviors': expected a list of 2"),
        ('{"steps": ["a"], "behaviors": [["planning"]]}', "field 'behaviors[0]'"),
    ],
)
def test_malformed_gold_lines_are_reported_with_file_line_and_field(
    tmp_path: Path, line: str, where: str
):
    path = tmp_path / "gold.jsonl"
    path.write_text('{"steps": ["x"], "behaviors": [[]]}\n\n' + line + "\n")
    with pytest.raises(GoldFormatError) as info:
        load_gold(path)
    assert str(info.value).startswith(f"{path}:3:")
    assert where in str(info.value)


def test_evaluate_tags_cli_prints_scores_and_json():
    result = runner.invoke(app, ["evaluate-tags", str(GOLD)])
    assert result.exit_code == 0, result.output
    assert "gold [all]" in result.output and "gold [test]" in result.output
    assert "backward_chaining" in result.output
    as_json = runner.invoke(app, ["evaluate-tags", str(GOLD), "--split", "test", "--json"])
    data = json.loads(as_json.stdout)
    expected = evaluate_gold(load_gold(GOLD), split="test")
    assert data["gold"]["test"]["macro_f1"] == pytest.approx(expected.macro_f1)
    assert set(data["gold"]) == {"test"}


def test_evaluate_tags_cli_reports_user_errors_without_traceback(tmp_path: Path):
    missing = runner.invoke(app, ["evaluate-tags", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 1 and "no such file" in missing.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"steps": ["a"], "behaviors": [["x"]]}\n')
    result = runner.invoke(app, ["evaluate-tags", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:1: field 'behaviors[0]'" in result.output
    assert "Traceback" not in result.output
    neither = runner.invoke(app, ["evaluate-tags"])
    assert neither.exit_code == 1 and "--thought-anchors" in neither.output


def test_analyze_cli_writes_one_record_per_trace_and_reports_bad_lines(tmp_path: Path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"id": "a", "steps": ["Let me check: 2 + 2 = 4.", "Wait, no. Go back."]})
        + '\n{"id": "b", "oops": 1}\n'
        + json.dumps({"text": "First, let me find x, then y.\n</think>\nx = 3"})
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["analyze", str(src), "--out", str(out)])
    assert result.exit_code == 1  # one bad record
    assert f"{src}:2: field 'steps'" in result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["a", "in:3"]
    first = records[0]
    assert [s["behaviors"] for s in first["steps"]] == [["verification"], ["backtracking"]]
    assert first["steps"][0]["evidence"][0]["text"] == "check"
    assert first["counts"] == {
        "backtracking": 1,
        "verification": 1,
        "subgoal_setting": 0,
        "backward_chaining": 0,
    }
    assert records[1]["segment_mode"] == "sentence"
    assert records[1]["steps"][0]["behaviors"] == ["subgoal_setting"]
    assert not (tmp_path / "out.jsonl.partial").exists()


class _BreaksMidRun:
    """A tagger whose model server goes away after the run started."""

    name = "breaks"
    version = "1"

    def tag(self, steps: list[str], question: str | None = None) -> list:
        from analyzers.behaviors import TaggerUnavailable

        raise TaggerUnavailable("http://127.0.0.1:9/v1: connection refused")


def test_a_tagger_failing_mid_run_is_a_one_line_error_and_writes_no_output(tmp_path: Path):
    from analyzers.behaviors import register_tagger, unregister_tagger

    register_tagger("breaks", _BreaksMidRun)
    try:
        out = tmp_path / "out.jsonl"
        analysed = runner.invoke(
            app, ["analyze", str(GOLD), "--out", str(out), "--tagger", "breaks"]
        )
        scored = runner.invoke(app, ["evaluate-tags", str(GOLD), "--tagger", "breaks"])
    finally:
        unregister_tagger("breaks")
    for result in (analysed, scored):
        assert result.exit_code == 1, result.output
        assert "--tagger breaks: http://127.0.0.1:9/v1: connection refused" in result.output
        assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    assert not out.exists() and not (tmp_path / "out.jsonl.partial").exists()


def test_analyze_cli_rejects_bad_options():
    no_out = runner.invoke(app, ["analyze", str(GOLD)])
    assert no_out.exit_code == 1 and "--out" in no_out.output
    bad_tagger = runner.invoke(app, ["analyze", str(GOLD), "--out", "x", "--tagger", "nope"])
    assert bad_tagger.exit_code == 1 and "unknown tagger 'nope'" in bad_tagger.output
    bad_mode = runner.invoke(app, ["analyze", str(GOLD), "--out", "x", "--segment-mode", "w"])
    assert bad_mode.exit_code == 1 and "--segment-mode" in bad_mode.output
    nothing = runner.invoke(app, ["analyze"])
    assert nothing.exit_code == 1 and "nothing to analyse" in nothing.output


def test_analyze_dataset_saves_analyses_in_the_store():
    from trace_store import open_store
    from trace_store.schema import ImportedTrace, Step, Trace

    texts = ["Numbers: [3, 5]. Target: 8.", "Try 3 + 5 = 8.", "Check: 3 + 5 = 8 ✓"]
    trace = Trace(
        id="cd-1",
        dataset="mini",
        question="Using the numbers [3, 5], make 8.",
        steps=[Step(index=i, text=t) for i, t in enumerate(texts)],
    )
    store = open_store()
    try:
        store.add_traces([ImportedTrace(trace=trace)])
    finally:
        store.close()
    result = runner.invoke(app, ["analyze", "--dataset", "mini", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["traces"] == 1 and summary["saved"] == 1
    assert summary["steps_with"]["verification"] == 1
    store = open_store()
    try:
        (analysis,) = store.analyses_for("cd-1")
    finally:
        store.close()
    assert analysis.analyzer == "behaviors" and analysis.version == "rules@1"
    assert [(t.step, t.behavior) for t in analysis.tags] == [(2, "verification")]
    empty = runner.invoke(app, ["analyze", "--dataset", "nothing-here"])
    assert empty.exit_code == 1 and "holds no traces" in empty.output
